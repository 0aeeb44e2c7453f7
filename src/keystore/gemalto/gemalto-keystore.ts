// KES's Thales CipherTrust Manager / Gemalto KeySecure key store (docs/keystores.md,
// "CipherTrust"): one vault secret per key, named like the key, of data type `seed`, the KES
// stored value as its material. Authentication as KES: the refresh token buys a short-lived
// JWT (`POST /api/v1/auth/tokens`), renewed at half its lifetime and, after a failure, every
// `retry`; a JWT refused mid-operation is replaced at once and the call repeated.

import type { GemaltoStoreConfig } from '../../config/keystore-config.ts';
import type { KeyStore } from '../keystore.ts';
import { KeyExistsError, KeyNotFoundError, messageOf } from '../keystore.ts';
import { RetryClient, jsonOf, parseJson } from '../rest/retry-client.ts';
import type { RestAnswer, RestCall } from '../rest/retry-client.ts';

export interface GemaltoStoreOptions {
  /** Where renewal failures are reported. */
  readonly onError?: (message: string) => void;
  /** Base pause before a retry, ms (tests shorten it). */
  readonly backoff?: number;
}

/** Secrets per listing page (KES's size). */
const PAGE = 200;

export class GemaltoKeyStore implements KeyStore {
  readonly description: string;
  readonly #client: RetryClient;
  readonly #config: GemaltoStoreConfig;
  readonly #onError: (message: string) => void;
  /** `Bearer <jwt>`. */
  #authorization = '';
  #renewal: NodeJS.Timeout | undefined;
  /** The login in flight, shared by every caller that needs a fresh token. */
  #login: Promise<void> | undefined;
  #closed = false;

  private constructor(
    client: RetryClient,
    config: GemaltoStoreConfig,
    options: GemaltoStoreOptions,
  ) {
    this.#client = client;
    this.#config = config;
    this.#onError = options.onError ?? (() => undefined);
    this.description = `gemalto keysecure ${client.endpoint}`;
  }

  /** Obtains the first token (refused credentials fail the start) and starts renewing it. */
  static async connect(
    config: GemaltoStoreConfig,
    options: GemaltoStoreOptions = {},
  ): Promise<GemaltoKeyStore> {
    const client = new RetryClient({
      endpoint: config.endpoint,
      name: 'gemalto',
      ...(config.ca ? { ca: config.ca } : {}),
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    });
    const store = new GemaltoKeyStore(client, config, options);
    try {
      await store.#authenticate();
    } catch (error) {
      client.close();
      throw error;
    }
    return store;
  }

  async create(name: string, value: string): Promise<void> {
    const answer = await this.#call({
      method: 'POST',
      path: '/api/v1/vault/secrets',
      headers: { 'Content-Type': 'application/json' },
      // KES's request, fields in its order.
      body: JSON.stringify({ dataType: 'seed', material: value, name }),
    });
    if (answer.status === 409) throw new KeyExistsError(name);
    if (answer.status !== 201) throw failure(`failed to create key '${name}'`, answer);
  }

  async get(name: string): Promise<string> {
    const answer = await this.#call({
      method: 'POST',
      path: `/api/v1/vault/secrets/${encodeURIComponent(name)}/export?type=name`,
    });
    if (answer.status === 404) throw new KeyNotFoundError(name);
    if (answer.status !== 200) throw failure(`failed to access key '${name}'`, answer);
    const material = (
      parseJson(answer, 'gemalto: failed to parse server response') as {
        material?: unknown;
      } | null
    )?.material;
    if (typeof material !== 'string') {
      throw new Error(`gemalto: failed to access key '${name}': no material`);
    }
    return material;
  }

  /**
   * 404 is "not found" here (KES reports success: CipherTrust also answers 404 when a policy
   * hides the secret, and then nothing was deleted either).
   */
  async delete(name: string): Promise<void> {
    const answer = await this.#call({
      method: 'DELETE',
      path: `/api/v1/vault/secrets/${encodeURIComponent(name)}?type=name`,
    });
    if (answer.status === 404) throw new KeyNotFoundError(name);
    if (answer.status !== 204) throw failure(`failed to delete key '${name}'`, answer);
  }

  /** Every secret's name, `skip` advancing by each page, until `total` (no empty extra page). */
  async list(prefix = ''): Promise<string[]> {
    const names: string[] = [];
    let skip = 0;
    for (;;) {
      const answer = await this.#call({
        method: 'GET',
        path: `/api/v1/vault/secrets?limit=${PAGE}&skip=${skip}`,
      });
      if (answer.status !== 200) throw failure('failed to list keys', answer);
      const page = parseJson(answer, 'gemalto: failed to list keys') as {
        skip?: unknown;
        total?: unknown;
        resources?: unknown;
      } | null;
      if (page?.skip !== skip) {
        throw new Error(
          `gemalto: failed to list keys: pagination is out-of-sync: tried to skip ${skip} but skipped ${String(page?.skip)}`,
        );
      }
      const resources = Array.isArray(page.resources) ? (page.resources as unknown[]) : [];
      for (const r of resources) {
        const name = (r as { name?: unknown } | null)?.name;
        if (typeof name === 'string' && name !== '' && name.startsWith(prefix)) names.push(name);
      }
      skip += resources.length;
      const total = typeof page.total === 'number' ? page.total : 0;
      if (resources.length === 0 || skip >= total) return names;
    }
  }

  /**
   * An authenticated one-secret listing instead of KES's unauthenticated GET of the endpoint:
   * an expired refresh token or a revoked user shows as a failing store.
   */
  async status(): Promise<void> {
    const answer = await this.#call({
      method: 'GET',
      path: '/api/v1/vault/secrets?limit=1&skip=0',
    });
    if (answer.status !== 200) throw failure('status', answer);
  }

  close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#renewal);
    this.#client.close();
    return Promise.resolve();
  }

  /** A data call with the current JWT; one that CipherTrust refuses (401) gets a new JWT and one repeat. */
  async #call(call: RestCall): Promise<RestAnswer> {
    if (this.#login) await this.#login.catch(() => undefined);
    const send = () =>
      this.#client.call({
        ...call,
        headers: { ...call.headers, Authorization: this.#authorization },
      });
    const answer = await send();
    if (answer.status !== 401) return answer;
    try {
      await this.#authenticate();
    } catch (error) {
      this.#onError(`gemalto: re-authentication failed: ${messageOf(error)}`);
      return answer;
    }
    return send();
  }

  /** One login at a time; schedules the next at half the token's lifetime. */
  #authenticate(): Promise<void> {
    this.#login ??= this.#requestToken().finally(() => {
      this.#login = undefined;
    });
    return this.#login;
  }

  async #requestToken(): Promise<void> {
    const answer = await this.#client.call({
      method: 'POST',
      path: '/api/v1/auth/tokens',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'refresh_token',
        refresh_token: this.#config.token,
        domain: this.#config.domain,
      }),
    });
    if (answer.status !== 200) throw failure('authentication failed', answer);
    const body = parseJson(answer, 'gemalto: authentication failed') as {
      jwt?: unknown;
      token_type?: unknown;
      duration?: unknown;
    } | null;
    if (typeof body?.jwt !== 'string' || body.jwt === '') {
      throw new Error('gemalto: server response does not contain an auth token');
    }
    if (body.token_type !== 'Bearer') {
      throw new Error(`gemalto: unexpected auth token type '${String(body.token_type)}'`);
    }
    if (typeof body.duration !== 'number' || !(body.duration > 0)) {
      throw new Error(`gemalto: invalid auth token expiry '${String(body.duration)}'`);
    }
    this.#authorization = `Bearer ${body.jwt}`;
    this.#schedule((body.duration * 1000) / 2);
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    clearTimeout(this.#renewal);
    this.#renewal = setTimeout(() => {
      this.#authenticate().catch((error: unknown) => {
        this.#onError(`gemalto: failed to renew the auth token: ${messageOf(error)}`);
        this.#schedule(this.#config.retry);
      });
    }, ms).unref();
  }
}

/** CipherTrust's error: `codeDesc` (and `code`) of a JSON answer, else the body as text. */
function failure(what: string, answer: RestAnswer): Error {
  const json = jsonOf(answer) as { code?: unknown; codeDesc?: unknown } | null | undefined;
  const text =
    json !== undefined && typeof json?.codeDesc === 'string'
      ? `${json.codeDesc} (${String(json.code)})`
      : answer.text.trim();
  return new Error(`gemalto: ${what}: ${answer.status}${text === '' ? '' : `: ${text}`}`);
}
