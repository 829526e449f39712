// darkroom's gallery page: reads /config, then wires the grid, the uploads and the viewer.
// Static ES modules, no build step; the page talks to the public API only (api.js).

import { Account } from "./account.js";
import { api } from "./api.js";
import { announce } from "./dom.js";
import { Gallery } from "./gallery.js";
import { showShared } from "./share.js";
import { Uploads } from "./uploads.js";
import { Viewer, linkedPhoto } from "./viewer.js";

const $ = (id) => document.getElementById(id);

function showSignIn(auth) {
  const link = $("sign-in");
  link.hidden = !auth?.sign_in_url;
  if (auth?.sign_in_url) link.href = auth.sign_in_url;
}

/** The files in a folder dropped and in its subfolders, by name, leaving out hidden files and
 * folders (as `darkroom import` does). */
async function filesIn(folder) {
  const reader = folder.createReader();
  const entries = [];
  // A reader gives a batch at a time (100 in Chromium), then an empty one.
  for (;;) {
    const batch = await new Promise((done, fail) => reader.readEntries(done, fail));
    if (!batch.length) break;
    entries.push(...batch);
  }
  entries.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  const files = [];
  for (const entry of entries) {
    if (entry.name.startsWith(".")) continue;
    if (entry.isDirectory) files.push(...await filesIn(entry));
    else files.push(await new Promise((done, fail) => entry.file(done, fail)));
  }
  return files;
}

/** What was dropped, folders read: a folder comes as one "file" of its own name, which is no
 * image, where its photos are what the person means. */
async function droppedFiles(dataTransfer) {
  // Entries are to be taken while the drop event lasts; reading them takes longer.
  const dropped = [...dataTransfer.items].filter((item) => item.kind === "file").map((item) => {
    const entry = item.webkitGetAsEntry?.();
    return entry?.isDirectory ? entry : item.getAsFile();
  });
  const files = [];
  for (const one of dropped) {
    if (!one || one instanceof File) {
      if (one) files.push(one);
      continue;
    }
    try {
      files.push(...await filesIn(one));
    } catch (error) {
      announce(`The folder ${one.name} could not be read: ${error.message}`);
    }
  }
  return files;
}

/** Files and folders dragged over any part of the page can be dropped there. */
function acceptDrops(onFiles) {
  const overlay = $("drop-overlay");
  let depth = 0;
  const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  window.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    depth++;
    overlay.hidden = false;
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.hidden = true;
  });
  window.addEventListener("dragover", (event) => {
    if (carriesFiles(event)) event.preventDefault();
  });
  window.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth = 0;
    overlay.hidden = true;
    droppedFiles(event.dataTransfer).then(onFiles);
  });
}

/** /config, asked for again as often as the person says: nothing on the page works without
 * it, so until then there is nothing to add photos with. */
async function configured() {
  const [error, retry] = [$("gallery-error"), $("config-retry")];
  for (;;) {
    try {
      const config = await api.config();
      if (document.activeElement === retry) $("gallery").focus();
      error.hidden = retry.hidden = true;
      $("add").hidden = $("add-hint").hidden = false;
      return config;
    } catch (failure) {
      error.textContent = `darkroom could not be reached: ${failure.message}`;
      error.hidden = retry.hidden = false;
      $("add").hidden = $("add-hint").hidden = true;
      await new Promise((resolve) => retry.addEventListener("click", resolve, { once: true }));
    }
  }
}

async function main() {
  // The page is made for the fragment it was opened with: a share or mail link followed in
  // this tab (which changes the fragment alone), or leaving a shared photo, loads it again.
  window.addEventListener("hashchange", () => {
    const shared = document.body.classList.contains("shared-view");
    if (shared || /^#(shared|verify|reset)=/.test(window.location.hash)) window.location.reload();
  });
  if (await showShared()) {
    document.documentElement.dataset.ready = "true";
    return;
  }
  const gallery = new Gallery({
    grid: $("grid"), more: $("more"), sentinel: $("sentinel"), empty: $("empty"),
    error: $("gallery-error"),
  });
  const config = await configured();
  showSignIn(config.auth);
  if (config.auth.mode !== "none") {
    window.addEventListener("darkroom:signed-out", () => window.location.reload());
    await new Account(config.auth.mode).ready();
  }

  const uploads = new Uploads(
    {
      section: $("uploads"), list: $("upload-list"), clear: $("clear-uploads"),
      photos: $("gallery"),
    },
    config, gallery,
  );
  const picker = $("picker");
  picker.accept = uploads.accept;
  $("add").addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => {
    uploads.add([...picker.files]);
    picker.value = "";
  });
  acceptDrops((files) => uploads.add(files));
  document.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (!files.length) return;
    event.preventDefault();
    uploads.add(files);
  });
  $("description-input").maxLength = config.max_description;

  const viewer = new Viewer($("viewer"), gallery, $("add"), $("photo-missing"));
  gallery.addEventListener("open", (event) => viewer.open(event.detail.id));
  await gallery.start();
  const linked = linkedPhoto();
  if (linked !== null) await viewer.follow(linked);
  document.documentElement.dataset.ready = "true";
}

main();
