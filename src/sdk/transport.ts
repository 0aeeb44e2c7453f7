// The SDKs' one HTTPS transport, shared by the KMS and the KES client: one keep-alive agent with
// the client's TLS identity, an endpoint pool that orders the hosts for each request, bounded
// reply bodies and streaming replies. What a failure means — try the same host again, move on to
// the next, which error to throw — is the protocol's RetryPolicy (kms-retry.ts for KMS,
// kes/kes-retry.ts for KES); the loop that applies it is written once, here.
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

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

/** One failed try of a request: the host and why it failed. */
export interface HostFailure {
  readonly host: string;
  readonly error: Error;
}

/** Decides, per request, the order in which the hosts are tried, and learns from their answers. */
export interface EndpointPool {
  /** Every endpoint, in configuration order. */
  readonly hosts: readonly string[];
  order(): string[];
  /** The host failed (network error, or an answer the policy counts as failure). */
  fail(host: string): void;
  /** The host answered usably. */
  succeed(host: string): void;
}

/** A network error as the policy sees it. */
export interface TransportFailure extends Error {
  readonly code?: string;
  /** A keep-alive socket the server had closed meanwhile reset on reuse. */
  readonly staleSocket?: boolean;
}

/** What one protocol does after a failure. Every delay is in milliseconds. */
export interface RetryPolicy {
  /** Delay before trying the same host again after `error` on try `attempt` (from 0), or undefined to move on. */
  afterError(error: TransportFailure, attempt: number): number | undefined;
  /** Delay before trying the same host again after an answer with `status`, or undefined. */
  afterStatus(status: number, attempt: number): number | undefined;
  /** An answer with `status` sidelines its host and the next is tried (the last such answer is returned). */
  failsHost(status: number): boolean;
  /** A reply cut while its body is read moves on to the next host (else it is thrown at once). */
  readonly failoverMidBody: boolean;
  /** A bodiless request other than GET declares `Content-Length: 0` itself (as the protocol's reference client does). */
  readonly explicitEmptyLength: boolean;
  /** The error for a request no host answered. */
  unreachable(tried: readonly string[], failures: readonly HostFailure[]): Error;
  /** The error for a reply larger than the caller allows. */
  tooLarge(message: string): Error;
}

export interface TransportOptions {
  readonly pool: EndpointPool;
  readonly policy: RetryPolicy;
  readonly tls: TlsOptions;
  /** Milliseconds a socket may stay idle while waiting for a reply before the try fails. */
  readonly timeout: number;
  /** Most open sockets per endpoint (default: unbounded). */
  readonly maxSockets?: number | undefined;
  /** Most idle sockets kept per endpoint. */
  readonly maxFreeSockets: number;
}

/** One HTTP request. A Buffer body can be replayed on another host; a stream body cannot. */
export interface TransportRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path and query, already escaped. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string | number>>;
  readonly body?: Buffer | Readable | undefined;
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

/** An opened reply: the stream, or the body when the policy had to read it (a failed answer). */
export interface OpenedResponse {
  readonly host: string;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The unread reply; the caller must consume or destroy it. Undefined when `body` is set. */
  readonly stream: IncomingMessage | undefined;
  readonly body: Buffer | undefined;
}

/** Replies larger than this are refused unless the caller says otherwise. */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** A request or reply that stayed silent longer than the transport's timeout. */
export class TransportTimeoutError extends Error {
  readonly code = 'TRANSPORT_TIMEOUT';
}

/** Wraps an error met while reading a body, so the loop can tell it from a refused request. */
class BodyError extends Error {
  readonly inner: Error;

  constructor(inner: Error) {
    super(inner.message);
    this.inner = inner;
  }
}

/** `host:port`, `[v6]:port` or `https://host[:port]` → what node:https wants. */
function target(endpoint: string): { hostname: string; port: number } {
  const url = new URL(endpoint.includes('://') ? endpoint : `https://${endpoint}`);
  return { hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 443) };
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (error instanceof Error && error.name === 'AbortError');
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

export class Transport {
  readonly #agent: Agent;
  readonly #pool: EndpointPool;
  readonly #policy: RetryPolicy;
  readonly #timeout: number;
  readonly #servername: string | undefined;

  constructor(options: TransportOptions) {
    this.#pool = options.pool;
    this.#policy = options.policy;
    this.#timeout = options.timeout;
    this.#servername = options.tls.servername;
    const { ca, cert, key, insecure } = options.tls;
    this.#agent = new Agent({
      keepAlive: true,
      ...(options.maxSockets === undefined ? {} : { maxSockets: options.maxSockets }),
      maxFreeSockets: options.maxFreeSockets,
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

  /**
   * Sends a request and buffers the reply (at most `maxBody` bytes). Answers of any status are
   * returned: the caller decides. Throws the policy's `unreachable` error when no host answered.
   */
  async request(
    request: TransportRequest,
    maxBody: number = MAX_RESPONSE_BYTES,
  ): Promise<TransportResponse> {
    const opened = await this.#withFailover(request, async (host) => {
      const res = await this.#send(host, request);
      // The reply may take its time, but not fall silent.
      res.setTimeout(this.#timeout, () =>
        res.destroy(new TransportTimeoutError(`no data from ${host} for ${this.#timeout} ms`)),
      );
      return this.#buffered(host, res, maxBody);
    });
    return { ...opened, body: opened.body ?? Buffer.alloc(0) };
  }

  /**
   * Sends a request and returns the reply once its headers arrived, with the idle timeout lifted
   * (log streams and backups may be slow or endless). An answer the policy counts as a failure
   * comes back read (`body`); any other comes back as `stream`, which the caller must consume or
   * destroy.
   */
  async open(request: TransportRequest): Promise<OpenedResponse> {
    return this.#withFailover(request, async (host) => {
      const res = await this.#send(host, request);
      const status = res.statusCode ?? 0;
      if (!this.#policy.failsHost(status) && this.#policy.afterStatus(status, 0) === undefined) {
        return { host, status, headers: res.headers, stream: res, body: undefined };
      }
      return this.#buffered(host, res, MAX_RESPONSE_BYTES);
    });
  }

  /** The body of an opened reply, read completely (at most `max` bytes). */
  async bodyOf(opened: OpenedResponse, max: number): Promise<Buffer> {
    if (opened.stream === undefined) return opened.body ?? Buffer.alloc(0);
    try {
      return await readBody(opened.stream, max, this.#policy);
    } catch (error) {
      if (!(error instanceof BodyError)) throw error;
      throw this.#policy.unreachable([opened.host], [{ host: opened.host, error: error.inner }]);
    }
  }

  /** Destroys every socket of the agent, idle or in use. */
  close(): void {
    this.#agent.destroy();
  }

  async #buffered(host: string, res: IncomingMessage, max: number): Promise<OpenedResponse> {
    const body = await readBody(res, max, this.#policy);
    return { host, status: res.statusCode ?? 0, headers: res.headers, stream: undefined, body };
  }

  /**
   * Tries the hosts in the pool's order (or the one named host), each as often as the policy
   * says, and returns the first answer the policy accepts; when every host failed, the last
   * answer the policy counted as failure, else the policy's `unreachable` error.
   */
  async #withFailover(
    request: TransportRequest,
    attempt: (host: string) => Promise<OpenedResponse>,
  ): Promise<OpenedResponse> {
    const policy = this.#policy;
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
    let lastAnswer: OpenedResponse | undefined;
    for (const host of hosts) {
      for (let tries = 0; ; tries++) {
        let answer: OpenedResponse;
        try {
          answer = await attempt(host);
        } catch (caught) {
          if (isAbort(caught, request.signal)) throw caught;
          if (caught instanceof BodyError && !policy.failoverMidBody) {
            throw policy.unreachable([host], [{ host, error: caught.inner }]);
          }
          const error = caught instanceof BodyError ? caught.inner : asError(caught);
          if (!(caught instanceof BodyError) && isPolicyError(caught)) throw caught;
          // A stream body is gone once sent: it is never tried again.
          const delay = replayable ? policy.afterError(error, tries) : undefined;
          if (delay !== undefined) {
            if (delay > 0) await sleep(delay);
            continue;
          }
          failures.push({ host, error });
          this.#pool.fail(host);
          break;
        }
        const delay = policy.afterStatus(answer.status, tries);
        if (delay !== undefined && replayable) {
          answer.stream?.destroy();
          if (delay > 0) await sleep(delay);
          continue;
        }
        if (policy.failsHost(answer.status)) {
          this.#pool.fail(host);
          lastAnswer = answer;
          break;
        }
        this.#pool.succeed(host);
        return answer;
      }
    }
    if (lastAnswer !== undefined) return lastAnswer;
    throw policy.unreachable(hosts, failures);
  }

  #send(host: string, request: TransportRequest): Promise<IncomingMessage> {
    const { hostname, port } = target(host);
    const body = request.body;
    const headers: Record<string, string | number> = { ...request.headers };
    if (Buffer.isBuffer(body)) headers['Content-Length'] = body.length;
    else if (body === undefined && request.method !== 'GET' && this.#policy.explicitEmptyLength) {
      headers['Content-Length'] = 0;
    }
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
        req.destroy(new TransportTimeoutError(`no reply from ${host} within ${this.#timeout} ms`));
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) {
          (error as { staleSocket?: boolean }).staleSocket = true;
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

const POLICY_ERROR = Symbol('keyhold.sdk.transport.policyError');

/** Marks an error of the policy's own making (a reply too large): thrown as is, never retried. */
function policyError(error: Error): Error {
  (error as { [POLICY_ERROR]?: true })[POLICY_ERROR] = true;
  return error;
}

function isPolicyError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && POLICY_ERROR in error;
}

/**
 * Reads a reply body completely, refusing more than `max` bytes (announced or received) with the
 * policy's `tooLarge` error. An error while reading (a connection cut mid-body) is a BodyError.
 */
async function readBody(res: IncomingMessage, max: number, policy: RetryPolicy): Promise<Buffer> {
  const declared = res.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) {
    res.destroy();
    throw policyError(policy.tooLarge(`reply of ${declared} bytes exceeds the limit of ${max}`));
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) {
        res.destroy();
        throw policyError(policy.tooLarge(`reply exceeds the limit of ${max} bytes`));
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (isPolicyError(error)) throw error;
    throw new BodyError(asError(error));
  }
  if (!res.complete) throw new BodyError(new Error('server closed the connection mid-response'));
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}
