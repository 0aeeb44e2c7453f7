// KES's GCP Secret Manager key store (docs/keystores.md, "GCP"): one secret per key, id = the
// key name, the KES stored value as the payload of version 1 (what KES reads). KES speaks gRPC;
// only the stored data must match, so this is a small REST client: service-account JWT grant
// (RS256 via node:crypto) or the metadata server, Google's JSON errors matched on `status`.

import { createSign } from 'node:crypto';
import type { GcpStoreConfig } from '../../config/keystore-config.ts';
import type { KeyStore } from '../keystore.ts';
import { callWithBearer, jsonRequest } from '../json-request.ts';
import type { JsonAnswer } from '../json-request.ts';
import { KeyExistsError, KeyNotFoundError } from '../keystore.ts';

export interface GcpStoreOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Extra CA certificates (tests; production uses the system's). */
  readonly ca?: string;
}

type Answer = JsonAnswer;

class GoogleError extends Error {
  readonly status: string;
  constructor(what: string, answer: Answer) {
    const error = (answer.json?.error ?? {}) as { status?: string; message?: string };
    super(`gcp: ${what}: ${answer.status} ${error.status ?? ''}: ${error.message ?? answer.text}`);
    this.status = error.status ?? '';
  }
}

const TOKEN_URI = 'https://oauth2.googleapis.com/token';

export class GcpKeyStore implements KeyStore {
  readonly description: string;
  readonly #config: GcpStoreConfig;
  readonly #base: URL;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #ca: string | undefined;
  #token: { value: string; expires: number } | null = null;

  private constructor(config: GcpStoreConfig, options: GcpStoreOptions) {
    this.#config = config;
    this.#base = new URL(config.endpoint);
    this.#env = options.env ?? process.env;
    this.#ca = options.ca;
    this.description = `gcp secretmanager ${config.endpoint} (project ${config.projectId})`;
  }

  static connect(config: GcpStoreConfig, options: GcpStoreOptions = {}): Promise<GcpKeyStore> {
    return Promise.resolve(new GcpKeyStore(config, options));
  }

  async create(name: string, value: string): Promise<void> {
    const project = this.#config.projectId;
    const created = await this.#call(
      'POST',
      `/v1/projects/${project}/secrets?secretId=${encodeURIComponent(name)}`,
      { replication: { automatic: {} } },
    );
    if (created.status === 409) {
      // KES creates the secret and its version in two calls: a secret left without a version
      // (the second call failed) is completed here instead of answering "exists" forever.
      const first = await this.#call('GET', `/v1/projects/${project}/secrets/${name}/versions/1`);
      if (first.status !== 404) throw new KeyExistsError(name);
    } else if (created.status !== 200) {
      throw new GoogleError('create', created);
    }
    const added = await this.#call('POST', `/v1/projects/${project}/secrets/${name}:addVersion`, {
      payload: { data: Buffer.from(value).toString('base64') },
    });
    if (added.status !== 200) throw new GoogleError('create', added);
    // Two racing creators may both add a version: version 1 is the key, the other lost.
    const versionName = added.json?.name;
    const version = typeof versionName === 'string' ? versionName.split('/').pop() : undefined;
    if (version !== '1') throw new KeyExistsError(name);
  }

  async get(name: string): Promise<string> {
    const answer = await this.#call(
      'GET',
      `/v1/projects/${this.#config.projectId}/secrets/${name}/versions/1:access`,
    );
    if (answer.status === 404) throw new KeyNotFoundError(name);
    if (answer.status !== 200) throw new GoogleError('read', answer);
    const data = (answer.json?.payload as { data?: unknown } | undefined)?.data;
    if (typeof data !== 'string') throw new Error(`gcp: '${name}' has no payload`);
    return Buffer.from(data, 'base64').toString('utf8');
  }

  async delete(name: string): Promise<void> {
    const answer = await this.#call(
      'DELETE',
      `/v1/projects/${this.#config.projectId}/secrets/${name}`,
    );
    if (answer.status === 404) throw new KeyNotFoundError(name);
    if (answer.status !== 200) throw new GoogleError('delete', answer);
  }

  async list(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let token = '';
    do {
      const answer = await this.#call(
        'GET',
        `/v1/projects/${this.#config.projectId}/secrets?pageSize=250${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`,
      );
      if (answer.status !== 200) throw new GoogleError('list', answer);
      for (const s of (answer.json?.secrets ?? []) as { name?: string }[]) {
        const name = (s.name ?? '').split('/').pop() ?? '';
        if (name !== '' && name.startsWith(prefix)) names.push(name);
      }
      token = typeof answer.json?.nextPageToken === 'string' ? answer.json.nextPageToken : '';
    } while (token !== '');
    return names;
  }

  /** An authenticated listing of one secret: refused credentials show as a failing store. */
  async status(): Promise<void> {
    const answer = await this.#call(
      'GET',
      `/v1/projects/${this.#config.projectId}/secrets?pageSize=1`,
    );
    if (answer.status !== 200) throw new GoogleError('status', answer);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async #call(method: string, path: string, body?: unknown): Promise<Answer> {
    return callWithBearer(
      (renew) => this.#bearer(renew),
      (authorization) =>
        this.#send(method, new URL(path, this.#base), body, { Authorization: authorization }),
    );
  }

  async #bearer(renew: boolean): Promise<string> {
    if (!renew && this.#token && this.#token.expires > Date.now() + 60_000)
      return this.#token.value;
    const c = this.#config.credentials;
    let answer: Answer;
    if (c) {
      const tokenUri = this.#env.KEYHOLD_GCP_TOKEN_URI ?? TOKEN_URI;
      const now = Math.floor(Date.now() / 1000);
      const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const unsigned = `${part({ alg: 'RS256', typ: 'JWT', kid: c.privateKeyId })}.${part({
        iss: c.clientEmail,
        scope: this.#config.scopes.join(' '),
        aud: tokenUri,
        iat: now,
        exp: now + 3600,
      })}`;
      const signature = createSign('RSA-SHA256')
        .update(unsigned)
        .sign(c.privateKey)
        .toString('base64url');
      const form = new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion: `${unsigned}.${signature}`,
      }).toString();
      answer = await this.#send('POST', new URL(tokenUri), form, {
        'Content-Type': 'application/x-www-form-urlencoded',
      });
    } else {
      // The metadata server of GCE/GKE (GCE_METADATA_HOST redirects it, as Google's libraries).
      const host = this.#env.GCE_METADATA_HOST ?? 'metadata.google.internal';
      answer = await this.#send(
        'GET',
        new URL(`http://${host}/computeMetadata/v1/instance/service-accounts/default/token`),
        undefined,
        { 'Metadata-Flavor': 'Google' },
      );
    }
    const token = answer.json?.access_token;
    if (answer.status !== 200 || typeof token !== 'string') {
      const e = answer.json as { error?: string; error_description?: string } | undefined;
      throw new Error(
        `gcp: no token: ${answer.status} ${e?.error ?? ''} ${e?.error_description ?? ''}`.trim(),
      );
    }
    this.#token = {
      value: token,
      expires: Date.now() + Number(answer.json?.expires_in ?? 3600) * 1000,
    };
    return token;
  }

  #send(method: string, url: URL, body: unknown, headers: Record<string, string>): Promise<Answer> {
    return jsonRequest({
      method,
      url,
      body,
      headers,
      store: 'gcp',
      ...(this.#ca ? { ca: this.#ca } : {}),
    });
  }
}
