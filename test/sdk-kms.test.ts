// End-to-end tests of the KMS SDK against a real `keyhold server` over mTLS: every command,
// every kms-go error pair (exact status and message), batches, rotation with version-0 decrypt,
// paging over thousands of keys, enclave isolation, backup/restore and the log stream. The server
// is one process (`--workers 0`): the SDK and the commands are the subject here; the same SDK
// against the default worker processes is test/sdk-kms-access.test.ts's, and a restore seen by
// the workers test/server-durability.test.ts's.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SecretKey } from '../src/crypto/index.ts';
import {
  ApiKey,
  KMS_API_ERRORS,
  KmsClient,
  isKeyNotFound,
  isPermissionDenied,
  parseApiKey,
} from '../src/sdk/index.ts';
import type { KeyStatus } from '../src/sdk/index.ts';
import { clientFor, inParallel, rejectsWith } from './helpers/kms-assert.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

const E = KMS_API_ERRORS;

let server: ServerProcess;
let root: KmsClient;

before(async () => {
  server = await startServer({ args: ['--workers', '0'] });
  root = clientFor(server.endpoint, server.rootApiKey);
});

after(async () => {
  root.close();
  await server.stop();
});

describe('server endpoints', () => {
  it('version names the answering host and API v1', async () => {
    const version = await root.version();
    assert.equal(version.apiVersion, 'v1');
    assert.equal(version.host, server.endpoint);
    assert.match(version.version, /\S/);
  });

  it('live and ready (reads and writes) succeed', async () => {
    await root.live();
    await root.ready();
    await root.ready({ write: true });
  });

  it('metrics are Prometheus text for the root identity', async () => {
    const text = await root.metrics();
    assert.match(text, /^# (HELP|TYPE) /m);
  });

  it('cluster status shows one node, the leader, at this endpoint', async () => {
    const status = await root.clusterStatus();
    assert.equal(status.nodesUp.size, 1);
    assert.equal(status.nodesDown.size, 0);
    const [id, node] = [...status.nodesUp][0]!;
    assert.equal(node.role, 'Leader');
    assert.equal(node.host, server.endpoint);
    assert.equal(node.leaderId, id);
    assert.ok(node.commit >= 1);
  });

  it('the client knows its identity', () => {
    assert.equal(root.identity, parseApiKey(server.rootApiKey).identity.toH1());
    assert.match(root.identity, /^h1:[A-Za-z0-9_-]{43}$/);
  });
});

describe('enclaves', () => {
  it('create, status (single and batched), list with prefix, delete', async () => {
    await root.createEnclave('tenant-a');
    await root.createEnclave('tenant-b');
    await rejectsWith(root.createEnclave('tenant-a'), E.enclaveExists);

    const status = await root.enclaveStatus('tenant-a');
    assert.equal(status.name, 'tenant-a');
    assert.equal(status.createdBy, root.identity);
    assert.ok(status.createdAt instanceof Date);
    assert.ok(Math.abs(status.createdAt.getTime() - Date.now()) < 60_000);

    const batch = await root.enclaveStatusBatch(['tenant-b', 'tenant-a']);
    assert.deepEqual(
      batch.map((e) => e.name),
      ['tenant-b', 'tenant-a'],
    );
    await rejectsWith(root.enclaveStatusBatch(['tenant-a', 'missing']), E.enclaveNotFound);

    const page = await root.listEnclaves({ prefix: 'tenant-' });
    assert.deepEqual(
      page.items.map((e) => e.name),
      ['tenant-a', 'tenant-b'],
    );
    assert.equal(page.continueAt, '');
    const all = [];
    for await (const e of root.enclaves()) all.push(e.name);
    assert.ok(all.includes('default') && all.includes('tenant-a'));

    await root.deleteEnclave('tenant-b');
    await rejectsWith(root.enclaveStatus('tenant-b'), E.enclaveNotFound);
    await rejectsWith(root.deleteEnclave('tenant-b'), E.enclaveNotFound);
  });

  it('enclave commands on a missing enclave answer 404 enclave does not exist', async () => {
    await rejectsWith(root.createKey('k', { enclave: 'nowhere' }), E.enclaveNotFound);
    await rejectsWith(root.listKeys({}, { enclave: 'nowhere' }), E.enclaveNotFound);
    await rejectsWith(root.generateKey('k', { enclave: 'nowhere' }), E.enclaveNotFound);
    await rejectsWith(root.listPolicies({}, { enclave: 'nowhere' }), E.enclaveNotFound);
    await rejectsWith(root.listIdentities({}, { enclave: 'nowhere' }), E.enclaveNotFound);
  });

  it('refuses invalid names with 400', async () => {
    await rejectsWith(root.createEnclave('no/slash'), { status: 400, message: /enclave name/ });
    await rejectsWith(root.createKey('bad name'), { status: 400, message: /key name/ });
  });
});

describe('keys', () => {
  const enclave = 'keys';
  let c: KmsClient;

  before(async () => {
    await root.createEnclave(enclave);
    c = clientFor(server.endpoint, server.rootApiKey, { enclave });
  });
  after(() => c.close());

  it('create (AES256 by default, ChaCha20 on request), status, duplicates', async () => {
    await c.createKey('aes');
    await c.createKey('chacha', { type: 'ChaCha20' });
    await rejectsWith(c.createKey('aes'), E.keyExists);
    await rejectsWith(c.createKey('aes', { type: 'ChaCha20' }), E.keyExists);

    const aes = await c.keyStatus('aes');
    assert.deepEqual(
      { name: aes.name, version: aes.version, type: aes.type, by: aes.createdBy },
      { name: 'aes', version: 1, type: 'AES256', by: root.identity },
    );
    assert.equal((await c.keyStatus('chacha')).type, 'ChaCha20');
    await rejectsWith(c.keyStatus('missing'), E.keyNotFound);
    await rejectsWith(c.keyStatus('aes', { version: 7 }), E.keyNotFound);

    const batch = await c.keyStatusBatch([{ name: 'chacha' }, { name: 'aes', version: 1 }]);
    assert.deepEqual(
      batch.map((k) => [k.name, k.type]),
      [
        ['chacha', 'ChaCha20'],
        ['aes', 'AES256'],
      ],
    );
    await rejectsWith(c.keyStatusBatch([{ name: 'aes' }, { name: 'missing' }]), E.keyNotFound);
  });

  it('refuses an unknown key type', async () => {
    const error = await rejectsWith(c.createKey('x', { type: 'RSA' as 'AES256' }), {
      status: 406,
      message: /RSA/,
    });
    assert.ok(!isKeyNotFound(error));
  });

  it('generate, encrypt, decrypt and MAC round-trip with associated data', async () => {
    for (const name of ['aes', 'chacha']) {
      const dek = await c.generateKey(name, { associatedData: '{"bucket":"b/o"}' });
      assert.equal(dek.version, 1);
      assert.equal(dek.plaintext.length, 32);
      assert.equal(dek.ciphertext.length, 32 + 44);
      const plain = await c.decrypt(name, dek.ciphertext, { associatedData: '{"bucket":"b/o"}' });
      assert.deepEqual(plain, dek.plaintext);
      await rejectsWith(c.decrypt(name, dek.ciphertext, { associatedData: '{}' }), E.decrypt);
      await rejectsWith(c.decrypt(name, dek.ciphertext), E.decrypt);

      const sealed = await c.encrypt(name, 'hello world', { associatedData: 'ctx' });
      assert.equal(sealed.version, 1);
      const opened = await c.decrypt(name, sealed.ciphertext, { associatedData: 'ctx' });
      assert.equal(opened.toString(), 'hello world');

      const mac1 = await c.mac(name, 'message');
      const mac2 = await c.mac(name, Buffer.from('message'));
      assert.equal(mac1.mac.length, 32);
      assert.deepEqual(mac1, mac2);
      assert.notDeepEqual((await c.mac(name, 'other')).mac, mac1.mac);
    }
  });

  it('data key lengths: default 32, 1 to 1024, more is refused', async () => {
    assert.equal((await c.generateKey('aes', { length: 1 })).plaintext.length, 1);
    assert.equal((await c.generateKey('aes', { length: 64 })).plaintext.length, 64);
    assert.equal((await c.generateKey('aes', { length: 1024 })).plaintext.length, 1024);
    await rejectsWith(c.generateKey('aes', { length: 1025 }), { status: 400, message: /1025/ });
  });

  it('decrypt refuses garbage, truncated and tampered ciphertexts with 400 invalid ciphertext', async () => {
    const dek = await c.generateKey('aes');
    const tampered = Buffer.from(dek.ciphertext);
    tampered[0]! ^= 1;
    for (const bad of [Buffer.alloc(0), Buffer.alloc(28), Buffer.alloc(100, 7), tampered]) {
      await rejectsWith(c.decrypt('aes', bad), E.decrypt);
    }
    await rejectsWith(c.decrypt('missing', dek.ciphertext), E.keyNotFound);
    // A ciphertext of one key never opens under another.
    await rejectsWith(c.decrypt('chacha', dek.ciphertext), E.decrypt);
  });

  it('batches: 100 data keys in one request, decrypted in one request', async () => {
    const deks = await c.generateKeyBatch(
      Array.from({ length: 100 }, (_, i) => ({
        name: i % 2 ? 'aes' : 'chacha',
        associatedData: `${i}`,
      })),
    );
    assert.equal(deks.length, 100);
    assert.equal(new Set(deks.map((d) => d.plaintext.toString('hex'))).size, 100);
    const plain = await c.decryptBatch(
      deks.map((d, i) => ({
        name: i % 2 ? 'aes' : 'chacha',
        ciphertext: d.ciphertext,
        associatedData: `${i}`,
        version: d.version,
      })),
    );
    assert.deepEqual(
      plain,
      deks.map((d) => d.plaintext),
    );

    const sealed = await c.encryptBatch(
      Array.from({ length: 50 }, (_, i) => ({ name: 'aes', plaintext: `message ${i}` })),
    );
    const opened = await c.decryptBatch(
      sealed.map((s) => ({ name: 'aes', ciphertext: s.ciphertext })),
    );
    assert.deepEqual(
      opened.map((p) => p.toString()),
      Array.from({ length: 50 }, (_, i) => `message ${i}`),
    );

    const macs = await c.macBatch([
      { name: 'aes', message: 'a' },
      { name: 'chacha', message: 'a' },
      { name: 'aes', message: 'a' },
    ]);
    assert.deepEqual(macs[0], macs[2]);
    assert.notDeepEqual(macs[0]!.mac, macs[1]!.mac);
  });

  it('a batch with one failing item fails as a whole', async () => {
    const dek = await c.generateKey('aes');
    await rejectsWith(
      c.decryptBatch([
        { name: 'aes', ciphertext: dek.ciphertext },
        { name: 'aes', ciphertext: Buffer.alloc(80) },
      ]),
      E.decrypt,
    );
    await rejectsWith(
      c.generateKeyBatch([{ name: 'aes' }, { name: 'missing' }, { name: 'chacha' }]),
      E.keyNotFound,
    );
  });

  it('rotation: new versions for new data keys, old ciphertexts decrypt with version 0', async () => {
    await c.createKey('rotating');
    const v1 = await c.generateKey('rotating', { associatedData: '{}' });
    assert.equal(v1.version, 1);
    await c.addKeyVersion('rotating');
    await c.createKey('rotating', { addVersion: true });
    assert.equal((await c.keyStatus('rotating')).version, 3);
    assert.equal((await c.keyStatus('rotating', { version: 1 })).version, 1);
    const v3 = await c.generateKey('rotating', { associatedData: '{}' });
    assert.equal(v3.version, 3);
    const pinned = await c.generateKey('rotating', { version: 2, associatedData: '{}' });
    assert.equal(pinned.version, 2);

    // MinIO never sends a version: the server must find the one that sealed it.
    for (const dek of [v1, pinned, v3]) {
      const plain = await c.decrypt('rotating', dek.ciphertext, { associatedData: '{}' });
      assert.deepEqual(plain, dek.plaintext);
      const explicit = await c.decrypt('rotating', dek.ciphertext, {
        associatedData: '{}',
        version: dek.version,
      });
      assert.deepEqual(explicit, dek.plaintext);
    }
    await rejectsWith(
      c.decrypt('rotating', v1.ciphertext, { associatedData: '{}', version: 3 }),
      E.decrypt,
    );
    await rejectsWith(c.addKeyVersion('missing'), E.keyNotFound);

    // Deleting a version: its ciphertexts are gone, its number is never reused.
    await c.deleteKey('rotating', { version: 2 });
    await rejectsWith(c.keyStatus('rotating', { version: 2 }), E.keyNotFound);
    await rejectsWith(
      c.decrypt('rotating', pinned.ciphertext, { associatedData: '{}' }),
      E.decrypt,
    );
    await rejectsWith(c.deleteKey('rotating', { version: 2 }), E.keyNotFound);
    await c.deleteKey('rotating'); // the latest, 3
    assert.equal((await c.keyStatus('rotating')).version, 1);
    await c.addKeyVersion('rotating');
    assert.equal((await c.keyStatus('rotating')).version, 4);
    await c.deleteKey('rotating', { allVersions: true });
    await rejectsWith(c.keyStatus('rotating'), E.keyNotFound);
    await rejectsWith(c.deleteKey('rotating'), E.keyNotFound);
    await rejectsWith(c.deleteKey('aes', { version: 1, allVersions: true }), {
      status: 400,
      message: /mutually exclusive/,
    });
  });

  it('import: the server seals in the KES/MinIO ciphertext format under the imported key', async () => {
    const material = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) material[i] = i;
    await c.importKey('imported', material, { type: 'AES256' });
    await rejectsWith(c.importKey('imported', material), E.keyExists);
    await rejectsWith(c.importKey('short', Buffer.alloc(16)), { status: 406, message: /size/ });

    const local = new SecretKey('AES256', material);
    const dek = await c.generateKey('imported', { associatedData: '{"a":"b"}' });
    assert.deepEqual(local.open(dek.ciphertext, Buffer.from('{"a":"b"}')), dek.plaintext);
    // And the other way round: what MinIO's static key wrote decrypts after the import.
    const written = local.seal(Buffer.from('object key'), Buffer.from('{}'));
    assert.equal(
      (await c.decrypt('imported', written, { associatedData: '{}' })).toString(),
      'object key',
    );
    assert.equal((await c.keyStatus('imported')).type, 'AES256');
  });

  it('list: every key with its latest version, filtered by prefix', async () => {
    const page = await c.listKeys({ prefix: 'a' });
    assert.deepEqual(
      page.items.map((k) => k.name),
      ['aes'],
    );
    const names: string[] = [];
    for await (const k of c.keys()) names.push(k.name);
    assert.deepEqual(names, [...names].sort());
    assert.ok(names.includes('chacha') && names.includes('imported'));
  });
});

describe('paging over thousands of keys', () => {
  const enclave = 'paging';
  const COUNT = 3000;
  const names = Array.from({ length: COUNT }, (_, i) => `key-${String(i).padStart(4, '0')}`);
  let c: KmsClient;

  before(async () => {
    await root.createEnclave(enclave);
    c = clientFor(server.endpoint, server.rootApiKey, { enclave });
    // Creation order is shuffled so that listing order cannot come from insertion order.
    const shuffled = [...names].sort(() => Math.random() - 0.5);
    await inParallel(shuffled, 32, (name) => c.createKey(name));
  });
  after(() => c.close());

  it('pages of 100 with continue_at cover every key once, in order', async () => {
    const seen: string[] = [];
    let continueAt = '';
    let pages = 0;
    for (;;) {
      const page = await c.listKeys({ limit: 100, continueAt });
      pages++;
      assert.ok(page.items.length <= 100);
      seen.push(...page.items.map((k) => k.name));
      if (page.continueAt === '') break;
      // continue_at names the first item of the next page.
      assert.equal(page.continueAt, names[seen.length]);
      continueAt = page.continueAt;
    }
    assert.equal(pages, 30);
    assert.deepEqual(seen, names);
  });

  it('without a limit the server pages by itself; the iterator follows', async () => {
    const first = await c.listKeys();
    assert.ok(first.items.length > 0 && first.items.length < COUNT);
    assert.equal(first.continueAt, names[first.items.length]);
    const all: KeyStatus[] = [];
    for await (const k of c.keys()) all.push(k);
    assert.deepEqual(
      all.map((k) => k.name),
      names,
    );
    assert.ok(all.every((k) => k.version === 1 && k.type === 'AES256'));
  });

  it('prefix and a continue_at in the middle', async () => {
    const withPrefix: string[] = [];
    for await (const k of c.keys({ prefix: 'key-1', limit: 128 })) withPrefix.push(k.name);
    assert.deepEqual(withPrefix, names.slice(1000, 2000));

    const tail: string[] = [];
    for await (const k of c.keys({ continueAt: 'key-2990', limit: 3 })) tail.push(k.name);
    assert.deepEqual(tail, names.slice(2990));

    const none = await c.listKeys({ prefix: 'nope' });
    assert.deepEqual(none, { items: [], continueAt: '' });
  });
});

describe('policies', () => {
  const enclave = 'policies';
  let c: KmsClient;
  before(async () => {
    await root.createEnclave(enclave);
    c = clientFor(server.endpoint, server.rootApiKey, { enclave });
  });
  after(() => c.close());

  it('create, get, status, list, replace, delete', async () => {
    await c.createPolicy('minio', {
      allow: { 'KEY:GENERATE': ['minio-*'], 'KEY:DECRYPT': ['minio-*', 'other'] },
      deny: { 'KEY:DECRYPT': ['minio-secret'] },
    });
    const policy = await c.getPolicy('minio');
    assert.equal(policy.name, 'minio');
    assert.equal(policy.createdBy, root.identity);
    assert.deepEqual(policy.allow, {
      'KEY:GENERATE': ['minio-*'],
      'KEY:DECRYPT': ['other', 'minio-*'],
    });
    assert.deepEqual(policy.deny, { 'KEY:DECRYPT': ['minio-secret'] });

    const status = await c.policyStatus('minio');
    assert.deepEqual(
      { name: status.name, by: status.createdBy },
      { name: 'minio', by: root.identity },
    );

    await c.createPolicy('audit', { allow: { 'KEY:LIST': ['*'] } });
    assert.deepEqual(
      (await c.getPolicyBatch(['audit', 'minio'])).map((p) => p.name),
      ['audit', 'minio'],
    );
    assert.deepEqual(
      (await c.policyStatusBatch(['minio', 'audit'])).map((p) => p.name),
      ['minio', 'audit'],
    );
    const names: string[] = [];
    for await (const p of c.policies()) names.push(p.name);
    assert.deepEqual(names, ['audit', 'minio']);
    assert.deepEqual(
      (await c.listPolicies({ prefix: 'm' })).items.map((p) => p.name),
      ['minio'],
    );

    // Create replaces.
    await c.createPolicy('audit', { allow: { 'KEY:STATUS': ['*'] } });
    assert.deepEqual((await c.getPolicy('audit')).allow, { 'KEY:STATUS': ['*'] });

    await c.deletePolicy('audit');
    await rejectsWith(c.getPolicy('audit'), E.policyNotFound);
    await rejectsWith(c.policyStatus('audit'), E.policyNotFound);
    await rejectsWith(c.getPolicyBatch(['minio', 'audit']), E.policyNotFound);
    await rejectsWith(c.deletePolicy('audit'), E.policyNotFound);
  });

  it('assign: only existing policies to existing User identities of the enclave', async () => {
    const user = ApiKey.generate().identity.toH1();
    const admin = ApiKey.generate().identity.toH1();
    await c.createIdentity(user);
    await c.createIdentity(admin, { privilege: 'Admin' });
    await c.createPolicy('p', { allow: { 'KEY:LIST': ['*'] } });

    await c.assignPolicy('p', user);
    assert.equal((await c.identityStatus(user)).policy, 'p');
    await rejectsWith(c.assignPolicy('missing', user), E.policyNotFound);
    await rejectsWith(c.assignPolicy('p', ApiKey.generate().identity.toH1()), E.identityNotFound);
    await rejectsWith(c.assignPolicy('p', admin), { status: 400, message: /user identities/ });
  });
});

describe('identities', () => {
  const enclave = 'identities';
  let c: KmsClient;
  before(async () => {
    await root.createEnclave(enclave);
    c = clientFor(server.endpoint, server.rootApiKey, { enclave });
  });
  after(() => c.close());

  it('create (User, Admin, tags), status, batch, list, no overwrite, delete', async () => {
    const user = ApiKey.generate().identity.toH1();
    const admin = ApiKey.generate().identity.toH1();
    await c.createIdentity(user, { tags: { team: 'storage', env: 'prod' } });
    await c.createIdentity(admin, { privilege: 'Admin' });

    const status = await c.identityStatus(user);
    assert.deepEqual(
      {
        identity: status.identity,
        privilege: status.privilege,
        policy: status.policy,
        by: status.createdBy,
        sa: status.isServiceAccount,
        tags: status.tags,
      },
      {
        identity: user,
        privilege: 'User',
        policy: '',
        by: root.identity,
        sa: false,
        tags: { team: 'storage', env: 'prod' },
      },
    );
    assert.equal((await c.identityStatus(admin)).privilege, 'Admin');

    const batch = await c.identityStatusBatch([admin, user]);
    assert.deepEqual(
      batch.map((i) => i.identity),
      [admin, user],
    );
    const listed: string[] = [];
    for await (const i of c.identities()) listed.push(i.identity);
    assert.deepEqual(listed, [admin, user].sort());

    // No overwrite (upstream's CreateIdentity overwrites): an existing identity is a 409.
    await rejectsWith(c.createIdentity(user, { privilege: 'Admin' }), {
      status: 409,
      message: 'identity already exists',
    });
    assert.equal((await c.identityStatus(user)).privilege, 'User');

    await c.deleteIdentity(user);
    await rejectsWith(c.identityStatus(user), E.identityNotFound);
    await rejectsWith(c.identityStatusBatch([admin, user]), E.identityNotFound);
    await rejectsWith(c.deleteIdentity(user), E.identityNotFound);
  });

  it('service accounts act for their parent and go with it', async () => {
    const adminKey = ApiKey.generate();
    await c.createIdentity(adminKey.identity.toH1(), { privilege: 'Admin' });
    const admin = clientFor(server.endpoint, adminKey.toK1(), { enclave });
    try {
      const saKey = ApiKey.generate();
      await admin.createIdentity(saKey.identity.toH1(), { serviceAccount: true });
      const sa = await c.identityStatus(saKey.identity.toH1());
      assert.equal(sa.isServiceAccount, true);
      assert.equal(sa.createdBy, adminKey.identity.toH1());
      assert.deepEqual((await c.identityStatus(adminKey.identity.toH1())).serviceAccounts, [
        saKey.identity.toH1(),
      ]);

      const saClient = clientFor(server.endpoint, saKey.toK1(), { enclave });
      try {
        await saClient.createKey('made-by-sa'); // the Admin's rights
        await c.deleteIdentity(adminKey.identity.toH1());
        await rejectsWith(c.identityStatus(saKey.identity.toH1()), E.identityNotFound);
        await rejectsWith(saClient.createKey('after'), E.permission);
      } finally {
        saClient.close();
      }
    } finally {
      admin.close();
    }
  });

  it('an identity is registered per enclave: each enclave has its own record', async () => {
    await root.createEnclave('identities-2');
    const id = ApiKey.generate().identity.toH1();
    await c.createIdentity(id);
    await rejectsWith(c.identityStatus(id, { enclave: 'identities-2' }), E.identityNotFound);
    await c.createIdentity(id, { enclave: 'identities-2', privilege: 'Admin' });
    assert.equal((await c.identityStatus(id, { enclave: 'identities-2' })).privilege, 'Admin');
    assert.equal((await c.identityStatus(id)).privilege, 'User');
    await c.deleteIdentity(id, { enclave: 'identities-2' });
    assert.equal((await c.identityStatus(id)).privilege, 'User');
  });
});

describe('enclave isolation', () => {
  it('same key name in two enclaves: different keys, no cross-decryption', async () => {
    await root.createEnclave('iso-a');
    await root.createEnclave('iso-b');
    await root.createKey('shared', { enclave: 'iso-a' });
    await root.createKey('shared', { enclave: 'iso-b' });
    await root.createKey('only-a', { enclave: 'iso-a' });

    const dek = await root.generateKey('shared', { enclave: 'iso-a' });
    await rejectsWith(root.decrypt('shared', dek.ciphertext, { enclave: 'iso-b' }), E.decrypt);
    assert.deepEqual(
      await root.decrypt('shared', dek.ciphertext, { enclave: 'iso-a' }),
      dek.plaintext,
    );
    await rejectsWith(root.keyStatus('only-a', { enclave: 'iso-b' }), E.keyNotFound);
    assert.deepEqual(
      (await root.listKeys({}, { enclave: 'iso-b' })).items.map((k) => k.name),
      ['shared'],
    );
  });

  it('an enclave Admin has no rights in another enclave, nor at cluster level', async () => {
    const key = ApiKey.generate();
    await root.createIdentity(key.identity.toH1(), { privilege: 'Admin', enclave: 'iso-a' });
    const admin = clientFor(server.endpoint, key.toK1());
    try {
      await admin.createKey('by-admin', { enclave: 'iso-a' });
      await rejectsWith(admin.createKey('by-admin', { enclave: 'iso-b' }), E.permission);
      await rejectsWith(admin.listKeys({}, { enclave: 'iso-b' }), E.permission);
      await rejectsWith(admin.generateKey('shared', { enclave: 'iso-b' }), E.permission);
      await rejectsWith(admin.createEnclave('iso-c'), E.permission);
      await rejectsWith(admin.deleteEnclave('iso-b'), E.permission);
    } finally {
      admin.close();
    }
  });

  it('deleting an enclave removes its keys, policies and identities', async () => {
    await root.createEnclave('doomed');
    await root.createKey('k', { enclave: 'doomed' });
    await root.createPolicy('p', { allow: { 'KEY:LIST': ['*'] } }, { enclave: 'doomed' });
    const id = ApiKey.generate().identity.toH1();
    await root.createIdentity(id, { enclave: 'doomed' });
    await root.deleteEnclave('doomed');
    await root.createEnclave('doomed');
    assert.deepEqual(await root.listKeys({}, { enclave: 'doomed' }), { items: [], continueAt: '' });
    await rejectsWith(root.getPolicy('p', { enclave: 'doomed' }), E.policyNotFound);
    await rejectsWith(root.identityStatus(id, { enclave: 'doomed' }), E.identityNotFound);
  });
});

describe('backup and restore', () => {
  it('restores the state of the backup, dropping later changes', async () => {
    await root.createEnclave('snap');
    await root.createKey('before', { enclave: 'snap' });
    const dek = await root.generateKey('before', { enclave: 'snap' });

    const chunks: Buffer[] = [];
    for await (const chunk of await root.backup()) chunks.push(chunk as Buffer);
    const snapshot = Buffer.concat(chunks);
    assert.ok(snapshot.length > 0);
    // Sealed: no key name or key material in the clear.
    assert.equal(snapshot.includes(Buffer.from('before')), false);

    await root.createKey('after', { enclave: 'snap' });
    await root.restore(snapshot);
    await rejectsWith(root.keyStatus('after', { enclave: 'snap' }), E.keyNotFound);
    assert.deepEqual(
      await root.decrypt('before', dek.ciphertext, { enclave: 'snap' }),
      dek.plaintext,
    );

    await rejectsWith(root.restore(Buffer.from('not a backup')), {
      status: 400,
      message: /backup/,
    });
    const tampered = Buffer.from(snapshot);
    tampered[tampered.length - 1]! ^= 1;
    await rejectsWith(root.restore(tampered), { status: 400, message: /backup/ });
    // The failed restores changed nothing.
    assert.equal((await root.keyStatus('before', { enclave: 'snap' })).name, 'before');
  });
});

describe('log stream', () => {
  it('opens for the root identity; close() and abort end it', async () => {
    const stream = await root.logs({ level: 'DEBUG', since: new Date(0) });
    assert.equal(stream.host, server.endpoint);
    const pending = (async () => {
      const records = [];
      for await (const record of stream) records.push(record);
      return records;
    })();
    setTimeout(() => stream.close(), 200);
    for (const record of await pending) {
      assert.ok(record.time instanceof Date);
      assert.equal(typeof record.message, 'string');
    }

    const controller = new AbortController();
    const aborted = await root.logs({ signal: controller.signal });
    const next = aborted[Symbol.asyncIterator]().next();
    setTimeout(() => controller.abort(), 200);
    await assert.rejects(next, (error: Error) => error.name === 'AbortError');
  });

  it('is refused for other identities when opened', async () => {
    const key = ApiKey.generate();
    await root.createIdentity(key.identity.toH1(), { privilege: 'Admin' });
    const admin = clientFor(server.endpoint, key.toK1());
    try {
      const error = await rejectsWith(admin.logs(), E.permission);
      assert.ok(isPermissionDenied(error));
    } finally {
      admin.close();
    }
  });
});
