// The core's decisions: the permission matrix, enclave isolation, key operations and their
// exact error codes. State changes go straight into a State (the engine is tested with the store).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SecretKey } from '../crypto/index.ts';
import { KeyholdError } from '../model/errors.ts';
import { State } from '../state/state.ts';
import type { Caller } from './caller.ts';
import { Core } from './core.ts';
import { memoryCore, testIdentity } from './test-support.ts';

const id = testIdentity;
const ROOT = id('root');

const setup = memoryCore;

const caller = (identity: string): Caller => ({
  identity,
  root: identity === ROOT,
  rootIdentity: ROOT,
});
const root = caller(ROOT);

async function codeOf(work: () => unknown): Promise<string> {
  try {
    await work();
  } catch (error) {
    if (error instanceof KeyholdError) return error.code;
    throw error;
  }
  return 'OK';
}

async function populated(): Promise<Core> {
  const { core } = setup();
  await core.createEnclave(root, 'e1');
  await core.createEnclave(root, 'e2');
  await core.createKey(root, 'e1', { name: 'k1', type: '', addVersion: false });
  await core.createKey(root, 'e1', { name: 'other', type: 'ChaCha20', addVersion: false });
  await core.createKey(root, 'e2', { name: 'k1', type: '', addVersion: false });
  await core.createIdentity(root, 'e1', {
    identity: id('admin'),
    privilege: 'Admin',
    isServiceAccount: false,
    tags: {},
  });
  await core.createIdentity(root, 'e1', {
    identity: id('user'),
    privilege: 'User',
    isServiceAccount: false,
    tags: {},
  });
  await core.createIdentity(root, 'e1', {
    identity: id('sysadmin'),
    privilege: 'SysAdmin',
    isServiceAccount: false,
    tags: {},
  });
  await core.createPolicy(root, 'e1', {
    name: 'gen-k',
    allow: { 'KEY:GENERATE': ['k*'], 'KEY:DECRYPT': ['*'] },
    deny: { 'KEY:GENERATE': ['k2'] },
  });
  await core.assignPolicy(root, 'e1', { identity: id('user'), policy: 'gen-k' });
  return core;
}

describe('Core permissions', () => {
  it('follows the privilege matrix across commands and enclaves', async () => {
    const core = await populated();
    const gen = (who: string, enclave: string, name: string) => () =>
      core.generate(caller(who), enclave, {
        name,
        version: 0,
        associatedData: Buffer.alloc(0),
        length: 0,
      });
    const matrix: [string, () => unknown, string][] = [
      ['root generates anywhere', gen(ROOT, 'e2', 'k1'), 'OK'],
      ['sysadmin generates in another enclave', gen(id('sysadmin'), 'e2', 'k1'), 'OK'],
      ['admin generates in its enclave', gen(id('admin'), 'e1', 'k1'), 'OK'],
      ['admin cannot cross enclaves', gen(id('admin'), 'e2', 'k1'), 'PERMISSION'],
      ['user allowed by policy', gen(id('user'), 'e1', 'k1'), 'OK'],
      ['user not allowed on other names', gen(id('user'), 'e1', 'other'), 'PERMISSION'],
      ['user cannot cross enclaves', gen(id('user'), 'e2', 'k1'), 'PERMISSION'],
      ['unknown identity', gen(id('nobody'), 'e1', 'k1'), 'PERMISSION'],
      ['no certificate', gen('', 'e1', 'k1'), 'PERMISSION'],
      [
        'admin cannot create enclaves',
        () => core.createEnclave(caller(id('admin')), 'e3'),
        'PERMISSION',
      ],
      [
        'user cannot create keys',
        () => core.createKey(caller(id('user')), 'e1', { name: 'x', type: '', addVersion: false }),
        'PERMISSION',
      ],
      [
        'admin cannot grant SysAdmin',
        () =>
          core.createIdentity(caller(id('admin')), 'e1', {
            identity: id('new'),
            privilege: 'SysAdmin',
            isServiceAccount: false,
            tags: {},
          }),
        'PERMISSION',
      ],
      ['sysadmin creates enclaves', () => core.createEnclave(caller(id('sysadmin')), 'e3'), 'OK'],
      ['missing key after permission', gen(ROOT, 'e1', 'nope'), 'KEY_NOT_FOUND'],
      ['missing enclave for root', gen(ROOT, 'nope', 'k1'), 'ENCLAVE_NOT_FOUND'],
    ];
    for (const [what, work, expected] of matrix) {
      assert.equal(await codeOf(work), expected, what);
    }
  });

  it('deny wins over allow', async () => {
    const core = await populated();
    await core.createKey(root, 'e1', { name: 'k2', type: '', addVersion: false });
    const result = await codeOf(() =>
      core.generate(caller(id('user')), 'e1', {
        name: 'k2',
        version: 0,
        associatedData: Buffer.alloc(0),
        length: 0,
      }),
    );
    assert.equal(result, 'PERMISSION');
  });

  it('service accounts inherit their parent and die with it', async () => {
    const core = await populated();
    await core.createIdentity(caller(id('admin')), 'e1', {
      identity: id('sa'),
      privilege: '',
      isServiceAccount: true,
      tags: {},
    });
    const gen = () =>
      core.generate(caller(id('sa')), 'e1', {
        name: 'other',
        version: 0,
        associatedData: Buffer.alloc(0),
        length: 0,
      });
    assert.equal(await codeOf(gen), 'OK');
    await core.deleteIdentity(root, 'e1', id('admin'));
    assert.equal(await codeOf(gen), 'PERMISSION');
  });

  it('no caller assigns a policy to itself, nor to the identity whose rights it exercises', async () => {
    const core = await populated();
    await core.createPolicy(root, 'e1', {
      name: 'delegate',
      allow: { 'POLICY:ASSIGN': ['*'], 'IDENTITY:CREATE': ['*'] },
      deny: {},
    });
    await core.assignPolicy(root, 'e1', { identity: id('user'), policy: 'delegate' });
    const user = caller(id('user'));
    await core.createIdentity(user, 'e1', {
      identity: id('sa'),
      privilege: '',
      isServiceAccount: true,
      tags: {},
    });
    await core.createIdentity(root, 'e1', {
      identity: id('peer'),
      privilege: 'User',
      isServiceAccount: false,
      tags: {},
    });
    const assign = (who: string, identity: string) => () =>
      core.assignPolicy(caller(id(who)), 'e1', { identity: id(identity), policy: 'gen-k' });
    assert.equal(await codeOf(assign('user', 'user')), 'SELF_ASSIGN');
    assert.equal(await codeOf(assign('sa', 'user')), 'SELF_ASSIGN');
    assert.equal(await codeOf(assign('user', 'peer')), 'OK');
    assert.equal(await codeOf(assign('sa', 'peer')), 'OK');
    assert.equal(core.identity(root, 'e1', id('user')).policy, 'delegate');
  });

  it('revoking a policy is effective immediately', async () => {
    const core = await populated();
    const gen = () =>
      core.generate(caller(id('user')), 'e1', {
        name: 'k1',
        version: 0,
        associatedData: Buffer.alloc(0),
        length: 0,
      });
    assert.equal(await codeOf(gen), 'OK');
    await core.deletePolicy(root, 'e1', 'gen-k');
    assert.equal(await codeOf(gen), 'PERMISSION');
  });

  it('checks a key once per request, and every other key, command and enclave on its own', async () => {
    const core = await populated();
    const request = caller(id('user')); // one Caller per request
    const generate =
      (name: string, enclave = 'e1') =>
      () =>
        core.generate(request, enclave, {
          name,
          version: 0,
          associatedData: Buffer.alloc(0),
          length: 0,
        });
    assert.equal(await codeOf(generate('k1')), 'OK');
    assert.deepEqual(request.granted, { command: 'KEY:GENERATE', enclave: 'e1', target: 'k1' });
    assert.equal(await codeOf(generate('k1')), 'OK', 'same key: decided already');
    assert.equal(await codeOf(generate('k2')), 'PERMISSION', 'another key is checked (deny)');
    assert.equal(await codeOf(generate('k1', 'e2')), 'PERMISSION', 'another enclave is checked');
    const ciphertext = core.generate(request, 'e1', {
      name: 'k1',
      version: 0,
      associatedData: Buffer.alloc(0),
      length: 0,
    }).ciphertext;
    assert.equal(
      await codeOf(() =>
        core.encrypt(request, 'e1', {
          name: 'k1',
          version: 0,
          plaintext: Buffer.alloc(1),
          associatedData: Buffer.alloc(0),
        }),
      ),
      'PERMISSION',
      'another command is checked',
    );
    assert.equal(
      await codeOf(() =>
        core.decrypt(request, 'e1', {
          name: 'k1',
          version: 0,
          ciphertext,
          associatedData: Buffer.alloc(0),
        }),
      ),
      'OK',
    );
    // A revocation is seen by the next request (a new Caller), whatever the last one was granted.
    await core.deletePolicy(root, 'e1', 'gen-k');
    assert.equal(
      await codeOf(() =>
        core.generate(caller(id('user')), 'e1', {
          name: 'k1',
          version: 0,
          associatedData: Buffer.alloc(0),
          length: 0,
        }),
      ),
      'PERMISSION',
    );
    // Root is never memoized (it is never checked).
    await codeOf(() =>
      core.generate(root, 'e1', {
        name: 'k1',
        version: 0,
        associatedData: Buffer.alloc(0),
        length: 0,
      }),
    );
    assert.equal(root.granted, undefined);
  });
});

describe('Core keys', () => {
  it('generates, encrypts and decrypts across versions, with version 0 finding the right one', async () => {
    const core = await populated();
    const ad = Buffer.from('{"bucket":"bucket/object"}');
    const v1 = core.generate(root, 'e1', { name: 'k1', version: 0, associatedData: ad, length: 0 });
    assert.equal(v1.version, 1);
    assert.equal(v1.plaintext.length, 32);
    assert.equal(v1.ciphertext.length, 76);
    await core.createKey(root, 'e1', { name: 'k1', type: '', addVersion: true });
    const v2 = core.generate(root, 'e1', {
      name: 'k1',
      version: 0,
      associatedData: ad,
      length: 64,
    });
    assert.equal(v2.version, 2);
    assert.equal(v2.plaintext.length, 64);
    for (const dek of [v1, v2]) {
      const plain = core.decrypt(root, 'e1', {
        name: 'k1',
        version: 0,
        ciphertext: dek.ciphertext,
        associatedData: ad,
      });
      assert.deepEqual(plain, dek.plaintext);
    }
    const wrongVersion = await codeOf(() =>
      core.decrypt(root, 'e1', {
        name: 'k1',
        version: 2,
        ciphertext: v1.ciphertext,
        associatedData: ad,
      }),
    );
    assert.equal(wrongVersion, 'DECRYPT');
    const wrongAd = await codeOf(() =>
      core.decrypt(root, 'e1', {
        name: 'k1',
        version: 0,
        ciphertext: v1.ciphertext,
        associatedData: Buffer.from('{}'),
      }),
    );
    assert.equal(wrongAd, 'DECRYPT');
    const tooLong = await codeOf(() =>
      core.generate(root, 'e1', { name: 'k1', version: 0, associatedData: ad, length: 1025 }),
    );
    assert.equal(tooLong, 'BAD_REQUEST');
  });

  it('imports 32-byte keys only, and rejects unknown algorithms', async () => {
    const core = await populated();
    assert.equal(
      await codeOf(() =>
        core.importKey(root, 'e1', { name: 'imp', type: 'AES256', key: Buffer.alloc(16) }),
      ),
      'NOT_ACCEPTABLE',
    );
    assert.equal(
      await codeOf(() => core.createKey(root, 'e1', { name: 'x', type: 'DES', addVersion: false })),
      'NOT_ACCEPTABLE',
    );
    await core.importKey(root, 'e1', { name: 'imp', type: 'AES256', key: Buffer.alloc(32, 7) });
    const status = core.keyStatus(root, 'e1', { name: 'imp', version: 0 });
    assert.equal(status.version.imported, true);
    assert.equal(
      await codeOf(() =>
        core.mac(root, 'e1', { name: 'imp', version: 0, message: Buffer.from('m') }),
      ),
      'KEY_NO_HMAC',
    );
    const mac = core.mac(root, 'e1', { name: 'k1', version: 0, message: Buffer.from('m') });
    assert.equal(mac.mac.length, 32);
  });

  it('opens raw ChaCha20 ciphertexts with a key imported as AES256 (MinIO converts its legacy JSON)', async () => {
    const core = await populated();
    const material = Buffer.alloc(32, 9);
    await core.importKey(root, 'e1', { name: 'minio', type: 'AES256', key: material });
    const ad = Buffer.from('{"bucket":"bucket/object"}');
    const chacha = new SecretKey('ChaCha20', material).seal(Buffer.from('dek'), ad);
    const plain = core.decrypt(root, 'e1', {
      name: 'minio',
      version: 0,
      ciphertext: chacha,
      associatedData: ad,
    });
    assert.equal(plain.toString(), 'dek');
    // Keys created inside Keyhold never had another algorithm: no fallback for them.
    const native = core.keyStatus(root, 'e1', { name: 'k1', version: 0 }).version.key;
    const other = new SecretKey('ChaCha20', native.exportKeyMaterial()).seal(Buffer.from('x'), ad);
    assert.equal(
      await codeOf(() =>
        core.decrypt(root, 'e1', { name: 'k1', version: 0, ciphertext: other, associatedData: ad }),
      ),
      'DECRYPT',
    );
  });

  it('validates names', async () => {
    const core = await populated();
    for (const name of ['', 'my.key', 'key/', '-a', 'a-', '_', 'a'.repeat(81)]) {
      assert.equal(
        await codeOf(() => core.createKey(root, 'e1', { name, type: '', addVersion: false })),
        'BAD_REQUEST',
        name,
      );
    }
  });
});

describe('the last key ring read (Core #lastRing, RingView latest)', () => {
  const ad = Buffer.from('ctx');
  const gen = (core: Core, enclave: string, name = 'k1') =>
    core.generate(root, enclave, { name, version: 0, associatedData: ad, length: 0 });
  const opens = (core: Core, enclave: string, ciphertext: Buffer, name = 'k1'): string =>
    (() => {
      try {
        core.decrypt(root, enclave, { name, version: 0, ciphertext, associatedData: ad });
        return 'OK';
      } catch (error) {
        if (error instanceof KeyholdError) return error.code;
        throw error;
      }
    })();

  it('follows a new version, a deleted version and a deleted key right after a request', async () => {
    const core = await populated();
    const v1 = gen(core, 'e1');
    assert.equal(v1.version, 1);
    await core.createKey(root, 'e1', { name: 'k1', type: '', addVersion: true });
    assert.equal(gen(core, 'e1').version, 2);
    await core.deleteKey(root, 'e1', { name: 'k1', version: 2, allVersions: false });
    assert.equal(gen(core, 'e1').version, 1);
    assert.equal(opens(core, 'e1', v1.ciphertext), 'OK');
    await core.deleteKey(root, 'e1', { name: 'k1', version: 0, allVersions: true });
    assert.equal(await codeOf(() => gen(core, 'e1')), 'KEY_NOT_FOUND');
    assert.equal(opens(core, 'e1', v1.ciphertext), 'KEY_NOT_FOUND');
    // A new key of the same name is another key: the old ciphertext does not open.
    await core.createKey(root, 'e1', { name: 'k1', type: '', addVersion: false });
    assert.equal(opens(core, 'e1', v1.ciphertext), 'DECRYPT');
  });

  it('is per enclave and per name', async () => {
    const core = await populated();
    const e1 = gen(core, 'e1');
    const e2 = gen(core, 'e2');
    assert.equal(opens(core, 'e1', e1.ciphertext), 'OK');
    assert.equal(opens(core, 'e2', e1.ciphertext), 'DECRYPT');
    assert.equal(opens(core, 'e2', e2.ciphertext), 'OK');
    assert.equal(opens(core, 'e1', e2.ciphertext), 'DECRYPT');
    assert.equal(opens(core, 'e1', e1.ciphertext, 'other'), 'DECRYPT');
    assert.equal(opens(core, 'e1', gen(core, 'e1', 'other').ciphertext, 'other'), 'OK');
  });

  it('follows a restore that replaces the state', async () => {
    const { core, state } = setup();
    await core.createEnclave(root, 'e1');
    await core.createKey(root, 'e1', { name: 'k1', type: '', addVersion: false });
    const before = gen(core, 'e1');
    const other = new State();
    other.apply({ op: 'enclave.create', enclave: 'e1', at: 1, by: ROOT });
    other.commit = state.commit;
    state.replaceWith(other);
    assert.equal(await codeOf(() => gen(core, 'e1')), 'KEY_NOT_FOUND');
    assert.equal(opens(core, 'e1', before.ciphertext), 'KEY_NOT_FOUND');
  });
});
