// The KES client's endpoint list: normalizes what users write (`host:port`, `https://…`, comma
// lists) and picks the order to try endpoints in, sidelining failed ones for a while, as
// kms-go/kes's load balancer does (docs/protocol/kes.md).

import { isIP } from 'node:net';
import type { EndpointPool } from '../transport.ts';

/** How long an endpoint that failed at the transport level (or with a 5xx) is tried last. */
export const KES_ENDPOINT_QUARANTINE_MS = 30_000;

/**
 * Normalizes one endpoint: whitespace trimmed, `http://` replaced and a missing scheme filled in
 * with `https://` (KES is HTTPS only, as the `kes` CLI does), trailing `/` removed. Throws
 * TypeError for an empty or unparsable endpoint.
 */
export function normalizeKesEndpoint(text: string): string {
  let endpoint = text.trim();
  if (endpoint === '') throw new TypeError('empty KES endpoint');
  if (endpoint.startsWith('http://')) endpoint = endpoint.slice('http://'.length);
  if (!endpoint.startsWith('https://')) endpoint = 'https://' + endpoint;
  while (endpoint.endsWith('/')) endpoint = endpoint.slice(0, -1);
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new TypeError(`invalid KES endpoint '${text.trim()}'`);
  }
  if (url.host === '' || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new TypeError(`invalid KES endpoint '${text.trim()}'`);
  }
  return endpoint;
}

/** Splits a comma-separated list (as in `KES_SERVER`) into normalized endpoints; empty entries are dropped. */
export function parseKesEndpoints(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map(normalizeKesEndpoint);
}

/** True for `localhost` and loopback IP literals (tried first, like kms-go's localhost preference). */
export function isLoopbackEndpoint(endpoint: string): boolean {
  const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Endpoint selection for one client. Each request walks the endpoints starting with the first one
 * if it is a loopback address, else at a random one, round-robin; endpoints that failed within
 * the last {@link KES_ENDPOINT_QUARANTINE_MS} go to the end of the walk rather than being dropped,
 * so a request still reaches a recovering server when every endpoint is sidelined.
 */
export class KesEndpointPool implements EndpointPool {
  readonly endpoints: readonly string[];
  readonly #failedAt = new Map<string, number>();
  readonly #now: () => number;

  /** `endpoints` are normalized; throws TypeError for an empty list or a bad entry. */
  constructor(endpoints: readonly string[], now: () => number = Date.now) {
    if (endpoints.length === 0) throw new TypeError('no KES endpoint given');
    this.endpoints = [...new Set(endpoints.map(normalizeKesEndpoint))];
    this.#now = now;
  }

  /** The endpoints, as the transport names them. */
  get hosts(): readonly string[] {
    return this.endpoints;
  }

  /** The order in which to try the endpoints for one request. */
  order(): string[] {
    const n = this.endpoints.length;
    const start = isLoopbackEndpoint(this.endpoints[0]!) ? 0 : Math.floor(Math.random() * n);
    const walk = Array.from({ length: n }, (_, i) => this.endpoints[(start + i) % n]!);
    const now = this.#now();
    const healthy = walk.filter((e) => !this.#sidelined(e, now));
    const sidelined = walk.filter((e) => this.#sidelined(e, now));
    return [...healthy, ...sidelined];
  }

  /** Records a transport failure or 5xx answer of `endpoint`. */
  fail(endpoint: string): void {
    this.#failedAt.set(endpoint, this.#now());
  }

  /** Records a usable answer of `endpoint`. */
  succeed(endpoint: string): void {
    this.#failedAt.delete(endpoint);
  }

  #sidelined(endpoint: string, now: number): boolean {
    const at = this.#failedAt.get(endpoint);
    return at !== undefined && now - at < KES_ENDPOINT_QUARANTINE_MS;
  }
}
