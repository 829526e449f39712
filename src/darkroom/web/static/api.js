// The public HTTP API, and nothing else. Paths are relative to the page, so the same files
// work at / and under a prefix (behind CloudFront); every other URL comes from the API.

import { sleep } from "./dom.js";

export class ApiError extends Error {
  constructor(message, status = 0, code = "", retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    /** Seconds the server asked to wait before asking again, where it said. */
    this.retryAfter = retryAfter;
  }

  /** Whether the same request may succeed later: the server was not reached, was busy, or
   * was away behind a proxy or down for a while (a restart, a backend down). Not a 500: a
   * defect answers the same each time, and the user is to hear of it. */
  get transient() {
    return [0, 429, 502, 503, 504].includes(this.status);
  }
}

const FORBIDDEN_HEADERS = new Set(["content-length", "host", "connection"]);
const TOKENS = "darkroom.tokens";

/** The signed-in user's tokens, where the server has accounts. */
export const session = {
  tokens() {
    try {
      return JSON.parse(localStorage.getItem(TOKENS));
    } catch {
      return null;
    }
  },
  signedIn() {
    return Boolean(this.tokens()?.access_token);
  },
  keep({ access_token, refresh_token }) {
    localStorage.setItem(TOKENS, JSON.stringify({ access_token, refresh_token }));
  },
  forget() {
    localStorage.removeItem(TOKENS);
  },
};

function resolve(path) {
  return new URL(path, document.baseURI);
}

/** The message a person can act on, from darkroom's JSON or an S3 store's XML. */
async function errorOf(response) {
  const text = await response.text().catch(() => "");
  const wait = Number(response.headers.get("Retry-After") ?? NaN);
  return new ApiError(messageIn(text) || `${response.status} ${response.statusText}`.trim(),
    response.status, codeIn(text), wait >= 0 ? wait : null);
}

function messageIn(text) {
  try {
    const body = JSON.parse(text);
    if (body && typeof body.message === "string") return body.message;
  } catch {
    const xml = /<Message>([^<]*)<\/Message>/.exec(text);
    if (xml) return xml[1];
  }
  return "";
}

function codeIn(text) {
  try {
    return JSON.parse(text).error || "";
  } catch {
    return "";
  }
}

async function call(method, path, body, mayRefresh = true) {
  const options = { method, headers: { Accept: "application/json" } };
  const tokens = session.tokens();
  if (tokens?.access_token) options.headers.Authorization = `Bearer ${tokens.access_token}`;
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(resolve(path), options);
  } catch {
    throw new ApiError("The server could not be reached. Check the connection and try again.");
  }
  if (response.status === 401 && tokens && !String(path).startsWith("auth/")) {
    if (mayRefresh && await refreshed(tokens)) return call(method, path, body, false);
    session.forget();
    window.dispatchEvent(new Event("darkroom:signed-out"));
  }
  if (!response.ok) throw await errorOf(response);
  return response.status === 204 ? null : response.json();
}

/** A new access token for an expired one; false when the session has ended. */
async function refreshed(tokens) {
  if (!tokens.refresh_token) return false;
  try {
    session.keep(await call("POST", "auth/refresh", { refresh_token: tokens.refresh_token }));
    return true;
  } catch {
    return false;
  }
}

/** `request()` again, as long as it fails in a way that may pass (`when`, by default
 * `ApiError.transient`): after as long as the server asks, else a little longer each time.
 * `onWait(seconds, error)` hears of each wait; `signal` ends the waiting. */
export async function retried(request, { when = (error) => error.transient, onWait, signal } = {}) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (!(error instanceof ApiError) || !when(error)) throw error;
      const seconds = error.retryAfter || Math.min(2 ** attempt, 30);
      onWait?.(seconds, error);
      await sleep(seconds * 1000, signal);
    }
  }
}

const id = (photoId) => encodeURIComponent(photoId);

export const api = {
  config: () => call("GET", "config"),
  photos(cursor, limit) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return call("GET", `photos?${query}`);
  },
  photo: (photoId) => call("GET", `photos/${id(photoId)}`),
  /** The status of up to 100 photos in one request: `{items, missing}`, `missing` naming
   * those that are gone (or never were). */
  statuses: (photoIds) => call("GET", `photos/status?ids=${photoIds.map(id).join(",")}`),
  describe: (photoId, description) => call("PATCH", `photos/${id(photoId)}`, { description }),
  remove: (photoId) => call("DELETE", `photos/${id(photoId)}`),
  startUpload: (request) => call("POST", "uploads", request),
  signIn: (email, password) => call("POST", "auth/sign-in", { email, password }),
  signUp: (email, password) => call("POST", "auth/sign-up", { email, password }),
  verify: (email, code) => call("POST", "auth/verify", { email, code }),
  forgotPassword: (email) => call("POST", "auth/forgot-password", { email }),
  resetPassword: (email, code, password) =>
    call("POST", "auth/reset-password", { email, code, password }),
  changePassword: (oldPassword, newPassword) =>
    call("POST", "auth/change-password", { old_password: oldPassword, new_password: newPassword }),
  signOut: () => call("POST", "auth/sign-out"),
  share: (photoId) => call("POST", `photos/${id(photoId)}/shares`, {}),
  shared: (token) => call("GET", `shared/${encodeURIComponent(token)}`),
  shares: (photoId) => call("GET", `photos/${id(photoId)}/shares`),
  revoke: (photoId, shareId) =>
    call("DELETE", `photos/${id(photoId)}/shares/${encodeURIComponent(shareId)}`),
  /** Starts processing without waiting for it: the page polls the status instead, so that a
   * batch of uploads never holds all of the browser's connections to the server. */
  complete(completeUrl) {
    const url = new URL(completeUrl, document.baseURI);
    url.searchParams.set("wait", "false");
    return call("POST", url.href);
  },
};

/** Sends a file where an upload ticket says, reporting progress (fetch cannot, yet), until
 * `signal` cancels it. */
export function transfer(ticket, file, onProgress, signal) {
  return new Promise((resolveSent, rejectSent) => {
    signal?.throwIfAborted();
    const xhr = new XMLHttpRequest();
    const abort = () => xhr.abort();
    signal?.addEventListener("abort", abort, { once: true });
    // The signal outlives this transfer (it is sent again after a pause): its listener goes.
    const settled = (settle) => (value) => {
      signal?.removeEventListener("abort", abort);
      settle(value);
    };
    const [resolvePromise, reject] = [settled(resolveSent), settled(rejectSent)];
    const cutOff = () => new ApiError("The upload was cut off.");
    xhr.addEventListener("abort", () => reject(signal?.reason ?? cutOff()));
    xhr.open(ticket.method, ticket.url);
    const fields = Object.entries(ticket.fields || {});
    let body = file;
    if (fields.length) {
      // A presigned POST policy: the fields first, the file last.
      body = new FormData();
      for (const [name, value] of fields) body.append(name, value);
      body.append("file", file);
    }
    for (const [name, value] of Object.entries(ticket.headers || {})) {
      const lower = name.toLowerCase();
      if (FORBIDDEN_HEADERS.has(lower) || (fields.length && lower === "content-type")) continue;
      xhr.setRequestHeader(name, value);
    }
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size, file.size);
        resolvePromise();
      } else {
        reject(new ApiError(messageIn(xhr.responseText) || `The store answered ${xhr.status}`,
          xhr.status, codeIn(xhr.responseText)));
      }
    });
    xhr.addEventListener("error", () => reject(cutOff()));
    xhr.addEventListener("timeout", () => reject(new ApiError("The upload timed out.")));
    xhr.send(body);
  });
}
