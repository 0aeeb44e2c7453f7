// Calls to the console API (/console/api/…): JSON in and out, the CSRF token on every
// state-changing request, and errors as ApiError with the server's message.

let csrf = '';

/** Remembers the session's CSRF token (from /api/session or /api/sign-in). */
export function setCsrf(token) {
  csrf = token ?? '';
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    headers['X-Keyhold-CSRF'] = csrf;
  }
  const res = await fetch(`/console/api/${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const error = data?.error;
    throw new ApiError(res.status, error?.code ?? 'ERROR', error?.message ?? `HTTP ${res.status}`);
  }
  return data;
}

/** GET /console/api/PATH?QUERY */
export function get(path, query = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, v);
  const q = params.toString();
  return call('GET', q ? `${path}?${q}` : path);
}

/** POST /console/api/PATH with a JSON body. */
export function post(path, body = {}) {
  return call('POST', path, body);
}
