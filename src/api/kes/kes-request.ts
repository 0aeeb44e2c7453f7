// The shape of a KES route and of the request its handler sees (caller with its KES identity and
// path, the selected enclave, the current settings), plus the response writers KES uses.

import type { Caller } from '../../core/caller.ts';
import type { Core } from '../../core/core.ts';
import { redactIdentityText } from '../../identity/index.ts';
import { KeyholdError, badRequest } from '../../model/errors.ts';
import { isValidName } from '../../model/names.ts';
import type { AuditRecord } from '../../observe/audit.ts';
import type { HttpRequest, HttpResponse } from '../../http/http-types.ts';
import type { LogEvent } from '../../observe/event-log.ts';
import { encodeGoJson } from './go-json.ts';
import type { KesCounts, KesMetrics } from './kes-metrics.ts';
import type { NdjsonBroadcast } from './kes-log-stream.ts';
import type { KesSettings } from '../../config/kes-settings.ts';

/**
 * How a route authenticates: `policy` = admin or a policy allowing the path; `identify` =
 * any client (the identity is looked up, never refused); `none` = no identity at all.
 */
export type KesAuth = 'policy' | 'identify' | 'none';

/** One KES route, as `/v1/api` describes it, with its handler. */
export interface KesRouteSpec {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** The path; a trailing `/` makes it a prefix whose remainder is the resource. */
  readonly path: string;
  /** Largest body in bytes as upstream reports it (0 = the handler reads none). */
  readonly maxBody: number;
  /** Seconds, as upstream (0 = none: streams). */
  readonly timeout: number;
  readonly auth: KesAuth;
  /** Counted by `kes_http_request_*` (key, policy and identity routes). */
  readonly metrics: boolean;
  /** Legacy-era routes work but are not listed by `/v1/api`. */
  readonly legacy?: boolean;
  /** Exact paths served by the same handler, e.g. `/v1/key/list` for `/v1/key/list/`. */
  readonly aliases?: readonly string[];
  /**
   * The resource is an identity: the audit log shows it only when it is one (anything else
   * may be a secret pasted in its place, such as an API key without its prefix).
   */
  readonly resource?: 'identity';
  /**
   * For routes with a body: the name check and the permission the handler starts with, run
   * before the body is read (the handler's own checks then pass on the decision made).
   */
  readonly guard?: { readonly check: (name: string) => void; readonly command: string };
  handle(k: KesRequest): Promise<void> | void;
}

/** What the routes share: the core, the default enclave, metrics and log streams. */
export interface KesEnv {
  readonly core: Core;
  readonly defaultEnclave: string;
  /** Server start: upstream reports it as `created_at` of config-file policies and identities. */
  readonly started: Date;
  readonly metrics: KesMetrics;
  /** The counters of every process of the node (a worker pool); this process's alone if absent. */
  readonly allCounts: () => Promise<KesCounts[]>;
  readonly auditStream: NdjsonBroadcast<AuditRecord>;
  readonly errorStream: NdjsonBroadcast<LogEvent>;
  /** The admin identity in hex, or '' when there is none (disabled). */
  adminHex(): string;
  /** The routes of the current era, for `/v1/api`. */
  apiRoutes(): readonly KesRouteSpec[];
  /** Writes one line of KES's text audit log (stdout). */
  auditText(line: string): void;
}

/** One KES request after identification, before its body is read. */
export type KesHead = Omit<KesRequest, 'body'>;

/** One KES request after identification. */
export interface KesRequest {
  readonly env: KesEnv;
  readonly req: HttpRequest;
  readonly res: HttpResponse;
  readonly caller: Caller;
  /** URL-decoded path remainder after the route prefix ('' for exact routes). */
  readonly resource: string;
  readonly query: URLSearchParams;
  readonly body: Buffer;
  readonly enclave: string;
  readonly settings: KesSettings;
  /** The caller's identity as KES hex ('' without a certificate). */
  readonly identityHex: string;
  /** Milliseconds since the epoch when the handler started. */
  readonly started: number;
}

/** Throws PERMISSION unless the caller may run `command` on `target` in the request's enclave. */
export function authorizeOp(k: KesHead, command: string, target: string): void {
  k.env.core.authorize(k.caller, command, k.enclave, target);
}

/**
 * The enclave a request names (`?enclave=` of kes-go, or a `Kes-Enclave` header), else the
 * default. `query` is null when the request has none.
 */
export function selectEnclave(
  query: URLSearchParams | null,
  req: HttpRequest,
  defaultEnclave: string,
): string {
  const header = req.headers['kes-enclave'];
  const name =
    query?.get('enclave') || (typeof header === 'string' ? header : '') || defaultEnclave;
  if (name === lastEnclave) return name;
  if (!isValidName(name)) {
    throw badRequest(`enclave name '${name}' is empty, too long or contains invalid characters`);
  }
  lastEnclave = name;
  return name;
}

// The last enclave and key name found valid. Validity depends on the text alone, and a client
// names the same ones request after request: comparing with the last one is cheaper than the
// grammar's regular expression (null: none yet; '' is never valid).
let lastEnclave: string | null = null;
let lastKeyName: string | null = null;

/** 400 for a key name outside KES's grammar. */
export function checkKeyName(name: string): void {
  if (name === lastKeyName) return;
  if (!isValidName(name)) {
    throw badRequest(`key name '${name}' is empty, too long or contains invalid characters`);
  }
  lastKeyName = name;
}

/** 400 for a policy name outside KES's grammar. */
export function checkPolicyName(name: string): void {
  if (!isValidName(name)) {
    throw badRequest(`policy name '${name}' is empty, too long or contains invalid characters`);
  }
}

/** 400 for an identity outside KES's grammar. */
export function checkIdentityName(identity: string): void {
  if (!isValidName(identity)) {
    // KES quotes the text; never an API key given in its place.
    const shown = redactIdentityText(identity);
    throw badRequest(`identity '${shown}' is empty, too long or contains invalid characters`);
  }
}

/** The error for a listing pattern outside KES's grammar. */
export function invalidPattern(pattern: string): KeyholdError {
  return badRequest(`listing pattern '${pattern}' is empty, too long or is invalid`);
}

/** `200` with one JSON value, as Go's `json.Encoder` writes it. */
export function sendJson(res: HttpResponse, value: unknown): void {
  const body = Buffer.from(encodeGoJson(value));
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

/**
 * `200` with the bytes of JSON already in Go's encoding (HTML-safe, trailing newline): the hot
 * routes write their base64 answers so (`base64Object`), without JSON.stringify and its
 * escaping pass.
 */
export function sendJsonBytes(res: HttpResponse, body: Buffer): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

/** An "empty" KES success: 200, `Content-Length: 0`, no Content-Type. */
export function sendEmpty(res: HttpResponse): void {
  res.writeHead(200, { 'Content-Length': 0 });
  res.end();
}

/** A legacy NDJSON listing: one JSON object per line. */
export function sendNdjson(res: HttpResponse, values: readonly unknown[]): void {
  const body = Buffer.from(values.map((v) => encodeGoJson(v)).join(''));
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Content-Length': body.length });
  res.end(body);
}

/**
 * Answers a listing as NDJSON page by page: a page is encoded only once the client has taken
 * the one before, so a listing of a million keys never sits in memory whole. The first page is
 * read before the status line (its errors are ordinary error answers); a listing of one page
 * goes out with a Content-Length, as {@link sendNdjson}.
 */
export async function streamNdjson(
  res: HttpResponse,
  pages: Iterator<readonly unknown[]>,
): Promise<void> {
  const first = pages.next();
  let page = first.done ? first : pages.next();
  if (first.done || page.done) {
    sendNdjson(res, first.done ? [] : first.value);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
  const client: { gone: boolean; wake?: () => void } = { gone: false };
  res.once('close', () => {
    client.gone = true;
    client.wake?.();
  });
  const lines = (values: readonly unknown[]): string => values.map((v) => encodeGoJson(v)).join('');
  let pending = lines(first.value);
  for (;;) {
    if (pending !== '' && !res.write(pending)) {
      await new Promise<void>((resolve) => {
        client.wake = resolve;
        res.once('drain', resolve);
      });
    }
    if (client.gone) return;
    if (page.done) break;
    pending = lines(page.value);
    page = pages.next();
  }
  res.end();
}

/**
 * True when a listing is answered as NDJSON (`ListingFormat` in src/config/kes-settings.ts): by
 * default unless the request asks for the current era's JSON.
 */
export function wantsNdjson(k: KesRequest): boolean {
  const accept = k.req.headers.accept ?? '';
  if (accept.includes('application/x-ndjson')) return true;
  switch (k.settings.listingFormat) {
    case 'ndjson':
      return true;
    case 'json':
      return false;
    case 'auto':
      return !accept.includes('application/json') && !k.query.has('continue_at');
  }
}

/**
 * The prefix a current-era listing pattern selects: `` and `*` = everything, otherwise the
 * pattern without one trailing `*`; undefined when the pattern is outside the grammar
 * (name characters, `*` only last, at most 80 bytes).
 */
export function listingPrefix(pattern: string): string | undefined {
  if (pattern === '' || pattern === '*') return '';
  if (pattern.length > 80 || !/^[0-9A-Za-z_-]*\*?$/.test(pattern)) return undefined;
  return pattern.endsWith('*') ? pattern.slice(0, -1) : pattern;
}

/** Go's `time.Duration.String()` for a positive duration given in seconds. */
export function goDuration(seconds: number): string {
  const ns = Math.max(0, Math.round(seconds * 1e9));
  const trim = (value: number, digits: number): string =>
    value.toFixed(digits).replace(/\.?0+$/, '');
  if (ns < 1000) return `${ns}ns`;
  if (ns < 1e6) return `${trim(ns / 1e3, 3)}µs`;
  if (ns < 1e9) return `${trim(ns / 1e6, 6)}ms`;
  return `${trim(ns / 1e9, 9)}s`;
}
