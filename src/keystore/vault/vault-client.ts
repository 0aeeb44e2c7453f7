// A small HTTP client for the Vault (and OpenBao) API as KES uses it (docs/keystores.md,
// "Vault"): JSON over HTTPS with `X-Vault-Request`, the token and namespace headers chosen per
// request, TLS client certificates and a custom CA, retries on the statuses Vault's own SDK
// retries, and Vault's error text. Only node:https: no Vault library gives per-request
// namespaces, raw statuses and `?list=true` without wrappers.

import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent as HttpAgent } from 'node:http';
import { exchange, readCa } from '../http-exchange.ts';
import { StoreUnreachableError } from '../keystore.ts';

export interface VaultTls {
  /** Client certificate and key files (PEM), offered on every handshake. */
  readonly cert?: string;
  readonly key?: string;
  /** CA file, or directory of PEM files, to verify Vault's certificate with. */
  readonly ca?: string;
  /** `VAULT_SKIP_VERIFY`: do not verify Vault's certificate (development only). */
  readonly skipVerify?: boolean;
}

export interface VaultClientOptions {
  /** `https://host:port` (http:// is accepted for development). */
  readonly endpoint: string;
  readonly tls: VaultTls;
  /** Milliseconds per attempt (Vault SDK default: 60 s). */
  readonly timeout?: number;
  /** Retries after the first attempt (Vault SDK default: 2). */
  readonly retries?: number;
  /** Milliseconds before a retry: base, plus up to half of it at random (SDK: 1–1.5 s). */
  readonly backoff?: number;
}

export interface VaultCall {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** Path with the `/v1/` prefix and any query. */
  readonly path: string;
  readonly token?: string;
  /** Sent as `X-Vault-Namespace` unless empty. */
  readonly namespace?: string;
  readonly body?: unknown;
}

export interface VaultResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined for an empty or non-JSON body. */
  readonly json: unknown;
  readonly text: string;
}

/** A Vault answer outside 200–399, with Vault's own error list. */
export class VaultApiError extends Error {
  readonly status: number;
  readonly errors: readonly string[];
  readonly response: VaultResponse;
  constructor(call: VaultCall, url: string, response: VaultResponse) {
    const errors = errorsOf(response);
    // The text Vault's SDK makes of it (operators search for it).
    super(
      `Error making API request.\n\nURL: ${call.method} ${url}\nCode: ${response.status}. ` +
        (errors.length > 0
          ? `Errors:\n\n${errors.map((e) => `* ${e}`).join('\n')}`
          : `Raw Message:\n\n${response.text}`),
    );
    this.name = 'VaultApiError';
    this.status = response.status;
    this.errors = errors;
    this.response = response;
  }
}

/** Vault's `errors` array of a response body (empty when there is none). */
export function errorsOf(response: VaultResponse): string[] {
  const body = response.json as { errors?: unknown } | undefined;
  return Array.isArray(body?.errors) ? body.errors.map(String) : [];
}

/** Statuses Vault's SDK retries: 412 (read-your-writes), 429, and 5xx except 501. */
function retryable(status: number): boolean {
  return status === 412 || status === 429 || (status >= 500 && status !== 501);
}

export class VaultClient {
  readonly endpoint: URL;
  readonly #agent: Agent | HttpAgent;
  readonly #timeout: number;
  readonly #retries: number;
  readonly #backoff: number;

  constructor(options: VaultClientOptions) {
    this.endpoint = new URL(options.endpoint);
    if (this.endpoint.protocol !== 'https:' && this.endpoint.protocol !== 'http:') {
      throw new Error(`vault: endpoint '${options.endpoint}' is not an https:// URL`);
    }
    this.#timeout = options.timeout ?? 60_000;
    this.#retries = options.retries ?? 2;
    this.#backoff = options.backoff ?? 1000;
    // Keep-alive with a short idle time: KES turned reuse off after hung connections to a
    // killed Vault; per-request timeouts catch those, without a handshake per request.
    const common = { keepAlive: true, keepAliveMsecs: 1000, maxFreeSockets: 4, timeout: 5000 };
    if (this.endpoint.protocol === 'http:') {
      this.#agent = new HttpAgent(common);
    } else {
      const { cert, key, ca, skipVerify } = options.tls;
      this.#agent = new Agent({
        ...common,
        ...(cert ? { cert: readFileSync(cert) } : {}),
        ...(key ? { key: readFileSync(key) } : {}),
        ...(ca ? { ca: readCa(ca) } : {}),
        rejectUnauthorized: skipVerify !== true,
        minVersion: 'TLSv1.2',
      });
    }
  }

  /** One call, retried as Vault's SDK retries; throws VaultApiError or StoreUnreachableError. */
  async call(call: VaultCall): Promise<VaultResponse> {
    for (let attempt = 0; ; attempt++) {
      let response: VaultResponse;
      try {
        response = await this.#once(call);
      } catch (error) {
        if (attempt < this.#retries) {
          await this.#sleep();
          continue;
        }
        throw new StoreUnreachableError(
          `vault: ${call.method} ${this.#url(call.path)}: ${(error as Error).message}`,
          { cause: error },
        );
      }
      if (response.status >= 200 && response.status < 400) return response;
      if (retryable(response.status) && attempt < this.#retries) {
        await this.#sleep();
        continue;
      }
      throw new VaultApiError(call, this.#url(call.path), response);
    }
  }

  close(): void {
    this.#agent.destroy();
  }

  #url(path: string): string {
    return new URL(path, this.endpoint).toString();
  }

  #sleep(): Promise<void> {
    const ms = this.#backoff * (1 + Math.random() / 2);
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  async #once(call: VaultCall): Promise<VaultResponse> {
    // Go's JSON encoder as Vault's SDK sends it: compact, with a trailing newline.
    const body =
      call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body) + '\n');
    const headers: Record<string, string | number> = { 'X-Vault-Request': 'true' };
    if (call.token) headers['X-Vault-Token'] = call.token;
    if (call.namespace) headers['X-Vault-Namespace'] = call.namespace;
    if (body) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = body.length;
    }
    const url = new URL(call.path, this.endpoint);
    const answer = await exchange(url, {
      method: call.method,
      headers,
      ...(body ? { body } : {}),
      agent: this.#agent,
      timeout: this.#timeout,
    });
    let json: unknown;
    try {
      json = answer.text === '' ? undefined : JSON.parse(answer.text);
    } catch {
      json = undefined;
    }
    return { ...answer, json };
  }
}
