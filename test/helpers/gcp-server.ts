// A protocol-faithful local GCP Secret Manager (REST v1, what Google's client sends on its
// HTTP/1.1 transport) over real TLS on 127.0.0.1 port 0, with a GCE metadata server (plain
// HTTP, as the real one) beside it. Strict as Google is: every call needs a valid bearer token
// (one the metadata server issued and that has not expired, or a service account's self-signed
// JWT checked with the account's public key by `kid`: RS256, iss = sub = the account, a
// `scope` with cloud-platform or the service as `aud`, at most one hour long, not expired);
// unknown query parameters and unknown or malformed body fields are INVALID_ARGUMENT. Secrets
// with versions, `:addVersion`, `versions/N` and `versions/N:access`, delete, paging with
// pageToken, Google's JSON errors (`{"error":{"code","message","status"}}`), the returned
// names with the project number, as Google answers. State is in memory.

import { createVerify, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCertificate } from '../../src/identity/index.ts';

export interface GcpServerOptions {
  readonly project: string;
  readonly projectNumber: string;
  /** client_email → { private_key_id → public key } of each service account. */
  readonly accounts: Record<string, Record<string, KeyObject>>;
}

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const SERVICE_AUDIENCE = 'https://secretmanager.googleapis.com/';

export class FakeSecretManager {
  readonly ca: string;
  /** secret id → version payloads (base64), version n at index n-1. */
  readonly secrets = new Map<string, string[]>();
  /** Every API call as `METHOD path` and how it authenticated ('jwt' or 'token'). */
  readonly requests: { call: string; auth: 'jwt' | 'token' }[] = [];
  /** Tokens the metadata server handed out. */
  metadataTokens = 0;
  /** Runs before a version is added: a test's other writer racing between KES's two calls. */
  beforeAddVersion: ((id: string, versions: string[]) => void) | undefined;
  /** Seconds a metadata-server token lives. */
  tokenLifetime = 3599;
  readonly #server: Server;
  readonly #metadata: HttpServer;
  readonly #options: GcpServerOptions;
  readonly #tokens = new Map<string, number>();
  #port = 0;
  #metadataPort = 0;

  private constructor(options: GcpServerOptions) {
    this.#options = options;
    const tls = createCertificate({
      keyType: 'p256',
      commonName: 'fake secret manager',
      ips: ['127.0.0.1'],
      validFor: 24 * 3600_000,
    });
    this.ca = tls.cert;
    this.#server = createServer(
      { cert: tls.cert, key: tls.key },
      (req, res) => void this.#handle(req, res),
    );
    this.#metadata = createHttpServer((req, res) => this.#handleMetadata(req, res));
  }

  static async start(options: GcpServerOptions): Promise<FakeSecretManager> {
    const server = new FakeSecretManager(options);
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => server.#metadata.listen(0, '127.0.0.1', resolve));
    server.#port = (server.#server.address() as AddressInfo).port;
    server.#metadataPort = (server.#metadata.address() as AddressInfo).port;
    return server;
  }

  get endpoint(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  /** For GCE_METADATA_HOST (host:port, as Google's libraries read it). */
  get metadataHost(): string {
    return `127.0.0.1:${this.#metadataPort}`;
  }

  async stop(): Promise<void> {
    for (const server of [this.#server, this.#metadata]) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  /** Expires every token the metadata server issued. */
  expireTokens(): void {
    for (const t of this.#tokens.keys()) this.#tokens.set(t, 0);
  }

  /** The GCE metadata server: the default service account's token, and what clients probe. */
  #handleMetadata(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://metadata.google.internal');
    const send = (status: number, text: string, type = 'application/json'): void => {
      res.writeHead(status, {
        'Metadata-Flavor': 'Google',
        'Content-Type': type,
        'Content-Length': Buffer.byteLength(text),
      });
      res.end(text);
    };
    // Without the header the real server refuses (a guard against SSRF through proxies).
    if (req.headers['metadata-flavor'] !== 'Google' || req.headers['x-forwarded-for']) {
      send(403, 'Missing Metadata-Flavor:Google header.', 'text/html');
      return;
    }
    if (url.pathname === '/computeMetadata/v1/instance/service-accounts/default/token') {
      const token = `ya29.m${randomBytes(24).toString('base64url')}`;
      this.#tokens.set(token, Date.now() + this.tokenLifetime * 1000);
      this.metadataTokens++;
      send(
        200,
        JSON.stringify({
          access_token: token,
          expires_in: this.tokenLifetime,
          token_type: 'Bearer',
        }),
      );
      return;
    }
    if (url.pathname === '/computeMetadata/v1/instance' || url.pathname === '/') {
      send(200, '', 'application/text');
      return;
    }
    if (url.pathname === '/computeMetadata/v1/project/project-id') {
      send(200, this.#options.project, 'application/text');
      return;
    }
    if (url.pathname === '/computeMetadata/v1/universe/universe-domain') {
      send(200, 'googleapis.com', 'application/text');
      return;
    }
    send(404, 'Not Found', 'text/html');
  }

  /** 'jwt' / 'token' when the Authorization header is acceptable, else undefined. */
  #authenticate(header: string | undefined): 'jwt' | 'token' | undefined {
    const token = /^Bearer (\S+)$/.exec(header ?? '')?.[1];
    if (!token) return undefined;
    if ((this.#tokens.get(token) ?? 0) > Date.now()) return 'token';
    const [h, p, sig] = token.split('.');
    if (!h || !p || !sig) return undefined;
    let head: { alg?: string; kid?: string };
    let claims: {
      iss?: string;
      sub?: string;
      aud?: string;
      scope?: string;
      iat?: number;
      exp?: number;
    };
    try {
      head = JSON.parse(Buffer.from(h, 'base64url').toString()) as typeof head;
      claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as typeof claims;
    } catch {
      return undefined;
    }
    const key = this.#options.accounts[claims.iss ?? '']?.[head.kid ?? ''];
    if (head.alg !== 'RS256' || !key || claims.sub !== claims.iss) return undefined;
    if (!createVerify('RSA-SHA256').update(`${h}.${p}`).verify(key, Buffer.from(sig, 'base64url')))
      return undefined;
    const scoped = (claims.scope ?? '').split(' ').includes(CLOUD_PLATFORM);
    if (!scoped && claims.aud !== SERVICE_AUDIENCE) return undefined;
    const now = Date.now() / 1000;
    const iat = claims.iat ?? 0;
    const exp = claims.exp ?? 0;
    if (exp <= now || iat > now + 300 || exp - iat > 3600) return undefined;
    return 'jwt';
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    const url = new URL(req.url ?? '/', this.endpoint);
    const send = (status: number, payload: unknown): void => {
      const text = JSON.stringify(payload);
      res.writeHead(status, {
        'Content-Type': 'application/json; charset=UTF-8',
        'Content-Length': Buffer.byteLength(text),
      });
      res.end(text);
    };
    const fail = (code: number, status: string, message: string): void =>
      send(code, { error: { code, message, status } });

    const auth = this.#authenticate(req.headers.authorization);
    if (!auth) {
      fail(
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
      );
      return;
    }
    this.requests.push({ call: `${req.method ?? ''} ${url.pathname}`, auth });
    // Query parameters: the method's own, and the system parameters Google's clients add.
    const checkQuery = (allowed: string[]): boolean => {
      for (const key of url.searchParams.keys()) {
        if (key === '$alt' || key === '$prettyPrint' || allowed.includes(key)) continue;
        fail(
          400,
          'INVALID_ARGUMENT',
          `Invalid JSON payload received. Unknown name "${key}": Cannot bind query parameter.`,
        );
        return false;
      }
      return true;
    };
    // A JSON object body with only the given top-level fields.
    const parseBody = (allowed: string[]): Record<string, unknown> | undefined => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        fail(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received. Unexpected token.');
        return undefined;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        fail(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received. Expected an object.');
        return undefined;
      }
      for (const key of Object.keys(parsed)) {
        if (!allowed.includes(key)) {
          fail(400, 'INVALID_ARGUMENT', `Invalid JSON payload received. Unknown name "${key}".`);
          return undefined;
        }
      }
      return parsed as Record<string, unknown>;
    };
    const projectPath = /^\/v1\/projects\/([^/]+)\/secrets/.exec(url.pathname)?.[1];
    if (projectPath !== undefined && projectPath !== this.#options.project) {
      fail(403, 'PERMISSION_DENIED', `Permission denied on resource project ${projectPath}.`);
      return;
    }
    const base = `/v1/projects/${this.#options.project}/secrets`;
    const named = (id: string) => `projects/${this.#options.projectNumber}/secrets/${id}`;
    if (url.pathname === base && req.method === 'POST') {
      if (!checkQuery(['secretId'])) return;
      const id = url.searchParams.get('secretId') ?? '';
      if (!/^[A-Za-z0-9_-]{1,255}$/.test(id)) {
        fail(400, 'INVALID_ARGUMENT', 'Invalid secret id.');
        return;
      }
      // The fields of the v1 Secret resource (the client sends its empty maps too).
      const secret = parseBody([
        'name',
        'replication',
        'createTime',
        'labels',
        'topics',
        'expireTime',
        'ttl',
        'etag',
        'rotation',
        'versionAliases',
        'annotations',
        'versionDestroyTtl',
        'customerManagedEncryption',
        'tags',
      ]);
      if (!secret) return;
      const replication = secret.replication as Record<string, unknown> | undefined;
      if (!replication || (!('automatic' in replication) && !('userManaged' in replication))) {
        fail(400, 'INVALID_ARGUMENT', 'Secret.replication is required.');
        return;
      }
      if (this.secrets.has(id)) {
        fail(409, 'ALREADY_EXISTS', `Secret [${named(id)}] already exists.`);
        return;
      }
      this.secrets.set(id, []);
      send(200, {
        name: named(id),
        replication: { automatic: {} },
        createTime: new Date().toISOString(),
        etag: '"1"',
      });
      return;
    }
    if (url.pathname === base && req.method === 'GET') {
      if (!checkQuery(['pageSize', 'pageToken', 'filter'])) return;
      const size = Math.min(Number(url.searchParams.get('pageSize') ?? 25), 250);
      const token = url.searchParams.get('pageToken') ?? '';
      if (token !== '' && !/^p\d+$/.test(token)) {
        fail(400, 'INVALID_ARGUMENT', 'Invalid page token.');
        return;
      }
      const start = token === '' ? 0 : Number(token.slice(1));
      const ids = [...this.secrets.keys()].sort();
      const page = ids.slice(start, start + size);
      send(200, {
        secrets: page.map((id) => ({ name: named(id), replication: { automatic: {} } })),
        ...(start + size < ids.length ? { nextPageToken: `p${start + size}` } : {}),
        totalSize: ids.length,
      });
      return;
    }
    const m =
      /^\/v1\/projects\/[^/]+\/secrets\/([^/:]+)(:addVersion|\/versions\/(\d+)(:access)?)?$/.exec(
        url.pathname,
      );
    if (!m) {
      fail(404, 'NOT_FOUND', 'Requested entity was not found.');
      return;
    }
    if (!checkQuery([])) return;
    const id = m[1]!;
    const versions = this.secrets.get(id);
    if (!versions) {
      fail(404, 'NOT_FOUND', `Secret [${named(id)}] not found or has no versions.`);
      return;
    }
    if (m[2] === ':addVersion' && req.method === 'POST') {
      const request = parseBody(['payload']);
      if (!request) return;
      const data = (request.payload as { data?: unknown } | undefined)?.data;
      if (
        typeof data !== 'string' ||
        !/^[A-Za-z0-9+/_-]*={0,2}$/.test(data) ||
        Object.keys(request.payload as object).some((k) => k !== 'data' && k !== 'dataCrc32c')
      ) {
        fail(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received. payload.data: bytes.');
        return;
      }
      this.beforeAddVersion?.(id, versions);
      versions.push(data);
      send(200, {
        name: `${named(id)}/versions/${versions.length}`,
        state: 'ENABLED',
        createTime: new Date().toISOString(),
      });
      return;
    }
    if (m[3] !== undefined && req.method === 'GET') {
      const data = versions[Number(m[3]) - 1];
      if (data === undefined) {
        fail(404, 'NOT_FOUND', `Secret Version [${named(id)}/versions/${m[3]}] not found.`);
        return;
      }
      if (m[4]) {
        send(200, { name: `${named(id)}/versions/${m[3]}`, payload: { data } });
        return;
      }
      send(200, { name: `${named(id)}/versions/${m[3]}`, state: 'ENABLED' });
      return;
    }
    if (m[2] === undefined && req.method === 'DELETE') {
      if (body !== '') {
        fail(400, 'INVALID_ARGUMENT', 'A DELETE has no body.');
        return;
      }
      this.secrets.delete(id);
      send(200, {});
      return;
    }
    fail(404, 'NOT_FOUND', `unsupported: ${req.method ?? ''} ${url.pathname}`);
  }
}
