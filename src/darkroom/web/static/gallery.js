// The grid: newest first, a page at a time as its end scrolls into view, one tile per photo.

import { ApiError, api, retried } from "./api.js";
import { placeholder } from "./blurhash.js";
import { el, sleep } from "./dom.js";
import {
  FINAL, altText, aspect, hasImage, newerFirst, srcset, statusText, variantFor,
} from "./photo.js";

/** Photos one status request asks about: the server answers for 100 at most. */
const STATUS_BATCH = 100;
/** Between two rounds of asking for the photos being processed: a quarter of a second after a
 * photo is added (or the page is shown again), twice as long after each round up to 1 s (a
 * small photo is often done within a fraction of a second); then 1 s while their statuses
 * change, half as long again after each round in which none did, at most 10 s (and 10 s while
 * the page is hidden). */
const ASK_SOON = 250;
const ASK_STEADY = 1000;
const ASK_MOST = 10_000;
/** However often photos are added (a batch of uploads landing one after another), the rounds
 * are one a second on average: each spends a second of credit, which builds up with time to
 * at most this many rounds' worth. */
const ASK_BURST = 3;

/** Not shown as tiles: an upload still in flight, or a second copy of a photo. */
const UNSHOWN = new Set(["uploading", "duplicate"]);

/** The grid of styles.css, in rem: from a screen width on, as many columns at least `column`
 * wide and `gap` apart as fit a page 2rem narrower than the screen and at most 80rem wide. */
const GRIDS = [{ from: 40, column: 12, gap: 0.5 }, { from: 0, column: 7, gap: 0.375 }];
const PAGE = 80;
const MARGINS = 2;

/** `[from, width]`: how wide a column is from a screen width on, the widest screens first. */
const COLUMNS = (() => {
  const columns = [];
  let below = Infinity;
  for (const { from, column, gap } of GRIDS) {
    const needs = (n) => MARGINS + n * (column + gap) - gap; // the screen n columns fill
    const width = (n, screen) => `(${screen} - ${MARGINS + (n - 1) * gap}rem) / ${n}`;
    let n = Math.floor((Math.min(below, PAGE) - MARGINS + gap) / (column + gap));
    if (below > PAGE) columns.push([PAGE, width(n, `${PAGE}rem`)]);
    for (;; n--) {
      const at = Math.max(from, needs(n));
      columns.push([at, width(n, "100vw")]);
      if (at === from || n === 1) break;
    }
    below = from;
  }
  return columns;
})();

/** How wide a square tile is, as the grid lays it out: a landscape photo covering it is drawn
 * wider. */
function tileSizes(photo) {
  const cover = Math.max(1, aspect(photo)).toFixed(2);
  return COLUMNS.map(([from, width], index) => {
    const media = index < COLUMNS.length - 1 ? `(min-width: ${from}rem) ` : "";
    return `${media}calc(${width} * ${cover})`;
  }).join(", ");
}

export class Gallery extends EventTarget {
  constructor({ grid, more, sentinel, empty, error }, pageSize = 30) {
    super();
    Object.assign(this, { grid, more, sentinel, empty, error, pageSize });
    this.photos = [];
    this.tiles = new Map();
    /** Photos a link opened before the pages up to them were loaded, by id: kept up to date
     * for the viewer, without a tile, until their page brings them. */
    this.beyond = new Map();
    /** Photos followed until processing ends: id → {promise, resolve, reject}. */
    this.watches = new Map();
    /** Those still to ask about, with the status last heard ("" before the first). */
    this.following = new Map();
    /** The rounds of asking under way, if any. */
    this.follower = null;
    this.delay = ASK_SOON;
    this.credit = ASK_BURST * ASK_STEADY;
    this.creditAt = Date.now();
    /** Ends the pause between two rounds sooner, when one is under way. */
    this.hurry = null;
    document.addEventListener("visibilitychange", () => document.hidden || this.#nudge());
    /** When each photo whose image failed was last asked for again. */
    this.checked = new Map();
    this.cursor = null;
    this.loaded = false;
    this.failed = false;
    this.finished = false;
    this.pending = null;
    more.addEventListener("click", () => this.loadMore());
    this.observer = new IntersectionObserver(
      (entries) => entries.some((entry) => entry.isIntersecting) && this.loadMore(),
      { rootMargin: "600px 0px" },
    );
  }

  start() {
    this.observer.observe(this.sentinel);
    return this.loadMore();
  }

  /** The next page; resolves at once when everything is loaded. */
  loadMore() {
    if (this.finished) return Promise.resolve();
    this.pending ||= this.#nextPage().finally(() => { this.pending = null; });
    return this.pending;
  }

  async #nextPage() {
    this.grid.setAttribute("aria-busy", "true");
    this.more.textContent = "Loading…";
    let ok = false;
    try {
      const page = await api.photos(this.cursor, this.pageSize);
      for (const photo of page.items) this.upsert(photo, { fromPage: true });
      this.cursor = page.next_cursor;
      this.finished = !page.next_cursor;
      this.loaded = true;
      this.error.hidden = true;
      ok = true;
    } catch (error) {
      this.error.textContent = `The photos could not be loaded: ${error.message}`;
      this.error.hidden = false;
    } finally {
      this.failed = !ok;
      this.grid.setAttribute("aria-busy", "false");
      this.more.textContent = ok ? "Load more photos" : "Try again";
      this.#refresh();
      // Whether more photos are to come is known only now, after the page's own changes.
      this.dispatchEvent(new CustomEvent("change", { detail: {} }));
    }
    if (ok && !this.finished) {
      // Observing again reports at once whether the end is still in view (a tall screen).
      this.observer.unobserve(this.sentinel);
      this.observer.observe(this.sentinel);
    }
  }

  indexOf(id) {
    return this.photos.findIndex((photo) => photo.id === id);
  }

  /** A photo of the pages loaded, or one a link opened further down. */
  get(id) {
    return this.photos[this.indexOf(id)] ?? this.beyond.get(id);
  }

  tile(id) {
    return this.tiles.get(id)?.querySelector("button") || null;
  }

  /** The photo a link names, asked for on its own: a link may name one far down the
   * gallery, which the pages loaded reach later, if ever. True once it is known, false if it
   * is not to be shown (deleted, someone else's, an upload not finished, a copy). Throws when
   * it could not be asked for. */
  async seek(id) {
    if (this.get(id)) return true;
    let photo;
    try {
      photo = await api.photo(id);
    } catch (error) {
      if (error.status === 404) return false;
      throw error;
    }
    if (UNSHOWN.has(photo.status)) return false;
    this.upsert(photo, { linked: true });
    return Boolean(this.get(id));
  }

  /** Loads pages until a photo a link opened further down is among them: its neighbours
   * come with it. */
  async reach(id) {
    while (this.beyond.has(id) && !this.finished) {
      await this.loadMore();
      if (this.failed) return;
    }
  }

  /** Asks for a photo again: its signed URLs expire (in an hour by default), and it may have
   * been deleted elsewhere (another tab, another device), when its tile goes. */
  refresh(id) {
    return api.photo(id).then((photo) => this.upsert(photo), (error) => {
      if (error.status === 404) this.remove(id);
    });
  }

  /** An image of the photo would not load: its URLs expired, or the photo was deleted
   * elsewhere (its variants are gone). It is asked for again, once a minute at most: images
   * failing for another reason (a store away) would otherwise ask on every new tile. */
  imageFailed(id) {
    if (Date.now() - (this.checked.get(id) ?? -Infinity) < 60_000) return;
    this.checked.set(id, Date.now());
    this.refresh(id);
  }

  /** Adds or replaces a photo's tile, in its place (newest first). `fromPage`: listed in a
   * page of the grid; `linked`: one a link opened, kept beyond the pages loaded if its place
   * is further down. */
  upsert(photo, { fromPage = false, linked = false } = {}) {
    if (UNSHOWN.has(photo.status)) {
      // A tile listed while processing may turn out to be a copy of another photo.
      this.remove(photo.id);
      return;
    }
    photo = { ...photo, fetchedAt: Date.now() };
    const at = this.indexOf(photo.id);
    const before = at < 0 ? this.photos.findIndex((other) => newerFirst(photo, other) < 0) : at;
    if (before < 0 && !fromPage && this.loaded && !this.finished) {
      // Older than every loaded photo while more pages remain: its page will bring it. One a
      // link opened is kept for the viewer meanwhile.
      if (!linked && !this.beyond.has(photo.id)) return;
      this.beyond.set(photo.id, photo);
      this.#watchUnfinished(photo);
      this.dispatchEvent(new CustomEvent("change", { detail: { id: photo.id } }));
      return;
    }
    this.beyond.delete(photo.id);
    const tile = this.#tile(photo);
    if (at >= 0) {
      const old = this.tiles.get(photo.id);
      const hadFocus = old.contains(document.activeElement);
      old.replaceWith(tile);
      this.photos[at] = photo;
      if (hadFocus) tile.querySelector("button").focus();
    } else if (before < 0) {
      this.photos.push(photo);
      this.grid.append(tile);
    } else {
      this.tiles.get(this.photos[before].id).before(tile);
      this.photos.splice(before, 0, photo);
    }
    this.tiles.set(photo.id, tile);
    this.#watchUnfinished(photo);
    this.#refresh();
    this.dispatchEvent(new CustomEvent("change", { detail: { id: photo.id } }));
  }

  /** A photo still being processed is followed until it is done. */
  #watchUnfinished(photo) {
    // A tile keeps the last state it was told when following it fails for good; an upload
    // waiting on the same photo says why.
    if (!FINAL.has(photo.status)) this.watch(photo.id).catch(() => {});
  }

  /** Takes a photo away; its `index` in the change told is -1 for one beyond the pages
   * loaded. */
  remove(id) {
    const at = this.indexOf(id);
    const beyond = this.beyond.get(id);
    if (beyond) {
      this.beyond.delete(id);
      this.dispatchEvent(new CustomEvent("change", { detail: { id, removed: beyond, index: -1 } }));
    }
    if (at < 0) return;
    const [removed] = this.photos.splice(at, 1);
    this.tiles.get(id).remove();
    this.tiles.delete(id);
    this.#refresh();
    this.dispatchEvent(new CustomEvent("change", { detail: { id, removed, index: at } }));
  }

  /** Follows a photo until processing ends; resolves to `{photo, duplicate}`, or to null when
   * the photo is deleted first. Every photo followed is asked about in one request a round
   * (`GET /photos/status`), however many there are; a server away for a while (a restart)
   * is asked again, less and less often. */
  watch(id) {
    let watch = this.watches.get(id);
    if (!watch) {
      watch = {};
      watch.promise = new Promise((resolve, reject) => Object.assign(watch, { resolve, reject }));
      this.watches.set(id, watch);
      this.following.set(id, "");
      this.#nudge();
    }
    return watch.promise;
  }

  /** Something to ask about sooner: a photo added, the page shown again. */
  #nudge() {
    if (!this.following.size) return;
    this.delay = ASK_SOON;
    this.hurry?.(ASK_SOON);
    this.follower ||= this.#follow();
  }

  #settle(id, outcome, error) {
    const watch = this.watches.get(id);
    this.following.delete(id);
    if (!watch) return;
    this.watches.delete(id);
    if (error) watch.reject(error);
    else watch.resolve(outcome);
  }

  async #follow() {
    let failures = 0;
    try {
      // The first round waits its moment too: photos added together (a page of the grid,
      // uploads landing) go in one request, and a photo just uploaded may be done by then.
      await this.#pause(this.delay);
      while (this.following.size) {
        await this.#spend();
        const ids = [...this.following.keys()];
        let changed = false;
        try {
          for (let at = 0; at < ids.length; at += STATUS_BATCH) {
            const answer = await api.statuses(ids.slice(at, at + STATUS_BATCH));
            changed = this.#heard(answer) || changed;
          }
          failures = 0;
        } catch (error) {
          if (!(error instanceof ApiError) || !error.transient) {
            // A defect answers the same each time: each photo asked about is told of it.
            for (const id of ids) this.#settle(id, null, error);
            continue;
          }
          // Away for a while (a restart, a proxy's 502…): asked again after as long as it
          // says, else a little longer each time.
          await this.#pause((error.retryAfter || Math.min(2 ** failures++, 30)) * 1000);
          continue;
        }
        if (this.delay < ASK_STEADY) this.delay *= 2;
        else this.delay = changed ? ASK_STEADY : Math.min(this.delay * 1.5, ASK_MOST);
        if (this.following.size) await this.#pause(document.hidden ? ASK_MOST : this.delay);
      }
    } finally {
      // In the same turn as the last look at `following`: a photo added later starts anew.
      this.follower = null;
    }
  }

  /** Waits until the credit allows a round, and spends it. */
  async #spend() {
    for (;;) {
      const now = Date.now();
      this.credit = Math.min(ASK_BURST * ASK_STEADY, this.credit + now - this.creditAt);
      this.creditAt = now;
      if (this.credit >= ASK_STEADY) break;
      await sleep(ASK_STEADY - this.credit);
    }
    this.credit -= ASK_STEADY;
  }

  /** Waits `ms`, or less when `hurry(most)` asks for at most `most` from its start. */
  #pause(ms) {
    return new Promise((done) => {
      const started = Date.now();
      let end = started + ms;
      let timer;
      const over = () => {
        this.hurry = null;
        done();
      };
      this.hurry = (most) => {
        if (started + most >= end) return;
        end = started + most;
        clearTimeout(timer);
        timer = setTimeout(over, Math.max(0, end - Date.now()));
      };
      timer = setTimeout(over, ms);
    });
  }

  /** Takes in one answer; true when a photo's status changed. */
  #heard({ items, missing }) {
    let changed = false;
    for (const status of items) {
      const { id } = status;
      if (!this.following.has(id)) continue;
      if (status.status === "duplicate" && status.duplicate_of) {
        // A copy is not shown: a tile it had while processing goes (the photo it copies
        // has its own).
        this.remove(id);
        this.#conclude(id, async () =>
          ({ photo: await retried(() => api.photo(status.duplicate_of)), duplicate: true }));
      } else if (FINAL.has(status.status)) {
        this.#conclude(id, async () => {
          const photo = await retried(() => api.photo(id));
          this.upsert(photo);
          return { photo, duplicate: false };
        });
      } else {
        changed ||= this.following.get(id) !== status.status;
        this.following.set(id, status.status);
        continue;
      }
      changed = true;
    }
    for (const id of missing) {
      if (!this.following.has(id)) continue;
      // Deleted meanwhile, on this page or elsewhere: its tile goes too.
      this.remove(id);
      this.#settle(id, null);
      changed = true;
    }
    return changed;
  }

  /** A photo no longer asked about, whose outcome `work()` fetches. */
  #conclude(id, work) {
    this.following.delete(id);
    work().then((outcome) => this.#settle(id, outcome), (error) => {
      if (error.status !== 404) {
        this.#settle(id, null, error);
        return;
      }
      this.remove(id);
      this.#settle(id, null);
    });
  }

  #refresh() {
    this.empty.hidden = !this.loaded || this.photos.length > 0;
    this.more.hidden = this.finished || !(this.loaded || this.failed);
  }

  #tile(photo) {
    const open = el("button", {
      type: "button",
      class: "tile-open",
      onclick: () => this.dispatchEvent(new CustomEvent("open", { detail: { id: photo.id } })),
    });
    const tile = el("li", { class: "tile", "data-id": photo.id, "data-status": photo.status }, open);
    if (!hasImage(photo)) {
      open.append(el("span", { class: "tile-status" },
        el("span", { class: "tile-name", dir: "auto" }, photo.filename), " ", statusText(photo, true)));
      return tile;
    }
    if (photo.blurhash) {
      const canvas = placeholder(photo.blurhash, aspect(photo));
      if (canvas) open.append(canvas);
    }
    const largest = variantFor(photo, Infinity);
    const img = el("img", {
      loading: "lazy",
      decoding: "async",
      alt: altText(photo),
      width: largest.width,
      height: largest.height,
      sizes: tileSizes(photo),
      srcset: srcset(photo),
      src: variantFor(photo, 320).url,
      draggable: "false",
    });
    img.addEventListener("load", () => tile.classList.add("loaded"), { once: true });
    img.addEventListener("error", () => this.imageFailed(photo.id), { once: true });
    open.append(img);
    return tile;
  }
}
