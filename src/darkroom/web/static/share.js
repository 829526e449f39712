// Share links: the viewer's "Share link" button makes one for the photo shown; a page opened
// with #shared=TOKEN shows that one photo, to anyone, without signing in.

import { api } from "./api.js";
import { announce } from "./dom.js";
import { altText, srcset, variantFor } from "./photo.js";

const $ = (id) => document.getElementById(id);

/** The viewer's share button and the link it made. */
export class ShareControl {
  /** `gone(photoId, error)`: whether the error means the photo was deleted elsewhere (then
   * the viewer says so, and shows another). */
  constructor(part, gone) {
    this.gone = gone;
    Object.assign(this, {
      button: part("share"), result: part("share-result"), url: part("share-url"),
      expiry: part("share-expiry"), copy: part("share-copy"), error: part("share-error"),
      stop: part("share-stop"),
    });
    this.button.addEventListener("click", () => this.#make());
    this.copy.addEventListener("click", () => this.#copy());
    this.stop.addEventListener("click", () => this.#stop());
  }

  /** For another photo: its link is not made yet. */
  reset(photoId) {
    this.photoId = photoId;
    this.result.hidden = true;
    this.error.textContent = "";
  }

  async #make() {
    this.button.disabled = true;
    this.error.textContent = "";
    try {
      const share = await api.share(this.photoId);
      this.url.value = share.url;
      this.expiry.textContent = new Date(share.expires_at).toLocaleString();
      this.result.hidden = false;
      this.url.focus();
      this.url.select();
      announce("Share link made.");
    } catch (error) {
      if (await this.gone(this.photoId, error)) return;
      this.error.textContent = error.message;
    } finally {
      this.button.disabled = false;
    }
  }

  /** Revokes every link of the photo, the ones made before this one too. */
  async #stop() {
    this.stop.disabled = true;
    this.error.textContent = "";
    try {
      for (const share of await api.shares(this.photoId)) await api.revoke(this.photoId, share.id);
      this.result.hidden = true;
      this.button.focus();
      announce("The photo's share links no longer work.");
    } catch (error) {
      if (await this.gone(this.photoId, error)) return;
      this.error.textContent = error.message;
    } finally {
      this.stop.disabled = false;
    }
  }

  async #copy() {
    try {
      await navigator.clipboard.writeText(this.url.value);
      announce("Link copied.");
    } catch {
      this.url.select();
      announce("Select the link and copy it.");
    }
  }
}

/** The photo of a share link, if the page was opened with one; false otherwise. */
export async function showShared() {
  const found = /^#shared=([\w.-]+)$/.exec(window.location.hash);
  if (!found) return false;
  document.body.classList.add("shared-view");
  const section = $("shared");
  section.hidden = false;
  try {
    const photo = await api.shared(found[1]);
    $("shared-title").textContent = photo.filename;
    $("shared-description").textContent = photo.description;
    const image = $("shared-image");
    image.alt = altText(photo);
    image.srcset = srcset(photo);
    image.sizes = "(min-width: 64rem) 60rem, 100vw";
    image.src = variantFor(photo, 1024)?.url || "";
    image.hidden = !image.src;
  } catch (error) {
    $("shared-title").textContent = "Nothing to show";
    $("shared-error").textContent = error.message;
    $("shared-error").hidden = false;
  }
  return true;
}
