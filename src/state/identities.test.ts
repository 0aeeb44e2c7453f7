import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IdentityRecord } from './entities.ts';
import { Identities } from './identities.ts';

const record = (enclave: string, identity: string, parent = ''): IdentityRecord => ({
  identity,
  enclave,
  privilege: 'User',
  policy: '',
  createdAt: new Date(0),
  createdBy: '',
  parent,
  tags: {},
});

describe('Identities', () => {
  it('keeps one record per enclave and identity, listed per enclave', () => {
    const ids = new Identities();
    ids.set(record('a', 'h1:x'));
    ids.set(record('b', 'h1:x'));
    ids.set(record('a', 'h1:y'));
    assert.equal(ids.size, 3);
    assert.deepEqual(
      ids.page('a', '', '', 10).items.map((r) => r.identity),
      ['h1:x', 'h1:y'],
    );
    assert.deepEqual(
      ids.page('b', '', '', 10).items.map((r) => r.identity),
      ['h1:x'],
    );
    assert.deepEqual(ids.page('a', '', '', 1).continueAt, 'h1:y');
    assert.deepEqual(ids.page('c', '', '', 10), { items: [], continueAt: '' });
    assert.deepEqual([...ids.recordsOf('h1:x')].map((r) => r.enclave).sort(), ['a', 'b']);

    assert.equal(ids.delete('a', 'h1:x'), true);
    assert.equal(ids.delete('a', 'h1:x'), false);
    assert.equal(ids.get('a', 'h1:x'), undefined);
    assert.equal(ids.get('b', 'h1:x')?.enclave, 'b');
    assert.equal(ids.size, 2);

    const removed = ids.deleteEnclave('a');
    assert.deepEqual(
      removed.map((r) => r.identity),
      ['h1:y'],
    );
    assert.equal(ids.size, 1);
    assert.deepEqual(
      [...ids.values()].map((r) => `${r.enclave}/${r.identity}`),
      ['b/h1:x'],
    );
    ids.clear();
    assert.equal(ids.size, 0);
    assert.equal(ids.recordsOf('h1:x').next().done, true);
  });
});
