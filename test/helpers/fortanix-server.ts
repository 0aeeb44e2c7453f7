// A protocol-faithful local Fortanix DSM (SDKMS) for the key store tests, over real TLS on
// 127.0.0.1 port 0: the health check, sessions opened with an app's API key (HTTP Basic with
// the base64 of `app-id:secret`) and closed with their bearer token, security objects imported
// (`PUT /crypto/v1/keys`), exported by name, deleted by kid, and listed sorted by name with
// `limit` and `start` paging. Strict as DSM is: every data call needs a known API key; bodies
// must be JSON objects with known fields and well-formed values (standard base64, known key
// operations, a group the app belongs to); a taken name is `409 sobject already exists`, a
// missing one `404 sobject does not exist` (as JSON `{"message"}` or, with `textErrors`, as
// plain text, both of which DSM deployments answer). State is in memory.

import { randomUUID } from 'node:crypto';
import type { LoggedRequest, StandInAnswer } from './tls-stand-in.ts';
import { TlsStandIn, isBase64, strictJson } from './tls-stand-in.ts';

export interface SecurityObject {
  readonly kid: string;
  readonly name: string;
  readonly obj_type: string;
  readonly group_id: string;
  readonly key_ops: readonly string[];
  /** Base64 of the value. */
  readonly value: string;
  enabled: boolean;
}

export interface FortanixApp {
  readonly id: string;
  readonly secret: string;
  /** Groups the app may use; the first is its default group. */
  readonly groups: readonly string[];
}

const KEY_OPS = ['EXPORT', 'APPMANAGEABLE', 'ENCRYPT', 'DECRYPT', 'SIGN', 'VERIFY', 'WRAPKEY'];
const LIST_PARAMS = ['sort', 'limit', 'start', 'group_id', 'name', 'offset'];

export class FakeFortanix extends TlsStandIn {
  /** name → object (DSM names are unique within an account). */
  readonly objects = new Map<string, SecurityObject>();
  /** Errors as plain text instead of JSON `{"message"}`. */
  textErrors = false;
  /** `start` includes the named object (DSM's documentation leaves it open). */
  startInclusive = false;
  /** Ignore `start` altogether (a server KES's never-advancing loop would spin on). */
  ignoreStart = false;
  /** Sessions opened (`session/auth`) and still open. */
  readonly sessions = new Set<string>();
  sessionsOpened = 0;
  readonly #apps: readonly FortanixApp[];

  private constructor(apps: readonly FortanixApp[]) {
    super('fake fortanix dsm');
    this.#apps = apps;
  }

  static async start(apps: readonly FortanixApp[]): Promise<FakeFortanix> {
    const server = new FakeFortanix(apps);
    await server.listen();
    return server;
  }

  /** The API key of an app, as DSM shows it: base64 of `id:secret`. */
  static apiKey(app: FortanixApp): string {
    return Buffer.from(`${app.id}:${app.secret}`).toString('base64');
  }

  /** Stores an object as another client (KES) would have. */
  put(name: string, value: string, options: { groupId?: string; objType?: string } = {}): void {
    this.objects.set(name, {
      kid: randomUUID(),
      name,
      obj_type: options.objType ?? 'OPAQUE',
      group_id: options.groupId ?? this.#apps[0]!.groups[0]!,
      key_ops: ['EXPORT', 'APPMANAGEABLE'],
      value: Buffer.from(value).toString('base64'),
      enabled: true,
    });
  }

  #error(status: number, message: string): StandInAnswer {
    return this.textErrors ? { status, text: message } : { status, json: { message } };
  }

  #app(req: LoggedRequest): FortanixApp | undefined {
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Basic ')) return undefined;
    return this.#apps.find((a) => FakeFortanix.apiKey(a) === auth.slice('Basic '.length));
  }

  protected handle(req: LoggedRequest): StandInAnswer {
    const url = new URL(req.url, 'https://dsm');
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /sys/v1/health') return { status: 204 };
    if (route === 'POST /sys/v1/session/terminate') {
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      if (!this.sessions.delete(token)) return this.#error(401, 'invalid session');
      return { status: 204 };
    }
    const app = this.#app(req);
    if (!app) return this.#error(401, 'Authentication failed: invalid API key');
    if (route === 'POST /sys/v1/session/auth') {
      const token = randomUUID();
      this.sessions.add(token);
      this.sessionsOpened++;
      return {
        status: 200,
        json: { token_type: 'Bearer', expires_in: 600, access_token: token, entity_id: app.id },
      };
    }
    const json = (): boolean => (req.headers['content-type'] ?? '').startsWith('application/json');
    if (route === 'PUT /crypto/v1/keys') {
      if (!json()) return this.#error(415, 'expected Content-Type application/json');
      const body = strictJson(req.body, [
        'obj_type',
        'name',
        'group_id',
        'key_ops',
        'value',
        'enabled',
      ]);
      if (!body) return this.#error(400, 'invalid JSON body');
      const ops = body.key_ops;
      if (
        body.obj_type !== 'OPAQUE' ||
        typeof body.name !== 'string' ||
        body.name === '' ||
        !isBase64(body.value) ||
        body.value === '' ||
        !Array.isArray(ops) ||
        !ops.every((op) => typeof op === 'string' && KEY_OPS.includes(op)) ||
        (body.enabled !== undefined && typeof body.enabled !== 'boolean') ||
        (body.group_id !== undefined && typeof body.group_id !== 'string')
      ) {
        return this.#error(400, 'invalid sobject import request');
      }
      const group = body.group_id ?? app.groups[0]!;
      if (!app.groups.includes(group)) return this.#error(403, 'group access denied');
      if (this.objects.has(body.name)) return this.#error(409, 'sobject already exists');
      const object: SecurityObject = {
        kid: randomUUID(),
        name: body.name,
        obj_type: 'OPAQUE',
        group_id: group,
        key_ops: ops as string[],
        value: body.value,
        enabled: body.enabled !== false,
      };
      this.objects.set(object.name, object);
      const { value: _value, ...metadata } = object;
      return { status: 201, json: metadata };
    }
    if (route === 'POST /crypto/v1/keys/export') {
      if (!json()) return this.#error(415, 'expected Content-Type application/json');
      const body = strictJson(req.body, ['name', 'kid']);
      if (!body || (typeof body.name !== 'string' && typeof body.kid !== 'string')) {
        return this.#error(400, 'invalid sobject descriptor');
      }
      const object =
        typeof body.name === 'string'
          ? this.objects.get(body.name)
          : [...this.objects.values()].find((o) => o.kid === body.kid);
      if (!object || !app.groups.includes(object.group_id)) {
        return this.#error(404, 'sobject does not exist');
      }
      if (!object.key_ops.includes('EXPORT')) return this.#error(403, 'operation not allowed');
      return { status: 200, json: { ...object } };
    }
    const kid = /^\/crypto\/v1\/keys\/([0-9a-f-]{36})$/.exec(url.pathname)?.[1];
    if (req.method === 'DELETE' && kid) {
      const object = [...this.objects.values()].find((o) => o.kid === kid);
      if (!object || !app.groups.includes(object.group_id)) {
        return this.#error(404, 'sobject does not exist');
      }
      this.objects.delete(object.name);
      return { status: 204 };
    }
    if (route === 'GET /crypto/v1/keys') {
      for (const key of url.searchParams.keys()) {
        if (!LIST_PARAMS.includes(key)) return this.#error(400, `unknown query parameter ${key}`);
      }
      const sort = url.searchParams.get('sort') ?? 'name:asc';
      if (sort !== 'name:asc') return this.#error(400, `unsupported sort '${sort}'`);
      const limitText = url.searchParams.get('limit') ?? '100';
      const limit = Number(limitText);
      if (!/^\d+$/.test(limitText) || limit < 1 || limit > 1000) {
        return this.#error(400, `invalid limit '${limitText}'`);
      }
      const start = this.ignoreStart ? null : url.searchParams.get('start');
      const sorted = [...this.objects.values()]
        .filter((o) => app.groups.includes(o.group_id))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .filter((o) => start === null || (this.startInclusive ? o.name >= start : o.name > start))
        .slice(0, limit)
        .map(({ value: _value, ...metadata }) => metadata);
      return { status: 200, json: sorted };
    }
    return this.#error(404, `no route ${route}`);
  }
}
