// kill -9 test for the store: a child process appends in a loop and prints each acknowledged
// index; it is killed with SIGKILL at random moments, and every acknowledged record must survive.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Store } from '../src/store/store.ts';
import {
  crashTestSealer,
  DigestChain,
  payloadOf,
  snapshotPayload,
} from './fixtures/store/crash-records.ts';

const WRITER = fileURLToPath(new URL('./fixtures/store/writer.js', import.meta.url));
const ROUNDS = 20;
const BUDGET_MS = 15_000;

interface Round {
  readonly acked: number[];
  readonly stderr: string;
  readonly signal: NodeJS.Signals | null;
  readonly code: number | null;
}

/**
 * Runs the writer and SIGKILLs it `killAfterMs` after its first acknowledgement or, with
 * `fromSpawn`, after it was spawned (which may land in start-up and recovery).
 */
function runWriter(dir: string, killAfterMs: number, fromSpawn: boolean): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, dir, '4096'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked: number[] = [];
    let partial = '';
    let stderr = '';
    let timer = fromSpawn ? setTimeout(() => child.kill('SIGKILL'), killAfterMs) : undefined;
    const guard = setTimeout(() => child.kill('SIGKILL'), 8_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) acked.push(Number(line));
      timer ??= setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    // 'close' fires after the pipes are drained: every index the child printed is in `acked`.
    child.once('close', (code, signal) => {
      clearTimeout(guard);
      clearTimeout(timer);
      resolve({ acked, stderr, signal, code });
    });
  });
}

test('kill -9 at random moments never loses an acknowledged record', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'keyhold-crash-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  const dir = join(base, 'data');
  const chain = new DigestChain();
  const started = Date.now();
  let highestAcked = 0;
  let rounds = 0;
  let repaired = 0;

  while (rounds < ROUNDS && Date.now() - started < BUDGET_MS - 1_000) {
    const early = rounds % 4 === 3;
    const round = await runWriter(dir, Math.floor(Math.random() * (early ? 200 : 120)), early);
    assert.equal(
      round.signal,
      'SIGKILL',
      `writer exited by itself (${round.code}): ${round.stderr}`,
    );
    assert.ok(!round.stderr.includes('writer failed'), round.stderr);
    if (round.stderr.includes('warning:')) repaired += 1;
    for (const [i, index] of round.acked.entries()) {
      assert.ok(Number.isSafeInteger(index) && index > highestAcked, `ack ${index} out of order`);
      if (i > 0) assert.equal(index, round.acked[i - 1]! + 1);
      highestAcked = index;
    }

    const { store, recovered } = await Store.open({ dir, rekSealer: crashTestSealer() });
    try {
      let next = 1;
      if (recovered.snapshot) {
        const s = recovered.snapshot;
        assert.deepEqual(
          s.payload,
          snapshotPayload(s.index, chain.at(s.index)),
          `snapshot ${s.index}`,
        );
        next = s.index + 1;
      }
      for (const record of recovered.records) {
        assert.equal(record.index, next, 'records are contiguous after the snapshot');
        assert.deepEqual(record.payload, payloadOf(record.index), `payload of ${record.index}`);
        next += 1;
      }
      assert.ok(
        store.lastIndex >= highestAcked,
        `acknowledged ${highestAcked} but only ${store.lastIndex} survived (round ${rounds})`,
      );
    } finally {
      await store.close();
    }
    rounds += 1;
  }
  t.diagnostic(
    `${rounds} rounds, ${highestAcked} records acknowledged, ${repaired} restarts repaired a torn tail`,
  );
  assert.ok(rounds >= 5, `only ${rounds} rounds fit in the time budget`);
  assert.ok(highestAcked > 0, 'the writer acknowledged records');
});
