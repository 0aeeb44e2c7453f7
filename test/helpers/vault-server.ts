// A protocol-faithful local HashiCorp Vault for tests, over real TLS on 127.0.0.1 port 0: KV v1
// and v2 (check-and-set, versions, metadata, list by GET `?list=true`; the method LIST is
// beyond Node's HTTP parser), AppRole
// and Kubernetes login, token TTLs and renew-self, lookup-self, Transit encrypt/decrypt with key
// versions, namespaces (the header partitions mounts and tokens), sys/health with its status
// parameters, sealing, and Vault's exact error bodies. A control object (not HTTP) injects
// faults: statuses, delays, expired tokens, sealing, going away. State is in memory.

import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import { createCertificate } from '../../src/identity/index.ts';
import { listenOnLoopback, stopDroppingConnections } from './loopback-server.ts';

export type MountType = 'kv1' | 'kv2' | 'transit' | 'approle' | 'kubernetes';

export interface FakeRole {
  readonly roleId?: string;
  readonly secretId?: string;
  /** Kubernetes: role name and the JWT it accepts. */
  readonly role?: string;
  readonly jwt?: string;
  /** Token TTL, seconds (0: never expires). */
  readonly ttl: number;
  readonly renewable?: boolean;
  /** Longest lifetime renewal may reach, seconds (default 10 × ttl). */
  readonly maxTtl?: number;
  /** `create-only`: create and read but no update (the KES docs' recommended policy). */
  readonly policy?: 'all' | 'create-only';
}

export interface VaultServerOptions {
  /** `namespace` ('' = root) → mount path → type. */
  readonly mounts: Record<string, Record<string, MountType>>;
  /** `namespace|authMount` → roles. */
  readonly roles?: Record<string, FakeRole[]>;
  /** Require a client certificate signed by one of these (PEM). */
  readonly clientCa?: string;
  /**
   * Refuse requests without `X-Vault-Request: true`, as a Vault Agent or Proxy with
   * `require_request_header` does (Vault itself does not).
   */
  readonly requireRequestHeader?: boolean;
}

interface Token {
  readonly namespace: string;
  expires: number;
  readonly issued: number;
  readonly ttl: number;
  readonly maxTtl: number;
  readonly renewable: boolean;
  readonly policy: 'all' | 'create-only';
}

interface KvVersion {
  data: Record<string, unknown> | null;
  created: string;
  deleted: string;
  destroyed: boolean;
}

interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

const MS = 1000;
const INVALID_TOKEN = '2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n';
const DENIED = '1 error occurred:\n\t* permission denied\n\n';

export class FakeVault {
  readonly ca: string;
  readonly requests: RequestRecord[] = [];
  readonly tokens = new Map<string, Token>();
  readonly #server: Server;
  readonly #options: VaultServerOptions;
  readonly #sockets = new Set<Socket>();
  /** `ns|mount|path` → KV v1 entry or KV v2 versions. */
  readonly #kv1 = new Map<string, Record<string, unknown>>();
  readonly #kv2 = new Map<string, KvVersion[]>();
  readonly #transit = new Map<string, Buffer[]>();
  #port = 0;
  sealed = false;
  initialized = true;
  /** Answer the next `count` requests (other than health) with `status` and `body`. */
  #faults: { count: number; status: number; body: string; match?: RegExp }[] = [];
  /** Milliseconds before every answer. */
  delay = 0;

  private constructor(options: VaultServerOptions) {
    this.#options = options;
    const tls = createCertificate({
      keyType: 'p256',
      commonName: 'fake vault',
      ips: ['127.0.0.1'],
      dnsNames: ['localhost'],
      validFor: 24 * 3600 * MS,
    });
    this.ca = tls.cert;
    this.#server = createServer(
      {
        cert: tls.cert,
        key: tls.key,
        ...(options.clientCa
          ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: true }
          : {}),
      },
      (req, res) => void this.#handle(req, res),
    );
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(options: VaultServerOptions): Promise<FakeVault> {
    const vault = new FakeVault(options);
    await vault.listen(0);
    return vault;
  }

  get endpoint(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  /** Listens again (after `stop`) on the same port. */
  async listen(port = this.#port): Promise<void> {
    this.#port = await listenOnLoopback(this.#server, port);
  }

  /** Stops listening and drops every connection (Vault went away). */
  async stop(): Promise<void> {
    await stopDroppingConnections(this.#server, this.#sockets);
  }

  /** Answers the next `count` requests whose path matches with a Vault error. */
  fail(count: number, status: number, errors: string[] = [], match?: RegExp): void {
    this.#faults.push({
      count,
      status,
      body: JSON.stringify({ errors }),
      ...(match ? { match } : {}),
    });
  }

  /** Issues a token directly (as `vault token create`). */
  issueToken(namespace = '', ttl = 0, policy: 'all' | 'create-only' = 'all'): string {
    const token = `hvs.${randomBytes(18).toString('base64url')}`;
    const now = Date.now();
    this.tokens.set(token, {
      namespace,
      issued: now,
      expires: ttl === 0 ? 0 : now + ttl * MS,
      ttl,
      maxTtl: ttl * 10,
      renewable: ttl > 0,
      policy,
    });
    return token;
  }

  /** Expires every token now. */
  expireTokens(): void {
    for (const token of this.tokens.values()) token.expires = 1;
  }

  /** Adds a version to a Transit key (`vault write -f transit/keys/K/rotate`). */
  rotateTransitKey(namespace: string, mount: string, key: string): void {
    const versions = this.#transit.get(`${namespace}|${mount}|${key}`);
    if (!versions) throw new Error('no such transit key');
    versions.push(randomBytes(32));
  }

  /** The raw KV entry (v1) or version 1's data (v2), for layout assertions. */
  entry(namespace: string, mount: string, path: string): Record<string, unknown> | undefined {
    const id = `${namespace}|${mount}|${path}`;
    return this.#kv1.get(id) ?? this.#kv2.get(id)?.[0]?.data ?? undefined;
  }

  /** Soft-deletes the latest K/V v2 version (`vault kv delete`). */
  softDelete(namespace: string, mount: string, path: string): void {
    const latest = this.#kv2.get(`${namespace}|${mount}|${path}`)?.at(-1);
    if (!latest) throw new Error('no such entry');
    latest.deleted = new Date().toISOString();
  }

  /** Writes like another client would (`vault kv put`), bypassing check-and-set. */
  put(namespace: string, mount: string, path: string, data: Record<string, unknown>): void {
    const id = `${namespace}|${mount}|${path}`;
    if (this.#options.mounts[namespace]?.[mount] === 'kv2') {
      const versions = this.#kv2.get(id) ?? [];
      versions.push({ data, created: new Date().toISOString(), deleted: '', destroyed: false });
      this.#kv2.set(id, versions);
    } else {
      this.#kv1.set(id, data);
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    const url = new URL(req.url ?? '/', 'https://vault');
    this.requests.push({
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body,
    });
    if (this.delay > 0) await new Promise((r) => setTimeout(r, this.delay));
    const send = (status: number, payload?: unknown): void => {
      const text = payload === undefined ? '' : JSON.stringify(payload);
      res.writeHead(status, {
        ...(text === '' ? {} : { 'Content-Type': 'application/json' }),
        'Content-Length': Buffer.byteLength(text),
        'Cache-Control': 'no-store',
      });
      res.end(text);
    };
    const error = (status: number, ...errors: string[]): void => send(status, { errors });
    try {
      const path = url.pathname;
      const namespace = String(req.headers['x-vault-namespace'] ?? '').replace(/^\/+|\/+$/g, '');
      if (path === '/v1/sys/health') {
        this.#health(url, namespace, send, error);
        return;
      }
      const fault = this.#faults.find((f) => f.count > 0 && (!f.match || f.match.test(path)));
      if (fault) {
        fault.count--;
        res.writeHead(fault.status, { 'Content-Type': 'application/json' });
        res.end(fault.body);
        return;
      }
      if (this.#options.requireRequestHeader && req.headers['x-vault-request'] !== 'true') {
        error(412, "missing 'X-Vault-Request' header");
        return;
      }
      if (this.sealed) {
        error(503, 'Vault is sealed');
        return;
      }
      if (!path.startsWith('/v1/')) {
        error(404, `no handler for route '${path}'`);
        return;
      }
      const method = (req.method ?? 'GET') === 'LIST' ? 'LIST' : (req.method ?? 'GET');
      const listing =
        method === 'LIST' || (method === 'GET' && url.searchParams.get('list') === 'true');
      const rest = path.slice(4).replace(/\/+$/, '');
      const json = body === '' ? {} : (JSON.parse(body) as Record<string, unknown>);

      // Logins need no token.
      const login = /^auth\/(.+)\/login$/.exec(rest);
      if (login && (method === 'PUT' || method === 'POST')) {
        this.#login(namespace, login[1]!, json, send, error);
        return;
      }
      const tokenText = String(req.headers['x-vault-token'] ?? '');
      const token = this.tokens.get(tokenText);
      if (!token || (token.expires !== 0 && token.expires <= Date.now())) {
        error(403, INVALID_TOKEN);
        return;
      }
      // A token works in its namespace and the ones below it.
      if (
        token.namespace !== '' &&
        namespace !== token.namespace &&
        !namespace.startsWith(token.namespace + '/')
      ) {
        error(403, INVALID_TOKEN);
        return;
      }
      if (rest === 'auth/token/renew-self' && (method === 'PUT' || method === 'POST')) {
        if (!token.renewable) {
          error(400, 'lease is not renewable');
          return;
        }
        const now = Date.now();
        const limit = token.issued + token.maxTtl * MS;
        token.expires = Math.min(now + token.ttl * MS, limit);
        send(200, envelope(null, authBlock(tokenText, token)));
        return;
      }
      if (rest === 'auth/token/lookup-self' && method === 'GET') {
        const ttl = token.expires === 0 ? 0 : Math.round((token.expires - Date.now()) / MS);
        send(200, envelope({ ttl, renewable: token.renewable, namespace_path: token.namespace }));
        return;
      }
      const mounts = this.#options.mounts[namespace] ?? {};
      const mount = Object.keys(mounts)
        .sort((a, b) => b.length - a.length)
        .find((m) => rest === m || rest.startsWith(m + '/'));
      if (!mount) {
        error(404, `no handler for route '${path.slice(4)}'. route entry not found.`);
        return;
      }
      const sub = rest.slice(mount.length + 1);
      const id = (p: string): string => `${namespace}|${mount}|${p}`;
      switch (mounts[mount]) {
        case 'kv1': {
          this.#kv1Op(method, listing, sub, id, json, token, send, error);
          return;
        }
        case 'kv2': {
          this.#kv2Op(method, listing, sub, id, json, url, token, send, error);
          return;
        }
        case 'transit': {
          this.#transitOp(method, sub, id, json, send, error);
          return;
        }
        default: {
          error(405, 'unsupported operation');
          return;
        }
      }
    } catch (e) {
      error(400, `invalid request: ${(e as Error).message}`);
    }
  }

  #health(
    url: URL,
    namespace: string,
    send: (status: number, payload?: unknown) => void,
    error: (status: number, ...errors: string[]) => void,
  ): void {
    // sys/health lives only in the root namespace.
    if (namespace !== '') {
      error(404, 'unsupported path');
      return;
    }
    const code = (param: string, fallback: number): number => {
      const value = url.searchParams.get(param);
      return value === null ? fallback : Number(value);
    };
    const status = !this.initialized
      ? code('uninitcode', 501)
      : this.sealed
        ? code('sealedcode', 503)
        : code('activecode', 200);
    send(status, {
      initialized: this.initialized,
      sealed: this.sealed,
      standby: false,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(Date.now() / MS),
      version: '1.17.6',
      cluster_name: 'vault-cluster-fake',
      cluster_id: '00000000-0000-0000-0000-000000000000',
    });
  }

  #login(
    namespace: string,
    mount: string,
    json: Record<string, unknown>,
    send: (status: number, payload?: unknown) => void,
    error: (status: number, ...errors: string[]) => void,
  ): void {
    const type = this.#options.mounts[namespace]?.[`auth/${mount}`];
    if (!type) {
      error(400, `no handler for route 'auth/${mount}/login'`);
      return;
    }
    const roles = this.#options.roles?.[`${namespace}|${mount}`] ?? [];
    let role: FakeRole | undefined;
    if (type === 'approle') {
      if (typeof json.role_id !== 'string' || json.role_id === '') {
        error(400, 'missing role_id');
        return;
      }
      role = roles.find((r) => r.roleId === json.role_id && r.secretId === json.secret_id);
      if (!role) {
        error(400, 'invalid role or secret ID');
        return;
      }
    } else {
      role = roles.find((r) => r.role === json.role);
      if (!role) {
        error(400, `invalid role name "${String(json.role)}"`);
        return;
      }
      if (role.jwt !== json.jwt) {
        error(403, 'permission denied');
        return;
      }
    }
    const tokenText = `hvs.${randomBytes(18).toString('base64url')}`;
    const now = Date.now();
    const token: Token = {
      namespace,
      issued: now,
      expires: role.ttl === 0 ? 0 : now + role.ttl * MS,
      ttl: role.ttl,
      maxTtl: role.maxTtl ?? role.ttl * 10,
      renewable: role.renewable ?? role.ttl > 0,
      policy: role.policy ?? 'all',
    };
    this.tokens.set(tokenText, token);
    send(200, envelope(null, authBlock(tokenText, token)));
  }

  #kv1Op(
    method: string,
    listing: boolean,
    sub: string,
    id: (p: string) => string,
    json: Record<string, unknown>,
    token: Token,
    send: (status: number, payload?: unknown) => void,
    error: (status: number, ...errors: string[]) => void,
  ): void {
    if (listing) {
      this.#list([...this.#kv1.keys()], id(sub === '' ? '' : sub + '/'), send, error);
      return;
    }
    const entry = this.#kv1.get(id(sub));
    switch (method) {
      case 'GET': {
        if (entry) send(200, envelope(entry, null, 2764800));
        else error(404);
        return;
      }
      case 'PUT':
      case 'POST':
        // Vault's existence check: `update` is a capability of its own.
        if (entry && token.policy === 'create-only') {
          error(403, DENIED);
          return;
        }
        this.#kv1.set(id(sub), json);
        {
          send(204);
          return;
        }
      case 'DELETE':
        this.#kv1.delete(id(sub));
        {
          send(204);
          return;
        }
      default: {
        error(405, 'unsupported operation');
        return;
      }
    }
  }

  #kv2Op(
    method: string,
    listing: boolean,
    sub: string,
    id: (p: string) => string,
    json: Record<string, unknown>,
    url: URL,
    token: Token,
    send: (status: number, payload?: unknown) => void,
    error: (status: number, ...errors: string[]) => void,
  ): void {
    const [area, ...parts] = sub.split('/');
    const path = parts.join('/');
    if (area === 'metadata') {
      if (listing) {
        this.#list([...this.#kv2.keys()], id(path === '' ? '' : path + '/'), send, error);
        return;
      }
      if (method === 'DELETE') {
        this.#kv2.delete(id(path));
        send(204);
        return;
      }
      error(405, 'unsupported operation');
      return;
    }
    if (area !== 'data') {
      send(404, {
        ...envelope(null),
        warnings: [
          "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.",
        ],
      });
      return;
    }
    const versions = this.#kv2.get(id(path));
    const metadata = (v: KvVersion, n: number) => ({
      created_time: v.created,
      custom_metadata: null,
      deletion_time: v.deleted,
      destroyed: v.destroyed,
      version: n,
    });
    switch (method) {
      case 'GET': {
        if (!versions || versions.length === 0) {
          error(404);
          return;
        }
        const n = Number(url.searchParams.get('version') ?? versions.length) || versions.length;
        const v = versions[n - 1];
        if (!v) {
          error(404);
          return;
        }
        if (v.deleted !== '' || v.destroyed) {
          send(404, envelope({ data: null, metadata: metadata(v, n) }));
          return;
        }
        send(200, envelope({ data: v.data, metadata: metadata(v, n) }));
        return;
      }
      case 'PUT':
      case 'POST': {
        const cas = (json.options as { cas?: unknown } | undefined)?.cas;
        const current = versions?.length ?? 0;
        if (typeof cas === 'number' && cas !== current) {
          error(400, 'check-and-set parameter did not match the current version');
          return;
        }
        if (current > 0 && token.policy === 'create-only') {
          error(403, DENIED);
          return;
        }
        const v: KvVersion = {
          data: json.data as Record<string, unknown>,
          created: new Date().toISOString(),
          deleted: '',
          destroyed: false,
        };
        this.#kv2.set(id(path), [...(versions ?? []), v]);
        send(200, envelope(metadata(v, current + 1)));
        return;
      }
      case 'DELETE': {
        // Soft delete of the latest version.
        const latest = versions?.at(-1);
        if (latest) latest.deleted = new Date().toISOString();
        send(204);
        return;
      }
      default: {
        error(405, 'unsupported operation');
        return;
      }
    }
  }

  #list(
    ids: string[],
    folder: string,
    send: (status: number, payload?: unknown) => void,
    error: (status: number, ...errors: string[]) => void,
  ): void {
    const names = new Set<string>();
    for (const full of ids) {
      if (!full.startsWith(folder)) continue;
      const rest = full.slice(folder.length);
      const slash = rest.indexOf('/');
      names.add(slash < 0 ? rest : rest.slice(0, slash + 1));
    }
    if (names.size === 0) {
      error(404);
      return;
    }
    send(200, envelope({ keys: [...names].sort() }));
  }

  #transitOp(
    method: string,
    sub: string,
    id: (p: string) => string,
    json: Record<string, unknown>,
    send: (status: number, payload?: unknown) => void,
    error: (status: number, ...errors: string[]) => void,
  ): void {
    const m = /^(encrypt|decrypt)\/(.+)$/.exec(sub);
    if (!m || (method !== 'POST' && method !== 'PUT')) {
      error(405, 'unsupported operation');
      return;
    }
    const [, op, key] = m;
    let versions = this.#transit.get(id(key!));
    if (op === 'encrypt') {
      if (!versions) {
        // Encrypt creates a missing key ("upsert").
        versions = [randomBytes(32)];
        this.#transit.set(id(key!), versions);
      }
      const plaintext = Buffer.from(String(json.plaintext), 'base64');
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', versions.at(-1)!, nonce);
      const sealed = Buffer.concat([
        nonce,
        cipher.update(plaintext),
        cipher.final(),
        cipher.getAuthTag(),
      ]);
      send(
        200,
        envelope({
          ciphertext: `vault:v${versions.length}:${sealed.toString('base64')}`,
          key_version: versions.length,
        }),
      );
      return;
    }
    if (!versions) {
      error(400, 'encryption key not found');
      return;
    }
    const text = String(json.ciphertext);
    const parts = /^vault:v(\d+):(.*)$/.exec(text);
    if (!parts) {
      error(400, 'invalid ciphertext: no prefix');
      return;
    }
    const secret = versions[Number(parts[1]) - 1];
    if (!secret) {
      error(400, 'invalid ciphertext: key version not found');
      return;
    }
    const raw = Buffer.from(parts[2]!, 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', secret, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      const plaintext = Buffer.concat([
        decipher.update(raw.subarray(12, raw.length - 16)),
        decipher.final(),
      ]);
      send(200, envelope({ plaintext: plaintext.toString('base64') }));
      return;
    } catch {
      error(400, 'cipher: message authentication failed');
      return;
    }
  }
}

/** Vault's success envelope. */
function envelope(data: unknown, auth: unknown = null, leaseDuration = 0): Record<string, unknown> {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: leaseDuration,
    data,
    wrap_info: null,
    warnings: null,
    auth,
    mount_type: '',
  };
}

function authBlock(tokenText: string, token: Token): Record<string, unknown> {
  const left = token.expires === 0 ? 0 : Math.max(0, Math.round((token.expires - Date.now()) / MS));
  return {
    client_token: tokenText,
    accessor: randomBytes(12).toString('base64url'),
    policies: ['default', 'kes-policy'],
    token_policies: ['default', 'kes-policy'],
    metadata: { role_name: 'kes-role' },
    lease_duration: left,
    renewable: token.renewable,
    entity_id: randomUUID(),
    token_type: 'service',
    orphan: true,
    mfa_requirement: null,
    num_uses: 0,
  };
}
