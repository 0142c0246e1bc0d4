// Calls to the node: the native API with the session cookie, and the
// session's CSRF token on every call that changes something.

let csrf = '';

/** A failed call: its HTTP status, the API's code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Who is signed in, or null. */
export async function session() {
  const r = await fetch('/ui/session', { cache: 'no-store' });
  if (!r.ok) return null;
  const s = await r.json();
  csrf = s.csrf;
  return s.who ? s : null;
}

/** Signs in with the admin secret. */
export async function signIn(secret) {
  const r = await fetch('/ui/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ secret }),
  });
  if (!r.ok) throw await failure(r);
  const s = await r.json();
  csrf = s.csrf;
  return s;
}

export async function signOut() {
  await fetch('/ui/session', { method: 'DELETE', headers: { 'x-csrf-token': csrf } });
  csrf = '';
}

/** The headers every call that changes something carries. */
export function guard(headers = {}) {
  return { ...headers, 'x-csrf-token': csrf };
}

async function failure(r) {
  let body = {};
  try { body = await r.json(); } catch { /* not JSON */ }
  return new ApiError(r.status, body.code || 'error', body.message || `${r.status} ${r.statusText}`);
}

/** A call to `/api/v1<path>`; answers its JSON (or null for no content).
 * A 401 tells the page the session is gone. */
export async function call(method, path, body) {
  const init = { method, headers: method === 'GET' ? {} : guard() };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(`/api/v1${path}`, init);
  if (r.status === 401) window.dispatchEvent(new Event('cairn:signedout'));
  if (!r.ok) throw await failure(r);
  if (r.status === 204) return null;
  const type = r.headers.get('content-type') || '';
  return type.includes('json') ? r.json() : null;
}

export const get = (path) => call('GET', path);
