// State machine: checks, deterministic apply, listing order and snapshot round trips.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { KeyholdError } from '../model/errors.ts';
import type { Command } from './commands.ts';
import { decodeCommand, encodeCommand, footprint } from './commands.ts';
import { latestVersion } from './entities.ts';
import { decodeSnapshot, encodeSnapshot } from './snapshot.ts';
import { State } from './state.ts';

const by = 'h1:Rvxa7nj8zkL48CeDkN6LhpX-K7KK6uhIhpBOcTHNhWw';

function keyCreate(name: string, addVersion = false): Command {
  return {
    op: 'key.create',
    enclave: 'e1',
    name,
    type: 'AES256',
    key: randomBytes(32),
    hmacKey: randomBytes(32),
    imported: false,
    addVersion,
    at: 1_700_000_000_000,
    by,
  };
}

function run(state: State, command: Command): void {
  state.check(command);
  state.apply(command);
}

function code(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof KeyholdError);
    return error.code;
  }
  return 'OK';
}

describe('State', () => {
  it('creates enclaves once and refuses duplicates', () => {
    const state = new State();
    run(state, { op: 'enclave.create', enclave: 'e1', at: 1, by });
    assert.equal(
      code(() => state.check({ op: 'enclave.create', enclave: 'e1', at: 2, by })),
      'ENCLAVE_EXISTS',
    );
    assert.equal(
      code(() => state.check({ op: 'enclave.delete', enclave: 'nope' })),
      'ENCLAVE_NOT_FOUND',
    );
  });

  it('numbers key versions monotonically and never reuses a deleted one', () => {
    const state = new State();
    run(state, { op: 'enclave.create', enclave: 'e1', at: 1, by });
    run(state, keyCreate('k'));
    assert.equal(
      code(() => state.check(keyCreate('k'))),
      'KEY_EXISTS',
    );
    assert.equal(
      code(() => state.check(keyCreate('missing', true))),
      'KEY_NOT_FOUND',
    );
    run(state, keyCreate('k', true));
    run(state, keyCreate('k', true));
    assert.equal(latestVersion(state.keyRing('e1', 'k')).version, 3);
    run(state, { op: 'key.delete', enclave: 'e1', name: 'k', version: 0, all: false });
    run(state, keyCreate('k', true));
    assert.deepEqual(
      [...state.keyRing('e1', 'k').versions()].map((v) => v.version).sort(),
      [1, 2, 4],
    );
    assert.equal(
      code(() =>
        state.check({ op: 'key.delete', enclave: 'e1', name: 'k', version: 3, all: false }),
      ),
      'KEY_NOT_FOUND',
    );
    run(state, { op: 'key.delete', enclave: 'e1', name: 'k', version: 0, all: true });
    assert.equal(
      code(() => state.keyRing('e1', 'k')),
      'KEY_NOT_FOUND',
    );
  });

  it('lists names in order with prefix, continue-at and limit', () => {
    const state = new State();
    run(state, { op: 'enclave.create', enclave: 'e1', at: 1, by });
    for (const name of ['b-2', 'a-1', 'b-1', 'c', 'b-3']) run(state, keyCreate(name));
    const keys = state.enclave('e1').keys;
    const names = (p: { items: { name: string }[] }): string[] => p.items.map((r) => r.name);
    assert.deepEqual(names(keys.page('', '', 100)), ['a-1', 'b-1', 'b-2', 'b-3', 'c']);
    const first = keys.page('b', '', 2);
    assert.deepEqual(names(first), ['b-1', 'b-2']);
    assert.equal(first.continueAt, 'b-3');
    const second = keys.page('b', first.continueAt, 2);
    assert.deepEqual(names(second), ['b-3']);
    assert.equal(second.continueAt, '');
    assert.deepEqual(names(keys.page('z', '', 10)), []);
  });

  it('deletes service accounts with their parent and identities with their enclave', () => {
    const state = new State();
    run(state, { op: 'enclave.create', enclave: 'e1', at: 1, by });
    const put = (identity: string, parent = ''): Command => ({
      op: 'identity.put',
      enclave: 'e1',
      identity,
      privilege: 'User',
      parent,
      tags: {},
      at: 1,
      by,
    });
    run(state, put('h1:parent'));
    run(state, put('h1:child', 'h1:parent'));
    run(state, put('h1:grandchild', 'h1:child'));
    run(state, put('h1:other'));
    run(state, { op: 'identity.delete', enclave: 'e1', identity: 'h1:parent' });
    assert.deepEqual(
      [...state.identities.values()].map((i) => i.identity),
      ['h1:other'],
    );
    run(state, { op: 'enclave.delete', enclave: 'e1' });
    assert.equal(state.identities.size, 0);
  });

  it("deleting an enclave deletes its identities' service accounts in other enclaves", () => {
    const build = (): State => {
      const state = new State();
      for (const enclave of ['e1', 'e2', 'e3'])
        run(state, { op: 'enclave.create', enclave, at: 1, by });
      const put = (enclave: string, identity: string, parent = ''): Command => ({
        op: 'identity.put',
        enclave,
        identity,
        privilege: parent === '' ? 'SysAdmin' : 'User',
        parent,
        tags: {},
        at: 1,
        by,
      });
      run(state, put('e1', 'h1:parent'));
      run(state, put('e2', 'h1:child', 'h1:parent'));
      run(state, put('e3', 'h1:grandchild', 'h1:child'));
      run(state, put('e2', 'h1:other'));
      return state;
    };
    const remaining = (state: State): string[] =>
      [...state.identities.values()].map((i) => i.identity).sort();

    const state = build();
    run(state, { op: 'enclave.delete', enclave: 'e1', cascade: true });
    assert.deepEqual(remaining(state), ['h1:other']);

    // A log written before the cascade replays as it did: only the enclave's own identities go.
    const old = build();
    old.apply({ op: 'enclave.delete', enclave: 'e1' });
    assert.deepEqual(remaining(old), ['h1:child', 'h1:grandchild', 'h1:other']);
  });

  it('refuses to put an identity that exists in the enclave, but replays an old logged overwrite as before', () => {
    const state = new State();
    run(state, { op: 'enclave.create', enclave: 'e1', at: 1, by });
    run(state, { op: 'enclave.create', enclave: 'e2', at: 1, by });
    const put = (
      enclave: string,
      privilege: 'Admin' | 'User',
      parent = '',
      scoped = true,
    ): Command => ({
      op: 'identity.put',
      enclave,
      identity: 'h1:x',
      privilege,
      parent,
      tags: {},
      at: 2,
      by,
      ...(scoped ? { scoped: true } : {}),
    });
    run(state, put('e1', 'Admin'));
    assert.equal(
      code(() => state.check(put('e1', 'User'))),
      'IDENTITY_EXISTS',
    );
    assert.equal(
      code(() => state.check(put('e1', 'User', 'h1:y'))),
      'IDENTITY_EXISTS',
    );
    // Another enclave registers the identity on its own: e1's record does not show there.
    run(state, put('e2', 'User'));
    assert.equal(state.identities.get('e1', 'h1:x')?.privilege, 'Admin');
    assert.equal(state.identities.get('e2', 'h1:x')?.privilege, 'User');
    run(state, { op: 'identity.delete', enclave: 'e2', identity: 'h1:x' });
    assert.equal(state.identities.get('e1', 'h1:x')?.privilege, 'Admin');
    // A log written before the check may hold an overwrite: it still applies as it did,
    // replacing the identity's one record wherever it was.
    state.apply(put('e2', 'User', 'h1:y', false));
    assert.equal(state.identities.get('e1', 'h1:x'), undefined);
    assert.equal(state.identities.get('e2', 'h1:x')?.privilege, 'User');
    assert.equal(state.identities.get('e2', 'h1:x')?.parent, 'h1:y');
  });

  it('round-trips commands and snapshots byte-for-byte in meaning', () => {
    const state = new State();
    const commands: Command[] = [
      { op: 'enclave.create', enclave: 'e1', at: 5, by },
      keyCreate('k1'),
      keyCreate('k1', true),
      {
        op: 'policy.put',
        enclave: 'e1',
        name: 'p',
        allow: { 'KEY:GENERATE': ['k*'] },
        deny: {},
        at: 6,
        by,
      },
      {
        op: 'identity.put',
        enclave: 'e1',
        identity: 'h1:x',
        privilege: 'User',
        parent: '',
        tags: { a: 'b' },
        at: 7,
        by,
      },
      { op: 'policy.assign', enclave: 'e1', identity: 'h1:x', policy: 'p' },
    ];
    for (const command of commands) {
      const decoded = decodeCommand(encodeCommand(command));
      assert.deepEqual(decoded, command);
      assert.ok(footprint(command).startsWith('enclave/e1'));
      run(state, decoded);
    }
    const copy = decodeSnapshot(encodeSnapshot(state));
    assert.deepEqual(encodeSnapshot(copy), encodeSnapshot(state));
    const ring = copy.keyRing('e1', 'k1');
    const original = state.keyRing('e1', 'k1');
    assert.ok(latestVersion(ring).key.equals(latestVersion(original).key));
    assert.equal(copy.identities.get('e1', 'h1:x')?.policy, 'p');
  });

  it('rejects unknown format versions', () => {
    assert.throws(() => decodeCommand(Buffer.from('{"v":99,"op":"enclave.delete"}')), /version 99/);
    assert.throws(() => decodeSnapshot(Buffer.from('{"v":2}')), /version 2/);
  });
});
