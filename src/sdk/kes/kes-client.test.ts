// Tests KesClient on the wire against a real TLS server that answers with upstream KES bytes:
// requests as kms-go sends them, mTLS identity, error values, paging, legacy NDJSON, log
// streams, keep-alive, retries and failover. (End-to-end tests against Keyhold are in test/.)
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TLSSocket } from 'node:tls';
import { ApiKey, createCertificate, identityOfCertificate } from '../../identity/index.ts';
import { KES_ERRORS, KesConnectionError, KesError, KesResponseError } from './errors.ts';
import { KesClient } from './kes-client.ts';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly body: string;
  readonly identity: string;
  readonly socket: number;
  readonly headers: IncomingMessage['headers'];
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const serverCert = createCertificate({
  keyType: 'p256',
  commonName: 'localhost',
  ips: ['127.0.0.1'],
  validFor: 3_600_000,
  serverAuth: true,
  clientAuth: false,
});

class TestServer {
  readonly seen: Seen[] = [];
  handler: Handler = (_req, res) => res.end();
  readonly #server: Server;
  readonly #socketIds = new Map<TLSSocket, number>();

  constructor() {
    this.#server = createServer(
      { cert: serverCert.cert, key: serverCert.key, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const socket = req.socket;
          assert.ok(socket instanceof TLSSocket);
          let id = this.#socketIds.get(socket);
          if (id === undefined) {
            id = this.#socketIds.size + 1;
            this.#socketIds.set(socket, id);
          }
          const peer = socket.getPeerCertificate();
          const raw = (peer as { raw?: Buffer }).raw;
          const body = Buffer.concat(chunks).toString();
          this.seen.push({
            method: req.method ?? '',
            url: req.url ?? '',
            body,
            identity: raw ? identityOfCertificate(raw).toHex() : '',
            socket: id,
            headers: req.headers,
          });
          this.handler(req, res, body);
        });
      },
    );
  }

  async start(): Promise<string> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return `127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

// KES's exact error bytes: `{"message":` + JSON string + `\n}`.
function kesError(res: ServerResponse, status: number, message: string): void {
  const text = `{"message":${JSON.stringify(message)}\n}`;
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  s.close();
  await once(s, 'close');
  return port;
}

describe('KesClient on the wire', () => {
  const server = new TestServer();
  const apiKey = ApiKey.generate('kes');
  let endpoint = '';
  let client: KesClient;

  before(async () => {
    endpoint = await server.start();
    client = new KesClient({ endpoints: endpoint, apiKey: apiKey.toKes(), ca: serverCert.cert });
  });
  after(async () => {
    client.close();
    await server.stop();
  });

  it('authenticates with the API key certificate and verifies the server against the CA', async () => {
    server.handler = (_req, res) =>
      json(res, 200, { version: '2024-01-01T00-00-00Z', commit: 'abc' });
    assert.deepEqual(await client.version(), { version: '2024-01-01T00-00-00Z', commit: 'abc' });
    assert.equal(server.seen.at(-1)!.identity, apiKey.identity.toHex());
    assert.equal(client.identity, apiKey.identity.toHex());
  });

  it('refuses a server whose certificate does not chain to the CA, unless insecure', async () => {
    const other = createCertificate({ commonName: 'x', validFor: 3_600_000 });
    const strict = new KesClient({ endpoints: endpoint, apiKey: apiKey.toKes(), ca: other.cert });
    await assert.rejects(strict.status(), KesConnectionError);
    strict.close();
    server.handler = (_req, res) => json(res, 200, { version: 'v' });
    const insecure = new KesClient({ endpoints: endpoint, apiKey: apiKey.toKes(), insecure: true });
    assert.equal((await insecure.status()).version, 'v');
    insecure.close();
  });

  it('sends each key operation with kms-go methods, paths and bodies', async () => {
    server.handler = (req, res) => {
      if (req.url!.startsWith('/v1/key/generate/'))
        json(res, 200, { plaintext: 'AAEC', ciphertext: 'AwQ=' });
      else if (req.url!.startsWith('/v1/key/encrypt/')) json(res, 200, { ciphertext: 'BQY=' });
      else if (req.url!.startsWith('/v1/key/decrypt/')) json(res, 200, { plaintext: 'Bwg=' });
      else if (req.url!.startsWith('/v1/key/hmac/')) json(res, 200, { hmac: 'CQo=' });
      else if (req.url!.startsWith('/v1/key/describe/')) {
        json(res, 200, {
          name: 'k',
          algorithm: 'AES256',
          created_at: '2024-01-12T10:39:20Z',
          created_by: 'me',
        });
      } else {
        res.writeHead(200, { 'Content-Length': 0 });
        res.end();
      }
    };
    const ctx = Buffer.from('{}');
    const start = server.seen.length;
    await client.createKey('my-key');
    await client.importKey('imp', Buffer.alloc(32, 1));
    await client.importKey('imp2', Buffer.alloc(32, 2), {
      cipher: 'ChaCha20',
      hmacKey: Buffer.alloc(32, 3),
    });
    const dek = await client.generateKey('my-key', ctx);
    const noCtx = await client.generateKey('my-key');
    const ct = await client.encrypt('my-key', Buffer.from('hi'), ctx);
    const pt = await client.decrypt('my-key', Buffer.from('ct'));
    const mac = await client.hmac('my-key', Buffer.from('m'));
    const info = await client.describeKey('my-key');
    await client.deleteKey('my-key');
    const sent = server.seen.slice(start).map((s) => [s.method, s.url, s.body]);
    assert.deepEqual(sent, [
      ['POST', '/v1/key/create/my-key', ''],
      [
        'POST',
        '/v1/key/import/imp',
        JSON.stringify({ key: Buffer.alloc(32, 1).toString('base64'), cipher: 'AES256' }),
      ],
      [
        'POST',
        '/v1/key/import/imp2',
        JSON.stringify({
          key: Buffer.alloc(32, 2).toString('base64'),
          cipher: 'ChaCha20',
          hmac_key: Buffer.alloc(32, 3).toString('base64'),
        }),
      ],
      ['POST', '/v1/key/generate/my-key', '{"context":"e30="}'],
      ['POST', '/v1/key/generate/my-key', '{}'],
      ['POST', '/v1/key/encrypt/my-key', '{"plaintext":"aGk=","context":"e30="}'],
      ['POST', '/v1/key/decrypt/my-key', '{"ciphertext":"Y3Q="}'],
      ['PUT', '/v1/key/hmac/my-key', '{"message":"bQ=="}'],
      ['GET', '/v1/key/describe/my-key', ''],
      ['DELETE', '/v1/key/delete/my-key', ''],
    ]);
    assert.deepEqual([...dek.plaintext], [0, 1, 2]);
    assert.deepEqual([...dek.ciphertext], [3, 4]);
    assert.ok(noCtx.plaintext.length === 3);
    assert.deepEqual([...ct], [5, 6]);
    assert.deepEqual([...pt], [7, 8]);
    assert.deepEqual([...mac], [9, 10]);
    assert.equal(info.algorithm, 'AES256');
    assert.equal(info.createdBy, 'me');
  });

  it('adds ?enclave= when an enclave is configured', async () => {
    const e = new KesClient({
      endpoints: endpoint,
      apiKey: apiKey.toKes(),
      ca: serverCert.cert,
      enclave: 'tenant-1',
    });
    server.handler = (_req, res) => json(res, 200, { names: ['a'] });
    assert.deepEqual(await all(e.listKeys()), ['a']);
    assert.equal(server.seen.at(-1)!.url, '/v1/key/list/?enclave=tenant-1');
    e.close();
  });

  it('rejects with KesError values equal to the catalogue', async () => {
    server.handler = (_req, res) => kesError(res, 404, 'key does not exist');
    const err = await client.generateKey('missing', Buffer.from('{}')).catch((e: unknown) => e);
    assert.ok(err instanceof KesError);
    assert.ok(err.is(KES_ERRORS.keyNotFound));
    server.handler = (_req, res) => {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('404 page not found\n');
    };
    await assert.rejects(
      client.status(),
      (e: unknown) =>
        e instanceof KesError && e.status === 404 && e.message === '404 page not found',
    );
  });

  it('pages listings with continue_at, and stops if the server ignores it', async () => {
    server.handler = (req, res) => {
      const url = new URL(req.url!, 'https://x');
      const from = url.searchParams.get('continue_at');
      if (from === null) json(res, 200, { names: ['a1', 'a2'], continue_at: 'a3' });
      else if (from === 'a3') json(res, 200, { names: ['a3', 'a4'], continue_at: 'a5' });
      else json(res, 200, { names: ['a5'] });
    };
    const start = server.seen.length;
    assert.deepEqual(await all(client.listKeys('a*')), ['a1', 'a2', 'a3', 'a4', 'a5']);
    assert.deepEqual(
      server.seen.slice(start).map((s) => s.url),
      ['/v1/key/list/a', '/v1/key/list/a?continue_at=a3', '/v1/key/list/a?continue_at=a5'],
    );
    server.handler = (_req, res) => json(res, 200, { names: ['a1', 'a2'], continue_at: 'a3' });
    assert.deepEqual(await all(client.listKeys()), ['a1', 'a2']);
    server.handler = (_req, res) => json(res, 200, { names: null });
    assert.deepEqual(await all(client.listPolicies()), []);
    server.handler = (_req, res) => json(res, 200, { identities: ['i1'], continue_at: '' });
    assert.deepEqual(await all(client.listIdentities('i*')), ['i1']);
    assert.equal(server.seen.at(-1)!.url, '/v1/identity/list/i');
    server.handler = (_req, res) => json(res, 200, { names: [1] });
    await assert.rejects(all(client.listKeys()), KesResponseError);
  });

  it('reads legacy NDJSON listings, including a mid-stream error', async () => {
    server.handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      res.end('{"name":"b"}\n{"name":"a","algorithm":"AES256"}\n');
    };
    assert.deepEqual(await all(client.listKeys()), ['a', 'b']);
    server.handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      res.end('{"identity":"x"}\n{"error":"failed to list"}\n');
    };
    await assert.rejects(all(client.listIdentities()), /listing failed: failed to list/);
  });

  it('keeps the connection alive across requests', async () => {
    server.handler = (_req, res) => json(res, 200, { version: 'v' });
    await client.status();
    const start = server.seen.length;
    for (let i = 0; i < 5; i++) await client.status();
    const sockets = new Set(server.seen.slice(start).map((s) => s.socket));
    assert.equal(sockets.size, 1);
  });

  it('streams log events as they happen and closes on demand', async () => {
    server.handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      res.write(
        '{"time":"2024-01-12T10:39:20.5Z","request":{"ip":"127.0.0.1","path":"/v1/key/create/k","identity":"ab"},"response":{"code":200,"time":3}}\n',
      );
      setTimeout(
        () =>
          res.write(
            '{"time":"2024-01-12T10:39:21Z","request":{"path":"/v1/status"},"response":{"code":403,"time":1}}\n',
          ),
        50,
      );
    };
    const stream = await client.auditLog();
    const events = [];
    for await (const e of stream) {
      events.push(e);
      if (events.length === 2) stream.close();
    }
    assert.equal(events[0]!.request.path, '/v1/key/create/k');
    assert.equal(events[0]!.response.time, 3);
    assert.equal(events[0]!.time.toISOString(), '2024-01-12T10:39:20.500Z');
    assert.deepEqual(events[1]!.request, { ip: '', path: '/v1/status', identity: '' });
    server.handler = (_req, res) => kesError(res, 403, 'not authorized: insufficient permissions');
    await assert.rejects(client.errorLog(), (e: unknown) =>
      KesError.matches(e, KES_ERRORS.notAllowed),
    );
  });

  it('refuses an oversized answer', async () => {
    server.handler = (_req, res) => json(res, 200, { version: 'x'.repeat(2 << 20) });
    await assert.rejects(client.status(), KesResponseError);
  });

  it('retries 503 on the same endpoint', async () => {
    let calls = 0;
    server.handler = (_req, res) => {
      calls++;
      if (calls === 1) kesError(res, 503, 'busy');
      else json(res, 200, { version: 'ok' });
    };
    assert.equal((await client.status()).version, 'ok');
    assert.equal(calls, 2);
  });
});

describe('KesClient failover', () => {
  const server = new TestServer();
  let endpoint = '';
  before(async () => {
    endpoint = await server.start();
    server.handler = (_req, res) => json(res, 200, { version: 'up' });
  });
  after(() => server.stop());

  it('moves past an endpoint that refuses connections, and sidelines it', async () => {
    const dead = `127.0.0.1:${await closedPort()}`;
    const client = new KesClient({
      endpoints: [dead, endpoint],
      apiKey: ApiKey.generate('kes'),
      insecure: true,
    });
    assert.equal((await client.status()).version, 'up');
    assert.equal((await client.status()).version, 'up');
    // The dead endpoint is tried last now; the live one answers first.
    const before = server.seen.length;
    await client.status();
    assert.equal(server.seen.length, before + 1);
    client.close();
  });

  it('moves past a 5xx answer but returns 4xx answers at once', async () => {
    const second = new TestServer();
    const other = await second.start();
    second.handler = (_req, res) => json(res, 200, { version: 'second' });
    server.handler = (_req, res) => kesError(res, 502, 'failed to read key');
    const client = new KesClient({
      endpoints: [endpoint, other],
      apiKey: ApiKey.generate('kes'),
      insecure: true,
    });
    // The first endpoint is loopback, so it is tried first.
    assert.equal((await client.status()).version, 'second');
    server.handler = (_req, res) => kesError(res, 404, 'key does not exist');
    second.handler = (_req, res) => kesError(res, 404, 'key does not exist');
    await assert.rejects(client.describeKey('x'), (e: unknown) =>
      KesError.matches(e, KES_ERRORS.keyNotFound),
    );
    // When every endpoint fails with a 5xx, the last answer is the error.
    server.handler = (_req, res) => kesError(res, 502, 'failed to read key');
    second.handler = (_req, res) => kesError(res, 502, 'failed to read key');
    await assert.rejects(
      client.describeKey('x'),
      (e: unknown) => e instanceof KesError && e.status === 502,
    );
    client.close();
    await second.stop();
  });

  it('reports a connection error naming the endpoints when none answers', async () => {
    const a = `127.0.0.1:${await closedPort()}`;
    const client = new KesClient({ endpoints: a, apiKey: ApiKey.generate('kes'), insecure: true });
    const err = await client.status().catch((e: unknown) => e);
    assert.ok(err instanceof KesConnectionError);
    assert.match(err.message, /^kes: connection error: .*ECONNREFUSED/);
    assert.deepEqual(err.endpoints, [`https://${a}`]);
    client.close();
  });

  it('rejects conflicting credentials', () => {
    assert.throws(
      () =>
        new KesClient({
          endpoints: endpoint,
          apiKey: ApiKey.generate('kes'),
          cert: serverCert.cert,
          key: serverCert.key,
        }),
      /either an API key or a client certificate/,
    );
    assert.throws(
      () => new KesClient({ endpoints: endpoint, cert: serverCert.cert }),
      /needs its private key/,
    );
    assert.throws(() => new KesClient({ endpoints: '' }), /no KES endpoint/);
  });

  it('authenticates with a PEM certificate and key', async () => {
    const id = createCertificate({ commonName: 'client', validFor: 3_600_000 });
    const client = new KesClient({
      endpoints: endpoint,
      cert: id.cert,
      key: id.key,
      insecure: true,
    });
    server.handler = (_req, res) => json(res, 200, { version: 'v' });
    await client.status();
    assert.equal(server.seen.at(-1)!.identity, id.identity.toHex());
    assert.equal(client.identity, id.identity.toHex());
    client.close();
  });
});
