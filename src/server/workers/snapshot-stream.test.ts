// Snapshot streaming over a real IPC channel ('advanced' serialization, as node:cluster uses): the
// pieces reassemble byte for byte, and messages sent meanwhile arrive after the snapshot's message.

import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ToWorker } from './messages.ts';
import { SnapshotReceiver, WorkerOutbox } from './snapshot-stream.ts';

const dir = mkdtempSync(join(tmpdir(), 'keyhold-stream-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A child that reassembles snapshots and reports what it got, in order. */
const CHILD = `
import { createHash } from 'node:crypto';
import { SnapshotReceiver } from ${JSON.stringify(new URL('./snapshot-stream.js', import.meta.url).href)};
const receiver = new SnapshotReceiver();
let pieces = 0;
process.on('message', (message) => {
  if (message.type === 'snapshot') {
    pieces++;
    receiver.add(message.total, message.bytes);
  } else if (message.type === 'init' || message.type === 'reset') {
    const snapshot = receiver.take();
    process.send({ got: message.type, pieces, sha: createHash('sha256').update(snapshot).digest('hex') });
    pieces = 0;
  } else if (message.type === 'shutdown') {
    process.disconnect();
  } else {
    process.send({ got: message.type });
  }
});
`;

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('snapshot streaming', () => {
  it('sends a snapshot in pieces, in order with the messages around it', async () => {
    const script = join(dir, 'child.mjs');
    writeFileSync(script, CHILD);
    const child = fork(script, [], { serialization: 'advanced' });
    const replies: unknown[] = [];
    const done = new Promise<void>((resolve) => child.on('disconnect', resolve));
    child.on('message', (reply) => replies.push(reply));
    const outbox = new WorkerOutbox({
      send: (message: ToWorker, callback?: (error: Error | null) => void) =>
        child.send(message, callback),
      isConnected: () => child.connected,
    });

    const first = randomBytes(5 * 1024 * 1024 + 7);
    const second = randomBytes(1000);
    outbox.send({ type: 'subscribers', audit: 0, log: 0 });
    outbox.sendSnapshot(first, {
      type: 'init',
      ticketKeys: Buffer.alloc(48),
      certificate: { cert: Buffer.alloc(1), key: Buffer.alloc(1), files: { cert: '', key: '' } },
      writable: true,
    });
    outbox.send({ type: 'apply', first: 1, commands: [Buffer.from('x')] });
    outbox.sendSnapshot(second, { type: 'reset' });
    outbox.send({ type: 'subscribers', audit: 1, log: 1 });
    outbox.send({ type: 'shutdown' });
    await done;

    assert.deepEqual(replies, [
      { got: 'subscribers' },
      { got: 'init', pieces: 6, sha: sha(first) },
      { got: 'apply' },
      { got: 'reset', pieces: 1, sha: sha(second) },
      { got: 'subscribers' },
    ]);
  });

  it('refuses pieces that do not add up, and an incomplete snapshot', () => {
    const receiver = new SnapshotReceiver();
    assert.throws(() => receiver.take(), /snapshot incomplete/);
    receiver.add(4, Buffer.from([1, 2]));
    assert.throws(() => receiver.take(), /snapshot incomplete/);
    assert.throws(() => receiver.add(4, Buffer.from([3, 4, 5])), /do not add up/);
    receiver.add(4, Buffer.from([3, 4]));
    assert.deepEqual(receiver.take(), Buffer.from([1, 2, 3, 4]));
  });
});
