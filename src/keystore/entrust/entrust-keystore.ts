// KES's Entrust KeyControl key store (docs/keystores.md, "Entrust"; KeyControl's Secrets
// Vault API 1.0): one secret per key in the configured box, named like the key, its
// `secret_data` the base64 of the KES stored value. Login with username and password gives a
// token sent as `X-Vault-Auth`; it is renewed at half its remaining lifetime (a failed renewal
// logs in again), and a token refused mid-operation is replaced at once and the call repeated.
// Data calls are POSTs of a JSON body without a Content-Type, exactly as KES sends them.

import type { EntrustStoreConfig } from '../../config/keystore-config.ts';
import type { KeyStore } from '../keystore.ts';
import { KeyExistsError, KeyNotFoundError, messageOf } from '../keystore.ts';
import { RetryClient, decodeBase64, jsonOf, parseJson } from '../rest/retry-client.ts';
import type { RestAnswer } from '../rest/retry-client.ts';

export interface EntrustStoreOptions {
  /** Where renewal failures are reported. */
  readonly onError?: (message: string) => void;
  /** Base pause before a retry, ms (tests shorten it). */
  readonly backoff?: number;
}

/** KeyControl's texts for a taken and a missing name (compared exactly, as KES does). */
const EXISTS = 'Secret already exists';
const MISSING = 'Secret not found';
/** Names per listing page (KES's size). */
const PAGE = 256;
/** Lifetime assumed for a token without `expires_at`, and the renewal fallback (KES: 5 min). */
const DEFAULT_LIFETIME_MS = 5 * 60_000;

export class EntrustKeyStore implements KeyStore {
  readonly description: string;
  readonly #client: RetryClient;
  readonly #config: EntrustStoreConfig;
  readonly #onError: (message: string) => void;
  #token = '';
  #renewal: NodeJS.Timeout | undefined;
  #login: Promise<void> | undefined;
  #closed = false;

  private constructor(
    client: RetryClient,
    config: EntrustStoreConfig,
    options: EntrustStoreOptions,
  ) {
    this.#client = client;
    this.#config = config;
    this.#onError = options.onError ?? (() => undefined);
    this.description = `entrust keycontrol ${client.endpoint} (box ${config.boxId})`;
  }

  /** Logs in and checks the box (refused credentials or a missing box fail the start). */
  static async connect(
    config: EntrustStoreConfig,
    options: EntrustStoreOptions = {},
  ): Promise<EntrustKeyStore> {
    const client = new RetryClient({
      endpoint: config.endpoint,
      name: 'keycontrol',
      ...(config.ca ? { ca: config.ca } : {}),
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    });
    const store = new EntrustKeyStore(client, config, options);
    try {
      await store.#relogin();
      await store.status();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  async create(name: string, value: string): Promise<void> {
    const answer = await this.#call('CreateSecret', {
      box_id: this.#config.boxId,
      name,
      secret_data: Buffer.from(value).toString('base64'),
    });
    if (answer.status === 409 && errorOf(answer) === EXISTS) throw new KeyExistsError(name);
    if (answer.status !== 200) throw failure('failed to create key', answer);
  }

  async get(name: string): Promise<string> {
    const answer = await this.#call('CheckoutSecret', {
      box_id: this.#config.boxId,
      secret_id: name,
    });
    if (answer.status === 404 && errorOf(answer) === MISSING) throw new KeyNotFoundError(name);
    if (answer.status !== 200) throw failure('failed to fetch key', answer);
    const data = (
      parseJson(answer, 'keycontrol: failed to fetch key') as {
        secret_data?: unknown;
      } | null
    )?.secret_data;
    const value = typeof data === 'string' ? decodeBase64(data) : undefined;
    if (value === undefined)
      throw new Error('keycontrol: failed to fetch key: no base64 secret_data');
    return value.toString('utf8');
  }

  async delete(name: string): Promise<void> {
    const answer = await this.#call('DeleteSecret', {
      box_id: this.#config.boxId,
      secret_id: name,
    });
    if (answer.status === 404 && errorOf(answer) === MISSING) throw new KeyNotFoundError(name);
    if (answer.status !== 200) throw failure('failed to delete key', answer);
  }

  /**
   * Every unexpired secret's name, following `next_token` to the last page (KES reads one page,
   * and its first entries are empty names).
   */
  async list(prefix = ''): Promise<string[]> {
    const names: string[] = [];
    let next = '';
    for (let pages = 0; ; pages++) {
      const answer = await this.#call('ListSecretIds', {
        box_id: this.#config.boxId,
        max_items: PAGE,
        ...(next === '' ? {} : { next_token: next }),
      });
      if (answer.status !== 200) throw failure('failed to list keys', answer);
      const page = parseJson(answer, 'keycontrol: failed to list keys') as {
        secrets?: unknown;
        next_token?: unknown;
      } | null;
      const secrets = Array.isArray(page?.secrets) ? (page.secrets as unknown[]) : [];
      for (const s of secrets) {
        const secret = s as { name?: unknown; expired?: unknown } | null;
        if (
          typeof secret?.name === 'string' &&
          secret.name !== '' &&
          secret.expired !== true &&
          secret.name.startsWith(prefix)
        ) {
          names.push(secret.name);
        }
      }
      const token = typeof page?.next_token === 'string' ? page.next_token : '';
      if (token === '') return names;
      if (token === next || pages > 100_000) {
        throw new Error('keycontrol: failed to list keys: the listing does not advance');
      }
      next = token;
    }
  }

  /** `GetBox` with the token, as KES probes (authenticated: a revoked user shows). */
  async status(): Promise<void> {
    const answer = await this.#call('GetBox', { box_id: this.#config.boxId });
    if (answer.status !== 200) throw failure('failed to fetch status', answer);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#renewal);
    await this.#login?.catch(() => undefined);
    clearTimeout(this.#renewal);
    this.#client.close();
  }

  /**
   * `POST /vault/1.0/<operation>/` with the token and the JSON body, no Content-Type (as KES);
   * a refused token (401) gets a new login and one repeat.
   */
  async #call(operation: string, body: Record<string, unknown>): Promise<RestAnswer> {
    if (this.#login) await this.#login.catch(() => undefined);
    const send = () =>
      this.#client.call({
        method: 'POST',
        path: `/vault/1.0/${operation}/`,
        headers: { 'X-Vault-Auth': this.#token },
        body: JSON.stringify(body),
      });
    const answer = await send();
    if (answer.status !== 401) return answer;
    try {
      await this.#relogin();
    } catch (error) {
      this.#onError(`keycontrol: login failed: ${messageOf(error)}`);
      return answer;
    }
    return send();
  }

  /** One login at a time. */
  #relogin(): Promise<void> {
    this.#login ??= this.#loginNow().finally(() => {
      this.#login = undefined;
    });
    return this.#login;
  }

  async #loginNow(): Promise<void> {
    const answer = await this.#client.call({
      method: 'POST',
      path: `/vault/1.0/Login/${encodeURIComponent(this.#config.vaultId)}/`,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: this.#config.username, password: this.#config.password }),
    });
    this.#accept(answer, 'login failed');
  }

  /** Renews the token; a failed renewal logs in again (as KES). */
  async #renew(): Promise<void> {
    try {
      const answer = await this.#client.call({
        method: 'POST',
        path: '/vault/1.0/Renew/',
        headers: { 'X-Vault-Auth': this.#token },
      });
      this.#accept(answer, 'renewal failed');
    } catch (error) {
      this.#onError(`keycontrol: failed to renew auth token: ${messageOf(error)}`);
      await this.#relogin();
    }
  }

  /** Takes the token of a Login or Renew answer and schedules the next renewal. */
  #accept(answer: RestAnswer, what: string): void {
    if (answer.status !== 200) throw failure(what, answer);
    const body = parseJson(answer, `keycontrol: ${what}`) as {
      access_token?: unknown;
      expires_at?: unknown;
    } | null;
    if (typeof body?.access_token !== 'string' || body.access_token === '') {
      throw new Error(`keycontrol: ${what}: auth token is empty`);
    }
    const expiresAt =
      typeof body.expires_at === 'string' && body.expires_at !== ''
        ? Date.parse(body.expires_at)
        : Date.now() + DEFAULT_LIFETIME_MS;
    this.#token = body.access_token;
    const half = (expiresAt - Date.now()) / 2;
    this.#schedule(Number.isFinite(half) && half > 0 ? half : DEFAULT_LIFETIME_MS / 2);
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    clearTimeout(this.#renewal);
    this.#renewal = setTimeout(() => {
      this.#renew().catch((error: unknown) => {
        this.#onError(`keycontrol: failed to login: ${messageOf(error)}`);
        // KES keeps the old token and tries again at the next tick; retry sooner than 5 min.
        this.#schedule(5_000);
      });
    }, ms).unref();
  }
}

/** KeyControl's `error` text of a JSON answer ('' otherwise). */
function errorOf(answer: RestAnswer): string {
  const json = jsonOf(answer) as { error?: unknown } | null | undefined;
  return typeof json?.error === 'string' ? json.error : '';
}

function failure(what: string, answer: RestAnswer): Error {
  const text = errorOf(answer) || answer.text.trim();
  return new Error(`keycontrol: ${what}: ${answer.status}${text === '' ? '' : `: ${text}`}`);
}
