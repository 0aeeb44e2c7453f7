// A protocol-faithful local Azure Key Vault (secrets) with its Microsoft Entra ID authority and
// managed-identity endpoints, speaking what the official SDKs send: the vault over real TLS on
// 127.0.0.1 port 0, Key Vault's challenge-based auth (a request without a valid bearer token →
// 401 `WWW-Authenticate: Bearer authorization="<authority>/<tenant>", resource=
// "https://vault.azure.net"`; a revoked token → the CAE `insufficient_claims` challenge),
// supported api-versions only, JSON bodies checked; secret versions (32-hex ids, `created` epoch
// seconds), paging with nextLink, soft delete that completes asynchronously (deleted secrets not
// yet visible, purge answering ObjectIsBeingDeleted meanwhile), purge protection
// (ForbiddenByPolicy), Azure's error bodies with inner codes. The authority on the same server:
// OpenID metadata and the v2.0 token endpoint (client secret, or a federated assertion for
// workload identity), tokens only for Key Vault's resource. Managed identity over plain HTTP as
// the real endpoints: IMDS (`Metadata: true`), App Service (`X-IDENTITY-HEADER`), Azure Arc
// (the agent's challenge: a 401 naming a one-time secret file the client reads and returns as
// `Basic`) and Cloud Shell (a form POST). State is in memory; fields are flipped directly by
// tests.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createCertificate } from '../../src/identity/index.ts';

interface Version {
  readonly id: string;
  readonly value: string;
  readonly created: number;
  enabled: boolean;
}

interface Secret {
  versions: Version[];
  /** live; deleting: soft delete still in progress; deleted: soft-deleted, purgeable. */
  state: 'live' | 'deleting' | 'deleted';
  /** Requests on the deleted secret that still see the deletion in progress. */
  deletingFor: number;
}

export interface AzureServerOptions {
  readonly tenant: string;
  /** client id → client secret. */
  readonly clients: Record<string, string>;
  /** Client ids of user-assigned managed identities ('' = the system-assigned one). */
  readonly managedIdentities?: readonly string[];
  /** App Service's per-site secret for X-IDENTITY-HEADER. */
  readonly identityHeader?: string;
  /** Workload identity: client id → the federated token its pods present. */
  readonly federated?: Record<string, string>;
  /**
   * Azure Arc: the directory the agent writes its one-time challenge secrets to (the client
   * accepts only the platform's, `/var/opt/azcmagent/tokens/` on Linux). Absent: no Arc.
   */
  readonly arcTokenDir?: string;
}

const RESOURCE = 'https://vault.azure.net';
const SCOPE = `${RESOURCE}/.default`;
const API_VERSIONS = ['7.0', '7.1', '7.2', '7.3', '7.4', '7.5', '7.6', '2025-07-01'];

export class FakeKeyVault {
  readonly ca: string;
  readonly secrets = new Map<string, Secret>();
  /** Every vault and identity request: method, path, the api-version and how it authenticated. */
  readonly requests: { method: string; path: string; auth: string; apiVersion: string }[] = [];
  /** Tokens issued, by how: 'client_secret', 'federated', 'imds', 'appservice'. */
  readonly issued: string[] = [];
  readonly #server: Server;
  readonly #identity: HttpServer;
  readonly #options: AzureServerOptions;
  readonly #tokens = new Map<string, { expires: number; revoked: boolean }>();
  #port = 0;
  #identityPort = 0;
  /** Requests a deletion stays in progress (deleted secret invisible, purge refused). */
  deletionDelay = 0;
  purgeProtection = false;
  tokenLifetime = 3600;
  /** The resource the challenge names (a hostile vault would name another service). */
  challengeResource = RESOURCE;

  private constructor(options: AzureServerOptions) {
    this.#options = options;
    const tls = createCertificate({
      keyType: 'p256',
      commonName: 'fake key vault',
      ips: ['127.0.0.1'],
      dnsNames: ['localhost'],
      validFor: 24 * 3600_000,
    });
    this.ca = tls.cert;
    this.#server = createServer(
      { cert: tls.cert, key: tls.key },
      (req, res) => void this.#handle(req, res),
    );
    this.#identity = createHttpServer((req, res) => void this.#handleIdentity(req, res));
  }

  static async start(options: AzureServerOptions): Promise<FakeKeyVault> {
    const vault = new FakeKeyVault(options);
    await new Promise<void>((resolve) => vault.#server.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => vault.#identity.listen(0, '127.0.0.1', resolve));
    vault.#port = (vault.#server.address() as AddressInfo).port;
    vault.#identityPort = (vault.#identity.address() as AddressInfo).port;
    return vault;
  }

  /** The vault URL; also the authority host (AZURE_AUTHORITY_HOST). */
  get endpoint(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  /** For AZURE_POD_IDENTITY_AUTHORITY_HOST: the IMDS base (plain HTTP, as the real one). */
  get imdsHost(): string {
    return `http://127.0.0.1:${this.#identityPort}`;
  }

  /** For IDENTITY_ENDPOINT (with IMDS_ENDPOINT): the Azure Arc agent's token endpoint. */
  get arcEndpoint(): string {
    return `http://127.0.0.1:${this.#identityPort}/metadata/identity/oauth2/token`;
  }

  /** For MSI_ENDPOINT: Cloud Shell's local token endpoint. */
  get cloudShellEndpoint(): string {
    return `http://127.0.0.1:${this.#identityPort}/oauth2/token`;
  }

  /** Challenge secrets written for Azure Arc clients and not yet used. */
  readonly arcSecrets = new Map<string, string>();

  /** For IDENTITY_ENDPOINT: App Service's local token endpoint. */
  get appServiceEndpoint(): string {
    return `http://127.0.0.1:${this.#identityPort}/msi/token`;
  }

  async stop(): Promise<void> {
    for (const server of [this.#server, this.#identity]) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  /** Revokes every issued token (Key Vault then answers with a CAE claims challenge). */
  revokeTokens(): void {
    for (const token of this.#tokens.values()) token.revoked = true;
  }

  /** Adds a version as another writer would. */
  addVersion(name: string, value: string): void {
    this.secrets.get(name)!.versions.push(this.#version(value));
  }

  #version(value: string): Version {
    const previous = [...this.secrets.values()].flatMap((s) => s.versions.map((v) => v.created));
    // Strictly increasing creation times, one second apart (Azure's resolution).
    const created = Math.max(Math.floor(Date.now() / 1000), ...previous.map((c) => c + 1));
    return { id: randomBytes(16).toString('hex'), value, created, enabled: true };
  }

  #issue(how: string): { token: string; lifetime: number } {
    const token = randomBytes(24).toString('base64url');
    this.#tokens.set(token, { expires: Date.now() + this.tokenLifetime * 1000, revoked: false });
    this.issued.push(how);
    return { token, lifetime: this.tokenLifetime };
  }

  /**
   * Managed identity: IMDS, App Service, Azure Arc (IMDS's path with api-version 2020-06-01 and
   * a challenge: a 401 naming a fresh secret file that the client must read and send back as
   * `Basic`) and Cloud Shell (a form POST), plain HTTP as on Azure hosts.
   */
  async #handleIdentity(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const form = new URLSearchParams(Buffer.concat(chunks).toString());
    const url = new URL(req.url ?? '/', this.imdsHost);
    this.requests.push({
      method: req.method ?? '',
      path: url.pathname,
      auth: '',
      apiVersion: url.searchParams.get('api-version') ?? '',
    });
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      const text = JSON.stringify(payload);
      res.writeHead(status, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(text),
        ...headers,
      });
      res.end(text);
    };
    if (url.pathname === '/oauth2/token') {
      this.#cloudShell(req, form, send);
      return;
    }
    const resource = url.searchParams.get('resource');
    const clientId = url.searchParams.get('client_id') ?? '';
    const identities = this.#options.managedIdentities ?? [];
    // MSAL asks for the paths with a trailing slash; the real endpoints take both forms.
    const path = url.pathname.replace(/\/$/, '');
    const imds = path === '/metadata/identity/oauth2/token';
    const appService = path === '/msi/token';
    if (req.method !== 'GET' || (!imds && !appService)) {
      send(404, { error: 'not_found' });
      return;
    }
    const arc = imds && url.searchParams.get('api-version') === '2020-06-01';
    if (arc) {
      if (!this.#arcChallenge(req, send)) return;
    } else if (imds) {
      if (req.headers.metadata !== 'true') {
        send(400, {
          error: 'invalid_request',
          error_description: 'Required metadata header not specified',
        });
        return;
      }
      if (url.searchParams.get('api-version') !== '2018-02-01') {
        send(400, { error: 'invalid_request', error_description: 'Invalid api-version' });
        return;
      }
    } else {
      const expected = Buffer.from(this.#options.identityHeader ?? '\0');
      const given = Buffer.from(String(req.headers['x-identity-header'] ?? ''));
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
        send(401, { statusCode: 401, message: 'Unauthorized' });
        return;
      }
      if (url.searchParams.get('api-version') !== '2019-08-01') {
        send(400, { statusCode: 400, message: 'Invalid api-version' });
        return;
      }
    }
    if (resource !== RESOURCE && resource !== `${RESOURCE}/`) {
      send(400, {
        error: 'invalid_resource',
        error_description: `AADSTS500011: resource ${resource ?? ''} not found`,
      });
      return;
    }
    if (!identities.includes(clientId)) {
      send(400, { error: 'invalid_request', error_description: 'Identity not found' });
      return;
    }
    const { token, lifetime } = this.#issue(arc ? 'arc' : imds ? 'imds' : 'appservice');
    const expiresOn = String(Math.floor(Date.now() / 1000) + lifetime);
    send(200, {
      access_token: token,
      expires_on: expiresOn,
      ...(imds ? { expires_in: String(lifetime) } : {}),
      resource: RESOURCE,
      token_type: 'Bearer',
      client_id: clientId || 'system-assigned',
    });
  }

  /**
   * Azure Arc's challenge: without `Authorization` a 401 whose `WWW-Authenticate: Basic realm=`
   * names a new secret file (written 0600, as the agent does); with it, the secret of such a
   * file, used once. True when the request may have its token.
   */
  #arcChallenge(
    req: IncomingMessage,
    send: (s: number, p: unknown, h?: Record<string, string>) => void,
  ): boolean {
    const dir = this.#options.arcTokenDir;
    if (dir === undefined || req.headers.metadata !== 'true') {
      send(400, { error: 'invalid_request', error_description: 'Arc agent unavailable' });
      return false;
    }
    const auth = req.headers.authorization ?? '';
    if (auth === '') {
      const file = join(dir, `${randomBytes(8).toString('hex')}.key`);
      const secret = randomBytes(32).toString('hex');
      writeFileSync(file, secret, { mode: 0o600 });
      this.arcSecrets.set(file, secret);
      send(
        401,
        { error: 'unauthorized', error_description: 'challenge' },
        { 'WWW-Authenticate': `Basic realm=${file}` },
      );
      return false;
    }
    for (const [file, secret] of this.arcSecrets) {
      const expected = Buffer.from(`Basic ${secret}`);
      const given = Buffer.from(auth);
      if (expected.length === given.length && timingSafeEqual(expected, given)) {
        this.arcSecrets.delete(file);
        rmSync(file, { force: true });
        return true;
      }
    }
    send(401, { error: 'unauthorized', error_description: 'invalid secret' });
    return false;
  }

  /** Cloud Shell: `POST /oauth2/token` with `Metadata: true` and a form naming the resource. */
  #cloudShell(
    req: IncomingMessage,
    form: URLSearchParams,
    send: (s: number, p: unknown) => void,
  ): void {
    if (req.method !== 'POST' || req.headers.metadata !== 'true') {
      send(400, {
        error: 'invalid_request',
        error_description: 'Metadata header and POST required',
      });
      return;
    }
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      send(400, { error: 'invalid_request', error_description: 'form body required' });
      return;
    }
    const resource = form.get('resource');
    if (resource !== RESOURCE && resource !== `${RESOURCE}/`) {
      send(400, {
        error: 'invalid_resource',
        error_description: `resource ${resource ?? ''} not found`,
      });
      return;
    }
    if (!(this.#options.managedIdentities ?? []).includes('')) {
      send(400, { error: 'invalid_request', error_description: 'Identity not found' });
      return;
    }
    const { token, lifetime } = this.#issue('cloudshell');
    send(200, {
      access_token: token,
      expires_on: String(Math.floor(Date.now() / 1000) + lifetime),
      expires_in: String(lifetime),
      resource: RESOURCE,
      token_type: 'Bearer',
    });
  }

  /** Entra ID: OpenID metadata and the v2.0 token endpoint of the tenant. */
  #handleAuthority(
    url: URL,
    method: string,
    body: string,
    send: (s: number, p?: unknown) => void,
  ): boolean {
    const tenant = this.#options.tenant;
    if (method === 'GET' && url.pathname === `/${tenant}/v2.0/.well-known/openid-configuration`) {
      const base = `${this.endpoint}/${tenant}`;
      send(200, {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: [
          'client_secret_post',
          'private_key_jwt',
          'client_secret_basic',
        ],
        jwks_uri: `${this.endpoint}/${tenant}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: `${this.endpoint}/${tenant}/v2.0`,
        request_uri_parameter_supported: false,
        userinfo_endpoint: `${this.endpoint}/oidc/userinfo`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nonce'],
        kerberos_endpoint: `${base}/kerberos`,
        tenant_region_scope: 'EU',
        cloud_instance_name: 'microsoftonline.com',
        cloud_graph_host_name: 'graph.windows.net',
        msgraph_host: 'graph.microsoft.com',
        rbac_url: 'https://pas.windows.net',
      });
      return true;
    }
    if (method === 'POST' && url.pathname === `/${tenant}/oauth2/v2.0/token`) {
      const form = new URLSearchParams(body);
      const scopes = (form.get('scope') ?? '').split(' ');
      if (form.get('grant_type') !== 'client_credentials' || !scopes.includes(SCOPE)) {
        send(400, {
          error: 'invalid_request',
          error_description:
            'AADSTS900144: The request body must contain the client_credentials grant and a Key Vault scope.',
        });
        return true;
      }
      const clientId = form.get('client_id') ?? '';
      const assertion = form.get('client_assertion');
      if (assertion !== null) {
        const expected = this.#options.federated?.[clientId];
        if (
          form.get('client_assertion_type') !==
            'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' ||
          expected === undefined ||
          expected !== assertion
        ) {
          send(401, {
            error: 'invalid_client',
            error_description:
              'AADSTS700213: No matching federated identity record found for presented assertion.',
          });
          return true;
        }
      } else {
        const secret = this.#options.clients[clientId];
        if (secret === undefined || secret !== form.get('client_secret')) {
          send(401, {
            error: 'invalid_client',
            error_description: 'AADSTS7000215: Invalid client secret provided.',
          });
          return true;
        }
      }
      const { token, lifetime } = this.#issue(assertion !== null ? 'federated' : 'client_secret');
      send(200, {
        token_type: 'Bearer',
        expires_in: lifetime,
        ext_expires_in: lifetime,
        access_token: token,
      });
      return true;
    }
    return false;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    const url = new URL(req.url ?? '/', this.endpoint);
    const auth = req.headers.authorization ?? '';
    const method = req.method ?? '';
    const apiVersion = url.searchParams.get('api-version') ?? '';
    this.requests.push({ method, path: url.pathname, auth, apiVersion });
    const send = (
      status: number,
      payload?: unknown,
      headers: Record<string, string> = {},
    ): void => {
      const text = payload === undefined ? '' : JSON.stringify(payload);
      res.writeHead(status, {
        ...(text ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
        'Content-Length': Buffer.byteLength(text),
        ...headers,
      });
      res.end(text);
    };
    const fail = (status: number, code: string, message: string, inner?: string): void =>
      send(status, { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } });

    if (this.#handleAuthority(url, method, body, send)) return;

    // Key Vault: challenge-based auth. An unauthenticated request (the SDK sends its first one
    // without a token and without a body) learns the authority and resource from the challenge.
    const token = this.#tokens.get(/^Bearer (\S+)$/.exec(auth)?.[1] ?? '');
    if (!token || token.expires <= Date.now()) {
      send(
        401,
        {
          error: {
            code: 'Unauthorized',
            message: 'AKV10000: Request is missing a Bearer or PoP token.',
          },
        },
        {
          'WWW-Authenticate': `Bearer authorization="${this.endpoint}/${this.#options.tenant}", resource="${this.challengeResource}"`,
        },
      );
      return;
    }
    if (token.revoked) {
      // Continuous access evaluation: the token was revoked; new claims are required.
      const claims = Buffer.from(
        JSON.stringify({
          access_token: { nbf: { essential: true, value: String(Math.floor(Date.now() / 1000)) } },
        }),
      ).toString('base64');
      send(
        401,
        {
          error: { code: 'Unauthorized', message: 'AKV10022: Invalid audience or token revoked.' },
        },
        {
          'WWW-Authenticate': `Bearer realm="", authorization_uri="${this.endpoint}/${this.#options.tenant}/oauth2/authorize", error="insufficient_claims", claims="${claims}"`,
        },
      );
      return;
    }
    if (!API_VERSIONS.includes(apiVersion)) {
      fail(
        400,
        'BadParameter',
        apiVersion === ''
          ? 'The request URI contains an invalid api-version.'
          : `The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (2025-07-01).`,
      );
      return;
    }
    const parts = url.pathname.replace(/\/+$/, '').split('/').slice(1);
    const attributes = (v: Version) => ({
      enabled: v.enabled,
      created: v.created,
      updated: v.created,
      recoveryLevel: 'Recoverable+Purgeable',
      recoverableDays: 90,
    });
    const bundle = (name: string, v: Version) => ({
      value: v.value,
      id: `${this.endpoint}/secrets/${name}/${v.id}`,
      attributes: attributes(v),
      tags: {},
    });
    const deletedBundle = (name: string, v: Version) => ({
      ...bundle(name, v),
      recoveryId: `${this.endpoint}/deletedsecrets/${name}`,
      deletedDate: Math.floor(Date.now() / 1000),
      scheduledPurgeDate: Math.floor(Date.now() / 1000) + 90 * 86400,
    });
    const notFound = (name: string) =>
      fail(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name} was not found in this key vault.`,
      );
    /** The deletion finished once enough requests looked at it. */
    const settle = (secret: Secret): void => {
      if (secret.state === 'deleting' && secret.deletingFor-- <= 0) secret.state = 'deleted';
    };

    if (parts[0] === 'secrets' && parts.length === 1 && method === 'GET') {
      const max = Math.min(Number(url.searchParams.get('maxresults') ?? 25), 25);
      if (!Number.isInteger(max) || max < 1) {
        fail(400, 'BadParameter', 'maxresults must be between 1 and 25.');
        return;
      }
      const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
      const live = [...this.secrets.entries()]
        .filter(([, s]) => s.state === 'live')
        .sort(([a], [b]) => (a < b ? -1 : 1));
      const page = live.slice(skip, skip + max);
      const next = skip + max < live.length;
      send(200, {
        value: page.map(([name, s]) => ({
          id: `${this.endpoint}/secrets/${name}`,
          attributes: attributes(s.versions[0]!),
          tags: {},
        })),
        nextLink: next
          ? `${this.endpoint}/secrets?api-version=${apiVersion}&maxresults=${max}&$skiptoken=${skip + max}`
          : null,
      });
      return;
    }
    if (parts[0] === 'secrets' && parts[1]) {
      const name = parts[1];
      if (!/^[0-9A-Za-z-]{1,127}$/.test(name)) {
        fail(400, 'BadParameter', 'The request URI contains an invalid name: ' + name);
        return;
      }
      const secret = this.secrets.get(name);
      if (method === 'PUT' && parts.length === 2) {
        if (!/^application\/json/.test(req.headers['content-type'] ?? '')) {
          fail(415, 'UnsupportedMediaType', 'The content type must be application/json.');
          return;
        }
        let request: {
          value?: unknown;
          contentType?: unknown;
          tags?: unknown;
          attributes?: unknown;
        } | null;
        try {
          request = JSON.parse(body) as typeof request;
        } catch {
          fail(400, 'BadParameter', 'The request body is not valid JSON.');
          return;
        }
        if (
          typeof request !== 'object' ||
          request === null ||
          typeof request.value !== 'string' ||
          Object.keys(request).some(
            (k) => !['value', 'contentType', 'tags', 'attributes'].includes(k),
          ) ||
          (request.contentType !== undefined && typeof request.contentType !== 'string') ||
          (request.tags !== undefined &&
            (typeof request.tags !== 'object' || request.tags === null)) ||
          (request.attributes !== undefined &&
            (typeof request.attributes !== 'object' || request.attributes === null))
        ) {
          fail(
            400,
            'BadParameter',
            'Property value is required; only value, contentType, tags and attributes are allowed.',
          );
          return;
        }
        if (secret && secret.state !== 'live') {
          settle(secret);
          if (secret.state === 'deleting') {
            fail(
              409,
              'Conflict',
              `Secret ${name} is currently being deleted.`,
              'ObjectIsBeingDeleted',
            );
          } else {
            fail(
              409,
              'Conflict',
              `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
              'ObjectIsDeletedButRecoverable',
            );
          }
          return;
        }
        const v = this.#version(request.value);
        if (secret) secret.versions.push(v);
        else this.secrets.set(name, { versions: [v], state: 'live', deletingFor: 0 });
        send(200, bundle(name, v));
        return;
      }
      if (!secret || secret.state !== 'live') {
        notFound(name);
        return;
      }
      if (method === 'GET' && parts.length === 2) {
        send(200, bundle(name, secret.versions.at(-1)!));
        return;
      }
      if (method === 'GET' && parts[2] === 'versions' && parts.length === 3) {
        send(200, {
          value: secret.versions.map((v) => ({
            id: `${this.endpoint}/secrets/${name}/${v.id}`,
            attributes: attributes(v),
            tags: {},
          })),
          nextLink: null,
        });
        return;
      }
      if (method === 'GET' && parts.length === 3) {
        const v = secret.versions.find((x) => x.id === parts[2]);
        if (!v) notFound(name);
        else if (!v.enabled)
          fail(
            403,
            'Forbidden',
            'Operation get is not allowed on a disabled secret.',
            'SecretDisabled',
          );
        else send(200, bundle(name, v));
        return;
      }
      if (method === 'DELETE' && parts.length === 2) {
        secret.state = 'deleting';
        secret.deletingFor = this.deletionDelay;
        send(200, deletedBundle(name, secret.versions.at(-1)!));
        return;
      }
    }
    if (parts[0] === 'deletedsecrets' && parts[1] && parts.length === 2) {
      const name = parts[1];
      const secret = this.secrets.get(name);
      if (secret) settle(secret);
      if (method === 'GET') {
        if (secret?.state !== 'deleted') {
          fail(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
          return;
        }
        send(200, deletedBundle(name, secret.versions.at(-1)!));
        return;
      }
      if (method === 'DELETE') {
        if (!secret || secret.state === 'live') {
          fail(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
          return;
        }
        if (this.purgeProtection) {
          fail(
            403,
            'Forbidden',
            'Operation "purge" is not allowed because purge protection is enabled for this vault.',
            'ForbiddenByPolicy',
          );
          return;
        }
        if (secret.state === 'deleting') {
          fail(
            409,
            'Conflict',
            `Secret ${name} is currently being deleted.`,
            'ObjectIsBeingDeleted',
          );
          return;
        }
        this.secrets.delete(name);
        send(204);
        return;
      }
    }
    fail(400, 'BadParameter', `unsupported request ${method} ${url.pathname}`);
  }
}
