// The HTTPS client of the Fortanix, CipherTrust and Entrust key stores (docs/keystores.md,
// "Fortanix", "CipherTrust", "Entrust"): one request at a time against the store's endpoint,
// retried as KES's retrying client retries (two more attempts after a network failure, a
// timeout or a status ≥ 500, 200 ms plus up to 800 ms apart), a custom CA file or directory,
// and a size limit on answers. No vendor client exists for these APIs; node:https suffices.

import { Agent as HttpAgent } from 'node:http';
import { Agent } from 'node:https';
import { exchange, readCa } from '../http-exchange.ts';
import type { StoreAnswer } from '../http-exchange.ts';
import { StoreUnreachableError } from '../keystore.ts';

export interface RetryClientOptions {
  /** `https://host[:port][/base]`; a value without a scheme gets `https://`. */
  readonly endpoint: string;
  /** CA file, or directory of PEM files, trusted instead of the system's. */
  readonly ca?: string;
  /** Prefix of error messages (`fortanix`, `gemalto`, `keycontrol`). */
  readonly name: string;
  /** Milliseconds per attempt (a hung store must not hold a request for minutes). */
  readonly timeout?: number;
  /** Base pause before a retry, ms (KES: 200, plus up to 4× that at random). */
  readonly backoff?: number;
}

export interface RestCall {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path (and query) below the endpoint, starting with `/`. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent as is, with its Content-Length (no Content-Type unless `headers` has one). */
  readonly body?: string;
}

/** An answer: status, headers and the body as text. */
export type RestAnswer = StoreAnswer;

/** The endpoint as a URL: `https://` added where the config has no scheme, no trailing `/`. */
export function endpointUrl(endpoint: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`;
  return withScheme.replace(/\/+$/, '');
}

export class RetryClient {
  readonly endpoint: string;
  readonly #agent: Agent | HttpAgent;
  readonly #name: string;
  readonly #timeout: number;
  readonly #backoff: number;

  constructor(options: RetryClientOptions) {
    this.endpoint = endpointUrl(options.endpoint);
    const url = new URL(this.endpoint);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new Error(`${options.name}: endpoint '${options.endpoint}' is not an https:// URL`);
    }
    this.#name = options.name;
    this.#timeout = options.timeout ?? 30_000;
    this.#backoff = options.backoff ?? 200;
    const common = { keepAlive: true, keepAliveMsecs: 1000, maxFreeSockets: 4, timeout: 5000 };
    this.#agent =
      url.protocol === 'http:'
        ? new HttpAgent(common)
        : new Agent({
            ...common,
            ...(options.ca ? { ca: readCa(options.ca) } : {}),
            minVersion: 'TLSv1.2',
          });
  }

  /**
   * One call, retried as KES retries. Resolves with any answer (the caller maps statuses);
   * StoreUnreachableError when no attempt got one.
   */
  async call(call: RestCall): Promise<RestAnswer> {
    for (let attempt = 0; ; attempt++) {
      let answer: RestAnswer;
      try {
        answer = await this.#once(call);
      } catch (error) {
        if (attempt < 2) {
          await this.#pause();
          continue;
        }
        throw new StoreUnreachableError(
          `${this.#name}: ${call.method} ${this.#url(call.path)}: ${(error as Error).message}`,
          { cause: error },
        );
      }
      if (answer.status >= 500 && attempt < 2) {
        await this.#pause();
        continue;
      }
      return answer;
    }
  }

  close(): void {
    this.#agent.destroy();
  }

  #url(path: string): string {
    return this.endpoint + path;
  }

  #pause(): Promise<void> {
    const ms = this.#backoff + Math.random() * 4 * this.#backoff;
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  #once(call: RestCall): Promise<RestAnswer> {
    const url = new URL(this.#url(call.path));
    const body = call.body === undefined ? undefined : Buffer.from(call.body);
    const headers: Record<string, string | number> = { ...call.headers };
    if (body) headers['Content-Length'] = body.length;
    else if (call.method === 'POST' || call.method === 'PUT') headers['Content-Length'] = 0;
    return exchange(url, {
      method: call.method,
      headers,
      ...(body ? { body } : {}),
      agent: this.#agent,
      timeout: this.#timeout,
    });
  }
}

/** The parsed JSON of an answer whose Content-Type says JSON; undefined otherwise. */
export function jsonOf(answer: RestAnswer): unknown {
  const type = (answer.headers['content-type'] ?? '').trim();
  if (!type.startsWith('application/json')) return undefined;
  try {
    return JSON.parse(answer.text) as unknown;
  } catch {
    return undefined;
  }
}

/** The parsed JSON body whatever its Content-Type; throws `what` when it is not JSON. */
export function parseJson(answer: RestAnswer, what: string): unknown {
  try {
    return JSON.parse(answer.text) as unknown;
  } catch {
    throw new Error(`${what}: the answer is not JSON (status ${answer.status})`);
  }
}

/** Standard base64 only (what Go's StdEncoding accepts), else undefined. */
export function decodeBase64(text: string): Buffer | undefined {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
    return undefined;
  }
  return Buffer.from(text, 'base64');
}
