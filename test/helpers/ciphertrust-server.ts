// A protocol-faithful local Thales CipherTrust Manager (the KeySecure API KES speaks) for the
// key store tests, over real TLS on 127.0.0.1 port 0: `POST /api/v1/auth/tokens` trading a
// refresh token (bound to its domain) for a short-lived JWT, and the vault secrets API: create,
// export by name, delete by name, and `limit`/`skip` listing with `total`. Strict as the
// service is: every vault call needs an unexpired `Authorization: Bearer` JWT; bodies must be
// JSON with known fields (data type `seed`, `password` or `blob`, a material, a name); unknown
// query parameters are refused; errors are `{"code","codeDesc"}` JSON (409 for a taken name,
// 404 for a missing one). Token lifetime is settable (seconds) so tests see renewals. State is
// in memory.

import { randomBytes, randomUUID } from 'node:crypto';
import type { LoggedRequest, StandInAnswer } from './tls-stand-in.ts';
import { TlsStandIn, strictJson } from './tls-stand-in.ts';

export interface VaultSecret {
  readonly id: string;
  readonly name: string;
  readonly dataType: string;
  readonly material: string;
}

export interface CipherTrustOptions {
  /** refresh token → the domain it belongs to ('' = root). */
  readonly refreshTokens: Record<string, string>;
}

export class FakeCipherTrust extends TlsStandIn {
  /** The vault secrets, by name. */
  readonly secrets = new Map<string, VaultSecret>();
  /** Seconds a JWT lives. */
  tokenLifetime = 300;
  tokensIssued = 0;
  /** Refresh tokens currently accepted (tests revoke and restore them). */
  readonly refreshTokens: Map<string, string>;
  /** The `skip` a listing answers, when a test makes the server disagree with the client. */
  skewSkip = 0;
  readonly #jwts = new Map<string, number>();

  private constructor(options: CipherTrustOptions) {
    super('fake ciphertrust manager');
    this.refreshTokens = new Map(Object.entries(options.refreshTokens));
  }

  static async start(options: CipherTrustOptions): Promise<FakeCipherTrust> {
    const server = new FakeCipherTrust(options);
    await server.listen();
    return server;
  }

  /** Every JWT issued so far stops working. */
  expireTokens(): void {
    for (const jwt of this.#jwts.keys()) this.#jwts.set(jwt, 0);
  }

  /** Stores a secret as another client (KES) would have. */
  put(name: string, material: string): void {
    this.secrets.set(name, { id: randomUUID(), name, dataType: 'seed', material });
  }

  protected handle(req: LoggedRequest): StandInAnswer {
    const url = new URL(req.url, 'https://ciphertrust');
    const json = (req.headers['content-type'] ?? '').startsWith('application/json');
    if (req.method === 'POST' && url.pathname === '/api/v1/auth/tokens') {
      if (!json) return error(415, 3, 'NCERRUnsupportedMediaType: expected application/json');
      const body = strictJson(req.body, [
        'grant_type',
        'refresh_token',
        'domain',
        'auth_domain',
        'renew_refresh_token',
      ]);
      if (!body || body.grant_type !== 'refresh_token' || typeof body.refresh_token !== 'string') {
        return error(400, 7, 'NCERRInvalidParamValue: invalid grant');
      }
      const domain = this.refreshTokens.get(body.refresh_token);
      if (domain === undefined || (body.domain ?? '') !== domain) {
        return error(401, 15, 'NCERRAuthenticationFailed: Invalid refresh token');
      }
      const jwt = `eyJ${randomBytes(24).toString('base64url')}`;
      this.#jwts.set(jwt, Date.now() + this.tokenLifetime * 1000);
      this.tokensIssued++;
      return {
        status: 200,
        json: {
          jwt,
          duration: this.tokenLifetime,
          token_type: 'Bearer',
          client_id: 'kes',
          refresh_token_id: randomUUID(),
        },
      };
    }
    if (!url.pathname.startsWith('/api/v1/vault/secrets')) {
      return error(404, 5, 'NCERRResourceNotFound: no such route');
    }
    const auth = req.headers.authorization ?? '';
    const expires = auth.startsWith('Bearer ') ? this.#jwts.get(auth.slice(7)) : undefined;
    if (expires === undefined || expires <= Date.now()) {
      return error(401, 401, 'Token is expired or invalid');
    }
    const rest = url.pathname.slice('/api/v1/vault/secrets'.length);
    if (rest === '' && req.method === 'POST') {
      if (!json) return error(415, 3, 'NCERRUnsupportedMediaType: expected application/json');
      const body = strictJson(req.body, ['name', 'dataType', 'material', 'meta']);
      if (
        !body ||
        typeof body.name !== 'string' ||
        body.name === '' ||
        !['seed', 'password', 'blob'].includes(String(body.dataType)) ||
        typeof body.material !== 'string' ||
        body.material === ''
      ) {
        return error(400, 7, 'NCERRInvalidParamValue: invalid secret');
      }
      if (this.secrets.has(body.name)) {
        return error(409, 4, 'NCERRResourceAlreadyExists: Resource already exists');
      }
      const secret: VaultSecret = {
        id: randomUUID(),
        name: body.name,
        dataType: String(body.dataType),
        material: body.material,
      };
      this.secrets.set(secret.name, secret);
      return { status: 201, json: { id: secret.id, name: secret.name, dataType: secret.dataType } };
    }
    if (rest === '' && req.method === 'GET') {
      for (const key of url.searchParams.keys()) {
        if (!['limit', 'skip', 'name'].includes(key)) {
          return error(400, 7, `NCERRInvalidParamValue: unknown parameter ${key}`);
        }
      }
      const limit = Number(url.searchParams.get('limit') ?? '10');
      const skip = Number(url.searchParams.get('skip') ?? '0');
      if (!Number.isInteger(limit) || limit < 0 || !Number.isInteger(skip) || skip < 0) {
        return error(400, 7, 'NCERRInvalidParamValue: invalid limit or skip');
      }
      const all = [...this.secrets.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
      return {
        status: 200,
        json: {
          skip: skip + this.skewSkip,
          limit,
          total: all.length,
          resources: all
            .slice(skip, skip + limit)
            .map((s) => ({ id: s.id, name: s.name, dataType: s.dataType })),
        },
      };
    }
    const match = /^\/([^/]+)(\/export)?$/.exec(rest);
    if (!match) return error(404, 5, 'NCERRResourceNotFound: no such route');
    const ref = decodeURIComponent(match[1]!);
    for (const key of url.searchParams.keys()) {
      if (key !== 'type') return error(400, 7, `NCERRInvalidParamValue: unknown parameter ${key}`);
    }
    const type = url.searchParams.get('type') ?? 'id';
    if (type !== 'name' && type !== 'id') return error(400, 7, 'NCERRInvalidParamValue: type');
    const secret =
      type === 'name'
        ? this.secrets.get(ref)
        : [...this.secrets.values()].find((s) => s.id === ref);
    if (match[2] && req.method === 'POST') {
      if (req.body !== '' && !strictJson(req.body, ['format'])) {
        return error(400, 7, 'NCERRInvalidParamValue: invalid export request');
      }
      if (!secret) return error(404, 5, 'NCERRResourceNotFound: Resource not found');
      return { status: 200, json: { ...secret } };
    }
    if (!match[2] && req.method === 'DELETE') {
      if (!secret) return error(404, 5, 'NCERRResourceNotFound: Resource not found');
      this.secrets.delete(secret.name);
      return { status: 204 };
    }
    return error(405, 6, 'NCERRMethodNotAllowed');
  }
}

function error(status: number, code: number, codeDesc: string): StandInAnswer {
  return { status, json: { code, codeDesc } };
}
