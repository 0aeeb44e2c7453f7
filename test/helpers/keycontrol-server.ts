// A protocol-faithful local Entrust KeyControl (Secrets Vault API 1.0, the calls KES makes) for
// the key store tests, over real TLS on 127.0.0.1 port 0: `Login/<vault>/` with username and
// password, `Renew/`, and the box operations `GetBox`, `CreateSecret`, `CheckoutSecret`,
// `DeleteSecret`, `ListSecretIds` — all POSTs to trailing-slash paths. Strict as the service
// is: every box call needs an unexpired `X-Vault-Auth` token; bodies must be JSON objects with
// known fields (no Content-Type is required, as KES sends none, but a wrong one is refused);
// `secret_data` must be standard base64; errors are `{"error":"…"}` with the exact texts
// `Secret already exists` (409) and `Secret not found` (404). Listing pages with `max_items` and
// an opaque `next_token` (base64 of `{"box_id","next_ctx"}`); secrets can be marked expired.
// Token lifetime is settable (seconds) so tests see renewals. State is in memory.

import { randomBytes } from 'node:crypto';
import type { LoggedRequest, StandInAnswer } from './tls-stand-in.ts';
import { TlsStandIn, isBase64, strictJson } from './tls-stand-in.ts';

export interface BoxSecret {
  /** Base64, as sent. */
  readonly data: string;
  expired: boolean;
}

export interface KeyControlOptions {
  readonly vaultId: string;
  readonly users: Record<string, string>;
  /** Box ids (a box is also found by its name, `box-<id>`). */
  readonly boxes: readonly string[];
}

export class FakeKeyControl extends TlsStandIn {
  /** box id → secret name → secret. */
  readonly boxes = new Map<string, Map<string, BoxSecret>>();
  /** Seconds a token lives. */
  tokenLifetime = 1800;
  /** Leave `expires_at` out of login and renew answers (KES then assumes 5 minutes). */
  omitExpiry = false;
  logins = 0;
  renewals = 0;
  readonly users: Map<string, string>;
  readonly #vaultId: string;
  readonly #tokens = new Map<string, number>();

  private constructor(options: KeyControlOptions) {
    super('fake entrust keycontrol');
    this.#vaultId = options.vaultId;
    this.users = new Map(Object.entries(options.users));
    for (const id of options.boxes) this.boxes.set(id, new Map());
  }

  static async start(options: KeyControlOptions): Promise<FakeKeyControl> {
    const server = new FakeKeyControl(options);
    await server.listen();
    return server;
  }

  /** The secrets of a box. */
  box(id: string): Map<string, BoxSecret> {
    return this.boxes.get(id)!;
  }

  /** Stores a secret as another client (KES) would have. */
  put(box: string, name: string, value: string): void {
    this.box(box).set(name, { data: Buffer.from(value).toString('base64'), expired: false });
  }

  expireTokens(): void {
    for (const t of this.#tokens.keys()) this.#tokens.set(t, 0);
  }

  #issue(): StandInAnswer {
    const token = randomBytes(24).toString('hex');
    const expires = Date.now() + this.tokenLifetime * 1000;
    this.#tokens.set(token, expires);
    return {
      status: 200,
      json: {
        access_token: token,
        ...(this.omitExpiry ? {} : { expires_at: new Date(expires).toISOString() }),
      },
    };
  }

  #boxOf(ref: unknown): Map<string, BoxSecret> | undefined {
    if (typeof ref !== 'string') return undefined;
    return this.boxes.get(ref) ?? this.boxes.get(ref.replace(/^box-/, ''));
  }

  protected handle(req: LoggedRequest): StandInAnswer {
    if (req.method !== 'POST') return fail(405, 'Method not allowed');
    const type = req.headers['content-type'];
    if (type !== undefined && !type.startsWith('application/json')) {
      return fail(415, 'Unsupported media type');
    }
    const login = /^\/vault\/1\.0\/Login\/([^/]+)\/$/.exec(req.url);
    if (login) {
      const body = strictJson(req.body, ['username', 'password']);
      if (!body || typeof body.username !== 'string' || typeof body.password !== 'string') {
        return fail(400, 'Invalid request');
      }
      if (decodeURIComponent(login[1]!) !== this.#vaultId) return fail(404, 'Vault not found');
      if (this.users.get(body.username) !== body.password) {
        return fail(401, 'Invalid username or password');
      }
      this.logins++;
      return this.#issue();
    }
    const token = String(req.headers['x-vault-auth'] ?? '');
    const expires = this.#tokens.get(token);
    if (expires === undefined || expires <= Date.now())
      return fail(401, 'Token expired or invalid');
    if (req.url === '/vault/1.0/Renew/') {
      if (req.body !== '') return fail(400, 'Invalid request');
      this.#tokens.delete(token);
      this.renewals++;
      return this.#issue();
    }
    const op = /^\/vault\/1\.0\/(\w+)\/$/.exec(req.url)?.[1];
    const fields: Record<string, string[]> = {
      GetBox: ['box_id'],
      CreateSecret: ['box_id', 'name', 'secret_data', 'description'],
      CheckoutSecret: ['box_id', 'secret_id'],
      DeleteSecret: ['box_id', 'secret_id'],
      ListSecretIds: ['box_id', 'max_items', 'next_token', 'filters'],
    };
    if (op === undefined || !(op in fields)) return fail(404, 'Not found');
    const body = strictJson(req.body, fields[op]!);
    if (!body) return fail(400, 'Invalid request');
    const box = this.#boxOf(body.box_id);
    if (!box) return fail(404, 'Box not found');
    switch (op) {
      case 'GetBox':
        return { status: 200, json: { box_id: body.box_id, name: `box-${String(body.box_id)}` } };
      case 'CreateSecret': {
        if (typeof body.name !== 'string' || body.name === '' || !isBase64(body.secret_data)) {
          return fail(400, 'Invalid request');
        }
        if (box.has(body.name)) return fail(409, 'Secret already exists');
        box.set(body.name, { data: body.secret_data, expired: false });
        return { status: 200, json: { secret_id: body.name } };
      }
      case 'CheckoutSecret':
      case 'DeleteSecret': {
        if (typeof body.secret_id !== 'string') return fail(400, 'Invalid request');
        const secret = box.get(body.secret_id);
        if (!secret) return fail(404, 'Secret not found');
        if (op === 'DeleteSecret') {
          box.delete(body.secret_id);
          return { status: 200, json: {} };
        }
        return { status: 200, json: { secret_id: body.secret_id, secret_data: secret.data } };
      }
      default: {
        const max = body.max_items;
        if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 1000) {
          return fail(400, 'Invalid max_items');
        }
        let after = '';
        if (body.next_token !== undefined) {
          if (typeof body.next_token !== 'string') return fail(400, 'Invalid next_token');
          try {
            const t = JSON.parse(Buffer.from(body.next_token, 'base64').toString()) as {
              box_id?: unknown;
              next_ctx?: unknown;
            };
            if (t.box_id !== body.box_id || typeof t.next_ctx !== 'string') throw new Error();
            after = t.next_ctx;
          } catch {
            return fail(400, 'Invalid next_token');
          }
        }
        const names = [...box.keys()].sort().filter((n) => after === '' || n > after);
        const page = names.slice(0, max);
        const more = names.length > max;
        return {
          status: 200,
          json: {
            secrets: page.map((name) => ({ name, expired: box.get(name)!.expired })),
            ...(more
              ? {
                  next_token: Buffer.from(
                    JSON.stringify({ box_id: body.box_id, next_ctx: page.at(-1) }),
                  ).toString('base64'),
                }
              : {}),
          },
        };
      }
    }
  }
}

function fail(status: number, error: string): StandInAnswer {
  return { status, json: { error } };
}
