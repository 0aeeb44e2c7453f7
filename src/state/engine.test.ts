// The write path over a real sealed store: concurrent writes are committed together and applied
// in log order; conflicting writes see each other; recovery rebuilds the same state.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KeyholdError } from '../model/errors.ts';
import { AesGcmSealer } from '../store/aes-gcm-sealer.ts';
import { Store } from '../store/store.ts';
import type { Command } from './commands.ts';
import { conflictKeys, Engine } from './engine.ts';
import { decodeSnapshot, encodeSnapshot } from './snapshot.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const sealer = new AesGcmSealer(Buffer.alloc(32, 1));

async function open(dir: string, snapshotEvery?: number) {
  const { store, recovered } = await Store.open({ dir, rekSealer: sealer });
  const applied: number[] = [];
  const engine = Engine.recover(store, recovered, {
    ...(snapshotEvery ? { snapshotEvery } : {}),
    onApplied: (_c, index) => applied.push(index),
  });
  return { engine, applied };
}

const by = 'h1:test';
const create = (name: string, addVersion = false): Command => ({
  op: 'key.create',
  enclave: 'e',
  name,
  type: 'AES256',
  key: randomBytes(32),
  hmacKey: randomBytes(32),
  imported: false,
  addVersion,
  at: 1,
  by,
});

describe('Engine', () => {
  it('commits concurrent writes, applies them in log order, and recovers the same state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyhold-engine-'));
    dirs.push(dir);
    const { engine, applied } = await open(dir, 50);
    await engine.submit({ op: 'enclave.create', enclave: 'e', at: 1, by });
    const indexes = await Promise.all(
      Array.from({ length: 300 }, (_, i) => engine.submit(create(`k${i}`))),
    );
    assert.equal(new Set(indexes).size, 300);
    assert.deepEqual(
      applied,
      [...applied].sort((a, b) => a - b),
      'applied in log order',
    );
    assert.equal(engine.state.enclave('e').keys.size, 300);
    const before = encodeSnapshot(engine.state);
    await engine.close();
    const reopened = await open(dir);
    assert.deepEqual(encodeSnapshot(reopened.engine.state), before);
    await reopened.engine.close();
  });

  it('serializes conflicting writes so that each check sees the earlier outcome', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyhold-engine-'));
    dirs.push(dir);
    const { engine } = await open(dir);
    await engine.submit({ op: 'enclave.create', enclave: 'e', at: 1, by });
    // Ten creations of one name at once: exactly one wins, nine see KEY_EXISTS.
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => engine.submit(create('same'))),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) {
      if (r.status === 'rejected') {
        assert.ok(r.reason instanceof KeyholdError);
        assert.equal(r.reason.code, 'KEY_EXISTS');
      }
    }
    // Rotations of one key get distinct, increasing versions.
    await Promise.all(Array.from({ length: 5 }, () => engine.submit(create('same', true))));
    assert.deepEqual(
      [...engine.state.keyRing('e', 'same').versions()].map((v) => v.version).sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6],
    );
    // Deleting the enclave while keys are created in it: every outcome is consistent.
    const inside = Array.from({ length: 5 }, (_, i) => engine.submit(create(`late${i}`)));
    const gone = engine.submit({ op: 'enclave.delete', enclave: 'e' });
    await Promise.allSettled(inside);
    await gone;
    assert.equal(engine.state.enclaves.has('e'), false);
    await engine.close();
  });

  it('snapshots a growing state periodically and at close, so the log stays short', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyhold-engine-'));
    dirs.push(dir);
    const { store, recovered } = await Store.open({ dir, rekSealer: sealer });
    const engine = Engine.recover(store, recovered, { snapshotEvery: 50 });
    await engine.submit({ op: 'enclave.create', enclave: 'e', at: 1, by });
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => engine.submit(create(`k${batch * 100 + i}`))),
      );
      // Never more than a quarter of the state (or 50 records) behind, plus the batch just
      // applied and one whose snapshot may still be being written.
      const size = engine.state.size;
      assert.ok(
        engine.state.commit - store.snapshotIndex <= Math.max(50, size / 4) + 200,
        `commit ${engine.state.commit}, snapshot ${store.snapshotIndex}, size ${size}`,
      );
    }
    assert.ok(store.snapshotIndex > 1000);
    await engine.close();
    const reopened = await Store.open({ dir, rekSealer: sealer });
    assert.equal(reopened.recovered.snapshot?.index, 2001, 'a snapshot at close');
    assert.equal(reopened.recovered.records.length, 0);
    assert.equal(decodeSnapshot(reopened.recovered.snapshot.payload).enclave('e').keys.size, 2000);
    await reopened.store.close();
  });

  it('declares conflicts between an enclave and what it contains, not between siblings', () => {
    const key = conflictKeys(create('a'));
    assert.deepEqual(key, ['enclave/e/key/a']);
    assert.deepEqual(conflictKeys({ op: 'enclave.create', enclave: 'e', at: 0, by: '' }), [
      'enclave/e',
    ]);
    // Deleting an enclave deletes service accounts of its identities in other enclaves too.
    assert.deepEqual(conflictKeys({ op: 'enclave.delete', enclave: 'e', cascade: true }), [
      'enclave/e',
      'identity',
    ]);
  });
});
