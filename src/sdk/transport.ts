// The SDK's HTTPS transport: one keep-alive agent for all endpoints, a random healthy host per
// request, retry on the other hosts after network errors (the failed one is suspended a while).
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { errorFromResponse, MAX_ERROR_BODY_BYTES } from '../protocol/kms/index.ts';
import type { KmsApiError } from '../protocol/kms/index.ts';
import { KmsConnectionError, KmsResponseError } from './errors.ts';
import type { HostFailure } from './errors.ts';
import { HostPool } from './host-pool.ts';

/** TLS settings of a client. Values are PEM contents, not file names. */
export interface TlsOptions {
  /** CA certificate(s) that sign the server certificate (default: Node's root store). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /** Client certificate (PEM), instead of an API key. */
  readonly cert?: string | Buffer | undefined;
  /** Client private key (PEM) for `cert`. Secret. */
  readonly key?: string | Buffer | undefined;
  /** Skip verifying the server certificate (like `-k`): only for tests and first contact. */
  readonly insecure?: boolean | undefined;
  /** TLS server name to verify instead of the endpoint's host. */
  readonly servername?: string | undefined;
}

export interface TransportOptions {
  /** Normalized `host:port` endpoints. */
  readonly endpoints: readonly string[];
  readonly tls: TlsOptions;
  /** Milliseconds a socket may stay idle while waiting for a reply before the attempt fails. */
  readonly timeout: number;
  /** Milliseconds a host that failed is tried last. */
  readonly suspendMs: number;
  /** Most open sockets per endpoint. */
  readonly maxSockets: number;
}

/** One HTTP request. A Buffer body can be replayed on another host; a stream body cannot. */
export interface TransportRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: string;
  readonly headers?: Readonly<Record<string, string | number>>;
  readonly body?: Buffer | Readable;
  /** Send to exactly this endpoint, no failover (kms-go's "direct" requests). */
  readonly host?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** A buffered reply. */
export interface TransportResponse {
  readonly host: string;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Replies larger than this are refused (a batch of 10,000 data keys is ~1.3 MB). */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** Splits `host:port` / `[v6]:port` into what node:https wants. */
function splitHost(endpoint: string): { hostname: string; port: number } {
  const i = endpoint.lastIndexOf(':');
  const hostname = endpoint.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { hostname, port: Number(endpoint.slice(i + 1)) };
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (error instanceof Error && error.name === 'AbortError');
}

export class Transport {
  readonly #agent: Agent;
  readonly #pool: HostPool;
  readonly #timeout: number;
  readonly #servername: string | undefined;

  constructor(options: TransportOptions) {
    this.#pool = new HostPool(options.endpoints, { suspendMs: options.suspendMs });
    this.#timeout = options.timeout;
    this.#servername = options.tls.servername;
    const { ca, cert, key, insecure } = options.tls;
    this.#agent = new Agent({
      keepAlive: true,
      maxSockets: options.maxSockets,
      maxFreeSockets: options.maxSockets,
      scheduling: 'lifo',
      minVersion: 'TLSv1.2',
      rejectUnauthorized: insecure !== true,
      ...(ca === undefined
        ? {}
        : { ca: typeof ca === 'string' || Buffer.isBuffer(ca) ? ca : [...ca] }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
    });
  }

  /** The configured endpoints. */
  get endpoints(): readonly string[] {
    return this.#pool.hosts;
  }

  /** True while `host` is suspended after a network error. */
  isSuspended(host: string): boolean {
    return this.#pool.isSuspended(host);
  }

  /**
   * Sends a request and buffers the reply (at most `maxBody` bytes). Non-2xx replies are returned
   * too: the caller decides. Throws KmsConnectionError when no host could be reached.
   */
  async request(
    request: TransportRequest,
    maxBody: number = MAX_RESPONSE_BYTES,
  ): Promise<TransportResponse> {
    const { host, res } = await this.open(request);
    res.setTimeout(this.#timeout, () =>
      res.destroy(new Error(`no data from ${host} for ${this.#timeout} ms`)),
    );
    const body = await readBody(res, maxBody, host);
    return { host, status: res.statusCode ?? 0, headers: res.headers, body };
  }

  /**
   * Sends a request and returns the reply as a stream once its headers arrived, with the idle
   * timeout lifted (log streams and backups may be slow or endless). The caller must consume or
   * destroy `res`. Throws KmsConnectionError when no host could be reached.
   */
  async open(request: TransportRequest): Promise<{ host: string; res: IncomingMessage }> {
    const replayable = request.body === undefined || Buffer.isBuffer(request.body);
    let hosts: string[];
    if (request.host !== undefined) {
      if (!this.#pool.hosts.includes(request.host)) {
        throw new RangeError(`host '${request.host}' is not one of the client's endpoints`);
      }
      hosts = [request.host];
    } else {
      hosts = this.#pool.order();
      // A stream body can be sent once only.
      if (!replayable) hosts = hosts.slice(0, 1);
    }
    const failures: HostFailure[] = [];
    for (const host of hosts) {
      // A keep-alive socket the server closed meanwhile fails with ECONNRESET on reuse: that
      // says nothing about the host, so try it once more on a fresh socket.
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const res = await this.#attempt(host, request);
          this.#pool.recover(host);
          return { host, res };
        } catch (error) {
          if (isAbort(error, request.signal)) throw error;
          const err = error instanceof Error ? error : new Error(String(error));
          if (attempt === 0 && replayable && (err as StaleSocketError).staleSocket === true) {
            continue;
          }
          failures.push({ host, error: err });
          this.#pool.suspend(host);
          break;
        }
      }
    }
    throw new KmsConnectionError(failures);
  }

  /** Destroys every socket of the agent, idle or in use. */
  close(): void {
    this.#agent.destroy();
  }

  #attempt(host: string, request: TransportRequest): Promise<IncomingMessage> {
    const { hostname, port } = splitHost(host);
    const body = request.body;
    const headers: Record<string, string | number> = { ...request.headers };
    if (Buffer.isBuffer(body)) headers['Content-Length'] = body.length;
    else if (body === undefined && request.method !== 'GET') headers['Content-Length'] = 0;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          agent: this.#agent,
          hostname,
          port,
          method: request.method,
          path: request.path,
          headers,
          timeout: this.#timeout,
          ...(this.#servername === undefined ? {} : { servername: this.#servername }),
          ...(request.signal === undefined ? {} : { signal: request.signal }),
        },
        (res) => {
          req.setTimeout(0);
          resolve(res);
        },
      );
      req.on('timeout', () => {
        req.destroy(new Error(`no reply from ${host} within ${this.#timeout} ms`));
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) {
          (error as StaleSocketError).staleSocket = true;
        }
        reject(error);
      });
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        body.on('error', (error) => req.destroy(error));
        body.pipe(req);
      }
    });
  }
}

interface StaleSocketError extends Error {
  staleSocket?: boolean;
}

/**
 * Reads a reply body completely, refusing more than `max` bytes (announced or received). Errors
 * while reading (a connection cut mid-body) are KmsConnectionError for that host.
 */
export async function readBody(res: IncomingMessage, max: number, host: string): Promise<Buffer> {
  const declared = res.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) {
    res.destroy();
    throw new KmsResponseError(`reply of ${declared} bytes exceeds the limit of ${max}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) {
        res.destroy();
        throw new KmsResponseError(`reply exceeds the limit of ${max} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof KmsResponseError) throw error;
    throw new KmsConnectionError([
      { host, error: error instanceof Error ? error : new Error(String(error)) },
    ]);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/**
 * The KmsApiError of a non-200 reply, read as kms-go does (at most 5 KiB of the body, decoded by
 * its Content-Type).
 */
export async function errorOfStream(res: IncomingMessage, host: string): Promise<KmsApiError> {
  const body = await readBody(res, 1024 * 1024, host);
  return errorFromResponse(
    res.statusCode ?? 0,
    res.headers['content-type'],
    body.subarray(0, MAX_ERROR_BODY_BYTES),
  );
}
