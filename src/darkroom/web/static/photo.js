// What the page shows of one photo, from the API's answer alone.

export const FINAL = new Set(["ready", "failed", "duplicate"]);

/** Variants that keep the aspect ratio, one per width, narrowest first. */
function byWidth(photo) {
  const seen = new Set();
  return Object.values(photo.variants || {})
    .filter((v) => v.width > 0 && v.url)
    .sort((a, b) => a.width - b.width)
    .filter((v) => !seen.has(v.width) && seen.add(v.width));
}

export const hasImage = (photo) => photo.status === "ready" && byWidth(photo).length > 0;

export function srcset(photo) {
  return byWidth(photo).map((v) => `${v.url} ${v.width}w`).join(", ");
}

/** The variant to fall back on where srcset is not used: the narrowest at least `min` wide. */
export function variantFor(photo, min) {
  const variants = byWidth(photo);
  return variants.find((v) => v.width >= min) || variants[variants.length - 1];
}

export function aspect(photo) {
  const largest = byWidth(photo).at(-1);
  const [w, h] = photo.width && photo.height
    ? [photo.width, photo.height]
    : [largest?.width || 1, largest?.height || 1];
  return w / h;
}

export const altText = (photo) => photo.description.trim() || photo.filename || "Photo";

/** `brief`: without the reason, for a small tile. */
export function statusText(photo, brief = false) {
  switch (photo.status) {
    case "uploading": return "Uploading…";
    case "pending":
    case "processing": return "Processing…";
    case "failed":
      return brief ? "Could not be processed" : `Could not be processed: ${photo.reason || "unknown reason"}`;
    case "duplicate": return "Already in the gallery";
    default: return "";
  }
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "long", timeStyle: "short" });

/** When the photo was taken (EXIF: local time, no zone), as text; null if unknown. */
export function takenAt(photo) {
  const value = photo.metadata?.taken_at;
  if (!value) return null;
  const date = new Date(String(value));
  return Number.isNaN(date.getTime()) ? String(value) : dateFormat.format(date);
}

export function camera(photo) {
  const make = String(photo.metadata?.camera_make || "").trim();
  const model = String(photo.metadata?.camera_model || "").trim();
  if (make && model.toLowerCase().startsWith(make.toLowerCase())) return model;
  return [make, model].filter(Boolean).join(" ") || null;
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Microseconds since the epoch: the API's times are finer than a Date's milliseconds. */
function micros(iso) {
  const fraction = /\.(\d+)/.exec(iso)?.[1] || "";
  return Date.parse(iso) * 1000 + Number(fraction.padEnd(6, "0").slice(3, 6));
}

/** Newest first, as the API lists them. */
export function newerFirst(a, b) {
  const age = micros(b.created_at) - micros(a.created_at);
  if (age) return age;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}
