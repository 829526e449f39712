// darkroom's gallery page: reads /config, then wires the grid, the uploads and the viewer.
// Static ES modules, no build step; the page talks to the public API only (api.js).

import { Account } from "./account.js";
import { api } from "./api.js";
import { Gallery } from "./gallery.js";
import { showShared } from "./share.js";
import { Uploads } from "./uploads.js";
import { Viewer } from "./viewer.js";

const $ = (id) => document.getElementById(id);

function showSignIn(auth) {
  const link = $("sign-in");
  link.hidden = !auth?.sign_in_url;
  if (auth?.sign_in_url) link.href = auth.sign_in_url;
}

/** Files dragged over any part of the page can be dropped there. */
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
    onFiles([...event.dataTransfer.files]);
  });
}

async function main() {
  if (await showShared()) {
    document.documentElement.dataset.ready = "true";
    return;
  }
  const gallery = new Gallery({
    grid: $("grid"), more: $("more"), sentinel: $("sentinel"), empty: $("empty"),
    error: $("gallery-error"),
  });
  let config;
  try {
    config = await api.config();
  } catch (error) {
    $("gallery-error").textContent = `darkroom could not be reached: ${error.message}`;
    $("gallery-error").hidden = false;
    return;
  }
  showSignIn(config.auth);
  if (config.auth.mode !== "none") {
    window.addEventListener("darkroom:signed-out", () => window.location.reload());
    await new Account(config.auth.mode).ready();
  }

  const uploads = new Uploads(
    { section: $("uploads"), list: $("upload-list"), clear: $("clear-uploads") }, config, gallery,
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

  const viewer = new Viewer($("viewer"), gallery, $("add"));
  gallery.addEventListener("open", (event) => viewer.open(event.detail.id));
  await gallery.start();
  document.documentElement.dataset.ready = "true";
}

main();
