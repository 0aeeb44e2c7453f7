// Hostile input on the KES face: malformed JSON, the wrong base64 alphabet, oversize bodies,
// names outside the grammar, broken URLs. Every one gets KES's exact 400, never a crash.

import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { errorBody, kes, startKesServer } from './kes-server-support.ts';
import type { ClientCert, KesResponse, KesServer } from './kes-server-support.ts';

let server: KesServer;
let admin: ClientCert;

const call = (
  method: string,
  path: string,
  body?: string | Buffer | object,
): Promise<KesResponse> =>
  kes(server.endpoint, admin, method, path, body === undefined ? {} : { body });

/** Go's HTML-safe escaping of the message, as KES writes it. */
const goBody = (message: string): string =>
  errorBody(message).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);

async function expect400(res: Promise<KesResponse>, message: string): Promise<void> {
  const r = await res;
  assert.equal(r.text, goBody(message));
  assert.equal(r.status, 400);
}

before(async () => {
  server = await startKesServer();
  admin = server.root!;
  assert.equal((await call('PUT', '/v1/key/create/target')).status, 200);
});

after(async () => {
  // The server survived everything: it still answers.
  assert.equal((await call('GET', '/v1/status')).status, 200);
  await server.stop();
});

describe('malformed bodies', () => {
  const bad = [
    '{',
    '{"plaintext":}',
    '[]',
    '"text"',
    '42',
    '{"plaintext":42}',
    '{"plaintext":"aGVsbG8"}', // missing padding
    '{"plaintext":"-_-_"}', // URL-safe alphabet
    '{"plaintext":"aGVs bG8="}',
    '{"plaintext":["aGVsbG8="]}',
    '\u0000\u0001\u0002',
  ];
  for (const body of bad) {
    it(`encrypt refuses ${JSON.stringify(body)}`, async () => {
      await expect400(call('PUT', '/v1/key/encrypt/target', body), 'invalid request body');
    });
  }

  it('every body-reading route answers its own message', async () => {
    for (const [path, field] of [
      ['/v1/key/generate/target', 'context'],
      ['/v1/key/decrypt/target', 'ciphertext'],
      ['/v1/key/hmac/target', 'message'],
    ] as const) {
      await expect400(call('PUT', path, `{"${field}":"!!"}{`), 'invalid request body');
    }
    await expect400(
      call('PUT', '/v1/key/import/new-one', '{"key":"-_-_"}'),
      'invalid import key request body',
    );
  });

  it('reads only the first JSON value, like json.Decoder', async () => {
    const res = await call(
      'PUT',
      '/v1/key/encrypt/target',
      '{"plaintext":"aGk="} and then garbage',
    );
    assert.equal(res.status, 200);
  });

  it('a null document is an empty request', async () => {
    await expect400(
      call('PUT', '/v1/key/decrypt/target', 'null'),
      'decryption failed: ciphertext is not authentic',
    );
  });

  it('survives deeply nested JSON', async () => {
    const deep = '['.repeat(400_000) + ']'.repeat(400_000);
    await expect400(call('PUT', '/v1/key/encrypt/target', deep), 'invalid request body');
    const deepObject = '{"plaintext":' + '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_001);
    await expect400(call('PUT', '/v1/key/encrypt/target', deepObject), 'invalid request body');
  });
});

describe('oversize bodies', () => {
  it('refuses a body over 1 MB as KES does (400, not 413)', async () => {
    const big = Buffer.alloc(1_000_001, 0x20);
    await expect400(call('PUT', '/v1/key/encrypt/target', big), 'invalid request body');
    await expect400(call('PUT', '/v1/key/import/too-big', big), 'invalid import key request body');
  });

  it('refuses an oversize chunked body (no Content-Length) too', async () => {
    const { host, port } = { host: '127.0.0.1', port: Number(server.endpoint.split(':')[1]) };
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host,
          port,
          method: 'PUT',
          path: '/v1/key/encrypt/target',
          rejectUnauthorized: false,
          agent: false,
          ...admin,
        },
        (r) => {
          let body = '';
          r.on('data', (c: Buffer) => (body += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write(Buffer.alloc(64 * 1024, 0x20));
      req.end();
    });
    assert.equal(res.body, errorBody('invalid request body'));
    assert.equal(res.status, 400);
  });

  it('ignores a body on a route that reads none, as KES does', async () => {
    const res = await call('PUT', '/v1/key/create/with-body', Buffer.alloc(10_000, 0x41));
    assert.equal(res.status, 200);
  });

  it('accepts a body of exactly the limit', async () => {
    // {"plaintext":"<base64>"} of exactly 1,000,000 bytes.
    const room = 1_000_000 - '{"plaintext":""}'.length;
    const raw = Buffer.alloc((room / 4) * 3, 7);
    const body = JSON.stringify({ plaintext: raw.toString('base64') });
    assert.equal(body.length, 1_000_000);
    const res = await call('PUT', '/v1/key/encrypt/target', body);
    assert.equal(res.status, 200, res.text);
  });
});

describe('names, patterns and URLs', () => {
  const invalid: [string, string][] = [
    ['my.key', 'my.key'],
    ['key%2F', 'key/'],
    ['%E2%98%B0', '☰'],
    ['%CE%95macs', 'Εmacs'],
    ['hel%3Clo', 'hel<lo'],
    ['a'.repeat(81), 'a'.repeat(81)],
    ['-x', '-x'],
    ['x-', 'x-'],
    ['_', '_'],
    ['', ''],
  ];
  for (const [path, name] of invalid) {
    it(`refuses the key name ${JSON.stringify(name.slice(0, 20))}`, async () => {
      await expect400(
        call('PUT', `/v1/key/generate/${path}`, { context: 'e30=' }),
        `key name '${name}' is empty, too long or contains invalid characters`,
      );
    });
  }

  it('accepts the grammar upstream accepts', async () => {
    for (const name of [
      '0',
      'abc123',
      '123ABC321',
      '_-___---_',
      '_0',
      '0-Z',
      'my_key-0',
      'a'.repeat(80),
    ]) {
      assert.equal((await call('PUT', `/v1/key/create/${name}`)).status, 200, name);
    }
  });

  it('refuses bad policy names, identities and listing patterns', async () => {
    await expect400(
      call('GET', '/v1/policy/describe/p.q'),
      "policy name 'p.q' is empty, too long or contains invalid characters",
    );
    await expect400(
      call('GET', '/v1/identity/describe/a.b'),
      "identity 'a.b' is empty, too long or contains invalid characters",
    );
    await expect400(
      call('GET', `/v1/key/list/${'a'.repeat(81)}`),
      `listing pattern '${'a'.repeat(81)}' is empty, too long or is invalid`,
    );
    // A glob is a legacy NDJSON pattern (the default answer); a broken one is refused too.
    await expect400(
      call('GET', '/v1/policy/list/a%5Bb'),
      "listing pattern 'a[b' is empty, too long or is invalid",
    );
    await expect400(
      kes(server.endpoint, admin, 'GET', '/v1/policy/list/a*b', {
        headers: { Accept: 'application/json' },
      }),
      "listing pattern 'a*b' is empty, too long or is invalid",
    );
  });

  it('refuses a broken percent-encoding and dot segments', async () => {
    await expect400(call('GET', '/v1/key/describe/%zz'), 'invalid URL path');
    await expect400(
      call('PUT', '/v1/key/generate/../create/x', { context: 'e30=' }),
      "key name '../create/x' is empty, too long or contains invalid characters",
    );
  });

  it('takes an enclave name only from the grammar', async () => {
    await expect400(
      call('GET', '/v1/key/list/?enclave=..%2Fx'),
      "enclave name '../x' is empty, too long or contains invalid characters",
    );
  });
});
