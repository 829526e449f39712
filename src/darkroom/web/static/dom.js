// Small DOM helpers shared by the modules of the page.

/** A pause of `ms`, cut short by `signal` (rejecting with its reason). */
export function sleep(ms, signal) {
  return new Promise((done, fail) => {
    signal?.throwIfAborted();
    const stop = () => {
      clearTimeout(timer);
      fail(signal.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      done();
    }, ms);
    signal?.addEventListener("abort", stop, { once: true });
  });
}

/** `el("button", { type: "button", class: "x", onclick: f }, "text", child)` */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

let clearing;

/** Says `text` through a polite live region, once: the open dialog's, since everything
 * outside a modal dialog is inert, or else the page's. */
export function announce(text) {
  const region = document.querySelector("dialog[open] [data-announce]")
    || document.getElementById("announce");
  region.textContent = "";
  clearTimeout(clearing);
  setTimeout(() => {
    region.textContent = text;
    clearing = setTimeout(() => { region.textContent = ""; }, 8000);
  }, 60);
}
