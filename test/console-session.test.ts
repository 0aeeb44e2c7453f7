// The web console's session endpoints over raw HTTPS against a real server (no browser): sign-in
// by challenge and signature or by client certificate, what a wrong signature, a replayed or
// foreign challenge, an unknown identity, an ended or idle session, a missing CSRF token, a
// foreign Origin and an oversized body get, and whose identity the audit log records.

import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiKey, parseApiKey } from '../src/identity/index.ts';
import { consoleCall, proofFor, sessionIdOf, signIn } from './helpers/console-client.ts';
import { startServer, tempDir } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

describe('console sessions (raw HTTPS, 2 workers)', () => {
  let server: ServerProcess;
  let endpoint: string;
  let rootIdentity: string;

  before(async () => {
    const { dir } = tempDir();
    server = await startServer({
      dir,
      args: [
        '--workers',
        '2',
        '--console-session-idle',
        '3s',
        '--audit-log',
        join(dir, 'audit.log'),
      ],
    });
    endpoint = server.endpoint;
    rootIdentity = parseApiKey(server.rootApiKey).identity.toH1();
  });
  after(async () => {
    await server.stop();
  });

  it('signs in with a signed challenge; the cookie is HttpOnly, Secure, SameSite=Strict, __Host-', async () => {
    const { sid, csrf, answer } = await signIn(endpoint, server.rootApiKey);
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(answer.json.identity, rootIdentity);
    assert.equal(answer.json.root, true);
    assert.match(sid, /^[A-Za-z0-9_-]{43}$/);
    assert.match(csrf, /^[A-Za-z0-9_-]{43}$/);
    const cookie = String(answer.headers['set-cookie']);
    for (const part of ['Path=/', 'Secure', 'HttpOnly', 'SameSite=Strict', 'Max-Age=']) {
      assert.ok(cookie.includes(part), `${part} in ${cookie}`);
    }
    assert.ok(!cookie.includes('Domain'), cookie);
    // Any worker knows the session: several requests spread over the pool.
    for (let i = 0; i < 6; i++) {
      const res = await consoleCall(endpoint, { path: 'session', sid });
      assert.equal(res.json.signedIn, true);
      assert.equal(res.json.identity, rootIdentity);
    }
  });

  it('refuses a signature that does not verify, and the challenge is then spent', async () => {
    const { json } = await consoleCall(endpoint, { path: 'challenge', body: {} });
    const challenge = json.challenge as string;
    const proof = proofFor(server.rootApiKey, endpoint, `${challenge}x`);
    const bad = await consoleCall(endpoint, { path: 'sign-in', body: { challenge, ...proof } });
    assert.equal(bad.status, 401);
    assert.deepEqual(bad.json, {
      error: { code: 'UNAUTHENTICATED', message: 'the signature does not verify' },
    });
    assert.equal(sessionIdOf(bad), '');
    const retry = await consoleCall(endpoint, {
      path: 'sign-in',
      body: { challenge, ...proofFor(server.rootApiKey, endpoint, challenge) },
    });
    assert.equal(retry.status, 401);
    assert.match((retry.json.error as { message: string }).message, /used or expired/);
  });

  it('refuses a replayed challenge', async () => {
    const { json } = await consoleCall(endpoint, { path: 'challenge', body: {} });
    const challenge = json.challenge as string;
    const body = { challenge, ...proofFor(server.rootApiKey, endpoint, challenge) };
    const first = await consoleCall(endpoint, { path: 'sign-in', body });
    assert.equal(first.status, 200);
    const replay = await consoleCall(endpoint, { path: 'sign-in', body });
    assert.equal(replay.status, 401);
    assert.equal(sessionIdOf(replay), '');
  });

  it('refuses a signature made for another host, and a challenge nobody issued', async () => {
    const { json } = await consoleCall(endpoint, { path: 'challenge', body: {} });
    const challenge = json.challenge as string;
    const other = await consoleCall(endpoint, {
      path: 'sign-in',
      body: { challenge, ...proofFor(server.rootApiKey, 'evil.example:443', challenge) },
    });
    assert.equal(other.status, 401);
    const made = 'A'.repeat(43);
    const invented = await consoleCall(endpoint, {
      path: 'sign-in',
      body: { challenge: made, ...proofFor(server.rootApiKey, endpoint, made) },
    });
    assert.equal(invented.status, 401);
  });

  it('refuses an identity the server does not know', async () => {
    const stranger = ApiKey.generate().toText();
    const { answer } = await signIn(endpoint, stranger);
    assert.equal(answer.status, 403);
    assert.match((answer.json.error as { message: string }).message, /not known/);
  });

  it('signs in a client certificate of a known identity without an API key', async () => {
    const anonymous = await consoleCall(endpoint, { path: 'session' });
    assert.equal(anonymous.json.certificate, '');
    const offered = await consoleCall(endpoint, { path: 'session', apiKey: server.rootApiKey });
    assert.equal(offered.json.certificate, rootIdentity);
    const res = await consoleCall(endpoint, {
      path: 'sign-in',
      body: { certificate: true },
      apiKey: server.rootApiKey,
    });
    assert.equal(res.status, 200);
    assert.equal(res.json.identity, rootIdentity);
    const none = await consoleCall(endpoint, { path: 'sign-in', body: { certificate: true } });
    assert.equal(none.status, 400);
  });

  it('refuses state-changing requests without the CSRF token or from another origin', async () => {
    const { sid, csrf } = await signIn(endpoint, server.rootApiKey);
    const create = (extra: object) =>
      consoleCall(endpoint, {
        path: 'enclaves/create',
        body: { name: 'csrf-target' },
        sid,
        ...extra,
      });
    const noToken = await create({});
    assert.equal(noToken.status, 403);
    assert.match((noToken.json.error as { message: string }).message, /CSRF/);
    const wrongToken = await create({ csrf: csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) });
    assert.equal(wrongToken.status, 403);
    const foreign = await create({ csrf, origin: 'https://evil.example' });
    assert.equal(foreign.status, 403);
    const noOrigin = await create({ csrf, origin: null });
    assert.equal(noOrigin.status, 403);
    const form = await create({ csrf, contentType: 'text/plain' });
    assert.equal(form.status, 400);
    const list = await consoleCall(endpoint, { path: 'enclaves', sid });
    const names = (list.json.items as { name: string }[]).map((e) => e.name);
    assert.ok(!names.includes('csrf-target'), 'no refused request created the enclave');
    const ok = await create({ csrf });
    assert.equal(ok.status, 200, ok.body.toString());
  });

  it('ends a session at sign-out: the cookie no longer works anywhere', async () => {
    const { sid, csrf } = await signIn(endpoint, server.rootApiKey);
    assert.equal((await consoleCall(endpoint, { path: 'enclaves', sid })).status, 200);
    const out = await consoleCall(endpoint, { path: 'sign-out', body: {}, sid, csrf });
    assert.equal(out.status, 200);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    for (let i = 0; i < 4; i++) {
      const stolen = await consoleCall(endpoint, { path: 'enclaves', sid });
      assert.equal(stolen.status, 401);
    }
  });

  it('gives a new session id at every sign-in and ends the one the browser had (fixation)', async () => {
    const planted = await signIn(endpoint, server.rootApiKey);
    const again = await signIn(endpoint, server.rootApiKey, planted.sid);
    assert.notEqual(again.sid, planted.sid);
    assert.equal((await consoleCall(endpoint, { path: 'enclaves', sid: planted.sid })).status, 401);
    assert.equal((await consoleCall(endpoint, { path: 'enclaves', sid: again.sid })).status, 200);
    const invented = await signIn(endpoint, server.rootApiKey, 'attacker-chosen-id');
    assert.notEqual(invented.sid, 'attacker-chosen-id');
    const res = await consoleCall(endpoint, { path: 'enclaves', sid: 'attacker-chosen-id' });
    assert.equal(res.status, 401);
  });

  it('ends an idle session', async () => {
    const { sid } = await signIn(endpoint, server.rootApiKey);
    assert.equal((await consoleCall(endpoint, { path: 'enclaves', sid })).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const res = await consoleCall(endpoint, { path: 'enclaves', sid });
    assert.equal(res.status, 401);
    assert.deepEqual(res.json, {
      error: {
        code: 'UNAUTHENTICATED',
        message: 'not signed in (or the session ended): sign in again',
      },
    });
  });

  it('refuses bodies over 64 KiB, bodies that are not JSON objects and unknown paths', async () => {
    const { sid, csrf } = await signIn(endpoint, server.rootApiKey);
    const huge = await consoleCall(endpoint, {
      path: 'enclaves/create',
      raw: Buffer.alloc(1024 * 1024, 0x20),
      sid,
      csrf,
    });
    assert.equal(huge.status, 413);
    assert.equal((huge.json.error as { code: string }).code, 'TOO_LARGE');
    const notJson = await consoleCall(endpoint, {
      path: 'enclaves/create',
      raw: Buffer.from('{'),
      sid,
      csrf,
    });
    assert.equal(notJson.status, 400);
    assert.deepEqual(notJson.json, {
      error: { code: 'BAD_REQUEST', message: 'the body is not valid JSON' },
    });
    const array = await consoleCall(endpoint, { path: 'enclaves/create', body: [], sid, csrf });
    assert.equal(array.status, 400);
    const unknown = await consoleCall(endpoint, { path: 'nothing-here', sid });
    assert.equal(unknown.status, 404);
    const proto = await consoleCall(endpoint, { path: 'constructor', body: {}, sid, csrf });
    assert.equal(proto.status, 404);
  });

  it('audits console actions under the signed-in identity', async () => {
    const { sid, csrf } = await signIn(endpoint, server.rootApiKey);
    const res = await consoleCall(endpoint, {
      path: 'enclaves/create',
      body: { name: 'audited-enclave' },
      sid,
      csrf,
    });
    assert.equal(res.status, 200);
    // The audit file is written by the primary within milliseconds; bounded wait.
    let lines: { request: { path: string; identity: string }; response: { code: number } }[] = [];
    for (let i = 0; i < 50; i++) {
      lines = readFileSync(join(server.dir, 'audit.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('/console/api/enclaves/create'))
        .map((l) => JSON.parse(l) as (typeof lines)[number]);
      if (lines.some((l) => l.response.code === 200)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const done = lines.filter((l) => l.response.code === 200);
    assert.ok(done.length > 0, 'the create is in the audit log');
    for (const line of done) assert.equal(line.request.identity, rootIdentity);
  });

  it('signs in with k2: (ECDSA) keys; refuses a proof that does not verify or names no curve', async () => {
    const { sid: rootSid, csrf } = await signIn(endpoint, server.rootApiKey);
    for (const [curve, width] of [
      ['prime256v1', 32],
      ['secp384r1', 48],
      ['secp521r1', 66],
    ] as const) {
      const ecdh = createECDH(curve);
      ecdh.generateKeys();
      const raw = ecdh.getPrivateKey();
      const apiKey = `k2:${Buffer.concat([Buffer.alloc(width - raw.length), raw]).toString('base64url')}`;
      const identity = parseApiKey(apiKey).identity.toH1();
      // Unknown first, then registered through the console (the same IDENTITY:CREATE).
      assert.equal((await signIn(endpoint, apiKey)).answer.status, 403);
      const made = await consoleCall(endpoint, {
        path: 'identities/create',
        body: { identity, privilege: 'Admin' },
        sid: rootSid,
        csrf,
      });
      assert.equal(made.status, 200, made.body.toString());
      const { answer } = await signIn(endpoint, apiKey);
      assert.equal(answer.status, 200, answer.body.toString());
      assert.equal(answer.json.identity, identity, curve);
    }
    const k2 = `k2:${Buffer.alloc(32, 7).toString('base64url')}`;
    const { json } = await consoleCall(endpoint, { path: 'challenge', body: {} });
    const challenge = json.challenge as string;
    const proof = proofFor(k2, endpoint, `${challenge}x`);
    const bad = await consoleCall(endpoint, { path: 'sign-in', body: { challenge, ...proof } });
    assert.equal(bad.status, 401);
    // An Ed25519 key offered as ECDSA is not a P-256, P-384 or P-521 key.
    const other = await consoleCall(endpoint, { path: 'challenge', body: {} });
    const ed = proofFor(server.rootApiKey, endpoint, other.json.challenge as string);
    const wrong = await consoleCall(endpoint, {
      path: 'sign-in',
      body: { challenge: other.json.challenge, ...ed, algorithm: 'ECDSA' },
    });
    assert.equal(wrong.status, 400);
    assert.match((wrong.json.error as { message: string }).message, /P-256, P-384 or P-521/);
  });

  it('imports a key: same checks as the API, bytes never in an answer, CSRF required', async () => {
    const { sid, csrf } = await signIn(endpoint, server.rootApiKey);
    const key = randomBytes(32);
    const call = (body: Record<string, unknown>, token = csrf) =>
      consoleCall(endpoint, { path: 'keys/import', body, sid, csrf: token });
    const noToken = await call({ name: 'imp', key: key.toString('base64') }, 'wrong');
    assert.equal(noToken.status, 403);
    const errorOf = (res: { json: Record<string, unknown> }) =>
      (res.json.error as { message: string }).message;
    const notBase64 = await call({ name: 'imp', key: key.toString('hex').slice(0, 63) });
    assert.equal(notBase64.status, 400);
    assert.equal(errorOf(notBase64), "'key' must be standard base64");
    const short = await call({ name: 'imp', key: key.subarray(0, 16).toString('base64') });
    assert.equal(short.status, 406);
    assert.equal(errorOf(short), "invalid key size for 'AES256'");
    const badType = await call({ name: 'imp', type: 'DES', key: key.toString('base64') });
    assert.equal(badType.status, 406);
    assert.equal(errorOf(badType), "algorithm 'DES' is not supported");
    const badHmac = await call({
      name: 'imp',
      key: key.toString('base64'),
      hmacKey: randomBytes(16).toString('base64'),
    });
    assert.equal(badHmac.status, 406);
    assert.equal(errorOf(badHmac), 'invalid HMAC key size: must be 32 bytes');
    const ok = await call({ name: 'imp', type: 'ChaCha20', key: key.toString('base64') });
    assert.equal(ok.status, 200, ok.body.toString());
    assert.deepEqual(ok.json, {});
    const again = await call({ name: 'imp', key: key.toString('base64') });
    assert.equal(again.status, 409);
    assert.equal(errorOf(again), 'key already exists');
    const listed = await consoleCall(endpoint, { path: 'key?name=imp', sid });
    const versions = listed.json.versions as { type: string; imported: boolean }[];
    assert.deepEqual(
      versions.map((v) => [v.type, v.imported]),
      [['ChaCha20', true]],
    );
    for (const res of [notBase64, short, badHmac, ok, again, listed]) {
      assert.ok(!res.body.toString().includes(key.toString('base64')));
      assert.ok(!res.body.toString().includes(key.toString('hex').slice(0, 63)));
    }
  });

  it('creates an identity with tags; refuses tags that are not strings', async () => {
    const { sid, csrf } = await signIn(endpoint, server.rootApiKey);
    const identity = ApiKey.generate().identity.toH1();
    const bad = await consoleCall(endpoint, {
      path: 'identities/create',
      body: { identity, tags: { team: 7 } },
      sid,
      csrf,
    });
    assert.equal(bad.status, 400);
    assert.equal(
      (bad.json.error as { message: string }).message,
      "tag 'team' must have a string value",
    );
    const made = await consoleCall(endpoint, {
      path: 'identities/create',
      body: { identity, tags: { team: 'billing' } },
      sid,
      csrf,
    });
    assert.equal(made.status, 200, made.body.toString());
    const read = await consoleCall(endpoint, {
      path: `identity?identity=${encodeURIComponent(identity)}`,
      sid,
    });
    assert.deepEqual(read.json.tags, { team: 'billing' });
  });
});
