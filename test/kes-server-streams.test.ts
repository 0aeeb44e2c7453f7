// `/v1/log/audit` and `/v1/log/error`: NDJSON events as they happen, to several subscribers at
// once, each allowed by policy; a subscriber that stops reading loses events but never slows
// requests or the other subscribers.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey } from '../src/identity/index.ts';
import {
  apiKeyCert,
  errorBody,
  kes,
  keepAlive,
  openStalledStream,
  openStream,
  startKesServer,
} from './kes-server-support.ts';
import type { KesServer } from './kes-server-support.ts';

const admin = apiKeyCert(ApiKey.generate('kes'));
const monitor = apiKeyCert();
const user = apiKeyCert();
let server: KesServer;

before(async () => {
  server = await startKesServer({
    config:
      `admin:\n  identity: ${admin.identity}\n` +
      `policy:\n  monitor:\n    allow: [/v1/log/audit, /v1/log/error]\n    identities: [${monitor.identity}]\n` +
      `  user:\n    allow: [/v1/key/create/*]\n    identities: [${user.identity}]\n`,
  });
});

after(async () => {
  await server.stop();
});

/** The value of a single-sample metric. */
async function metric(name: string): Promise<number> {
  const text = (await kes(server.endpoint, admin, 'GET', '/v1/metrics')).text;
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, name);
  return Number(m[1]);
}

describe('audit stream', () => {
  it('delivers one NDJSON event per request to every subscriber', async () => {
    const a = await openStream(server.endpoint, admin, '/v1/log/audit');
    const b = await openStream(server.endpoint, monitor, '/v1/log/audit');
    assert.equal(a.status, 200);
    assert.equal(a.contentType, 'application/x-ndjson');
    assert.equal((await kes(server.endpoint, user, 'PUT', '/v1/key/create/streamed')).status, 200);
    assert.equal((await kes(server.endpoint, user, 'GET', '/v1/status')).status, 403);
    for (const stream of [a, b]) {
      const line = await stream.waitFor((l) => l.includes('/v1/key/create/streamed'));
      const event = JSON.parse(line) as {
        time: string;
        request: { ip: string; path: string; identity: string };
        response: { code: number; time: number };
      };
      assert.deepEqual(Object.keys(event), ['time', 'request', 'response']);
      assert.match(event.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      assert.deepEqual(event.request, {
        ip: '127.0.0.1',
        path: '/v1/key/create/streamed',
        identity: user.identity,
      });
      assert.equal(event.response.code, 200);
      assert.ok(Number.isInteger(event.response.time) && event.response.time > 0);
      const denied = await stream.waitFor((l) => l.includes('"/v1/status"'));
      assert.equal((JSON.parse(denied) as { response: { code: number } }).response.code, 403);
    }
    a.close();
    b.close();
  });

  it('is refused to identities no policy lets stream', async () => {
    const res = await kes(server.endpoint, user, 'GET', '/v1/log/audit');
    assert.equal(res.text, errorBody('not authorized: insufficient permissions'));
    assert.equal(res.status, 403);
  });

  it('a subscriber that stops reading loses events; requests and other subscribers do not wait', async (t) => {
    const stalled = await openStalledStream(server.endpoint, admin, '/v1/log/audit');
    const reader = await openStream(server.endpoint, monitor, '/v1/log/audit');
    const before = await metric('kes_log_audit_events');
    // 1000 requests with 15 KB paths: 15 MB of events, more than the socket buffers (a few MB)
    // plus the 1 MiB a subscriber may have pending.
    const N = 1000;
    const long = 'x'.repeat(15_000);
    const agent = keepAlive(admin);
    const started = Date.now();
    try {
      for (let i = 0; i < N; i++) {
        const res = await kes(server.endpoint, admin, 'GET', `/v1/nothing/${i}/${long}`, { agent });
        assert.equal(res.status, 404);
      }
    } finally {
      agent.destroy();
    }
    const elapsed = Date.now() - started;
    await reader.waitFor((l) => l.includes(`/v1/nothing/${N - 1}/`));
    assert.equal(reader.lines.filter((l) => l.includes('/v1/nothing/')).length, N);
    const written = (await metric('kes_log_audit_events')) - before;
    assert.ok(
      written < 2 * N,
      `events written: ${written} (the stalled subscriber must lose some)`,
    );
    t.diagnostic(
      `${N} requests in ${elapsed} ms; ${written - N} events reached the stalled subscriber`,
    );
    assert.ok(written >= N, `events written: ${written}`);
    assert.ok(elapsed < 60_000, `${N} requests took ${elapsed} ms`);
    stalled.destroy();
    reader.close();
  });
});

describe('error stream', () => {
  it('streams the server log as {"message": "<slog text>"} lines', async () => {
    const errors = await openStream(server.endpoint, monitor, '/v1/log/error');
    assert.equal(errors.contentType, 'application/x-ndjson');
    server.child.kill('SIGHUP');
    const line = await errors.waitFor((l) => l.includes('configuration reloaded'));
    assert.match(
      (JSON.parse(line) as { message: string }).message,
      /^time=\d{4}-\d\d-\d\dT\S+Z level=INFO msg="config\.yml: configuration reloaded"$/,
    );
    assert.ok((await metric('kes_log_error_events')) >= 1);
    errors.close();
  });
});
