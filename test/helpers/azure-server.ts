// A protocol-faithful local Azure Key Vault (secrets, api-version 7.5) with its Microsoft Entra
// ID token endpoint and a managed-identity endpoint, over real TLS on 127.0.0.1 port 0: the 401
// challenge for requests without a valid bearer token, secret versions (32-hex ids, `created`
// epoch seconds), paging with nextLink, soft delete with the ObjectIsDeletedButRecoverable /
// ObjectIsBeingDeleted states, purge and purge protection (ForbiddenByPolicy), Azure's error
// bodies with inner codes. State is in memory; fields are flipped directly by tests.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCertificate } from '../../src/identity/index.ts';

interface Version {
  readonly id: string;
  readonly value: string;
  readonly created: number;
}

interface Secret {
  versions: Version[];
  deleted: boolean;
}

export interface AzureServerOptions {
  readonly tenant: string;
  /** client id → client secret. */
  readonly clients: Record<string, string>;
  /** The managed identity's client id ('' = the system-assigned one). */
  readonly managedIdentity?: string;
}

export class FakeKeyVault {
  readonly ca: string;
  readonly secrets = new Map<string, Secret>();
  readonly requests: { method: string; path: string; auth: string }[] = [];
  readonly #server: Server;
  readonly #options: AzureServerOptions;
  readonly #tokens = new Map<string, number>();
  #port = 0;
  /** Purges answer ObjectIsBeingDeleted this many times first. */
  beingDeleted = 0;
  purgeProtection = false;
  tokenLifetime = 3600;

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
  }

  static async start(options: AzureServerOptions): Promise<FakeKeyVault> {
    const vault = new FakeKeyVault(options);
    await new Promise<void>((resolve) => vault.#server.listen(0, '127.0.0.1', resolve));
    vault.#port = (vault.#server.address() as AddressInfo).port;
    return vault;
  }

  get endpoint(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /** Expires every issued token. */
  expireTokens(): void {
    for (const token of this.#tokens.keys()) this.#tokens.set(token, 0);
  }

  /** Adds a version as another writer would. */
  addVersion(name: string, value: string): void {
    this.secrets.get(name)!.versions.push(this.#version(value));
  }

  #version(value: string): Version {
    const previous = [...this.secrets.values()].flatMap((s) => s.versions.map((v) => v.created));
    // Strictly increasing creation times, one second apart (Azure's resolution).
    const created = Math.max(Math.floor(Date.now() / 1000), ...previous.map((c) => c + 1));
    return { id: randomBytes(16).toString('hex'), value, created };
  }

  #issue(): Record<string, unknown> {
    const token = randomBytes(24).toString('base64url');
    this.#tokens.set(token, Date.now() + this.tokenLifetime * 1000);
    return { token_type: 'Bearer', expires_in: this.tokenLifetime, access_token: token };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    const url = new URL(req.url ?? '/', this.endpoint);
    const auth = req.headers.authorization ?? '';
    this.requests.push({ method: req.method ?? '', path: url.pathname, auth });
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

    // Microsoft Entra ID: client credentials.
    if (req.method === 'POST' && url.pathname === `/${this.#options.tenant}/oauth2/v2.0/token`) {
      const form = new URLSearchParams(body);
      const secret = this.#options.clients[form.get('client_id') ?? ''];
      if (
        form.get('grant_type') !== 'client_credentials' ||
        form.get('scope') !== 'https://vault.azure.net/.default'
      ) {
        send(400, {
          error: 'invalid_request',
          error_description: 'AADSTS900144: bad request',
        });
        return;
      }
      if (secret === undefined || secret !== form.get('client_secret')) {
        send(401, {
          error: 'invalid_client',
          error_description: 'AADSTS7000215: Invalid client secret provided.',
        });
        return;
      }
      send(200, this.#issue());
      return;
    }
    // Managed identity (instance metadata service).
    if (req.method === 'GET' && url.pathname === '/metadata/identity/oauth2/token') {
      if (req.headers.metadata !== 'true') {
        send(400, { error: 'invalid_request' });
        return;
      }
      if (this.#options.managedIdentity === undefined) {
        send(400, { error: 'invalid_request', error_description: 'Identity not found' });
        return;
      }
      if ((url.searchParams.get('client_id') ?? '') !== this.#options.managedIdentity) {
        send(400, { error: 'invalid_request', error_description: 'Identity not found' });
        return;
      }
      send(200, { ...this.#issue(), resource: 'https://vault.azure.net' });
      return;
    }

    const expires = this.#tokens.get(auth.replace(/^Bearer /, '')) ?? 0;
    if (!auth.startsWith('Bearer ') || expires <= Date.now()) {
      send(
        401,
        {
          error: {
            code: 'Unauthorized',
            message: 'AKV10000: Request is missing a Bearer or PoP token.',
          },
        },
        {
          'WWW-Authenticate': `Bearer authorization="${this.endpoint}/${this.#options.tenant}", resource="https://vault.azure.net"`,
        },
      );
      return;
    }
    if (url.searchParams.get('api-version') === null) {
      fail(400, 'BadParameter', 'The request URI contains an invalid api-version.');
      return;
    }
    const parts = url.pathname.replace(/\/+$/, '').split('/').slice(1);
    const bundle = (name: string, v: Version) => ({
      value: v.value,
      id: `${this.endpoint}/secrets/${name}/${v.id}`,
      attributes: {
        enabled: true,
        created: v.created,
        updated: v.created,
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
      },
    });
    const notFound = (name: string) =>
      fail(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name} was not found in this key vault.`,
      );

    if (parts[0] === 'secrets' && parts.length === 1 && req.method === 'GET') {
      const max = Math.min(Number(url.searchParams.get('maxresults') ?? 25), 25);
      const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
      const live = [...this.secrets.entries()]
        .filter(([, s]) => !s.deleted)
        .sort(([a], [b]) => (a < b ? -1 : 1));
      const page = live.slice(skip, skip + max);
      const next = skip + max < live.length;
      send(200, {
        value: page.map(([name, s]) => ({
          id: `${this.endpoint}/secrets/${name}`,
          attributes: { enabled: true, created: s.versions[0]!.created },
        })),
        nextLink: next
          ? `${this.endpoint}/secrets?api-version=7.5&maxresults=${max}&$skiptoken=${skip + max}`
          : null,
      });
      return;
    }
    if (parts[0] === 'secrets' && parts[1]) {
      const name = parts[1];
      const secret = this.secrets.get(name);
      if (req.method === 'PUT' && parts.length === 2) {
        if (secret?.deleted) {
          fail(
            409,
            'Conflict',
            `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
            'ObjectIsDeletedButRecoverable',
          );
          return;
        }
        const value = (JSON.parse(body) as { value?: unknown }).value;
        if (typeof value !== 'string') {
          fail(400, 'BadParameter', 'Property value is required');
          return;
        }
        const v = this.#version(value);
        if (secret) secret.versions.push(v);
        else this.secrets.set(name, { versions: [v], deleted: false });
        send(200, bundle(name, v));
        return;
      }
      if (!secret || secret.deleted) {
        notFound(name);
        return;
      }
      if (req.method === 'GET' && parts.length === 2) {
        send(200, bundle(name, secret.versions.at(-1)!));
        return;
      }
      if (req.method === 'GET' && parts[2] === 'versions') {
        send(200, {
          value: secret.versions.map((v) => ({
            id: `${this.endpoint}/secrets/${name}/${v.id}`,
            attributes: { enabled: true, created: v.created, updated: v.created },
          })),
          nextLink: null,
        });
        return;
      }
      if (req.method === 'GET' && parts.length === 3) {
        const v = secret.versions.find((x) => x.id === parts[2]);
        if (v) send(200, bundle(name, v));
        else notFound(name);
        return;
      }
      if (req.method === 'DELETE' && parts.length === 2) {
        secret.deleted = true;
        send(200, {
          ...bundle(name, secret.versions.at(-1)!),
          recoveryId: `${this.endpoint}/deletedsecrets/${name}`,
        });
        return;
      }
    }
    if (parts[0] === 'deletedsecrets' && parts[1] && req.method === 'DELETE') {
      const name = parts[1];
      const secret = this.secrets.get(name);
      if (!secret?.deleted) {
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
      if (this.beingDeleted > 0) {
        this.beingDeleted--;
        fail(409, 'Conflict', `Secret ${name} is currently being deleted.`, 'ObjectIsBeingDeleted');
        return;
      }
      this.secrets.delete(name);
      send(204);
      return;
    }
    fail(400, 'BadParameter', `unsupported request ${req.method ?? ''} ${url.pathname}`);
  }
}
