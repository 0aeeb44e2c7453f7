// On-demand collection: a dropped object is really collected (seen by a FinalizationRegistry),
// and the idle collector waits for a burst of changes to stop before collecting.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { IdleCollector, collectGarbage } from './collect-garbage.ts';

describe('collectGarbage', () => {
  it('collects an unreachable object', async () => {
    let collected = false;
    const registry = new FinalizationRegistry(() => (collected = true));
    registry.register({ big: Buffer.alloc(1024) }, 'x');
    await sleep(10);
    collectGarbage();
    await sleep(10);
    assert.equal(collected, true);
  });

  it('collects after a burst of changes once quiet, never during it', async () => {
    const notes: number[] = [];
    const collections: number[] = [];
    const idle = new IdleCollector(10, 200, () => collections.push(performance.now()));
    const note = (n: number): void => {
      notes.push(performance.now());
      idle.note(n);
    };
    note(5);
    await sleep(300);
    assert.deepEqual(collections, [], 'below the threshold: no collection');
    for (let i = 0; i < 8; i++) {
      note(1);
      await sleep(20);
    }
    await sleep(700);
    assert.ok(collections.length >= 2, 'collected (twice) once quiet');
    for (const at of collections) {
      const before = notes.filter((n) => n <= at);
      assert.ok(at - before[before.length - 1]! >= 198, 'only after 200 ms without a change');
    }
    assert.ok(collections[collections.length - 1]! >= notes[notes.length - 1]! + 198);
    const count = collections.length;
    note(3);
    await sleep(300);
    assert.equal(collections.length, count, 'the count starts over after a collection');
  });
});
