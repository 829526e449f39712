// One photo at a time, large: description (editable), date taken, camera, download, delete.
// Arrow keys and swipes page through the grid's photos; Escape closes. The photo shown is in
// the address (#photo=ID), so that it can be linked to, survives a reload, and Back closes it.

import { api } from "./api.js";
import { announce, el } from "./dom.js";
import { ShareControl } from "./share.js";
import {
  altText, aspect, camera, formatBytes, hasImage, srcset, statusText, takenAt, variantFor,
} from "./photo.js";

const SWIPE = 50;
const STALE_MS = 30 * 60 * 1000; // well within the signed URLs' hour

/** The photo the address names (`#photo=ID`), or null. */
export function linkedPhoto() {
  const found = /^#photo=(.+)$/.exec(window.location.hash);
  if (!found) return null;
  try {
    return decodeURIComponent(found[1]);
  } catch {
    return found[1]; // not one of ours: no photo has that id, and the page says so
  }
}

/** The page's address with `#photo=ID`, or without a photo; the path is kept as it is, so
 * that it works under a prefix (/gallery/) too. */
function address(id = null) {
  const { pathname, search } = window.location;
  return `${pathname}${search}${id === null ? "" : `#photo=${encodeURIComponent(id)}`}`;
}

export class Viewer {
  /** `missing`: where a link to a photo that is not in the gallery is said to be so. */
  constructor(dialog, gallery, fallbackFocus, missing) {
    Object.assign(this, { dialog, gallery, fallbackFocus, missing });
    this.id = null;
    /** Where the presses waiting for a page lead: `by` photos on `from`. */
    this.aim = null;
    this.deleting = false;
    const part = (name) => dialog.querySelector(`[data-part="${name}"]`);
    this.p = Object.fromEntries([
      "title", "position", "stage", "image", "message", "description", "edit", "form", "input",
      "form-error", "cancel-edit", "facts", "download", "delete", "confirm", "confirm-text",
      "confirm-yes", "confirm-no", "prev", "next", "close",
    ].map((name) => [name, part(name)]));
    this.share = new ShareControl(part, (id, error) => this.#gone(id, error));
    this.#wire();
  }

  get photo() {
    return this.gallery.get(this.id);
  }

  get editing() {
    return !this.p.form.hidden;
  }

  /** Opened from its tile: a history entry of its own, which Back (Android's back gesture
   * too) leaves for the grid, where it would have left the page. */
  open(id) {
    history.pushState({ photo: id, grid: true }, "", address(id));
    this.#present(id);
  }

  /** The photo the address names (a link, a reload, Back or Forward): shown at once,
   * however far down the gallery it is; one that is not there is said to be missing, over
   * the grid. */
  async follow(id) {
    this.missing.hidden = true;
    let found;
    try {
      found = await this.gallery.seek(id);
    } catch (error) {
      found = error;
    }
    if (linkedPhoto() !== id) return; // gone on elsewhere meanwhile
    if (found === true) {
      this.#present(id);
      return;
    }
    this.missing.textContent = found === false
      ? "The photo this link shows is not in the gallery: it was deleted, or it is another"
        + " account's."
      : `The photo this link shows could not be loaded: ${found.message}`;
    this.missing.hidden = false;
    // Taken off first: closing the viewer on an address naming a photo would step back.
    history.replaceState(null, "", address());
    if (this.dialog.open) this.dialog.close();
  }

  /** Closed by the person (Escape, ×) or as the last photo goes: by going Back where the
   * viewer has an entry of its own, so that none is left behind to open it again; the viewer
   * closes as that entry is left, so nothing done next races the step back. */
  close() {
    if (linkedPhoto() !== null && history.state?.grid) history.back();
    else this.dialog.close();
  }

  #present(id) {
    this.missing.hidden = true;
    this.show(id);
    if (!this.dialog.open) this.dialog.showModal();
  }

  show(id) {
    this.id = id;
    this.aim = null;
    // Paging and deletions replace the entry: Back closes the viewer, not steps through
    // every photo seen.
    if (linkedPhoto() !== id) history.replaceState({ ...history.state, photo: id }, "", address(id));
    this.share.reset(id);
    this.#endEdit();
    this.#hideConfirm();
    this.#render();
    if (Date.now() - this.photo.fetchedAt > STALE_MS) this.gallery.refresh(id);
  }

  async step(delta) {
    // Presses made while the next page loads count on from where the earlier ones lead, not
    // from the photo still shown: each is one photo further. By the photo they started from,
    // as photos may come and go before the page does.
    const aim = this.aim ? { ...this.aim, by: this.aim.by + delta } : { from: this.id, by: delta };
    this.aim = aim;
    const target = () => this.gallery.indexOf(aim.from) + aim.by;
    // A photo a link opened further down than the pages loaded: its neighbours come with
    // its own page.
    await this.gallery.reach(aim.from);
    if (this.aim === aim && target() >= this.gallery.photos.length && !this.gallery.finished) {
      await this.gallery.loadMore();
    }
    if (this.aim !== aim) return; // a later press, or another photo shown, took over
    this.aim = null;
    const photos = this.gallery.photos;
    if (!this.dialog.open || this.gallery.indexOf(aim.from) < 0) return;
    const next = photos[Math.max(0, Math.min(target(), photos.length - 1))];
    if (next.id === this.id) return;
    this.show(next.id);
    announce(this.p.position.textContent);
  }

  #wire() {
    const { p, dialog } = this;
    p.prev.addEventListener("click", () => this.step(-1));
    p.next.addEventListener("click", () => this.step(1));
    p.close.addEventListener("click", () => this.close());
    p.edit.addEventListener("click", () => this.#startEdit());
    p["cancel-edit"].addEventListener("click", () => this.#endEdit(true));
    p.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#save();
    });
    p.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) p.form.requestSubmit();
    });
    p.download.addEventListener("click", (event) => {
      // A click that opens a tab or a window is the browser's own.
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
        return;
      }
      event.preventDefault();
      this.#download();
    });
    p.delete.addEventListener("click", () => this.#showConfirm());
    p["confirm-no"].addEventListener("click", () => this.#hideConfirm(true));
    p["confirm-yes"].addEventListener("click", () => this.#remove());
    p.image.addEventListener("load", () => p.stage.classList.remove("loading"));
    p.image.addEventListener("error", () => {
      p.stage.classList.remove("loading");
      if (this.photo) this.gallery.imageFailed(this.id);
    });

    dialog.addEventListener("keydown", (event) => {
      const typing = event.target.closest("textarea, input");
      if (event.key === "Escape") {
        // Escape leaves the edit or the question first; a second Escape closes the viewer.
        event.preventDefault();
        if (this.editing) this.#endEdit(true);
        else if (!p.confirm.hidden) this.#hideConfirm(true);
        else this.close();
      } else if (!typing && !event.altKey && !event.ctrlKey && !event.metaKey) {
        if (event.key === "ArrowLeft") this.step(-1);
        else if (event.key === "ArrowRight") this.step(1);
        else return;
        event.preventDefault();
      }
    });
    dialog.addEventListener("close", () => {
      if (linkedPhoto() !== null) {
        // Closed otherwise than by Back (a phone's back gesture the browser gives the dialog,
        // a link's viewer without an entry below): the address follows.
        if (history.state?.grid) history.back();
        else history.replaceState(null, "", address());
      }
      const tile = this.gallery.tile(this.id);
      (tile || this.fallbackFocus).focus();
      tile?.scrollIntoView({ block: "nearest" });
    });

    window.addEventListener("popstate", () => {
      const id = linkedPhoto();
      if (id === null) {
        if (dialog.open) dialog.close();
      } else if (!dialog.open || id !== this.id) {
        this.follow(id);
      }
    });

    let start = null;
    p.stage.addEventListener("pointerdown", (event) => {
      if (event.isPrimary && !event.target.closest("button")) {
        start = { x: event.clientX, y: event.clientY };
      }
    });
    p.stage.addEventListener("pointercancel", () => { start = null; });
    p.stage.addEventListener("pointerup", (event) => {
      if (!start) return;
      const dx = event.clientX - start.x;
      const dy = event.clientY - start.y;
      start = null;
      if (Math.abs(dx) > SWIPE && Math.abs(dx) > 1.5 * Math.abs(dy)) this.step(dx < 0 ? 1 : -1);
    });

    this.gallery.addEventListener("change", (event) => {
      const { id, removed, index } = event.detail;
      if (!dialog.open) return;
      if (id !== this.id) {
        // Other photos came (an upload landing, a page loaded) or went: this one's place
        // among them moved.
        this.#renderPlace();
      } else if (!removed) {
        if (!this.editing) this.#render();
      } else if (!this.deleting) {
        // Deleted elsewhere (found when its image failed): the viewer goes on as after a
        // deletion of its own. Found while its own deletion is sent, #remove says so.
        const focus = document.activeElement;
        this.#showInstead(index, `${removed.filename} was deleted elsewhere.`);
        if (dialog.open && focus?.checkVisibility()) focus.focus();
      }
    });
  }

  #render() {
    const { p } = this;
    const photo = this.photo;
    if (!photo) return;
    p.title.textContent = photo.filename || "Photo";
    this.#renderPlace();

    if (hasImage(photo)) {
      const ratio = aspect(photo).toFixed(3);
      // The stage: beside a 22rem panel on a wide screen, above it (62% high) on a phone.
      const sizes = `(min-width: 60rem) min(calc(100vw - 22rem), calc(100vh * ${ratio})),`
        + ` min(100vw, calc(62vh * ${ratio}))`;
      const set = srcset(photo);
      if (p.image.getAttribute("srcset") !== set) {
        p.stage.classList.add("loading");
        p.image.sizes = sizes;
        p.image.srcset = set;
        p.image.src = variantFor(photo, Infinity).url;
      }
      p.image.alt = altText(photo);
      p.image.hidden = false;
      p.message.hidden = true;
    } else {
      p.stage.classList.remove("loading");
      p.image.hidden = true;
      p.image.removeAttribute("srcset");
      p.image.removeAttribute("src");
      p.message.textContent = statusText(photo);
      p.message.hidden = false;
    }

    p.description.textContent = photo.description || "No description yet.";
    p.description.classList.toggle("muted", !photo.description);
    p.edit.textContent = photo.description ? "Edit description" : "Add a description";

    const facts = [
      ["Taken", takenAt(photo)],
      ["Camera", camera(photo)],
      ["Size", photo.width ? `${photo.width} × ${photo.height} pixels, ${formatBytes(photo.size)}`
        : photo.size ? formatBytes(photo.size) : null],
    ].filter(([, value]) => value);
    p.facts.replaceChildren(...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));

    p.download.hidden = !photo.original_url;
    if (photo.original_url) {
      p.download.href = photo.original_url;
      p.download.download = photo.filename || "";
    }
  }

  /** "Photo N of M", and whether there is a photo before and after it. */
  #renderPlace() {
    const { p } = this;
    const index = this.gallery.indexOf(this.id);
    const count = this.gallery.photos.length;
    if (index < 0) {
      if (!this.photo) return;
      // Opened by a link before the pages up to it were loaded: its place is told once they
      // are, and either arrow loads them.
      p.position.textContent =
        `Further down than the ${count} ${count === 1 ? "photo" : "photos"} loaded`;
      p.prev.setAttribute("aria-disabled", "false");
      p.next.setAttribute("aria-disabled", "false");
      return;
    }
    p.position.textContent = `Photo ${index + 1} of ${count}${this.gallery.finished ? "" : "+"}`;
    p.prev.setAttribute("aria-disabled", String(index === 0));
    p.next.setAttribute("aria-disabled", String(index === count - 1 && this.gallery.finished));
  }

  #startEdit() {
    const { p } = this;
    p.input.value = this.photo.description;
    p["form-error"].textContent = "";
    p.form.hidden = false;
    p.edit.hidden = true;
    p.description.hidden = true;
    p.input.focus();
  }

  #endEdit(refocus = false) {
    const { p } = this;
    p.form.hidden = true;
    p.edit.hidden = false;
    p.description.hidden = false;
    if (refocus) p.edit.focus();
  }

  async #save() {
    const { p } = this;
    const save = p.form.querySelector('[type="submit"]');
    save.disabled = true;
    const id = this.id;
    try {
      const updated = await api.describe(id, p.input.value.trim());
      this.#endEdit();
      this.gallery.upsert(updated);
      this.#render();
      p.edit.focus();
      announce("Description saved.");
    } catch (error) {
      if (await this.#gone(id, error)) return;
      p["form-error"].textContent = `Not saved: ${error.message}`;
    } finally {
      save.disabled = false;
    }
  }

  /** Whether a 404 for the photo means it was deleted elsewhere (its image can still show,
   * from the browser's cache): asked again, it leaves the gallery if so, and the viewer goes
   * on to the photo in its place, saying why. */
  async #gone(id, error) {
    if (error.status !== 404) return false;
    await this.gallery.refresh(id);
    return !this.gallery.get(id);
  }

  /** The original, once the photo has been asked for again: deleted elsewhere (its image
   * still showing from the browser's cache), the link would lead to the store's bare "not
   * found" (or a failed download), where the photo leaves the gallery and the viewer says so;
   * and the link is signed afresh. */
  async #download() {
    const id = this.id;
    await this.gallery.refresh(id);
    const photo = this.gallery.get(id);
    if (id !== this.id || !photo?.original_url) return;
    el("a", { href: photo.original_url, download: photo.filename || "" }).click();
  }

  #showConfirm() {
    const { p } = this;
    p["confirm-text"].textContent =
      `Delete “${this.photo.filename}” and every size of it? This cannot be undone.`;
    p.confirm.hidden = false;
    p.delete.hidden = true;
    p["confirm-no"].focus();
  }

  #hideConfirm(refocus = false) {
    const { p } = this;
    p.confirm.hidden = true;
    p.delete.hidden = false;
    if (refocus) p.delete.focus();
  }

  async #remove() {
    const { p } = this;
    const photo = this.photo;
    // Its place, taken now: while the deletion is sent, following the photo may hear it is
    // gone and take it out of the gallery first. One beyond the pages loaded has none (-1).
    const index = this.gallery.indexOf(photo.id);
    p["confirm-yes"].disabled = true;
    this.deleting = true;
    try {
      await api.remove(photo.id);
    } catch (error) {
      if (error.status !== 404) {
        this.deleting = false;
        p["confirm-text"].textContent = `Not deleted: ${error.message}`;
        return;
      }
    } finally {
      p["confirm-yes"].disabled = false;
    }
    try {
      // Still `deleting`: the gallery's word that the photo left is this deletion's.
      this.gallery.remove(photo.id);
    } finally {
      this.deleting = false;
    }
    this.#showInstead(index, `${photo.filename} deleted.`);
  }

  /** The photo shown left the gallery: the one now in its place is shown, or, if none is
   * left or its place was not known (`index` -1), the viewer closes. */
  #showInstead(index, said) {
    const photos = this.gallery.photos;
    if (index < 0 || !photos.length) {
      // None is left, or none is known in its place (one a link opened further down than the
      // pages loaded).
      this.close();
      announce(index < 0 ? said : `${said} The gallery is empty.`);
      return;
    }
    this.show(photos[Math.min(index, photos.length - 1)].id);
    this.p.title.focus();
    announce(said);
  }
}
