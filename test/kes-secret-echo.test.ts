// Secrets given where an identity (or a name) is expected, against a real server with an audit
// log file: API keys (`kes:v1:`, `k1:`, `k2:`), HSM keys and MinIO KMS secret keys are neither
// echoed in KES error messages nor written to the audit log, whether sent plainly or
// percent-encoded, in the URL path or in a request body. A bare API key body on an identity
// route (it parses as an API key without its prefix) is kept out of the audit log too.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiKey } from '../src/identity/index.ts';
import { errorBody, kes, startKesServer } from './kes-server-support.ts';
import type { KesServer } from './kes-server-support.ts';

let server: KesServer;
let auditFile: string;
before(async () => {
  server = await startKesServer({ args: ['--audit-log', 'audit.ndjson'] });
  auditFile = join(server.dir, 'audit.ndjson');
});
after(async () => {
  await server.stop();
});

/** A secret: its full text and its secret part (what must never be shown). */
interface Secret {
  readonly text: string;
  readonly body: string;
}

function secret(prefix: string, body: string): Secret {
  return { text: prefix + body, body };
}

const kesKey = ApiKey.generate('kes').toText();
const k1Key = ApiKey.generate('k1').toK1();
const SECRETS: Record<string, Secret> = {
  'kes:v1: API key': secret('kes:v1:', kesKey.slice('kes:v1:'.length)),
  'k1: API key': secret('k1:', k1Key.slice(3)),
  'k2: API key': secret('k2:', randomBytes(48).toString('base64url')),
  'HSM key': secret('hsm:aes256:', randomBytes(32).toString('base64')),
  'MinIO KMS secret key': secret('my-minio-key:', randomBytes(32).toString('base64')),
};

/** Every way the secret part could show: as is, percent-encoded, or as a JSON string. */
function traces(body: string): string[] {
  const probe = body.slice(8, 28);
  return [probe, encodeURIComponent(probe), JSON.stringify(probe).slice(1, -1)];
}

function assertHidden(text: string, body: string, where: string): void {
  for (const trace of traces(body)) {
    assert.ok(!text.includes(trace), `${where} shows the secret (${trace}):\n${text}`);
  }
}

let sent = 0;
/** One request as the admin, counted (each makes one audit record). */
function request(method: string, path: string, body?: object): ReturnType<typeof kes> {
  sent++;
  return kes(server.endpoint, server.root, method, path, body ? { body } : {});
}

/** The whole audit log, once it holds a record of every request sent (records are flushed shortly). */
async function auditLog(): Promise<string> {
  let text = '';
  // Request records only: the chain's start record carries none (docs/audit.md).
  const requests = (): number => text.split('\n').filter((l) => l.includes('"request":')).length;
  for (let i = 0; i < 50; i++) {
    text = readFileSync(auditFile, 'utf8');
    if (requests() >= sent) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(requests(), sent, 'one audit record per request');
  return text;
}

describe('secrets are never echoed or audited', () => {
  for (const [what, { text, body }] of Object.entries(SECRETS)) {
    it(`${what} in the URL path`, async () => {
      const paths = [
        `/v1/identity/describe/${text}`,
        `/v1/identity/describe/${encodeURIComponent(text)}`,
        `/v1/identity/delete/${encodeURIComponent(text)}`,
        `/v1/key/describe/${encodeURIComponent(text)}`,
        `/no-such-route/${encodeURIComponent(text)}`,
      ];
      for (const path of paths) {
        const method = path.includes('/delete/') ? 'DELETE' : 'GET';
        const res = await request(method, path);
        assert.ok(res.status >= 400, `${path}: ${res.status}`);
        assertHidden(res.text, body, `the answer to ${path}`);
      }
      assertHidden(await auditLog(), body, 'the audit log');
    });

    it(`${what} as the identity of a policy assignment`, async () => {
      const res = await request('POST', '/v1/policy/assign/p', { identity: text });
      assert.equal(res.status, 400);
      assertHidden(res.text, body, 'the answer');
    });
  }

  it('the KES message stays byte-exact but for the secret part', async () => {
    const res = await request('GET', `/v1/identity/describe/${encodeURIComponent(kesKey)}`);
    assert.equal(
      res.text,
      errorBody(`identity 'kes:v1:[redacted]' is empty, too long or contains invalid characters`),
    );
  });

  it('API keys without their prefix on identity routes', async () => {
    // A k1: body has name characters only, so it reaches the identity lookup, unless it starts
    // with '-' (not a name): then the refusal would quote it. Both kinds are sent.
    const k1Body = k1Key.slice(3);
    let dashBody = '';
    for (let i = 0; i < 2000 && !dashBody.startsWith('-'); i++) {
      dashBody = ApiKey.generate('k1').toK1().slice(3);
    }
    assert.ok(dashBody.startsWith('-'));
    // KES accepts a kes:v1: key as bare standard base64; one with '+' or '/' is not a name.
    let kesBody = '';
    for (let i = 0; i < 100 && !/[+/]/.test(kesBody); i++) {
      kesBody = ApiKey.generate('kes').toText().slice('kes:v1:'.length);
    }
    assert.match(kesBody, /[+/]/);
    for (const bare of [k1Body, dashBody, kesBody]) {
      for (const path of ['/v1/identity/describe/', '/v1/identity/delete/']) {
        const method = path.includes('/delete/') ? 'DELETE' : 'GET';
        const res = await request(method, path + encodeURIComponent(bare));
        assert.ok(res.status >= 400, `${path}: ${res.status}`);
        assertHidden(res.text, bare, `the answer to ${path}`);
      }
      const assigned = await request('POST', '/v1/policy/assign/p', { identity: bare });
      assert.equal(assigned.status, 400);
      assertHidden(assigned.text, bare, 'the answer');
      assertHidden(await auditLog(), bare, 'the audit log');
    }
  });

  it('identities are still audited', async () => {
    const identity = ApiKey.generate('kes').identity.toHex();
    const res = await request('GET', `/v1/identity/describe/${identity}`);
    assert.equal(res.status, 404);
    assert.ok((await auditLog()).includes(`"path":"/v1/identity/describe/${identity}"`));
  });
});
