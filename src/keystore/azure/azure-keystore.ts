// KES's Azure Key Vault key store (docs/keystores.md, "Azure"): one secret per key, named like
// the key, the KES stored value as the secret's value. Reads take the **oldest** version (the
// first writer wins, as in KES); a soft-deleted name is purged before it is created again.
// Through the official Azure SDK: `@azure/keyvault-secrets` (Key Vault's challenge-based auth,
// retries, paging) with `@azure/identity` credentials (client secret, managed identity, or the
// environment → workload identity → managed identity chain).

import { SecretClient } from '@azure/keyvault-secrets';
import type { SecretClientOptions, SecretProperties } from '@azure/keyvault-secrets';
import {
  AzureAuthorityHosts,
  ChainedTokenCredential,
  ClientSecretCredential,
  EnvironmentCredential,
  ManagedIdentityCredential,
  WorkloadIdentityCredential,
} from '@azure/identity';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { isIP } from 'node:net';
import type { AzureStoreConfig } from '../../config/keystore-config.ts';
import type { KeyStore } from '../keystore.ts';
import { KeyExistsError, KeyNotFoundError, StoreUnreachableError } from '../keystore.ts';

export interface AzureStoreOptions {
  /** Trusted CAs instead of the system's (tests; a server process uses NODE_EXTRA_CA_CERTS). */
  readonly ca?: string | readonly string[];
}

/** Per HTTP attempt: a hung vault must not hold a request for minutes. */
const ATTEMPT_TIMEOUT_MS = 30_000;

/** The Key Vault resource of every Azure cloud (`https://vault.azure.net`, `…vault.azure.cn`, …). */
const KEY_VAULT_SCOPE = /^https:\/\/vault\.[a-z0-9.-]+\/\.default$/;

/** The parts of the SDK's RestError this store reads. */
interface RestErrorLike {
  readonly name?: string;
  readonly statusCode?: number;
  readonly code?: string;
  readonly message?: string;
  readonly details?: {
    error?: { code?: string; innerError?: { code?: string }; innererror?: { code?: string } };
  };
}

export class AzureKeyStore implements KeyStore {
  readonly description: string;
  readonly #client: SecretClient;

  private constructor(client: SecretClient, config: AzureStoreConfig) {
    this.#client = client;
    this.description = `azure keyvault ${config.endpoint}`;
  }

  static connect(
    config: AzureStoreConfig,
    options: AzureStoreOptions = {},
  ): Promise<AzureKeyStore> {
    const tls = options.ca ? { tlsOptions: { ca: options.ca as string[] } } : {};
    const vaultHost = new URL(config.endpoint).hostname.replace(/^\[|\]$/g, '');
    // The SDK accepts a challenge only when its resource is a parent domain of the vault's host
    // (`my-vault.vault.azure.net` → `vault.azure.net`), so that a vault cannot obtain a token for
    // another service. An address or `localhost` (a private endpoint by IP, an emulator, the
    // tests) can never match; there the check is off and our credential issues Key Vault tokens
    // only (KeyVaultScopeOnly), which keeps the same guarantee.
    const literalHost = isIP(vaultHost) !== 0 || vaultHost === 'localhost';
    let credential = credentialFor(config, tls);
    if (literalHost) credential = new KeyVaultScopeOnly(credential);
    const clientOptions: SecretClientOptions = {
      ...tls,
      disableChallengeResourceVerification: literalHost,
      retryOptions: { maxRetries: 3, retryDelayInMs: 200, maxRetryDelayInMs: 2000 },
    };
    const client = new SecretClient(config.endpoint, credential, clientOptions);
    return Promise.resolve(new AzureKeyStore(client, config));
  }

  async create(name: string, value: string): Promise<void> {
    checkName(name);
    try {
      await this.#client.getSecret(name, request());
      throw new KeyExistsError(name);
    } catch (error) {
      if (error instanceof KeyExistsError) throw error;
      if (statusOf(error) !== 404) throw wrap('create', error);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#client.setSecret(name, value, request());
        return;
      } catch (error) {
        // A deleted secret keeps its name until purged.
        const inner = innerCode(error);
        if (
          statusOf(error) === 409 &&
          (inner === 'ObjectIsDeletedButRecoverable' || inner === 'ObjectIsBeingDeleted') &&
          attempt < 7
        ) {
          await this.#purge(name);
          continue;
        }
        throw wrap('create', error);
      }
    }
  }

  async get(name: string): Promise<string> {
    checkName(name);
    try {
      const versions: SecretProperties[] = [];
      for await (const v of this.#client.listPropertiesOfSecretVersions(name, request())) {
        versions.push(v);
      }
      if (versions.length === 0) throw new KeyNotFoundError(name);
      // The oldest version is the key (KES: the first writer wins).
      const oldest = versions.reduce((a, b) =>
        (b.createdOn?.getTime() ?? 0) < (a.createdOn?.getTime() ?? 0) ? b : a,
      );
      const secret = await this.#client.getSecret(name, {
        ...request(),
        ...(oldest.version ? { version: oldest.version } : {}),
      });
      const p = secret.properties;
      const now = Date.now();
      if (p.enabled === false) throw new Error(`azure: '${name}' is disabled`);
      if (p.notBefore && p.notBefore.getTime() > now) {
        throw new Error(`azure: '${name}' is not valid yet`);
      }
      if (p.expiresOn && p.expiresOn.getTime() <= now) {
        throw new Error(`azure: '${name}' has expired`);
      }
      if (typeof secret.value !== 'string') throw new Error(`azure: '${name}' has no value`);
      return secret.value;
    } catch (error) {
      if (error instanceof KeyNotFoundError) throw error;
      if (statusOf(error) === 404) throw new KeyNotFoundError(name);
      throw wrap('read', error);
    }
  }

  async delete(name: string): Promise<void> {
    checkName(name);
    try {
      // Soft delete; the poller waits until the deleted secret is visible (or not readable).
      const poller = await this.#client.beginDeleteSecret(name, {
        ...request(),
        intervalInMs: 250,
      });
      await poller.pollUntilDone();
    } catch (error) {
      if (statusOf(error) === 404) throw new KeyNotFoundError(name);
      throw wrap('delete', error);
    }
    await this.#purge(name);
  }

  async list(prefix: string): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const s of this.#client.listPropertiesOfSecrets({
        ...request(),
      })) {
        if (s.name.startsWith(prefix)) names.push(s.name);
      }
    } catch (error) {
      throw wrap('list', error);
    }
    return names;
  }

  /** An authenticated listing of one secret: refused credentials show as a failing store. */
  async status(): Promise<void> {
    try {
      const pages = this.#client.listPropertiesOfSecrets(request()).byPage({ maxPageSize: 1 });
      await pages.next();
    } catch (error) {
      throw wrap('status', error);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Purges a soft-deleted secret, waiting while Azure is still deleting it. */
  async #purge(name: string): Promise<void> {
    for (let attempt = 0; attempt < 25; attempt++) {
      try {
        await this.#client.purgeDeletedSecret(name, request());
        return;
      } catch (error) {
        const status = statusOf(error);
        const inner = innerCode(error);
        // Gone already (purged by another node, or a vault without soft delete).
        if (status === 404) return;
        if (status === 409 && inner === 'ObjectIsBeingDeleted') {
          await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 300));
          continue;
        }
        // Purge protection: the secret stays soft-deleted; deletion itself succeeded.
        if (status === 403 && inner === 'ForbiddenByPolicy') return;
        throw wrap('purge', error);
      }
    }
    throw new Error(`azure: '${name}' is still being deleted`);
  }
}

/** The credential the config asks for (docs/keystores.md, "azure"). */
function credentialFor(
  config: AzureStoreConfig,
  tls: { tlsOptions?: { ca: string[] } },
): TokenCredential {
  // MSAL validates an authority through Microsoft's instance discovery, which knows only
  // Microsoft's clouds: another AZURE_AUTHORITY_HOST (Azure Stack, a private cloud, the tests)
  // is trusted as configured and its OpenID metadata read from it directly.
  const authority = (process.env.AZURE_AUTHORITY_HOST ?? '').replace(/\/+$/, '');
  const known = (Object.values(AzureAuthorityHosts) as string[]).includes(authority);
  const entra = { ...tls, disableInstanceDiscovery: authority !== '' && !known };
  if (config.credentials) {
    const c = config.credentials;
    return new ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret, entra);
  }
  const managed = (clientId: string) =>
    clientId
      ? new ManagedIdentityCredential({ clientId, ...tls })
      : new ManagedIdentityCredential({ ...tls });
  if (config.managedIdentity) return managed(config.managedIdentity.clientId);
  // Neither block: what a deployment provides, in DefaultAzureCredential's production order.
  // (Workload identity only where its token file is configured: its constructor needs it.)
  return new ChainedTokenCredential(
    new EnvironmentCredential(entra),
    ...(process.env.AZURE_FEDERATED_TOKEN_FILE ? [new WorkloadIdentityCredential(entra)] : []),
    managed(process.env.AZURE_CLIENT_ID ?? ''),
  );
}

/**
 * Issues tokens only for Key Vault: used where the SDK's challenge-resource check cannot apply
 * (a vault addressed by IP or `localhost`), so a server there still cannot ask for a token to
 * any other Azure service.
 */
class KeyVaultScopeOnly implements TokenCredential {
  readonly #inner: TokenCredential;
  constructor(inner: TokenCredential) {
    this.#inner = inner;
  }
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    const list = typeof scopes === 'string' ? [scopes] : scopes;
    if (list.length === 0 || !list.every((s) => KEY_VAULT_SCOPE.test(s))) {
      return Promise.reject(
        new Error(`azure: the vault asked for a token to ${list.join(' ')}, not Key Vault`),
      );
    }
    return this.#inner.getToken(scopes, options);
  }
}

function request(): { requestOptions: { timeout: number } } {
  return { requestOptions: { timeout: ATTEMPT_TIMEOUT_MS } };
}

function statusOf(error: unknown): number | undefined {
  return (error as RestErrorLike | undefined)?.statusCode;
}

/** Azure's inner error code (`ObjectIsBeingDeleted`, `ForbiddenByPolicy`, …). */
function innerCode(error: unknown): string {
  // Azure sends `innererror`; the SDK's deserializer renames it `innerError`.
  const body = (error as RestErrorLike | undefined)?.details?.error;
  return body?.innerError?.code ?? body?.innererror?.code ?? '';
}

/**
 * The SDK's error as this store's: no answer at all (a connection error, a timeout) is
 * StoreUnreachableError; an answer keeps Azure's status, code and text.
 */
function wrap(what: string, error: unknown): Error {
  const e = error as RestErrorLike | undefined;
  const status = statusOf(error);
  const message = `azure: ${what}: ${status ?? ''} ${e?.code ?? ''}: ${e?.message ?? String(error)}`
    .replace(/\s+:/, ':')
    .trim();
  if (status === undefined && (e?.name === 'RestError' || e?.name === 'AbortError')) {
    return new StoreUnreachableError(message, { cause: error });
  }
  return new Error(message, { cause: error });
}

/** Key Vault secret names: 1–127 of `0-9 A-Z a-z -` (KES key names with `_` do not fit). */
function checkName(name: string): void {
  if (!/^[0-9A-Za-z-]{1,127}$/.test(name)) {
    throw new Error(`azure: '${name}' is not a valid Key Vault secret name (0-9, a-z, A-Z, -)`);
  }
}
