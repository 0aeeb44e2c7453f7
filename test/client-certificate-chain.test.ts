// Identity spoofing through the client certificate chain, against a real server: a client that
// holds only its own key presents [its own certificate, a forged certificate carrying the
// admin's public key]. The TLS handshake proves only the first certificate's key, so neither
// face may identify the client as the admin.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parseApiKey } from '../src/identity/index.ts';
import { hostileCertificate, spkiOf } from '../src/identity/test-support.ts';
import { errorBody, kes, startKesServer } from './kes-server-support.ts';
import type { KesServer } from './kes-server-support.ts';

let server: KesServer;
// The admin's public key: all an attacker needs (certificates are not secret).
let adminSpki: Buffer;
const attacker = generateKeyPairSync('ed25519').privateKey;
const attackerKey = attacker.export({ type: 'pkcs8', format: 'pem' }) as string;

before(async () => {
  server = await startKesServer();
  adminSpki = spkiOf(parseApiKey(server.rootApiKey).privateKey);
});
after(async () => {
  await server.stop();
});

// The attacker's own certificate (whose key the handshake proves) comes first.
const FIRST = {
  'a CA:TRUE certificate first': { isCa: true },
  'a first certificate the DER reader refuses': { nonMinimalLength: true },
} as const;

/** The attacker's certificate, then a forged one carrying the admin's public key. */
function chainOf(first: { isCa?: boolean; nonMinimalLength?: boolean }): {
  cert: string;
  key: string;
} {
  const own = hostileCertificate({ spki: spkiOf(attacker), signer: attacker, ...first });
  const forged = hostileCertificate({ spki: adminSpki, signer: attacker, commonName: 'admin' });
  return { cert: own + forged, key: attackerKey };
}

describe('a forged certificate after the proven one', () => {
  for (const [what, first] of Object.entries(FIRST)) {
    it(`KES: ${what} is not the admin`, async () => {
      const chain = chainOf(first);
      const name = `spoofed-${what.length}`;
      const created = await kes(server.endpoint, chain, 'POST', `/v1/key/create/${name}`);
      assert.equal(created.status, 400, created.text);
      assert.equal(created.text, errorBody('tls: client certificate is required'));
      const self = await kes(server.endpoint, chain, 'GET', '/v1/identity/self/describe');
      assert.doesNotMatch(self.text, /"admin":true/);
      const described = await kes(server.endpoint, server.root, 'GET', `/v1/key/describe/${name}`);
      assert.equal(described.status, 404, 'the key was not created');
    });

    it(`KMS: ${what} is not the admin`, async () => {
      // The metrics are for SysAdmins (the root) only.
      const metrics = await kes(server.endpoint, chainOf(first), 'GET', '/v1/health/metrics');
      assert.equal(metrics.status, 403, metrics.text);
    });
  }

  it('the honest chain (leaf first, then its CA) keeps working on the KES face', async () => {
    const ca = hostileCertificate({ spki: spkiOf(attacker), signer: attacker, isCa: true });
    const holder = generateKeyPairSync('ed25519').privateKey;
    const leaf = hostileCertificate({ spki: spkiOf(holder), signer: attacker });
    const chain = {
      cert: leaf + ca,
      key: holder.export({ type: 'pkcs8', format: 'pem' }) as string,
    };
    // Not the admin and unknown: a policy decision (403), not a missing certificate (400).
    const created = await kes(server.endpoint, chain, 'POST', '/v1/key/create/honest');
    assert.equal(created.status, 403, created.text);
  });
});
