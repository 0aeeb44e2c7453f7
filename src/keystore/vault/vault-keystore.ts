// KES's Vault key store (docs/keystores.md, "Vault"): each key one K/V entry
// `<engine>/<prefix>/<name>` (v2: `<engine>/data/<prefix>/<name>`) holding `{"<name>": value}`,
// optionally wrapped with Transit. Create is check-then-put, atomic on KV v2 through
// `cas: 0`; reads of KV v2 take version 1 (the first writer wins, as in KES).

import type { VaultStoreConfig } from '../../config/keystore-config.ts';
import type { KeyStore } from '../keystore.ts';
import { KeyExistsError, KeyNotFoundError, StoreUnreachableError } from '../keystore.ts';
import { VaultAuth } from './vault-auth.ts';
import type { VaultAuthMethod } from './vault-auth.ts';
import { VaultApiError, VaultClient, errorsOf } from './vault-client.ts';
import type { VaultCall, VaultResponse } from './vault-client.ts';

/** Health codes that make every state answer 2xx, so the body tells sealed/standby apart. */
const HEALTH_QUERY =
  '?standbycode=299&drsecondarycode=299&performancestandbycode=299&sealedcode=299&uninitcode=299';

const CAS_MISMATCH = 'check-and-set parameter did not match the current version';
const TRANSIT_PREFIX = /^vault:v\d+:/;

export interface VaultStoreOptions {
  /** Environment (`VAULT_SKIP_VERIFY`, `VAULT_CACERT`, `VAULT_NAMESPACE` are honoured). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where renewal and login failures are reported. */
  readonly onError?: (message: string) => void;
  /** Retry pause base, ms (tests shorten it; Vault's SDK: 1 s). */
  readonly backoff?: number;
}

export class VaultKeyStore implements KeyStore {
  readonly description: string;
  readonly #client: VaultClient;
  readonly #auth: VaultAuth;
  readonly #config: VaultStoreConfig;
  readonly #namespace: string;
  #sealed = false;
  readonly #ping: NodeJS.Timeout;

  private constructor(
    client: VaultClient,
    auth: VaultAuth,
    config: VaultStoreConfig,
    namespace: string,
  ) {
    this.#client = client;
    this.#auth = auth;
    this.#config = config;
    this.#namespace = namespace;
    this.description = `vault ${config.endpoint} (${config.engine}, kv ${config.version}${namespace ? `, namespace ${namespace}` : ''})`;
    // KES keeps a sealed flag from a health poll, so calls fail fast while Vault is sealed.
    this.#ping = setInterval(() => {
      this.#health().then(
        (h) => (this.#sealed = h.sealed),
        () => undefined,
      );
    }, config.statusPing).unref();
  }

  /** Connects and logs in; throws when Vault refuses the credentials or cannot be reached. */
  static async connect(
    config: VaultStoreConfig,
    options: VaultStoreOptions = {},
  ): Promise<VaultKeyStore> {
    const env = options.env ?? process.env;
    const skipVerify = ['1', 'true', 't'].includes((env.VAULT_SKIP_VERIFY ?? '').toLowerCase());
    const ca = config.tls.ca || env.VAULT_CACERT || '';
    const client = new VaultClient({
      endpoint: config.endpoint,
      tls: {
        ...(config.tls.cert ? { cert: config.tls.cert, key: config.tls.key } : {}),
        ...(ca ? { ca } : {}),
        skipVerify,
      },
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    });
    const namespace = config.namespace || env.VAULT_NAMESPACE || '';
    const method: VaultAuthMethod = config.approle
      ? { kind: 'approle', approle: config.approle }
      : config.kubernetes
        ? { kind: 'kubernetes', kubernetes: config.kubernetes }
        : { kind: 'token', token: config.token ?? '' };
    const auth = new VaultAuth(client, method, namespace, options.onError ?? (() => undefined));
    try {
      await auth.start();
    } catch (error) {
      client.close();
      throw error;
    }
    return new VaultKeyStore(client, auth, config, namespace);
  }

  async create(name: string, value: string): Promise<void> {
    const path = this.#itemPath(name);
    // 1. Is the name taken? (KV v1 has no atomic create: this check is what decides there.)
    const existing = await this.#call({ method: 'GET', path }, [404]);
    this.#checkAbsent(name, existing);
    // 2. Optional Transit wrap; 3. write (KV v2: only if no version exists, `cas: 0`).
    const stored = this.#config.transit ? await this.#wrap(value) : value;
    const body =
      this.#config.version === 'v2'
        ? { data: { [name]: stored }, options: { cas: 0 } }
        : { [name]: stored };
    try {
      await this.#call({ method: 'PUT', path, body });
    } catch (error) {
      if (!(error instanceof VaultApiError)) throw error;
      // KV v2: another writer created it in between (KES reports this race as a failure).
      if (error.status === 400 && error.errors.some((e) => e.includes(CAS_MISMATCH))) {
        throw new KeyExistsError(name);
      }
      // A create-only policy refuses the overwrite of an entry written in between.
      if (error.status === 403) {
        const now = await this.#call({ method: 'GET', path }, [404]).catch(() => null);
        if (now && now.status === 200) throw new KeyExistsError(name);
      }
      throw error;
    }
  }

  async get(name: string): Promise<string> {
    const path = this.#itemPath(name) + (this.#config.version === 'v2' ? '?version=1' : '');
    const res = await this.#call({ method: 'GET', path }, [404]);
    if (res.status === 404) {
      if (hasData(res.json)) {
        throw new Error(`vault: version 1 of '${name}' is deleted or destroyed`);
      }
      throw new KeyNotFoundError(name);
    }
    const value = this.#valueOf(name, res.json);
    if (value === undefined) {
      throw new Error(`vault: the entry '${name}' exists but holds no field '${name}'`);
    }
    return TRANSIT_PREFIX.test(value) ? this.#unwrap(value) : value;
  }

  async delete(name: string): Promise<void> {
    // Vault answers 204 whether or not the entry existed; KES's API says 404 for a missing key.
    await this.get(name).catch((error: unknown) => {
      if (error instanceof KeyNotFoundError) throw error;
      // Unreadable (deleted version, Transit trouble): delete it all the same.
    });
    const path = this.#config.version === 'v2' ? this.#metaPath(name) : this.#itemPath(name);
    await this.#call({ method: 'DELETE', path });
  }

  /** Every name (Vault lists a whole folder; the gateway filters by prefix). */
  async list(_prefix: string): Promise<string[]> {
    const base =
      this.#config.version === 'v2'
        ? joinPath('/v1', this.#config.engine, 'metadata', this.#config.prefix)
        : joinPath('/v1', this.#config.engine, this.#config.prefix);
    const res = await this.#call({ method: 'GET', path: `${base}/?list=true` }, [404]);
    if (res.status === 404) {
      // `{"errors":[]}` is Vault's empty listing (KES reports it as a failure); any message
      // (no such mount, ...) is a real error.
      if (errorsOf(res).length === 0) return [];
      throw new VaultApiError({ method: 'GET', path: base }, base, res);
    }
    const keys = (res.json as { data?: { keys?: unknown } } | undefined)?.data?.keys;
    if (!Array.isArray(keys)) throw new Error('vault: the listing carries no keys');
    // Entries ending in `/` are folders, never KES keys (key names have no `/`).
    return keys.map(String).filter((k) => !k.endsWith('/'));
  }

  /**
   * Health (root namespace, as `sys/health` exists only there) and then the token itself, so
   * that an expired or revoked token shows as a failing store before requests fail.
   */
  async status(): Promise<void> {
    const health = await this.#health();
    this.#sealed = health.sealed;
    if (!health.initialized) throw new StoreUnreachableError('vault: not initialized');
    if (health.sealed) throw new StoreUnreachableError('vault: sealed');
    await this.#call({
      method: 'GET',
      path: '/v1/auth/token/lookup-self',
    });
  }

  close(): Promise<void> {
    clearInterval(this.#ping);
    this.#auth.close();
    this.#client.close();
    return Promise.resolve();
  }

  async #health(): Promise<{ initialized: boolean; sealed: boolean }> {
    const res = await this.#client.call({
      method: 'GET',
      path: `/v1/sys/health${HEALTH_QUERY}`,
      token: this.#auth.token,
    });
    const body = res.json as { initialized?: unknown; sealed?: unknown } | undefined;
    return { initialized: body?.initialized !== false, sealed: body?.sealed === true };
  }

  /**
   * A call with the current token and the store's namespace. Statuses in `accept` are answers,
   * not errors. A refused token is replaced by a new login and the call made once more.
   */
  async #call(
    call: Omit<VaultCall, 'token' | 'namespace'>,
    accept: readonly number[] = [],
    namespace = this.#namespace,
  ): Promise<VaultResponse> {
    if (this.#sealed) throw new StoreUnreachableError('vault: key store is sealed');
    for (let attempt = 0; ; attempt++) {
      const token = this.#auth.token;
      try {
        return await this.#client.call({ ...call, token, namespace });
      } catch (error) {
        if (!(error instanceof VaultApiError)) throw error;
        if (accept.includes(error.status)) return error.response;
        if (attempt === 0 && error.status === 403 && error.errors.some(isTokenProblem)) {
          await this.#auth.refresh(token);
          continue;
        }
        throw error;
      }
    }
  }

  #checkAbsent(name: string, res: VaultResponse): void {
    if (res.status === 404) {
      if (hasData(res.json)) {
        throw new Error(
          `vault: '${name}' exists with its latest version deleted; destroy its metadata to reuse the name`,
        );
      }
      return;
    }
    if (this.#valueOf(name, res.json) !== undefined) throw new KeyExistsError(name);
    const warnings = (res.json as { warnings?: unknown } | undefined)?.warnings;
    throw new Error(
      `vault: the entry '${name}' exists but is not a KES key` +
        (Array.isArray(warnings) && warnings.length > 0
          ? ` (Vault warns: ${warnings.map(String).join('; ')}; is the K/V version right?)`
          : ''),
    );
  }

  #valueOf(name: string, json: unknown): string | undefined {
    let data = (json as { data?: unknown } | undefined)?.data;
    if (this.#config.version === 'v2') data = (data as { data?: unknown } | null | undefined)?.data;
    const value = (data as Record<string, unknown> | null | undefined)?.[name];
    return typeof value === 'string' ? value : undefined;
  }

  async #wrap(value: string): Promise<string> {
    const transit = this.#config.transit!;
    const res = await this.#call({
      method: 'POST',
      path: joinPath('/v1', transit.engine, 'encrypt', transit.key),
      body: { plaintext: Buffer.from(value).toString('base64') },
    });
    const ciphertext = (res.json as { data?: { ciphertext?: unknown } } | undefined)?.data
      ?.ciphertext;
    // Any key version: KES accepts only v1 and breaks after a Transit key rotation.
    if (typeof ciphertext !== 'string' || !TRANSIT_PREFIX.test(ciphertext)) {
      throw new Error('vault: the transit encrypt answer carries no ciphertext');
    }
    return ciphertext;
  }

  async #unwrap(ciphertext: string): Promise<string> {
    const transit = this.#config.transit;
    if (!transit)
      throw new Error(
        'vault: the key is encrypted with a Vault transit key, and no transit is configured',
      );
    const res = await this.#call({
      method: 'POST',
      path: joinPath('/v1', transit.engine, 'decrypt', transit.key),
      body: { ciphertext },
    });
    const plaintext = (res.json as { data?: { plaintext?: unknown } } | undefined)?.data?.plaintext;
    if (typeof plaintext !== 'string') {
      throw new Error('vault: the transit decrypt answer carries no plaintext');
    }
    return Buffer.from(plaintext, 'base64').toString('utf8');
  }

  #itemPath(name: string): string {
    const { engine, prefix, version } = this.#config;
    return version === 'v2'
      ? joinPath('/v1', engine, 'data', prefix, name)
      : joinPath('/v1', engine, prefix, name);
  }

  #metaPath(name: string): string {
    return joinPath('/v1', this.#config.engine, 'metadata', this.#config.prefix, name);
  }
}

/** Path join as Go's path.Join: empty parts vanish, repeated slashes collapse. */
function joinPath(...parts: string[]): string {
  return ('/' + parts.join('/')).replace(/\/+/g, '/').replace(/\/$/, '');
}

/** A KV v2 404 whose body still has `data` (a deleted or destroyed version). */
function hasData(json: unknown): boolean {
  const data = (json as { data?: unknown } | undefined)?.data;
  return data !== undefined && data !== null;
}

/** Vault's words for a token it no longer accepts. */
function isTokenProblem(message: string): boolean {
  return /invalid token|token expired/.test(message);
}
