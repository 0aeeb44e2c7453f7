// The console API's HTTP conventions: JSON answers and errors, the session cookie, and the
// checks that keep other sites from acting through a signed-in browser (docs/console.md#security).

import type { HttpRequest, HttpResponse } from '../http/http-types.ts';
import { KeyholdError, badRequest } from '../model/errors.ts';
import { redactSecrets } from '../identity/index.ts';

/**
 * The session cookie. `__Host-` makes the browser refuse it unless it is Secure, for `/` and
 * without a Domain, so no other host (a sibling subdomain) can plant one.
 */
export const SESSION_COOKIE = '__Host-keyhold-session';
/** The header a state-changing request repeats the session's CSRF token in. */
export const CSRF_HEADER = 'x-keyhold-csrf';

const API_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
} as const;

/** Answers `value` as JSON. */
export function sendJson(
  res: HttpResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, { ...API_HEADERS, ...headers, 'Content-Length': body.length });
  res.end(body);
}

/** A console error: `{"error":{"code":…,"message":…}}` with the KMS API's status and message. */
export function writeConsoleError(res: HttpResponse, error: KeyholdError): void {
  const { status, message } = error.wire('kms');
  sendJson(res, status, { error: { code: error.code, message: redactSecrets(message) } });
}

/** 401: the request needs a live session. */
export function notSignedIn(): KeyholdError {
  return new KeyholdError('UNAUTHENTICATED', 'not signed in (or the session ended): sign in again');
}

/** 403 for a request another site may have made. */
function crossSite(why: string): KeyholdError {
  return new KeyholdError('FORBIDDEN', `request refused: ${why}`);
}

/**
 * Throws unless a state-changing request comes from the console's own page: its `Origin` must be
 * this server as the browser addressed it (`https://` + Host), a browser's `Sec-Fetch-Site`, when
 * sent, must say same-origin, and the body must be JSON (a cross-site form cannot send that
 * without a CORS preflight, which the console never answers).
 */
export function checkSameOrigin(req: HttpRequest): void {
  const origin = req.headers.origin;
  const host = req.headers.host;
  if (origin === undefined || host === undefined || origin !== `https://${host}`) {
    throw crossSite('the Origin header is missing or names another site');
  }
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') {
    throw crossSite(`the request came from a ${site} context`);
  }
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw badRequest('the body must be JSON (Content-Type: application/json)');
  }
}

/** The value of cookie `name`, or ''. */
export function cookieOf(req: HttpRequest, name: string): string {
  const header = req.headers.cookie ?? '';
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return '';
}

/** `Set-Cookie` for a new session id. */
export function sessionCookie(sid: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${sid}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(maxAgeSeconds)}`;
}

/** `Set-Cookie` that removes the session cookie. */
export function clearedCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`;
}

/** The request body as a JSON object; 400 for anything else. */
export function jsonObject(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('the body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badRequest('the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** A string field of a request (query or body); 400 when missing (unless a default is given). */
export function stringField(
  from: Record<string, unknown> | URLSearchParams,
  name: string,
  fallback?: string,
): string {
  const value = from instanceof URLSearchParams ? from.get(name) : from[name];
  if (value === undefined || value === null) {
    if (fallback !== undefined) return fallback;
    throw badRequest(`'${name}' is required`);
  }
  if (typeof value !== 'string') throw badRequest(`'${name}' must be a string`);
  if (value.length > 4096) throw badRequest(`'${name}' is too long`);
  return value;
}

/**
 * A field holding secret bytes as standard base64 (key material to import). The errors name the
 * field and the length, never the value.
 */
export function secretBytesField(from: Record<string, unknown>, name: string): Buffer {
  const value = from[name];
  if (typeof value !== 'string' || value === '') throw badRequest(`'${name}' is required`);
  if (value.length > 1024 || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
    throw badRequest(`'${name}' must be standard base64`);
  }
  return Buffer.from(value, 'base64');
}

/** An optional field of string tags (`{"team":"billing"}`); {} when absent. */
export function tagsField(from: Record<string, unknown>, name: string): Record<string, string> {
  const value = from[name];
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw badRequest(`'${name}' must be an object of string values`);
  }
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k === '') throw badRequest(`a tag needs a name`);
    if (typeof v !== 'string') throw badRequest(`tag '${k}' must have a string value`);
    tags[k] = v;
  }
  return tags;
}
