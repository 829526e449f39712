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

/** Per live region: what waits to be said in it, and the timer that empties it. */
const waiting = new Map();
const clearing = new Map();

/** Says `text` through a polite live region, once: the open dialog's, since everything
 * outside a modal dialog is inert, or else the page's. Things said within the same moment
 * are said together: set one after the other, the last replaced the others before a screen
 * reader heard them. */
export function announce(text) {
  const region = document.querySelector("dialog[open] [data-announce]")
    || document.getElementById("announce");
  if (waiting.has(region)) {
    waiting.get(region).push(text);
    return;
  }
  waiting.set(region, [text]);
  region.textContent = "";
  clearTimeout(clearing.get(region));
  // Emptied first and filled a moment later, so that the same words said again are a change
  // a screen reader tells.
  setTimeout(() => {
    region.textContent = waiting.get(region).join(" ");
    waiting.delete(region);
    clearing.set(region, setTimeout(() => { region.textContent = ""; }, 8000));
  }, 60);
}
