// HTTPS for the KES client: one keep-alive agent with the client's TLS identity, requests that
// fail over between endpoints on network errors and 5xx answers and retry transient failures,
// bounded response bodies, and streaming responses for the log routes.

import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiKey,
  clientCertificateForApiKey,
  identityOfCertificate,
  parseApiKey,
} from '../../identity/index.ts';
import { KesEndpointPool } from './endpoints.ts';
import { KesConnectionError, KesResponseError, parseKesErrorResponse } from './errors.ts';

/** TLS material of a client; `cert`/`key` and `apiKey` are alternatives. */
export interface KesTlsOptions {
  /** `kes:v1:…` (or `k1:…`) API key: the client presents the self-signed certificate it derives. */
  readonly apiKey?: string | ApiKey;
  /** Client certificate, PEM. */
  readonly cert?: string | Buffer;
  /** Client private key, PEM. SECRET. */
  readonly key?: string | Buffer;
  /** CA certificate(s), PEM, that the server's certificate must chain to (default: Node's roots). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Skip verification of the server's certificate (the `kes -k` flag). */
  readonly insecure?: boolean;
}

export interface TransportRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path with the resource already escaped, e.g. `/v1/key/create/my-key`. */
  readonly path: string;
  readonly body?: Buffer;
  /** Largest response body accepted; larger answers fail with KesResponseError. */
  readonly maxResponse?: number;
  readonly accept?: string;
}

export interface TransportResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Default response limit, as kms-go (1 MiB). */
export const MAX_RESPONSE_BODY = 1 << 20;

// kms-go retries a request on the same endpoint twice after a transient failure (retry.go).
const RETRIES = 2;
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'KES_TIMEOUT',
]);

type StreamAnswer = TransportResponse & { readonly stream?: IncomingMessage };

class TimeoutError extends Error {
  readonly code = 'KES_TIMEOUT';
}

/** The HTTPS side of a {@link KesClient}: endpoints, TLS identity and the keep-alive agent. */
export class KesTransport {
  readonly pool: KesEndpointPool;
  /** Hex identity of the client certificate, if the client has one. */
  readonly identity: string | undefined;
  readonly #agent: Agent;
  readonly #enclave: string | undefined;
  readonly #timeout: number;

  constructor(
    endpoints: readonly string[],
    tls: KesTlsOptions,
    options: { readonly enclave?: string | undefined; readonly timeout?: number | undefined } = {},
  ) {
    this.pool = new KesEndpointPool(endpoints);
    const { cert, key, identity } = clientCredentials(tls);
    this.identity = identity;
    this.#enclave = options.enclave === '' ? undefined : options.enclave;
    this.#timeout = options.timeout ?? 30_000;
    this.#agent = new Agent({
      keepAlive: true,
      maxFreeSockets: 16,
      minVersion: 'TLSv1.2',
      rejectUnauthorized: tls.insecure !== true,
      ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
      ...(tls.ca !== undefined ? { ca: caList(tls.ca) } : {}),
    });
  }

  /**
   * Sends a request and reads the whole answer (≤ `maxResponse`). Tries the endpoints in the
   * pool's order: a network error or a 5xx other than 501 sidelines the endpoint and moves on;
   * transient errors (reset, timeout) and 503 are first retried on the same endpoint. The last
   * endpoint's 5xx answer is returned; when no endpoint answered, throws KesConnectionError.
   */
  async send(req: TransportRequest): Promise<TransportResponse> {
    return this.#withFailover(req, async (endpoint) => {
      const res = await this.#open(endpoint, req, false);
      return {
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: await readBody(res, req.maxResponse ?? MAX_RESPONSE_BODY),
      };
    });
  }

  /**
   * Opens a streaming request (log routes): resolves with the response once its headers arrive,
   * after the same failover as {@link send}; there is no timeout once the stream is open. A
   * non-2xx answer is read and thrown as a KesError.
   */
  async stream(req: TransportRequest): Promise<IncomingMessage> {
    const res = await this.#withFailover<StreamAnswer>(req, async (endpoint) => {
      const opened = await this.#open(endpoint, req, true);
      const status = opened.statusCode ?? 0;
      if (status >= 200 && status < 300)
        return { status, headers: opened.headers, body: Buffer.alloc(0), stream: opened };
      return { status, headers: opened.headers, body: await readBody(opened, MAX_RESPONSE_BODY) };
    });
    if (res.stream === undefined) throw errorOf(res);
    return res.stream;
  }

  /** Closes idle connections; in-flight requests finish. */
  close(): void {
    this.#agent.destroy();
  }

  async #withFailover<T extends TransportResponse>(
    req: TransportRequest,
    attempt: (endpoint: string) => Promise<T>,
  ): Promise<T> {
    const order = this.pool.order();
    let lastError: unknown;
    let lastAnswer: T | undefined;
    for (const endpoint of order) {
      for (let retry = 0; ; retry++) {
        let res: T;
        try {
          res = await attempt(endpoint);
        } catch (error) {
          if (error instanceof KesResponseError) throw error;
          lastError = error;
          if (retry < RETRIES && isTransient(error)) {
            await sleep(backoff(error));
            continue;
          }
          this.pool.fail(endpoint);
          break;
        }
        if (res.status === 503 && retry < RETRIES) {
          await sleep(backoff(undefined));
          continue;
        }
        if (res.status >= 500 && res.status !== 501) {
          this.pool.fail(endpoint);
          lastAnswer = res;
          break;
        }
        this.pool.succeed(endpoint);
        return res;
      }
    }
    if (lastAnswer !== undefined) return lastAnswer;
    throw new KesConnectionError(order, lastError);
  }

  #open(endpoint: string, req: TransportRequest, streaming: boolean): Promise<IncomingMessage> {
    const url = new URL(endpoint + req.path);
    if (this.#enclave !== undefined) url.searchParams.set('enclave', this.#enclave);
    const headers: Record<string, string | number> = {};
    if (req.accept !== undefined) headers.Accept = req.accept;
    if (req.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = req.body.length;
    }
    return new Promise((resolve, reject) => {
      const outgoing = httpsRequest(
        url,
        { method: req.method, agent: this.#agent, headers },
        (res) => {
          if (streaming) outgoing.setTimeout(0);
          resolve(res);
        },
      );
      outgoing.setTimeout(this.#timeout, () => {
        outgoing.destroy(
          new TimeoutError(`request to ${url.host} timed out after ${this.#timeout} ms`),
        );
      });
      outgoing.on('error', reject);
      outgoing.end(req.body);
    });
  }
}

/** A KesError for a non-2xx response. */
export function errorOf(res: TransportResponse): Error {
  const type = res.headers['content-type'];
  return parseKesErrorResponse(res.status, type, res.body);
}

function clientCredentials(tls: KesTlsOptions): {
  cert?: string | Buffer;
  key?: string | Buffer;
  identity?: string | undefined;
} {
  const hasPem = tls.cert !== undefined || tls.key !== undefined;
  if (tls.apiKey !== undefined && hasPem) {
    throw new TypeError('use either an API key or a client certificate and key, not both');
  }
  if (tls.apiKey !== undefined) {
    const apiKey = typeof tls.apiKey === 'string' ? parseApiKey(tls.apiKey) : tls.apiKey;
    const generated = clientCertificateForApiKey(apiKey, { subject: 'hex' });
    return { cert: generated.cert, key: generated.key, identity: apiKey.identity.toHex() };
  }
  if (!hasPem) return {};
  if (tls.cert === undefined || tls.key === undefined) {
    throw new TypeError('a client certificate needs its private key, and a key its certificate');
  }
  return { cert: tls.cert, key: tls.key, identity: identityOfPem(tls.cert) };
}

/** Hex identity of the first certificate in a PEM text, or undefined when there is none. */
function identityOfPem(pem: string | Buffer): string | undefined {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(
    pem.toString(),
  );
  if (match === null) return undefined;
  return identityOfCertificate(Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64')).toHex();
}

function caList(ca: NonNullable<KesTlsOptions['ca']>): (string | Buffer)[] {
  return typeof ca === 'string' || Buffer.isBuffer(ca) ? [ca] : [...ca];
}

function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}

// A stale keep-alive socket the server already closed resets at once: retry immediately. Other
// transient failures wait 200 ms plus up to 800 ms of jitter (kms-go retry.go).
function backoff(error: unknown): number {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'ECONNRESET') return 0;
  return 200 + Math.floor(Math.random() * 800);
}

function readBody(res: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        res.destroy();
        reject(new KesResponseError(`server response larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks, size)));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete) reject(new Error('server closed the connection mid-response'));
    });
  });
}
