// A protocol-faithful local GCP Secret Manager (REST v1) with Google's OAuth token endpoint,
// over real TLS on 127.0.0.1 port 0: the JWT-bearer grant verified with the service account's
// public key (RS256, issuer, audience, lifetime), bearer tokens on every call, secrets with
// versions, `:addVersion`, `versions/N:access`, delete, paging with pageToken, Google's JSON
// errors (`{"error":{"code","message","status"}}`), and the returned names with the project
// number, as Google answers. State is in memory.

import { createVerify, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCertificate } from '../../src/identity/index.ts';

export interface GcpServerOptions {
  readonly project: string;
  readonly projectNumber: string;
  /** client_email → public key of the service account. */
  readonly accounts: Record<string, KeyObject>;
}

export class FakeSecretManager {
  readonly ca: string;
  /** secret id → version payloads (base64), version n at index n-1. */
  readonly secrets = new Map<string, string[]>();
  readonly #server: Server;
  readonly #options: GcpServerOptions;
  readonly #tokens = new Map<string, number>();
  #port = 0;

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
  }

  static async start(options: GcpServerOptions): Promise<FakeSecretManager> {
    const server = new FakeSecretManager(options);
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve));
    server.#port = (server.#server.address() as AddressInfo).port;
    return server;
  }

  get endpoint(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  get tokenUri(): string {
    return `${this.endpoint}/token`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  expireTokens(): void {
    for (const t of this.#tokens.keys()) this.#tokens.set(t, 0);
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

    if (req.method === 'POST' && url.pathname === '/token') {
      const form = new URLSearchParams(body);
      const jwt = form.get('assertion') ?? '';
      const [h, p, sig] = jwt.split('.');
      if (
        form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer' ||
        !h ||
        !p ||
        !sig
      ) {
        send(400, { error: 'invalid_grant', error_description: 'Invalid grant.' });
        return;
      }
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as {
        iss?: string;
        aud?: string;
        exp?: number;
        iat?: number;
      };
      const key = this.#options.accounts[claims.iss ?? ''];
      const now = Date.now() / 1000;
      const valid =
        key !== undefined &&
        createVerify('RSA-SHA256').update(`${h}.${p}`).verify(key, Buffer.from(sig, 'base64url'));
      if (!valid) {
        send(400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
        return;
      }
      if (claims.aud !== this.tokenUri) {
        send(400, { error: 'invalid_grant', error_description: 'Invalid JWT: audience.' });
        return;
      }
      if ((claims.exp ?? 0) < now || (claims.exp ?? 0) - (claims.iat ?? 0) > 3600) {
        send(400, {
          error: 'invalid_grant',
          error_description:
            'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
        });
        return;
      }
      const token = `ya29.${randomBytes(24).toString('base64url')}`;
      this.#tokens.set(token, Date.now() + 3600_000);
      send(200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
      return;
    }

    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if ((this.#tokens.get(token) ?? 0) <= Date.now()) {
      fail(
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
      );
      return;
    }
    const base = `/v1/projects/${this.#options.project}/secrets`;
    const named = (id: string) => `projects/${this.#options.projectNumber}/secrets/${id}`;
    if (url.pathname === base && req.method === 'POST') {
      const id = url.searchParams.get('secretId') ?? '';
      if (!/^[A-Za-z0-9_-]{1,255}$/.test(id)) {
        fail(400, 'INVALID_ARGUMENT', 'Invalid secret id.');
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
      const size = Math.min(Number(url.searchParams.get('pageSize') ?? 25), 250);
      const start = Number(url.searchParams.get('pageToken') ?? 0);
      const ids = [...this.secrets.keys()].sort();
      const page = ids.slice(start, start + size);
      send(200, {
        secrets: page.map((id) => ({ name: named(id) })),
        ...(start + size < ids.length ? { nextPageToken: String(start + size) } : {}),
        totalSize: ids.length,
      });
      return;
    }
    const m =
      /^\/v1\/projects\/[^/]+\/secrets\/([^/:]+)(?::addVersion|\/versions\/(\d+)(:access)?)?$/.exec(
        url.pathname,
      );
    if (!m) {
      fail(404, 'NOT_FOUND', 'Requested entity was not found.');
      return;
    }
    const id = m[1]!;
    const versions = this.secrets.get(id);
    if (!versions) {
      fail(404, 'NOT_FOUND', `Secret [${named(id)}] not found or has no versions.`);
      return;
    }
    if (url.pathname.endsWith(':addVersion') && req.method === 'POST') {
      const data = (JSON.parse(body) as { payload?: { data?: string } }).payload?.data ?? '';
      versions.push(data);
      send(200, {
        name: `${named(id)}/versions/${versions.length}`,
        state: 'ENABLED',
        createTime: new Date().toISOString(),
      });
      return;
    }
    if (m[2] !== undefined) {
      const data = versions[Number(m[2]) - 1];
      if (data === undefined) {
        fail(404, 'NOT_FOUND', `Secret Version [${named(id)}/versions/${m[2]}] not found.`);
        return;
      }
      if (m[3]) {
        send(200, { name: `${named(id)}/versions/${m[2]}`, payload: { data } });
        return;
      }
      send(200, { name: `${named(id)}/versions/${m[2]}`, state: 'ENABLED' });
      return;
    }
    if (req.method === 'DELETE') {
      this.secrets.delete(id);
      send(200, {});
      return;
    }
    fail(400, 'INVALID_ARGUMENT', 'unsupported');
  }
}
