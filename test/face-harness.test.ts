// The in-process face harness (test/helpers/face-harness.ts) answers as a real server does: the
// same status, headers and body bytes for the same request, the caller named per request, and
// an audit record per answer. One real server is started to compare against.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey } from '../src/identity/index.ts';
import type { AuditRecord } from '../src/observe/audit.ts';
import { startFaceHarness } from './helpers/face-harness.ts';
import type { FaceHarness } from './helpers/face-harness.ts';
import { call } from './helpers/authz-fixtures.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';
import { clientCertificateForApiKey, parseApiKey } from '../src/identity/index.ts';

let harness: FaceHarness;
let real: ServerProcess;

before(async () => {
  [harness, real] = await Promise.all([
    startFaceHarness(),
    startServer({
      // The harness serves with the lean server's connection code: compare with the same.
      args: ['--http', 'lean', '--workers', '0'],
    }),
  ]);
});

after(async () => {
  await Promise.all([harness.close(), real.stop()]);
});

/** Headers that differ between two runs of the same request. */
const VARYING = new Set(['date']);

function comparable(headers: Record<string, unknown>, also: string[]): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => !VARYING.has(name) && !also.includes(name)),
  );
}

describe('in-process face harness', () => {
  it('answers like a real server, byte for byte, for both faces and for errors', async () => {
    const rootCert = (() => {
      const made = clientCertificateForApiKey(parseApiKey(real.rootApiKey));
      return { cert: made.cert, key: made.key };
    })();
    const stranger = ApiKey.generate();
    const strangerCert = (() => {
      const made = clientCertificateForApiKey(stranger);
      return { cert: made.cert, key: made.key };
    })();
    assert.equal(harness.rootApiKey, real.rootApiKey, 'the same HSM key gives the same root');
    const cases: [string, string, string | undefined, 'root' | 'stranger' | 'none'][] = [
      ['GET', '/version', undefined, 'root'],
      ['GET', '/v1/status', undefined, 'root'],
      ['GET', '/v1/key/list/*', undefined, 'root'],
      ['GET', '/v1/key/list/*', undefined, 'stranger'],
      ['GET', '/v1/key/list/*', undefined, 'none'],
      ['POST', '/v1/key/create/harness-key', undefined, 'root'],
      ['POST', '/v1/key/create/harness-key', undefined, 'root'],
      ['GET', '/v1/key/describe/harness-key', undefined, 'root'],
      ['POST', '/v1/key/encrypt/harness-key', '{"plaintext":"not base64"}', 'root'],
      ['GET', '/v1/nothing-here', undefined, 'root'],
      ['PUT', '/v1/kms', 'garbage', 'root'],
      ['POST', '/v1/kms', 'garbage', 'stranger'],
    ];
    for (const [method, path, body, who] of cases) {
      const got = await harness.request({
        method,
        path,
        // What node:https sends without an agent (`call` below): the answers then match.
        headers: { Connection: 'close' },
        ...(body === undefined ? {} : { body }),
        as:
          who === 'root'
            ? harness.rootIdentity
            : who === 'stranger'
              ? stranger.identity.toH1()
              : '',
      });
      const want = await call(
        real.endpoint,
        who === 'root' ? rootCert : who === 'stranger' ? strangerCert : null,
        method,
        path,
        body,
      );
      const label = `${method} ${path} as ${who}`;
      assert.equal(got.status, want.status, label);
      // Answers that carry times, hosts or creators differ in those (and so in length); the
      // rest must match exactly.
      const varies = ['/version', '/v1/status', '/v1/key/describe/'].some((p) =>
        path.startsWith(p),
      );
      const ignore = varies ? ['content-length'] : [];
      assert.deepEqual(comparable(got.headers, ignore), comparable(want.headers, ignore), label);
      if (varies) {
        assert.deepEqual(
          Object.keys(got.json<object>()),
          Object.keys(JSON.parse(want.body.toString()) as object),
          label,
        );
      } else {
        assert.equal(got.body.toString('hex'), want.body.toString('hex'), label);
      }
      assert.ok(got.raw.toString('latin1').startsWith(`HTTP/1.1 ${String(got.status)} `), label);
    }
  });

  it('lets a test send exact bytes and read exact bytes back (pipelined requests)', async () => {
    const out = await harness.exchange(
      'GET /v1/health/live HTTP/1.1\r\nHost: k\r\n\r\nGET /v1/health/live HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n',
    );
    const text = out.toString('latin1');
    assert.equal(text.match(/^HTTP\/1\.1 200 /gm)?.length, 2, text);
  });

  it('records one audit record per answer, naming the caller, refused requests too', async () => {
    const records: AuditRecord[] = [];
    const stop = harness.server.audit.subscribe((record) => records.push(record));
    try {
      const stranger = ApiKey.generate().identity.toH1();
      assert.equal(
        (await harness.request({ method: 'GET', path: '/v1/status', as: harness.rootIdentity }))
          .status,
        200,
      );
      assert.equal(
        (await harness.request({ method: 'GET', path: '/v1/status', as: stranger })).status,
        403,
      );
      await harness.exchange('GET /v1/status HTTP/1.1\r\n\r\n');
      assert.deepEqual(
        records.map((r) => [r.identity, r.path, r.status]),
        [
          [harness.rootIdentity, '/v1/status', 200],
          [stranger, '/v1/status', 403],
          ['', '/v1/status', 400],
        ],
      );
    } finally {
      stop();
    }
  });

  it('answers a request without Host 400 and closes, as the lean server does', async () => {
    const out = await harness.exchange('GET /v1/health/live HTTP/1.1\r\n\r\n');
    assert.match(out.toString('latin1'), /^HTTP\/1\.1 400 Bad Request\r\n/);
  });
});
