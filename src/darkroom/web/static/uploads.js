// Files dropped, picked or pasted: each is checked against /config, sent straight to the
// store through a presigned URL with its own progress bar, then followed until processed.

import { api, retried, transfer } from "./api.js";
import { announce, el } from "./dom.js";
import { formatBytes, variantFor } from "./photo.js";

const PARALLEL = 3;
/** Times an upload is sent again on its own when the connection drops or the store is away
 * (waiting 1, 2 and 4 s): a restart passes in that time; then its row offers to try again. */
const RESENDS = 3;
const LABELS = { jpeg: "JPEG", webp: "WebP", heif: "HEIC" };
/** Until its bytes are stored, an upload may be cancelled. */
const CANCELLABLE = new Set(["queued", "waiting", "uploading"]);

class Item {
  /** `refocus()` takes the focus where its row's buttons go (a keyboard's, on "Cancel"). */
  constructor(file, refocus) {
    this.refocus = refocus;
    this.name = file.name || "pasted image";
    this.bar = el("progress", { max: "100", value: "0", "aria-label": `Upload of ${this.name}` });
    this.status = el("span", { class: "upload-status" }, "Waiting…");
    this.thumb = el("span", { class: "upload-thumb", "aria-hidden": "true" });
    this.cancel = el("button", { type: "button", class: "button quiet upload-button",
      "aria-label": `Cancel the upload of ${this.name}` }, "Cancel");
    this.node = el("li", { class: "upload", "data-state": "queued" },
      this.thumb,
      el("span", { class: "upload-main" },
        // A name goes in the direction of its own script (Hebrew, Arabic: right to left).
        el("span", { class: "upload-name", dir: "auto" }, this.name), this.bar, this.status),
      this.cancel);
  }

  set(state, text) {
    const hadFocus = document.activeElement === this.cancel;
    this.node.dataset.state = state;
    this.status.textContent = text;
    this.cancel.hidden = !CANCELLABLE.has(state);
    // A button hidden with the focus leaves it to the page itself, where a screen reader
    // says nothing and the keyboard starts over.
    if (hadFocus && this.cancel.hidden) this.refocus();
  }

  progress(loaded, total) {
    const percent = total ? Math.floor((loaded / total) * 100) : 0;
    this.bar.value = percent;
    this.set("uploading", `Uploading… ${percent}%`);
  }

  /** The server asks for a pause: it takes so many uploads a minute. */
  waiting(seconds) {
    this.set("waiting", `Waiting: too many uploads at once; trying again in ${seconds} s…`);
  }

  /** The connection dropped or the store was away: sent again shortly. */
  resending(reason, seconds) {
    this.set("waiting", `${reason.replace(/\.$/, "")}; trying again in ${seconds} s…`);
  }

  processing() {
    this.bar.removeAttribute("value"); // indeterminate
    this.set("processing", "Processing…");
  }

  done(photo, duplicate) {
    this.bar.hidden = true;
    const small = variantFor(photo, 100);
    if (small) this.thumb.append(el("img", { src: small.url, alt: "", draggable: "false" }));
    this.set("done", duplicate ? "Already in the gallery" : "Added");
  }

  gone() {
    this.bar.hidden = true;
    this.set("done", "Deleted before it was processed");
  }

  fail(reason) {
    this.bar.hidden = true;
    this.set("error", reason);
  }

  cancelled() {
    this.bar.hidden = true;
    this.set("cancelled", "Cancelled");
  }

  /** A failed upload that may pass another time: a button sends it again. */
  offerAgain(onAgain) {
    const again = el("button", { type: "button", class: "button quiet upload-button" }, "Try again");
    again.setAttribute("aria-label", `Try again to upload ${this.name}`);
    again.addEventListener("click", () => {
      const hadFocus = document.activeElement === again;
      again.remove();
      this.bar.hidden = false;
      this.bar.value = 0;
      this.set("queued", "Waiting…");
      if (hadFocus) this.cancel.focus();
      onAgain();
    }, { once: true });
    this.node.append(again);
  }
}

export class Uploads {
  /** `photos`: where the focus goes when the list is cleared away. */
  constructor({ section, list, clear, photos }, config, gallery) {
    Object.assign(this, { section, list, clear, photos, config, gallery });
    this.queue = [];
    this.running = 0;
    this.busy = 0;
    this.tally = { added: 0, failed: 0 };
    const kinds = new Set(Object.values(config.extensions).map((type) => {
      const sub = type.split("/")[1];
      return LABELS[sub] || sub.toUpperCase();
    }));
    this.kinds = [...kinds].join(", ");
    clear.addEventListener("click", () => this.clearFinished());
  }

  /** What the file picker offers: every accepted type and extension. */
  get accept() {
    const extensions = Object.keys(this.config.extensions).map((ext) => `.${ext}`);
    return [...this.config.accepted_types, ...extensions].join(",");
  }

  add(files) {
    const items = [];
    const refused = [];
    for (const file of files) {
      const item = new Item(file, () => this.clear.focus());
      items.push(item);
      const type = this.#contentType(file);
      const problem = this.#problem(file, type);
      if (problem) {
        item.fail(problem);
        refused.push(`${item.name}: ${problem}`);
      } else {
        this.#enqueue({ item, file, type });
      }
    }
    if (!items.length) return;
    this.list.prepend(...items.map((item) => item.node));
    this.section.hidden = false;
    const sending = items.length - refused.length;
    announce([sending ? `Uploading ${sending} ${sending === 1 ? "photo" : "photos"}.` : "",
      ...refused].join(" ").trim());
    this.#pump();
  }

  clearFinished() {
    const finished = '[data-state="done"], [data-state="error"], [data-state="cancelled"]';
    for (const node of this.list.querySelectorAll(finished)) {
      node.remove();
    }
    const hadFocus = this.section.contains(document.activeElement);
    this.section.hidden = this.list.children.length === 0;
    if (hadFocus && this.section.hidden) this.photos.focus();
  }

  /** The declared type if accepted; else the extension's (browsers often declare none for
   * HEIC or AVIF); null for anything else. */
  #contentType(file) {
    const declared = (file.type || "").toLowerCase();
    const accepted = this.config.accepted_types;
    if (accepted.includes(declared)) return declared;
    const dot = file.name.lastIndexOf(".");
    const byName = dot > 0 ? this.config.extensions[file.name.slice(dot + 1).toLowerCase()] : null;
    const vague = !declared || declared === "application/octet-stream" || declared.startsWith("image/");
    return vague && byName ? byName : null;
  }

  #problem(file, type) {
    if (!type) return `Not an image darkroom accepts (${this.kinds}).`;
    if (file.size === 0) return "The file is empty.";
    const limit = this.config.max_upload_bytes;
    if (file.size > limit) {
      let [size, most] = [file.size, limit].map(formatBytes);
      if (size === most) {
        // Rounded alike, they would read as equal: the exact counts tell them apart.
        [size, most] = [file.size, limit].map((n) => `${n.toLocaleString()} bytes`);
      }
      return `Too large: ${size}; the limit is ${most}.`;
    }
    return null;
  }

  #enqueue(upload) {
    upload.controller = new AbortController();
    upload.item.cancel.onclick = () => this.#cancel(upload);
    this.queue.push(upload);
    this.busy++;
  }

  #cancel(upload) {
    const queued = this.queue.indexOf(upload);
    if (queued < 0) {
      upload.controller.abort(new DOMException("The upload was cancelled.", "AbortError"));
      return;
    }
    this.queue.splice(queued, 1);
    upload.item.cancelled();
    this.#settled();
  }

  #pump() {
    while (this.running < PARALLEL && this.queue.length) {
      this.running++;
      this.#send(this.queue.shift());
    }
  }

  async #send(upload) {
    const { item } = upload;
    try {
      await this.#upload(upload);
    } catch (error) {
      if (upload.controller.signal.aborted) {
        item.cancelled();
      } else {
        this.#failed(item, error.message);
        if (error.again) {
          const counted = this.tally;
          item.offerAgain(() => {
            // Tried again, it fails no more: not in the batch it was counted in, if that
            // batch is still going on, nor in the one it now joins.
            if (counted === this.tally) this.tally.failed--;
            this.#enqueue(upload);
            this.#pump();
          });
        }
      }
    }
    this.#settled();
  }

  /** One upload less to wait for; the batch is told of once none is left. */
  #settled() {
    if (--this.busy === 0) {
      const { added, failed } = this.tally;
      announce(`Uploads finished: ${added} added${failed ? `, ${failed} failed` : ""}.`);
      this.tally = { added: 0, failed: 0 };
    }
  }

  async #upload(upload) {
    const { item, file, type } = upload;
    const { signal } = upload.controller;
    // An earlier try's ticket, removed again: the server may have been away the first time.
    if (upload.abandoned) api.remove(upload.abandoned).catch(() => {});
    let ticket;
    let resends = RESENDS;
    // The rate limit is waited out however long it takes; a server or store away, a few times.
    const when = (error) => error.status === 429 || (error.transient && resends-- > 0);
    const onWait = (seconds, error) =>
      error.status === 429 ? item.waiting(seconds) : item.resending(error.message, seconds);
    try {
      ticket = await retried(
        () => api.startUpload({ filename: item.name, content_type: type, size: file.size }),
        { when, onWait, signal },
      );
      item.progress(0, file.size);
      // Sent again to the same ticket: its URL stays valid, and the upload waits for it.
      const progress = (loaded, total) => item.progress(loaded, total);
      let tries = 0;
      const send = () => transfer(ticket, file, progress, signal).catch((error) => {
        // A store that keeps what it was sent first finds the bytes there already: an
        // earlier try stored them, and only its answer was lost.
        if (tries++ > 0 && error.status === 409) return;
        throw error;
      });
      await retried(send, { when, onWait, signal });
    } catch (error) {
      if (ticket) {
        upload.abandoned = ticket.id;
        api.remove(ticket.id).catch(() => {});
      }
      // Anything that went wrong before the bytes were stored may pass with a new ticket;
      // a refusal of the file itself (its size, its type) would not.
      error.again = Boolean(ticket) || error.transient;
      throw error;
    } finally {
      this.running--;
      this.#pump();
    }
    item.processing();
    await retried(() => api.complete(ticket.complete_url)).catch((error) => {
      if (error.status !== 422) throw error; // failed processing: the status says why
    });
    const followed = await this.gallery.watch(ticket.id);
    if (!followed) {
      item.gone();
      return;
    }
    const { photo, duplicate } = followed;
    if (photo.status === "failed") {
      this.#failed(item, `Could not be processed: ${photo.reason}`);
    } else {
      item.done(photo, duplicate);
      this.tally.added++;
    }
  }

  #failed(item, reason) {
    item.fail(reason);
    this.tally.failed++;
    announce(`${item.name}: ${reason}`);
  }
}
