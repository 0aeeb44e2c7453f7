// Wire tests of KmsClient against the kms-go request captures (src/protocol/kms/testdata/kms-go):
// a recording HTTPS server on 127.0.0.1 checks that each SDK call sends kms-go's exact method,
// path, headers, body and client identity, and the client's checks of malformed replies.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { createCertificate, identityOfTlsSocket } from '../identity/index.ts';
import {
  CreatePolicyRequest,
  decodeKmsRequest,
  decodeMessage,
  encodeErrorBody,
  encodeFrames,
  encodeKmsResponse,
} from '../protocol/kms/index.ts';
import type { KmsCommandName } from '../protocol/kms/index.ts';
import { KmsApiError, KmsResponseError } from './errors.ts';
import { KmsClient } from './kms-client.ts';

const TESTDATA = new URL('../../../src/protocol/kms/testdata/kms-go/', import.meta.url);
const API_KEY = 'k1:d7cY_5k8HbBGkZpoy2hGmvkxg83QDBXsA_nFXDfTk2E';
const IDENTITY = 'h1:Rvxa7nj8zkL48CeDkN6LhpX-K7KK6uhIhpBOcTHNhWw';

interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  identity: string;
}

interface Capture {
  method: string;
  path: string;
  body: Buffer;
}

function capture(name: string): Capture {
  const text = readFileSync(new URL(`${name}.txt`, TESTDATA), 'utf8');
  const [method, path] = text.split('\n', 1)[0]!.split(' ') as [string, string];
  const hex = readFileSync(new URL(`${name}.hex`, TESTDATA), 'utf8').trim();
  return { method, path, body: Buffer.from(hex, 'hex') };
}

/** A reply the SDK accepts for every request message of a body. */
function replyFor(body: Buffer): Buffer {
  const decoded = decodeKmsRequest(body);
  const name: KmsCommandName = decoded.name;
  const command = decoded.command;
  if (command.reply === 'none') return Buffer.alloc(0);
  const codec = command.response as { fromPartial(o: object): unknown } | null;
  const base: Record<string, object> = {
    'KEY:STATUS': { type: 'AES256' },
    'IDENTITY:STATUS': { privilege: 3 },
  };
  const count = command.reply === 'per-request' ? decoded.requests.length : 1;
  const messages = Array.from({ length: count }, () => codec!.fromPartial(base[name] ?? {}));
  return encodeKmsResponse(name, messages as never[]);
}

let server: Server;
let endpoint: string;
const recorded: Recorded[] = [];
/** Replaces the normal reply while set. */
let override: ((res: ServerResponse, body: Buffer) => void) | undefined;

before(async () => {
  const cert = createCertificate({
    commonName: 'test',
    ips: ['127.0.0.1'],
    validFor: 3600_000,
    keyType: 'p256',
  });
  server = createServer(
    { cert: cert.cert, key: cert.key, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        recorded.push({
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body,
          identity:
            req.socket instanceof TLSSocket ? (identityOfTlsSocket(req.socket)?.toH1() ?? '') : '',
        });
        if (override) {
          override(res, body);
          return;
        }
        let reply: Buffer = Buffer.alloc(0);
        let type = 'application/octet-stream';
        if (req.url === '/version') {
          reply = Buffer.from('{"version":"v","api_version":"v1","host":"h:1"}');
          type = 'application/json';
        } else if (req.url?.startsWith('/v1/kms')) {
          reply = replyFor(body);
        }
        res.writeHead(200, { 'Content-Type': type, 'Content-Length': reply.length });
        res.end(reply);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function client(): KmsClient {
  return new KmsClient({
    endpoints: endpoint,
    apiKey: API_KEY,
    enclave: 'my-enclave',
    tls: { insecure: true },
  });
}

const IMPORTED = Buffer.from(
  '5e59ebfe73a0016139700ec602c9772f68280af99fb3a284d203600754fddf01',
  'hex',
);

const CALLS: [string, (c: KmsClient) => Promise<unknown>][] = [
  ['001-version', (c) => c.version()],
  ['002-live', (c) => c.live()],
  ['003-ready', (c) => c.ready()],
  ['004-ready-write', (c) => c.ready({ write: true })],
  ['005-enclave-create', (c) => c.createEnclave('my-enclave')],
  ['006-enclave-delete', (c) => c.deleteEnclave('my-enclave')],
  ['007-enclave-status', (c) => c.enclaveStatus('my-enclave')],
  ['008-enclave-status-2', (c) => c.enclaveStatusBatch(['e1', 'e2'])],
  ['009-enclave-list', (c) => c.listEnclaves()],
  ['010-enclave-list-prefix', (c) => c.listEnclaves({ prefix: 'my-', limit: 10 })],
  ['011-key-create', (c) => c.createKey('my-key')],
  ['012-key-create-aes', (c) => c.createKey('my-key', { type: 'AES256' })],
  [
    '013-key-create-chacha-addversion',
    (c) => c.createKey('my-key', { type: 'ChaCha20', addVersion: true }),
  ],
  ['014-key-import', (c) => c.importKey('my-imported', IMPORTED, { type: 'AES256' })],
  ['015-key-status', (c) => c.keyStatus('my-key')],
  ['016-key-status-v2', (c) => c.keyStatus('my-key', { version: 2 })],
  ['017-key-list', (c) => c.listKeys()],
  ['018-key-list-prefix', (c) => c.listKeys({ prefix: 'my-' })],
  ['019-key-delete', (c) => c.deleteKey('my-key')],
  ['020-key-delete-v3', (c) => c.deleteKey('my-key', { version: 3 })],
  ['021-key-delete-all', (c) => c.deleteKey('my-key', { allVersions: true })],
  ['022-key-generate', (c) => c.generateKey('my-key')],
  ['023-key-generate-ctx', (c) => c.generateKey('my-key', { associatedData: '{"bucket":"b1"}' })],
  ['024-key-generate-batch3', (c) => c.generateKeyBatch([1, 2, 3].map(() => ({ name: 'my-key' })))],
  ['025-key-generate-len64', (c) => c.generateKey('my-key', { length: 64 })],
  ['026-key-encrypt', (c) => c.encrypt('my-key', 'hello world', { associatedData: 'ctx' })],
  [
    '027-key-decrypt',
    (c) =>
      c.decrypt('my-key', Buffer.from('00010203040506070809', 'hex'), { associatedData: 'ctx' }),
  ],
  ['028-key-mac', (c) => c.mac('my-key', 'hello')],
  [
    '029-policy-create',
    (c) =>
      c.createPolicy('my-policy', {
        allow: { 'KEY:GENERATE': ['my-key*'], 'KEY:DECRYPT': ['my-key'] },
        deny: { 'KEY:DELETE': ['*'] },
      }),
  ],
  ['030-policy-assign', (c) => c.assignPolicy('my-policy', IDENTITY)],
  ['031-policy-get', (c) => c.getPolicy('my-policy')],
  ['032-policy-status', (c) => c.policyStatus('my-policy')],
  ['033-policy-list', (c) => c.listPolicies()],
  ['034-policy-delete', (c) => c.deletePolicy('my-policy')],
  ['035-identity-create', (c) => c.createIdentity(IDENTITY)],
  ['036-identity-create-admin', (c) => c.createIdentity(IDENTITY, { privilege: 'Admin' })],
  [
    '037-identity-create-sa',
    (c) => c.createIdentity(IDENTITY, { serviceAccount: true, tags: { team: 'a' } }),
  ],
  ['038-identity-get', (c) => c.identityStatus(IDENTITY)],
  ['039-identity-list', (c) => c.listIdentities()],
  ['040-identity-delete', (c) => c.deleteIdentity(IDENTITY)],
  ['041-cluster-status', (c) => c.clusterStatus()],
  ['047-policy-status-2', (c) => c.policyStatusBatch(['p1', 'p2'])],
];

describe('KmsClient sends what kms-go sends', () => {
  for (const [name, call] of CALLS) {
    it(name, async () => {
      const c = client();
      try {
        recorded.length = 0;
        await call(c);
        assert.equal(recorded.length, 1);
        const got = recorded[0]!;
        const want = capture(name);
        assert.equal(`${got.method} ${got.path}`, `${want.method} ${want.path}`);
        assert.equal(got.identity, IDENTITY);
        assert.equal(got.headers['accept'], 'application/*');
        if (want.method === 'POST') {
          assert.equal(got.headers['content-type'], 'application/octet-stream');
          assert.equal(got.headers['content-length'], String(want.body.length));
          assert.equal(got.headers['transfer-encoding'], undefined);
        }
        if (name === '029-policy-create') {
          // Go writes map entries in random order: compare the messages.
          const decode = (b: Buffer) => decodeMessage(CreatePolicyRequest, b.subarray(6), 'policy');
          assert.deepEqual(decode(got.body), decode(want.body));
          assert.equal(got.body.length, want.body.length);
        } else {
          assert.equal(got.body.toString('hex'), want.body.toString('hex'));
        }
      } finally {
        c.close();
      }
    });
  }
});

describe('KmsClient refuses replies kms-go refuses', () => {
  async function withReply(
    reply: (res: ServerResponse, body: Buffer) => void,
    call: (c: KmsClient) => Promise<unknown>,
  ): Promise<unknown> {
    override = reply;
    const c = client();
    try {
      return await call(c).then(
        () => undefined,
        (error: unknown) => error,
      );
    } finally {
      override = undefined;
      c.close();
    }
  }

  it('reads error bodies as protobuf, JSON or text, with the exact status', async () => {
    for (const type of [
      'application/octet-stream',
      'application/json',
      'text/plain; charset=utf-8',
    ] as const) {
      const error = await withReply(
        (res) => {
          const { contentType, body } = encodeErrorBody('key does not exist', type);
          res.writeHead(404, { 'Content-Type': contentType, 'Content-Length': body.length });
          res.end(body);
        },
        (c) => c.keyStatus('k'),
      );
      assert.ok(error instanceof KmsApiError);
      assert.deepEqual([error.status, error.message], [404, 'key does not exist']);
    }
  });

  it('a reply without Content-Length (chunked)', async () => {
    const error = await withReply(
      (res, body) => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        res.write(replyFor(body));
        res.end();
      },
      (c) => c.generateKey('k'),
    );
    assert.ok(error instanceof KmsResponseError);
    assert.match(error.message, /no Content-Length/);
  });

  it('a reply with fewer frames than requests, or another command code', async () => {
    const short = await withReply(
      (res, body) => {
        const frames = replyFor(body);
        const one = frames.subarray(0, 6 + frames.readUInt32BE(2));
        res.writeHead(200, { 'Content-Length': one.length });
        res.end(one);
      },
      (c) => c.generateKeyBatch([{ name: 'a' }, { name: 'b' }]),
    );
    assert.ok(short instanceof KmsResponseError);
    assert.match(short.message, /1 frames for 2 requests/);

    const other = await withReply(
      (res) => {
        const body = encodeFrames(205, [Buffer.alloc(0)]);
        res.writeHead(200, { 'Content-Length': body.length });
        res.end(body);
      },
      (c) => c.generateKey('k'),
    );
    assert.ok(other instanceof KmsResponseError);
    assert.match(other.message, /command 205, expected command 207/);
  });

  it('a key status with a type other than AES256 or ChaCha20', async () => {
    const error = await withReply(
      (res) => {
        const body = encodeKmsResponse('KEY:STATUS', [
          { name: 'k', version: 1, type: '', createdAt: undefined, createdBy: '' },
        ]);
        res.writeHead(200, { 'Content-Length': body.length });
        res.end(body);
      },
      (c) => c.keyStatus('k'),
    );
    assert.ok(error instanceof KmsResponseError);
    assert.match(error.message, /unknown type ''/);
  });

  it('a listing that does not advance', async () => {
    const error = await withReply(
      (res) => {
        const body = encodeKmsResponse('KEY:LIST', [
          {
            keys: [{ name: 'a', version: 1, type: 'AES256', createdAt: undefined, createdBy: '' }],
            continueAt: 'a',
          },
        ]);
        res.writeHead(200, { 'Content-Length': body.length });
        res.end(body);
      },
      async (c) => {
        for await (const _ of c.keys({ continueAt: 'a' })) {
          // drain
        }
      },
    );
    assert.ok(error instanceof KmsResponseError);
    assert.match(error.message, /does not advance/);
  });
});
