// The public API with the person's own key (kept for this browser tab only).
import { fetchEventSource } from "@microsoft/fetch-event-source";

const STORAGE = "spiral.key";

export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

export const key = {
  get: () => sessionStorage.getItem(STORAGE) || "",
  set: (value) => sessionStorage.setItem(STORAGE, value),
  clear: () => sessionStorage.removeItem(STORAGE),
};

function headers(json) {
  const h = { Authorization: `Bearer ${key.get()}`, Accept: "application/json" };
  if (json) h["Content-Type"] = "application/json";
  return h;
}

/** One request; an error answer (problem+json) becomes an ApiError with its title and detail. */
export async function request(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    let problem = {};
    try {
      problem = await res.json();
    } catch {
      /* not JSON: the status says enough */
    }
    throw new ApiError(res.status, problem.title || res.statusText, problem.detail || "");
  }
  if (res.status === 204) return null;
  return res.json();
}

export const get = (path, params) => request("GET", params ? `${path}?${query(params)}` : path);
export const post = (path, body = {}) => request("POST", path, body);
export const patch = (path, body) => request("PATCH", path, body);
export const put = (path, body) => request("PUT", path, body);
export const del = (path) => request("DELETE", path);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, String(one));
  }
  return q.toString();
}

/** Path segment escaping for ids that may hold any character. */
export const seg = (id) => encodeURIComponent(id);

/**
 * The person's push stream (GET /push/stream, server-sent events) with the key in a header.
 * The library resends Last-Event-ID on reconnect, so nothing is missed across a drop.
 * Returns a function that closes it.
 */
export function stream(path, { onEvent, onOpen, onError }) {
  const ctrl = new AbortController();
  fetchEventSource(path, {
    headers: { Authorization: `Bearer ${key.get()}` },
    signal: ctrl.signal,
    openWhenHidden: true,
    async onopen(res) {
      if (!res.ok) throw new ApiError(res.status, res.statusText, "");
      onOpen?.();
    },
    onmessage(msg) {
      if (!msg.event && !msg.data) return;
      let data = {};
      try {
        data = msg.data ? JSON.parse(msg.data) : {};
      } catch {
        data = { raw: msg.data };
      }
      onEvent?.(msg.event || "message", data, msg.id);
    },
    onerror(err) {
      onError?.(err);
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) throw err;
      return 2000; // retry in 2 s
    },
  }).catch((err) => onError?.(err));
  return () => ctrl.abort();
}
