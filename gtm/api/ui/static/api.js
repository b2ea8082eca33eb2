// Talking to this gtm: reads are open, changes carry the token typed into the page.

const TOKEN_KEY = "gtm.token";

/** The API's root, relative to the page (/ui/ -> /), so a proxy's path prefix is kept. */
export const BASE = new URL("../", window.location.href);

/** An answer that was not 2xx, with the API's JSON error document when it sent one. */
export class ApiError extends Error {
  constructor(method, path, status, doc) {
    const text = doc && doc.message ? doc.message : `HTTP ${status}`;
    super(status ? `${method} /${path}: ${status} ${doc && doc.error ? doc.error + ": " : ""}${text}` : text);
    this.status = status;
    this.doc = doc;
  }
}

/** The token kept for this browser tab only (sessionStorage), or null. */
export function token() {
  return window.sessionStorage.getItem(TOKEN_KEY);
}

/** Keep ``value`` as the token for this tab; null or "" forgets it. */
export function setToken(value) {
  if (value) window.sessionStorage.setItem(TOKEN_KEY, value);
  else window.sessionStorage.removeItem(TOKEN_KEY);
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    const secret = token();
    if (secret) headers.Authorization = `Bearer ${secret}`;
    headers["Content-Type"] = "application/json";
  }
  let answer;
  try {
    answer = await fetch(new URL(path, BASE), {
      method,
      headers,
      cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(method, path, 0, { message: `gtm is unreachable (${err.message})` });
  }
  let doc = null;
  try {
    doc = await answer.json();
  } catch {
    doc = null;
  }
  if (!answer.ok) throw new ApiError(method, path, answer.status, doc);
  return doc;
}

/** GET ``path`` (relative: "v1/services"); the JSON document. */
export const get = (path) => call("GET", path);

/** POST ``body`` to ``path`` with the token; the JSON answer. */
export const post = (path, body) => call("POST", path, body);

/** DELETE ``path`` with the token; the JSON answer. */
export const remove = (path) => call("DELETE", path);
