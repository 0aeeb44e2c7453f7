// isAllowed keeps its last allow (authorize.ts `lastAllowed`): these requests come right after an
// allowed one and must be decided afresh — after a policy, identity, enclave or key change, a
// restore, a KES config reload, and for another identity, name, command, enclave or KES path.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyholdError } from '../model/errors.ts';
import { State } from '../state/state.ts';
import type { Caller } from './caller.ts';
import { Core } from './core.ts';
import { memoryCore, testIdentity } from './test-support.ts';
import type { KesPathPolicy } from './kes-path.ts';

const id = testIdentity;
const ROOT = id('root');
const USER = id('user');
const OTHER = id('other');

/** A new Caller per request, as the faces make one. */
const caller = (identity: string, kes?: Caller['kes']): Caller => ({
  identity,
  root: identity === ROOT,
  rootIdentity: ROOT,
  ...(kes ? { kes } : {}),
});
const root = caller(ROOT);

async function setup(): Promise<{ core: Core; state: State }> {
  const { core, state } = memoryCore();
  await core.createEnclave(root, 'e1');
  await core.createEnclave(root, 'e2');
  for (const enclave of ['e1', 'e2']) {
    for (const name of ['k1', 'k2']) {
      await core.createKey(root, enclave, { name, type: '', addVersion: false });
    }
  }
  for (const identity of [USER, OTHER]) {
    await core.createIdentity(root, 'e1', {
      identity,
      privilege: 'User',
      isServiceAccount: false,
      tags: {},
    });
  }
  await core.createPolicy(root, 'e1', {
    name: 'gen',
    allow: { 'KEY:GENERATE': ['k1'] },
    deny: {},
  });
  await core.assignPolicy(root, 'e1', { identity: USER, policy: 'gen' });
  return { core, state };
}

/** 'OK' or the error code of one KEY:GENERATE by a fresh caller. */
function generate(
  core: Core,
  who: Caller,
  enclave = 'e1',
  name = 'k1',
  command: 'generate' | 'decrypt' = 'generate',
): string {
  try {
    if (command === 'generate') {
      core.generate(who, enclave, { name, version: 0, associatedData: Buffer.alloc(0), length: 0 });
    } else {
      core.decrypt(who, enclave, {
        name,
        version: 0,
        ciphertext: Buffer.alloc(60),
        associatedData: Buffer.alloc(0),
      });
    }
    return 'OK';
  } catch (error) {
    if (error instanceof KeyholdError) return error.code;
    throw error;
  }
}

describe('the last allowed decision', () => {
  it('is not reused after the policy changes', async () => {
    const { core } = await setup();
    assert.equal(generate(core, caller(USER)), 'OK');
    await core.createPolicy(root, 'e1', { name: 'gen', allow: {}, deny: {} });
    assert.equal(generate(core, caller(USER)), 'PERMISSION');
  });

  it('is not reused after a deny rule is added', async () => {
    const { core } = await setup();
    assert.equal(generate(core, caller(USER)), 'OK');
    await core.createPolicy(root, 'e1', {
      name: 'gen',
      allow: { 'KEY:GENERATE': ['k1'] },
      deny: { 'KEY:GENERATE': ['k*'] },
    });
    assert.equal(generate(core, caller(USER)), 'PERMISSION');
  });

  it('is not reused after the policy or the identity is deleted', async () => {
    const { core } = await setup();
    assert.equal(generate(core, caller(USER)), 'OK');
    await core.deletePolicy(root, 'e1', 'gen');
    assert.equal(generate(core, caller(USER)), 'PERMISSION');

    const second = await setup();
    assert.equal(generate(second.core, caller(USER)), 'OK');
    await second.core.deleteIdentity(root, 'e1', USER);
    assert.equal(generate(second.core, caller(USER)), 'PERMISSION');
  });

  it('is not reused after the state is replaced by a restore', async () => {
    const { core, state } = await setup();
    assert.equal(generate(core, caller(USER)), 'OK');
    const restored = new State();
    restored.apply({ op: 'enclave.create', enclave: 'e1', at: 1, by: ROOT });
    restored.commit = state.commit; // the same commit index must not hide the change
    state.replaceWith(restored);
    assert.equal(generate(core, caller(USER)), 'PERMISSION');
  });

  it('answers KEY_NOT_FOUND after the key is deleted', async () => {
    const { core } = await setup();
    assert.equal(generate(core, caller(USER)), 'OK');
    await core.deleteKey(root, 'e1', { name: 'k1', version: 0, allVersions: true });
    assert.equal(generate(core, caller(USER)), 'KEY_NOT_FOUND');
  });

  it('is not shared between identities, names, commands and enclaves', async () => {
    const { core } = await setup();
    assert.equal(generate(core, caller(USER)), 'OK');
    assert.equal(generate(core, caller(OTHER)), 'PERMISSION');
    assert.equal(generate(core, caller(USER)), 'OK');
    assert.equal(generate(core, caller(USER), 'e1', 'k2'), 'PERMISSION');
    assert.equal(generate(core, caller(USER)), 'OK');
    assert.equal(generate(core, caller(USER), 'e1', 'k1', 'decrypt'), 'PERMISSION');
    assert.equal(generate(core, caller(USER)), 'OK');
    assert.equal(generate(core, caller(USER), 'e2', 'k1'), 'PERMISSION');
    // Another server's state with the same number of changes.
    const other = await setup();
    await other.core.createPolicy(root, 'e1', { name: 'gen', allow: {}, deny: {} });
    await core.createPolicy(root, 'e1', { name: 'x', allow: {}, deny: {} });
    assert.equal(generate(core, caller(USER)), 'OK');
    assert.equal(generate(other.core, caller(USER)), 'PERMISSION');
  });

  it('is not reused for another KES path or config-file policy', async () => {
    const { core } = await setup();
    const allow = (allow: string[]): KesPathPolicy => ({
      name: 'static',
      allow,
      deny: [],
      dialect: 'prefix',
    });
    const kes = (path: string, staticPolicy: KesPathPolicy): Caller['kes'] => ({
      path,
      skipAuth: false,
      staticPolicy,
      staticEnclave: 'e2',
    });
    const first = allow(['/v1/key/generate/k1']);
    assert.equal(generate(core, caller(OTHER, kes('/v1/key/generate/k1', first)), 'e2'), 'OK');
    // A reload makes new policy objects: the same request under the new policy.
    const reloaded = allow(['/v1/key/generate/k2']);
    assert.equal(
      generate(core, caller(OTHER, kes('/v1/key/generate/k1', reloaded)), 'e2'),
      'PERMISSION',
    );
    assert.equal(generate(core, caller(OTHER, kes('/v1/key/generate/k1', first)), 'e2'), 'OK');
    // The config-file policy governs another enclave.
    const elsewhere: Caller['kes'] = { ...kes('/v1/key/generate/k1', first)!, staticEnclave: 'e1' };
    assert.equal(generate(core, caller(OTHER, elsewhere), 'e2'), 'PERMISSION');
    assert.equal(generate(core, caller(OTHER, kes('/v1/key/generate/k1', first)), 'e2'), 'OK');
    // The same operation named by another request path.
    assert.equal(
      generate(core, caller(OTHER, kes('/v1/key/generate/k1x', first)), 'e2'),
      'PERMISSION',
    );
  });

  it('is not reused after a service account loses its parent', async () => {
    const { core, state } = await setup();
    const account = id('account');
    state.apply({
      op: 'identity.put',
      enclave: 'e1',
      identity: account,
      privilege: 'User',
      parent: USER,
      tags: {},
      scoped: true,
      at: 1,
      by: USER,
    });
    assert.equal(generate(core, caller(account)), 'OK');
    await core.createPolicy(root, 'e1', { name: 'gen', allow: {}, deny: {} });
    assert.equal(generate(core, caller(account)), 'PERMISSION');
  });

  it('is not reused under another root identity', async () => {
    const { core, state } = await setup();
    // A service account the (former) root created exercises root's rights only under that root.
    const former = id('former-root');
    const account = id('root-account');
    state.apply({
      op: 'identity.put',
      enclave: 'e1',
      identity: account,
      privilege: 'User',
      parent: former,
      tags: {},
      scoped: true,
      at: 1,
      by: former,
    });
    const under = (rootIdentity: string): Caller => ({
      identity: account,
      root: false,
      rootIdentity,
    });
    assert.equal(generate(core, under(former)), 'OK');
    assert.equal(generate(core, under(ROOT)), 'PERMISSION');
  });
});
