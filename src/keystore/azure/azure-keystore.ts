// KES's Azure Key Vault key store (docs/keystores.md, "Azure"): one secret per key, named like
// the key, the KES stored value as the secret's value. Reads take the **oldest** version (the
// first writer wins, as in KES); a soft-deleted name is purged before it is created again.
// A small REST client (api-version 7.5, what KES speaks): bearer tokens from Microsoft Entra ID
// client credentials or a managed identity, the 401 challenge, Azure's inner error codes.

import type { AzureStoreConfig } from '../../config/keystore-config.ts';
import type { KeyStore } from '../keystore.ts';
import { callWithBearer, jsonRequest } from '../json-request.ts';
import type { JsonAnswer } from '../json-request.ts';
import { KeyExistsError, KeyNotFoundError } from '../keystore.ts';

const API_VERSION = '7.5';
const SCOPE = 'https://vault.azure.net/.default';

export interface AzureStoreOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Extra CA certificates (tests; production uses the system's). */
  readonly ca?: string | readonly string[];
}

type Answer = JsonAnswer;

/** Azure's error body: `{"error":{"code","message","innererror":{"code"}}}`. */
class AzureError extends Error {
  readonly status: number;
  readonly code: string;
  readonly inner: string;
  constructor(what: string, answer: Answer) {
    const error = (answer.json?.error ?? {}) as {
      code?: string;
      message?: string;
      innererror?: { code?: string };
    };
    super(`azure: ${what}: ${answer.status} ${error.code ?? ''}: ${error.message ?? answer.text}`);
    this.status = answer.status;
    this.code = error.code ?? '';
    this.inner = error.innererror?.code ?? '';
  }
}

export class AzureKeyStore implements KeyStore {
  readonly description: string;
  readonly #vault: URL;
  readonly #config: AzureStoreConfig;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #ca: string | readonly string[] | undefined;
  #token: { value: string; expires: number } | null = null;
  #tenant: string;

  private constructor(config: AzureStoreConfig, options: AzureStoreOptions) {
    this.#config = config;
    this.#vault = new URL(config.endpoint);
    this.#env = options.env ?? process.env;
    this.#ca = options.ca;
    this.#tenant = config.credentials?.tenantId ?? this.#env.AZURE_TENANT_ID ?? '';
    this.description = `azure keyvault ${config.endpoint}`;
  }

  static connect(
    config: AzureStoreConfig,
    options: AzureStoreOptions = {},
  ): Promise<AzureKeyStore> {
    return Promise.resolve(new AzureKeyStore(config, options));
  }

  async create(name: string, value: string): Promise<void> {
    checkName(name);
    const existing = await this.#call('GET', `/secrets/${name}/`);
    if (existing.status === 200) throw new KeyExistsError(name);
    if (existing.status !== 404) throw new AzureError('create', existing);
    for (let attempt = 0; ; attempt++) {
      const put = await this.#call('PUT', `/secrets/${name}`, { value });
      if (put.status === 200) return;
      const error = new AzureError('create', put);
      // A deleted secret keeps its name until purged.
      if (
        put.status === 409 &&
        (error.inner === 'ObjectIsDeletedButRecoverable' ||
          error.inner === 'ObjectIsBeingDeleted') &&
        attempt < 7
      ) {
        await this.#purge(name);
        continue;
      }
      throw error;
    }
  }

  async get(name: string): Promise<string> {
    checkName(name);
    const versions = await this.#call('GET', `/secrets/${name}/versions`);
    if (versions.status === 404) throw new KeyNotFoundError(name);
    if (versions.status !== 200) throw new AzureError('read', versions);
    const items = (versions.json?.value ?? []) as {
      id?: string;
      attributes?: { created?: number };
    }[];
    if (versions.json?.nextLink) throw new Error(`azure: '${name}' has too many versions`);
    if (items.length === 0) throw new KeyNotFoundError(name);
    // The oldest version is the key (KES: the first writer wins).
    const oldest = [...items].sort(
      (a, b) => (a.attributes?.created ?? 0) - (b.attributes?.created ?? 0),
    )[0]!;
    const version = (oldest.id ?? '').split('/').pop() ?? '';
    const secret = await this.#call('GET', `/secrets/${name}/${version}`);
    if (secret.status === 404) throw new KeyNotFoundError(name);
    if (secret.status !== 200) throw new AzureError('read', secret);
    const attributes = (secret.json?.attributes ?? {}) as {
      enabled?: boolean;
      nbf?: number;
      exp?: number;
    };
    const now = Date.now() / 1000;
    if (attributes.enabled === false) throw new Error(`azure: '${name}' is disabled`);
    if (attributes.nbf !== undefined && attributes.nbf > now) {
      throw new Error(`azure: '${name}' is not valid yet`);
    }
    if (attributes.exp !== undefined && attributes.exp <= now) {
      throw new Error(`azure: '${name}' has expired`);
    }
    const value = secret.json?.value;
    if (typeof value !== 'string') throw new Error(`azure: '${name}' has no value`);
    return value;
  }

  async delete(name: string): Promise<void> {
    checkName(name);
    const deleted = await this.#call('DELETE', `/secrets/${name}`);
    if (deleted.status === 404) throw new KeyNotFoundError(name);
    if (deleted.status !== 200) throw new AzureError('delete', deleted);
    await this.#purge(name);
  }

  async list(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let next: string | undefined = `/secrets?maxresults=25`;
    while (next) {
      const page = await this.#call('GET', next);
      if (page.status !== 200) throw new AzureError('list', page);
      for (const item of (page.json?.value ?? []) as { id?: string }[]) {
        const name = (item.id ?? '').split('/').pop() ?? '';
        if (name !== '' && name.startsWith(prefix)) names.push(name);
      }
      next = typeof page.json?.nextLink === 'string' ? page.json.nextLink : undefined;
    }
    return names;
  }

  /** An authenticated listing of one secret: refused credentials show as a failing store. */
  async status(): Promise<void> {
    const page = await this.#call('GET', '/secrets?maxresults=1');
    if (page.status !== 200) throw new AzureError('status', page);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Purges a soft-deleted secret, waiting while Azure is still deleting it. */
  async #purge(name: string): Promise<void> {
    for (let attempt = 0; attempt < 25; attempt++) {
      const purged = await this.#call('DELETE', `/deletedsecrets/${name}`);
      if (purged.status === 204 || purged.status === 200 || purged.status === 404) return;
      const error = new AzureError('purge', purged);
      if (purged.status === 409 && error.inner === 'ObjectIsBeingDeleted') {
        await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 300));
        continue;
      }
      // Purge protection: the secret stays soft-deleted; deletion itself succeeded.
      if (purged.status === 403 && error.inner === 'ForbiddenByPolicy') return;
      throw error;
    }
    throw new Error(`azure: '${name}' is still being deleted`);
  }

  /** One vault call with a bearer token; a 401 challenge renews the token once. */
  async #call(method: string, pathOrUrl: string, body?: unknown): Promise<Answer> {
    const url = new URL(pathOrUrl, this.#vault);
    if (!url.searchParams.has('api-version')) url.searchParams.set('api-version', API_VERSION);
    return callWithBearer(
      (renew) => this.#bearer(renew),
      (authorization) => this.#send(method, url, body, { Authorization: authorization }),
      (answer) => {
        // The challenge names the tenant the vault belongs to.
        const tenant = /authorization="?https?:\/\/[^/]+\/([^"/,\s]+)/.exec(
          answer.challenge ?? '',
        )?.[1];
        if (tenant) this.#tenant = tenant;
      },
    );
  }

  async #bearer(renew: boolean): Promise<string> {
    if (!renew && this.#token && this.#token.expires > Date.now() + 60_000)
      return this.#token.value;
    const authority = (
      this.#env.AZURE_AUTHORITY_HOST ?? 'https://login.microsoftonline.com'
    ).replace(/\/+$/, '');
    const credentials = this.#config.credentials ?? envCredentials(this.#env);
    let answer: Answer;
    if (credentials) {
      const form = new URLSearchParams({
        client_id: credentials.clientId,
        client_secret: credentials.clientSecret,
        grant_type: 'client_credentials',
        scope: SCOPE,
      }).toString();
      answer = await this.#send(
        'POST',
        new URL(`${authority}/${credentials.tenantId || this.#tenant}/oauth2/v2.0/token`),
        form,
        { 'Content-Type': 'application/x-www-form-urlencoded' },
      );
    } else {
      // Managed identity (instance metadata service, or App Service's identity endpoint).
      const host = (
        this.#env.AZURE_POD_IDENTITY_AUTHORITY_HOST ?? 'http://169.254.169.254'
      ).replace(/\/+$/, '');
      const base = this.#env.IDENTITY_ENDPOINT ?? `${host}/metadata/identity/oauth2/token`;
      const url = new URL(base);
      url.searchParams.set(
        'api-version',
        this.#env.IDENTITY_ENDPOINT ? '2019-08-01' : '2018-02-01',
      );
      url.searchParams.set('resource', 'https://vault.azure.net');
      const clientId = this.#config.managedIdentity?.clientId ?? '';
      if (clientId) url.searchParams.set('client_id', clientId);
      answer = await this.#send('GET', url, undefined, {
        Metadata: 'true',
        ...(this.#env.IDENTITY_HEADER ? { 'X-IDENTITY-HEADER': this.#env.IDENTITY_HEADER } : {}),
      });
    }
    const token = answer.json?.access_token;
    if (answer.status !== 200 || typeof token !== 'string') {
      const error = answer.json as { error?: string; error_description?: string } | undefined;
      throw new Error(
        `azure: no token: ${answer.status} ${error?.error ?? ''} ${error?.error_description ?? answer.text}`.trim(),
      );
    }
    const expiresIn = Number(answer.json?.expires_in ?? 3600);
    this.#token = { value: token, expires: Date.now() + expiresIn * 1000 };
    return token;
  }

  #send(method: string, url: URL, body: unknown, headers: Record<string, string>): Promise<Answer> {
    return jsonRequest({
      method,
      url,
      body,
      headers,
      store: 'azure',
      ...(this.#ca ? { ca: this.#ca } : {}),
    });
  }
}

/** Key Vault secret names: 1–127 of `0-9 A-Z a-z -` (KES key names with `_` do not fit). */
function checkName(name: string): void {
  if (!/^[0-9A-Za-z-]{1,127}$/.test(name)) {
    throw new Error(`azure: '${name}' is not a valid Key Vault secret name (0-9, a-z, A-Z, -)`);
  }
}

function envCredentials(
  env: Readonly<Record<string, string | undefined>>,
): { tenantId: string; clientId: string; clientSecret: string } | undefined {
  const { AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET } = env;
  if (!AZURE_TENANT_ID || !AZURE_CLIENT_ID || !AZURE_CLIENT_SECRET) return undefined;
  return {
    tenantId: AZURE_TENANT_ID,
    clientId: AZURE_CLIENT_ID,
    clientSecret: AZURE_CLIENT_SECRET,
  };
}
