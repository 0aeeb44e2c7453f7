// Keyhold's GCP Secret Manager key store against a local Secret Manager and token endpoint over
// TLS: KES's layout (secret id = key name, the stored value as version 1's payload), create-if-
// absent (also completing a secret KES left without a version), paging, a service-account JWT
// grant verified with the account's public key, renewal after a token expires, a wrong key
// refused, and a gateway process over it.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseKesKeyValue } from '../src/crypto/index.ts';
import { createCertificate } from '../src/identity/index.ts';
import { GcpKeyStore } from '../src/keystore/gcp/gcp-keystore.ts';
import type { GcpStoreConfig } from '../src/config/keystore-config.ts';
import { KeyExistsError, KeyNotFoundError } from '../src/keystore/keystore.ts';
import { ApiKey, KesClient } from '../src/sdk/index.ts';
import { FakeSecretManager } from './helpers/gcp-server.ts';
import { apiKeyCert, startKesServer } from './kes-server-support.ts';

const account = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: typeof account) => k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const EMAIL = 'kes@my-project.iam.gserviceaccount.com';

describe('GCP Secret Manager key store', () => {
  let gcp: FakeSecretManager;
  const config = (privateKey = pem(account)): GcpStoreConfig => ({
    kind: 'gcp',
    projectId: 'my-project',
    endpoint: gcp.endpoint,
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    credentials: { clientEmail: EMAIL, clientId: '1', privateKeyId: 'k1', privateKey },
  });
  const open = (privateKey?: string) =>
    GcpKeyStore.connect(config(privateKey), {
      ca: gcp.ca,
      env: { KEYHOLD_GCP_TOKEN_URI: gcp.tokenUri },
    });

  before(async () => {
    gcp = await FakeSecretManager.start({
      project: 'my-project',
      projectNumber: '123456789',
      accounts: { [EMAIL]: account.publicKey },
    });
  });
  after(() => gcp.stop());

  it('stores the value as version 1; exists; later versions do not change the key', async () => {
    const store = await open();
    await store.create('key-a', 'VALUE-A');
    assert.equal(Buffer.from(gcp.secrets.get('key-a')![0]!, 'base64').toString(), 'VALUE-A');
    assert.equal(await store.get('key-a'), 'VALUE-A');
    await assert.rejects(store.create('key-a', 'X'), KeyExistsError);
    gcp.secrets.get('key-a')!.push(Buffer.from('LATER').toString('base64'));
    assert.equal(await store.get('key-a'), 'VALUE-A');
    await assert.rejects(store.get('nope'), KeyNotFoundError);
    // A secret without versions (KES's second call failed) is completed, not "exists" forever.
    gcp.secrets.set('half', []);
    await store.create('half', 'H');
    assert.equal(await store.get('half'), 'H');
    await store.delete('half');
    await assert.rejects(store.delete('half'), KeyNotFoundError);
    for (let i = 0; i < 260; i++) gcp.secrets.set(`page-${i}`, ['dg==']);
    assert.equal((await store.list('page-')).length, 260);
  });

  it('renews an expired token; a key the account does not have is refused', async () => {
    const store = await open();
    await store.status();
    gcp.expireTokens();
    await store.status();
    const wrong = await open(pem(other));
    await assert.rejects(wrong.status(), /invalid_grant Invalid JWT Signature/);
  });

  it('a gateway process creates keys in KES’s format and serves data keys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyhold-gcp-'));
    writeFileSync(join(dir, 'ca.pem'), gcp.ca);
    const appKey = ApiKey.generate('kes');
    const app = apiKeyCert(appKey);
    const tls = createCertificate({
      keyType: 'p256',
      commonName: 'k',
      ips: ['127.0.0.1'],
      validFor: 3600_000,
    });
    // The private key on one line with literal \n sequences (single-quoted YAML keeps them).
    const oneLine = pem(account).trim().replace(/\n/g, '\\n');
    const server = await startKesServer({
      config: `admin:\n  identity: disabled\ntls:\n  key: ./s.key\n  cert: ./s.cert\npolicy:\n  app:\n    allow: ["/v1/key/*"]\n    identities: ["${app.identity}"]\nkeystore:\n  gcp:\n    secretmanager:\n      project_id: my-project\n      endpoint: ${gcp.endpoint}\n      credentials:\n        client_email: ${EMAIL}\n        client_id: "1"\n        private_key_id: k1\n        private_key: '${oneLine}'\n`,
      files: { 's.key': tls.key, 's.cert': tls.cert },
      env: { NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'), KEYHOLD_GCP_TOKEN_URI: gcp.tokenUri },
    });
    try {
      const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
      await client.createKey('my-key');
      const stored = Buffer.from(gcp.secrets.get('my-key')![0]!, 'base64').toString();
      assert.equal(parseKesKeyValue(stored).createdBy, app.identity);
      const dek = await client.generateKey('my-key');
      assert.ok((await client.decrypt('my-key', dek.ciphertext)).equals(dek.plaintext));
      await assert.rejects(client.createKey('my-key'), /key already exists/);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
