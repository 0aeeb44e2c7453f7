// KES's Fortanix DSM (SDKMS) key store (docs/keystores.md, "Fortanix"): one exportable OPAQUE
// security object per key, named like the key, its value the base64 of the KES stored value,
// in the configured group. The app's API key goes as `Authorization: Basic` on every call, as
// in KES. Listing reads every page (KES never advances its page cursor and loops forever).

import type { FortanixStoreConfig } from '../../config/keystore-config.ts';
import type { KeyStore } from '../keystore.ts';
import { KeyExistsError, KeyNotFoundError } from '../keystore.ts';
import { RetryClient, decodeBase64, jsonOf, parseJson } from '../rest/retry-client.ts';
import type { RestAnswer, RestCall } from '../rest/retry-client.ts';

export interface FortanixStoreOptions {
  /** Base pause before a retry, ms (tests shorten it). */
  readonly backoff?: number;
}

/** DSM's texts for a taken and a missing name (compared exactly, as KES does). */
const EXISTS = 'sobject already exists';
const MISSING = 'sobject does not exist';
/** Objects per listing page (KES's size). */
const PAGE = 100;

export class FortanixKeyStore implements KeyStore {
  readonly description: string;
  readonly #client: RetryClient;
  readonly #config: FortanixStoreConfig;

  private constructor(client: RetryClient, config: FortanixStoreConfig) {
    this.#client = client;
    this.#config = config;
    this.description = `fortanix sdkms ${client.endpoint}`;
  }

  /**
   * Checks DSM's health and the API key as KES does: `GET /sys/v1/health` (204), then a session
   * opened with the key and closed again.
   */
  static async connect(
    config: FortanixStoreConfig,
    options: FortanixStoreOptions = {},
  ): Promise<FortanixKeyStore> {
    const client = new RetryClient({
      endpoint: config.endpoint,
      name: 'fortanix',
      ...(config.ca ? { ca: config.ca } : {}),
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    });
    const store = new FortanixKeyStore(client, config);
    try {
      const health = await store.#call({ method: 'GET', path: '/sys/v1/health' });
      if (health.status !== 204) throw failure(`failed to connect to '${client.endpoint}'`, health);
      const auth = await store.#call({ method: 'POST', path: '/sys/v1/session/auth' });
      if (auth.status !== 200)
        throw failure(`failed to authenticate to '${client.endpoint}'`, auth);
      const token = (parseJson(auth, 'fortanix: session') as { access_token?: unknown })
        .access_token;
      if (typeof token !== 'string' || token === '') {
        throw new Error(
          `fortanix: failed to authenticate to '${client.endpoint}': no access_token`,
        );
      }
      // The session only proves the key; closing it lets DSM drop it at once.
      const end = await client.call({
        method: 'POST',
        path: '/sys/v1/session/terminate',
        headers: { Authorization: `Bearer ${token}` },
      });
      if (end.status !== 204) throw failure(`failed to authenticate to '${client.endpoint}'`, end);
    } catch (error) {
      client.close();
      throw error;
    }
    return store;
  }

  async create(name: string, value: string): Promise<void> {
    // KES's import request, fields in its order; group_id only when configured.
    const body = {
      obj_type: 'OPAQUE',
      name,
      ...(this.#config.groupId === '' ? {} : { group_id: this.#config.groupId }),
      key_ops: ['EXPORT', 'APPMANAGEABLE'],
      value: Buffer.from(value).toString('base64'),
      enabled: true,
    };
    const answer = await this.#call({
      method: 'PUT',
      path: '/crypto/v1/keys',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (answer.status === 201) return;
    if (answer.status === 409 && messageOf(answer) === EXISTS) throw new KeyExistsError(name);
    throw failure(`failed to create key '${name}'`, answer);
  }

  async get(name: string): Promise<string> {
    const object = await this.#export(name, 'fetch');
    if (object.enabled !== true) {
      throw new Error(
        `fortanix: failed to fetch '${name}': key has been disabled and cannot be used until enabled again`,
      );
    }
    const value = typeof object.value === 'string' ? decodeBase64(object.value) : undefined;
    if (value === undefined)
      throw new Error(`fortanix: failed to fetch '${name}': no base64 value`);
    return value.toString('utf8');
  }

  /** Deletes by the object's id (DSM deletes by kid only), which an export looks up first. */
  async delete(name: string): Promise<void> {
    const object = await this.#export(name, 'delete');
    if (typeof object.kid !== 'string' || object.kid === '') {
      throw new Error(`fortanix: failed to delete '${name}': the object has no kid`);
    }
    const answer = await this.#call({
      method: 'DELETE',
      path: `/crypto/v1/keys/${encodeURIComponent(object.kid)}`,
    });
    if (answer.status === 404 && messageOf(answer) === MISSING) throw new KeyNotFoundError(name);
    if (answer.status !== 204) throw failure(`failed to delete '${name}'`, answer);
  }

  /**
   * Every OPAQUE object's name, page by page sorted by name, each page starting at the last
   * name of the page before. Whether DSM repeats that name or starts after it, a short page
   * ends the listing; a full page without a new name means DSM ignored `start`, which would
   * loop forever (as KES does) and is an error instead.
   */
  async list(prefix = ''): Promise<string[]> {
    const seen = new Set<string>();
    const keys: string[] = [];
    let start = '';
    for (;;) {
      const from = start === '' ? '' : `&start=${encodeURIComponent(start)}`;
      const answer = await this.#call({
        method: 'GET',
        path: `/crypto/v1/keys?sort=name:asc&limit=${PAGE}${from}`,
      });
      if (answer.status !== 200) throw failure('failed to list keys', answer);
      const page = parseJson(answer, 'fortanix: failed to list keys');
      if (!Array.isArray(page)) throw new Error('fortanix: failed to list keys: not a JSON array');
      let progressed = false;
      for (const object of page as ({ name?: unknown; obj_type?: unknown } | null)[]) {
        const name = object?.name;
        if (typeof name !== 'string' || name === '') continue;
        start = name;
        if (seen.has(name)) continue;
        seen.add(name);
        progressed = true;
        // Other object types (an AES key of another app) cannot be KES keys.
        if (object?.obj_type !== undefined && object.obj_type !== 'OPAQUE') continue;
        if (name.startsWith(prefix)) keys.push(name);
      }
      if (page.length < PAGE) return keys;
      if (!progressed) {
        throw new Error(
          'fortanix: failed to list keys: the listing does not advance past ' + start,
        );
      }
    }
  }

  /**
   * An authenticated call (a one-object listing) rather than KES's unauthenticated GET of the
   * endpoint: a revoked or wrong API key shows as a failing store.
   */
  async status(): Promise<void> {
    const answer = await this.#call({ method: 'GET', path: '/crypto/v1/keys?limit=1' });
    if (answer.status !== 200) throw failure('status', answer);
  }

  close(): Promise<void> {
    this.#client.close();
    return Promise.resolve();
  }

  /** The object's metadata and value by name (`POST /crypto/v1/keys/export`). */
  async #export(
    name: string,
    what: string,
  ): Promise<{ value?: unknown; enabled?: unknown; kid?: unknown }> {
    const answer = await this.#call({
      method: 'POST',
      path: '/crypto/v1/keys/export',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    if (answer.status === 404 && messageOf(answer) === MISSING) throw new KeyNotFoundError(name);
    if (answer.status !== 200) throw failure(`failed to ${what} '${name}'`, answer);
    const object = parseJson(answer, `fortanix: failed to ${what} '${name}'`);
    if (object === null || typeof object !== 'object') {
      throw new Error(`fortanix: failed to ${what} '${name}': not a JSON object`);
    }
    return object;
  }

  #call(call: RestCall): Promise<RestAnswer> {
    return this.#client.call({
      ...call,
      headers: { ...call.headers, Authorization: `Basic ${this.#config.apiKey}` },
    });
  }
}

/** DSM's error text: `message` of a JSON answer, else the body as text (as KES reads it). */
function messageOf(answer: RestAnswer): string {
  const json = jsonOf(answer) as { message?: unknown } | null | undefined;
  if (json !== undefined) return typeof json?.message === 'string' ? json.message : '';
  return answer.text;
}

function failure(what: string, answer: RestAnswer): Error {
  const text = messageOf(answer).trim();
  return new Error(`fortanix: ${what}: ${answer.status}${text === '' ? '' : `: ${text}`}`);
}
