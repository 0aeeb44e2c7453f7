// KES's GCP Secret Manager key store (docs/keystores.md, "GCP"): one secret per key, id = the
// key name, the KES stored value as the payload of version 1 (what KES reads). Through Google's
// official client (`@google-cloud/secret-manager`) on its HTTP/1.1 REST transport
// (`fallback: true`): only the stored data must match KES, and REST keeps the client small and
// plain HTTPS. Credentials are the client library's: a service account from the config (signed
// by the library), else Google's application-default chain (GOOGLE_APPLICATION_CREDENTIALS, the
// gcloud file, the metadata server of GCE/GKE).

import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import type { GcpStoreConfig } from '../../config/keystore-config.ts';
import type { KeyStore } from '../keystore.ts';
import { KeyExistsError, KeyNotFoundError, StoreUnreachableError } from '../keystore.ts';

/** Per call: attempts of the library's retry policy included, a dead store must not stall. */
const CALL_TIMEOUT_MS = 30_000;

interface GoogleErrorLike {
  readonly code?: number | string;
  readonly message?: string;
}

export class GcpKeyStore implements KeyStore {
  readonly description: string;
  readonly #client: SecretManagerServiceClient;
  readonly #project: string;

  private constructor(client: SecretManagerServiceClient, config: GcpStoreConfig) {
    this.#client = client;
    this.#project = `projects/${config.projectId}`;
    this.description = `gcp secretmanager ${config.endpoint} (project ${config.projectId})`;
  }

  static connect(config: GcpStoreConfig): Promise<GcpKeyStore> {
    const url = new URL(config.endpoint);
    const c = config.credentials;
    const client = new SecretManagerServiceClient({
      fallback: true,
      protocol: url.protocol.replace(/:$/, ''),
      apiEndpoint: url.hostname,
      port: Number(url.port || (url.protocol === 'http:' ? 80 : 443)),
      projectId: config.projectId,
      scopes: [...config.scopes],
      // A token refused before its expiry (revoked, or a metadata server that rotated it) is
      // replaced at once and the call repeated, instead of failing until the expiry.
      clientOptions: { forceRefreshOnFailure: true },
      ...(c
        ? {
            // The fields of a service-account key file; the library signs its own JWTs.
            credentials: {
              type: 'service_account',
              client_email: c.clientEmail,
              client_id: c.clientId,
              private_key_id: c.privateKeyId,
              private_key: c.privateKey,
            } as { client_email: string; private_key: string },
          }
        : {}),
    });
    return Promise.resolve(new GcpKeyStore(client, config));
  }

  async create(name: string, value: string): Promise<void> {
    const secret = `${this.#project}/secrets/${name}`;
    try {
      await this.#client.createSecret(
        {
          parent: this.#project,
          secretId: name,
          secret: { replication: { automatic: {} } },
        },
        { timeout: CALL_TIMEOUT_MS },
      );
    } catch (error) {
      if (statusOf(error) !== 'ALREADY_EXISTS') throw wrap('create', error);
      // KES creates the secret and its version in two calls: a secret left without a version
      // (the second call failed) is completed here instead of answering "exists" forever.
      try {
        await this.#client.getSecretVersion(
          { name: `${secret}/versions/1` },
          { timeout: CALL_TIMEOUT_MS },
        );
        throw new KeyExistsError(name);
      } catch (inner) {
        if (inner instanceof KeyExistsError) throw inner;
        if (statusOf(inner) !== 'NOT_FOUND') throw wrap('create', inner);
      }
    }
    let version: string | undefined;
    try {
      const [added] = await this.#client.addSecretVersion(
        { parent: secret, payload: { data: Buffer.from(value) } },
        { timeout: CALL_TIMEOUT_MS },
      );
      version = added.name?.split('/').pop();
    } catch (error) {
      throw wrap('create', error);
    }
    // Two racing creators may both add a version: version 1 is the key, the other lost.
    if (version !== '1') throw new KeyExistsError(name);
  }

  async get(name: string): Promise<string> {
    try {
      const [answer] = await this.#client.accessSecretVersion(
        { name: `${this.#project}/secrets/${name}/versions/1` },
        { timeout: CALL_TIMEOUT_MS },
      );
      const data = answer.payload?.data;
      if (data === undefined || data === null) throw new Error(`gcp: '${name}' has no payload`);
      return typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    } catch (error) {
      if (statusOf(error) === 'NOT_FOUND') throw new KeyNotFoundError(name);
      throw wrap('read', error);
    }
  }

  async delete(name: string): Promise<void> {
    try {
      await this.#client.deleteSecret(
        { name: `${this.#project}/secrets/${name}` },
        { timeout: CALL_TIMEOUT_MS },
      );
    } catch (error) {
      if (statusOf(error) === 'NOT_FOUND') throw new KeyNotFoundError(name);
      throw wrap('delete', error);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const names: string[] = [];
    try {
      const pages = this.#client.listSecretsAsync(
        { parent: this.#project, pageSize: 250 },
        { timeout: CALL_TIMEOUT_MS, autoPaginate: false },
      );
      for await (const secret of pages) {
        const name = secret.name?.split('/').pop() ?? '';
        if (name !== '' && name.startsWith(prefix)) names.push(name);
      }
    } catch (error) {
      throw wrap('list', error);
    }
    return names;
  }

  /** An authenticated listing of one secret: refused credentials show as a failing store. */
  async status(): Promise<void> {
    try {
      await this.#client.listSecrets(
        { parent: this.#project, pageSize: 1 },
        { timeout: CALL_TIMEOUT_MS, autoPaginate: false },
      );
    } catch (error) {
      throw wrap('status', error);
    }
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

/**
 * Google's status name of an answered error (`NOT_FOUND`, `ALREADY_EXISTS`, …). On the REST
 * transport a refused call surfaces as the HTTP client's error with Google's JSON body as its
 * message; a GoogleError carries the numeric gRPC code instead.
 */
function statusOf(error: unknown): string | undefined {
  const e = error as GoogleErrorLike | undefined;
  try {
    const body = JSON.parse(e?.message ?? '') as { error?: { status?: unknown } };
    if (typeof body.error?.status === 'string') return body.error.status;
  } catch {
    // Not Google's JSON: a GoogleError or no answer at all.
  }
  if (typeof e?.code === 'number') return GRPC_STATUS[e.code] ?? HTTP_STATUS[e.code] ?? 'UNKNOWN';
  return undefined;
}

const GRPC_STATUS: Record<number, string> = {
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  14: 'UNAVAILABLE',
  16: 'UNAUTHENTICATED',
};
const HTTP_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/**
 * Google's error as this store's: no answer at all (a connection error, a timeout) is
 * StoreUnreachableError; an answer keeps Google's status and text.
 */
function wrap(what: string, error: unknown): Error {
  const e = error as GoogleErrorLike | undefined;
  let text = e?.message ?? String(error);
  try {
    const body = JSON.parse(text) as { error?: { message?: string } };
    if (typeof body.error?.message === 'string') text = body.error.message;
  } catch {
    // Keep the text as it is.
  }
  const status = statusOf(error);
  const message = `gcp: ${what}: ${status ? `${status}: ` : ''}${text}`;
  // A system error code (ECONNREFUSED, ETIMEDOUT, ENOTFOUND, …) or the call's deadline.
  const unanswered =
    (status === undefined && typeof e?.code === 'string') || status === 'DEADLINE_EXCEEDED';
  if (unanswered) return new StoreUnreachableError(message, { cause: error });
  return new Error(message, { cause: error });
}
