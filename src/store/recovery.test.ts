// Crash-recovery tests on real files: the log cut at every byte offset of its last records, and
// single bit flips across every file, must give a committed prefix or a precise corruption error.
// Depth: by default each sweep takes a seeded sample of its cuts or bits, one in SAMPLE_STRIDE
// spread evenly (plus every record boundary for the cuts); KEYHOLD_SWEEP=all (CI sets it) takes
// every one. A failing case names its seed: KEYHOLD_FAULT_SEED=N replays it.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { AesGcmSealer } from './aes-gcm-sealer.ts';
import { StoreError } from './errors.ts';
import { readFrame } from './record.ts';
import { SEGMENT_HEADER_BYTES, segmentName } from './segment.ts';
import { Store } from './store.ts';
import { nodeStoreFs, type StoreFs } from './store-fs.ts';
import { Prng } from '../../test/helpers/prng.ts';
import { spread, sweepDepth } from '../../test/helpers/sweep.ts';

const hsm = new AesGcmSealer(randomBytes(32));
/**
 * These tests examine what recovery decides, over hundreds of opens; whether data reaches the
 * disk is store.test.ts's and store-crash.test.ts's business. Without fsyncs they run in seconds.
 */
const fs: StoreFs = { ...nodeStoreFs, fsync: async () => {}, fdatasync: async () => {} };

/** Without KEYHOLD_SWEEP=all, one cut or bit in this many (seeded, evenly spread). */
const SAMPLE_STRIDE = 6;

function payloadOf(index: number): Buffer {
  return Buffer.from(`cmd-${index}-${'y'.repeat(index % 5)}`);
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'keyhold-recovery-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Record start offsets in a segment file, plus its size as the final boundary. */
function boundaries(log: Buffer): number[] {
  const starts: number[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  while (offset < log.length) {
    const frame = readFrame(log, offset);
    assert.ok(typeof frame !== 'string', `intact log expected at ${offset}`);
    starts.push(offset);
    offset = frame.end;
  }
  assert.equal(offset, log.length);
  return [...starts, log.length];
}

interface Built {
  /** The `rek` after a clean close: it knows every record was acknowledged. */
  readonly rek: Buffer;
  readonly log: Buffer;
  /**
   * `reks[k]`: the `rek` as a crash right after the k-th batch was acknowledged leaves it (0: none
   * yet), so `reks[k]` with the log cut inside batch k + 1 is what a crash mid-write leaves.
   */
  readonly reks: Buffer[];
  /** `batchOf[i]`: the batch (1-based) that record i was written in. */
  readonly batchOf: number[];
}

/** Builds a store with records 1..`count`; `batches` lists the sizes of concurrent groups. */
async function build(dir: string, batches: number[]): Promise<Built> {
  const { store } = await Store.open({ dir, rekSealer: hsm, fs });
  const rekPath = join(dir, 'rek');
  const reks = [await readFile(rekPath)];
  const batchOf = [0];
  let next = 1;
  for (const [b, size] of batches.entries()) {
    const group: Promise<number>[] = [];
    for (let i = 0; i < size; i++) {
      group.push(store.append(payloadOf(next++)));
      batchOf.push(b + 1);
    }
    await Promise.all(group);
    reks.push(await readFile(rekPath));
  }
  await store.close();
  return {
    rek: await readFile(rekPath),
    log: await readFile(join(dir, segmentName(1))),
    reks,
    batchOf,
  };
}

async function restore(dir: string, files: { rek: Buffer; log: Buffer }): Promise<void> {
  for (const name of await readdir(dir)) await rm(join(dir, name));
  await writeFile(join(dir, 'rek'), files.rek, { mode: 0o600 });
  await writeFile(join(dir, segmentName(1)), files.log, { mode: 0o600 });
}

test('a log cut at any byte of its last records recovers a committed prefix and accepts appends', async (t) => {
  const dir = await tempDir(t);
  // Records 1..4 one per batch, then 5..7 committed together, then 8 alone.
  const files = await build(dir, [1, 1, 1, 1, 3, 1]);
  const bounds = boundaries(files.log);
  assert.equal(bounds.length, 9);
  const prng = Prng.fromEnv();
  t.diagnostic(`seed ${prng.seed}, ${sweepDepth(SAMPLE_STRIDE)}`);
  const all = Array.from({ length: files.log.length - bounds[3]! + 1 }, (_, i) => bounds[3]! + i);
  // Every record boundary (a clean cut) and a sample of the cuts inside records.
  const cuts = [...new Set([...bounds.slice(3), ...spread(all, SAMPLE_STRIDE, prng)])].sort(
    (a, b) => a - b,
  );
  for (const cut of cuts) {
    const complete = bounds.filter((b, i) => i > 0 && b <= cut).length;
    const log = files.log.subarray(0, cut);
    if (cut < files.log.length) {
      // After a clean close the store knows all 8 records were acknowledged: a cut is refused.
      await restore(dir, { rek: files.rek, log });
      await assert.rejects(Store.open({ dir, rekSealer: hsm, fs }), (error: unknown) => {
        assert.ok(error instanceof StoreError && error.code === 'corrupt', String(error));
        assert.equal(error.file, join(dir, segmentName(1)));
        assert.equal(error.offset, bounds[complete], `cut at ${cut} (seed ${prng.seed})`);
        assert.match(error.message, new RegExp(`records? ${complete + 1}\\b`));
        assert.match(error.message, /up to 8\b/);
        return true;
      });
    }
    // A crash while writing the batch of the first incomplete record: that batch was never
    // acknowledged, and the cut is a torn write.
    const crashed = complete === 8 ? files.rek : files.reks[files.batchOf[complete + 1]! - 1]!;
    await restore(dir, { rek: crashed, log });
    const { store, recovered } = await Store.open({ dir, rekSealer: hsm, fs });
    assert.equal(recovered.snapshot, null);
    assert.deepEqual(
      recovered.records.map((r) => r.index),
      Array.from({ length: complete }, (_, i) => i + 1),
      `cut at ${cut} (seed ${prng.seed})`,
    );
    recovered.records.forEach((r) => assert.deepEqual(r.payload, payloadOf(r.index)));
    assert.equal(
      recovered.warnings.length,
      bounds.includes(cut) ? 0 : 1,
      `cut at ${cut} (seed ${prng.seed})`,
    );
    assert.equal(await store.append(Buffer.from('after')), complete + 1);
    await store.close();
    const again = await Store.open({ dir, rekSealer: hsm, fs });
    assert.equal(again.recovered.records.length, complete + 1);
    assert.equal(again.recovered.records.at(-1)!.payload.toString(), 'after');
    assert.deepEqual(again.recovered.warnings, []);
    await again.store.close();
  }
});

function flip(data: Buffer, bit: number): Buffer {
  const copy = Buffer.from(data);
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
}

/** Bits to flip: every bit of headers, one bit per byte of sealed payloads (to bound the run). */
function bitsToFlip(size: number, isHeader: (offset: number) => boolean): number[] {
  const bits: number[] = [];
  for (let offset = 0; offset < size; offset++) {
    if (isHeader(offset)) for (let bit = 0; bit < 8; bit++) bits.push(offset * 8 + bit);
    else bits.push(offset * 8 + (offset % 8));
  }
  return bits;
}

test('a flipped bit in the log is a torn tail only in the last record, else a precise corruption error', async (t) => {
  const dir = await tempDir(t);
  const files = await build(dir, [1, 1, 1, 1, 1, 1]);
  const bounds = boundaries(files.log);
  const logPath = join(dir, segmentName(1));
  const lastStart = bounds.at(-2)!;
  const headerish = (offset: number) =>
    offset < SEGMENT_HEADER_BYTES || bounds.some((b) => offset >= b && offset < b + 20);
  const prng = Prng.fromEnv();
  t.diagnostic(`seed ${prng.seed}, ${sweepDepth(SAMPLE_STRIDE)}`);
  let torn = 0;
  let corrupt = 0;
  for (const bit of spread(bitsToFlip(files.log.length, headerish), SAMPLE_STRIDE, prng)) {
    const offset = bit >> 3;
    if (offset >= lastStart) {
      // Once record 6 was acknowledged, damage to it is damage, not a torn write.
      await restore(dir, { rek: files.rek, log: flip(files.log, bit) });
      await assert.rejects(Store.open({ dir, rekSealer: hsm, fs }), (error: unknown) => {
        assert.ok(error instanceof StoreError && error.code === 'corrupt', String(error));
        assert.equal(error.offset, lastStart, error.message);
        assert.match(error.message, /record 6 was acknowledged/);
        return true;
      });
    }
    // As a crash while writing record 6 leaves it.
    await restore(dir, { rek: files.reks[5]!, log: flip(files.log, bit) });
    try {
      const { store, recovered } = await Store.open({ dir, rekSealer: hsm, fs });
      await store.close();
      assert.ok(offset >= lastStart, `bit ${bit} (byte ${offset}) was silently accepted`);
      assert.deepEqual(
        recovered.records.map((r) => r.index),
        [1, 2, 3, 4, 5],
      );
      assert.match(recovered.warnings[0] ?? '', new RegExp(`at byte ${lastStart}`));
      torn++;
    } catch (error) {
      assert.ok(error instanceof StoreError, `bit ${bit}: ${String(error)}`);
      assert.equal(error.code, 'corrupt', `bit ${bit}: ${error.message}`);
      assert.equal(error.file, logPath);
      const record = bounds.findLastIndex((b) => b <= offset);
      const expected = record === -1 ? undefined : bounds[record];
      if (expected === undefined) assert.ok(error.offset! < SEGMENT_HEADER_BYTES, error.message);
      else assert.equal(error.offset, expected, `bit ${bit}: ${error.message}`);
      assert.ok(offset < lastStart, `bit ${bit}: the last record should count as torn`);
      assert.match(
        error.message,
        new RegExp(`^corrupt store: ${logPath} at byte ${error.offset}: `),
      );
      corrupt++;
    }
    // Whatever happened, the log on disk was either left alone or only cut at the last record.
    const after = await readFile(logPath);
    assert.ok(after.length === files.log.length || after.length === lastStart, `bit ${bit}`);
  }
  assert.ok(torn > 0 && corrupt > 0);
});

test('a flipped bit in the rek or a snapshot file is reported, and accepted only in one manifest copy', async (t) => {
  const dir = await tempDir(t);
  const { store } = await Store.open({ dir, rekSealer: hsm, fs, maxSegmentBytes: 60 });
  for (let i = 1; i <= 3; i++) await store.append(payloadOf(i));
  await store.snapshot(3, Buffer.from('state at 3'));
  await store.close();
  const originals = new Map<string, Buffer>();
  for (const name of await readdir(dir)) originals.set(name, await readFile(join(dir, name)));
  assert.deepEqual([...originals.keys()].sort(), ['rek', 'snapshot-00000000000000000003.snap']);
  const rek = originals.get('rek')!;
  // The manifest slots: a flip spoils one copy; the other is used, with a warning.
  for (const offset of [4096, 4096 + 17, 4096 + 47, 8191, 8192, 8192 + 40, 12287]) {
    await writeFile(join(dir, 'rek'), flip(rek, offset * 8 + 3));
    const { store: reopened, recovered } = await Store.open({ dir, rekSealer: hsm, fs });
    await reopened.close();
    assert.equal(recovered.snapshot?.payload.toString(), 'state at 3');
    assert.match(recovered.warnings.join('\n'), /one copy of the manifest was damaged/);
    await writeFile(join(dir, 'rek'), rek);
  }
  // Every bit of the headers (the first 48 bytes), one bit per byte of the sealed bodies; in the
  // rek's key page, one bit every 16 bytes of the zeros after the key (a sample of those unless
  // KEYHOLD_SWEEP=all).
  const prng = Prng.fromEnv();
  t.diagnostic(`seed ${prng.seed}, ${sweepDepth(SAMPLE_STRIDE)}`);
  for (const [name, data] of originals) {
    const size = name === 'rek' ? 4096 : data.length;
    const bits = bitsToFlip(size, (offset) => offset < 48 || offset >= size - 4).filter(
      (bit) => name !== 'rek' || bit >> 3 < 200 || (bit >> 3) % 16 === 0,
    );
    for (const bit of spread(bits, SAMPLE_STRIDE, prng)) {
      await writeFile(join(dir, name), flip(data, bit));
      await assert.rejects(Store.open({ dir, rekSealer: hsm, fs }), (error: unknown) => {
        assert.ok(error instanceof StoreError, String(error));
        // The rek's sealed key is authenticated: a flip there reads as another HSM key unless the
        // checksum catches it first, which it always does for a single bit.
        assert.equal(error.code, 'corrupt', `${name} bit ${bit}: ${error.message}`);
        assert.equal(error.file, join(dir, name));
        assert.ok(error.offset !== undefined && error.offset < data.length);
        return true;
      });
      assert.deepEqual(await readdir(dir).then((n) => n.sort()), [...originals.keys()].sort());
    }
    await writeFile(join(dir, name), data);
  }
});

test('a torn multi-record write may leave later records of the same batch intact', async (t) => {
  const dir = await tempDir(t);
  // 1..3 alone, then 4..6 in one batch: the final write.
  const files = await build(dir, [1, 1, 1, 3]);
  const bounds = boundaries(files.log);
  // Pages reached the disk out of order: record 4's bytes never did, 5 and 6 did.
  const log = Buffer.from(files.log);
  log.fill(0, bounds[3], bounds[4]);
  await restore(dir, { rek: files.reks[3]!, log });
  const { store, recovered } = await Store.open({ dir, rekSealer: hsm, fs });
  assert.deepEqual(
    recovered.records.map((r) => r.index),
    [1, 2, 3],
  );
  assert.match(recovered.warnings[0]!, new RegExp(`at byte ${bounds[3]}`));
  await store.close();

  // The same damage to record 3, which a later write (batch 4..6) follows, is corruption.
  const damaged = Buffer.from(files.log);
  damaged.fill(0, bounds[2], bounds[3]);
  await restore(dir, { rek: files.reks[3]!, log: damaged });
  await assert.rejects(Store.open({ dir, rekSealer: hsm, fs }), (error: unknown) => {
    assert.ok(error instanceof StoreError && error.code === 'corrupt');
    assert.equal(error.offset, bounds[2]);
    assert.match(error.message, /intact later write \(record 4 at byte/);
    return true;
  });
});

test('a record that passes its checksum but not its seal is corruption, even at the end', async (t) => {
  const dir = await tempDir(t);
  const files = await build(dir, [1, 1]);
  const bounds = boundaries(files.log);
  // Swap in a record sealed by another store's key, with a recomputed checksum: only AEAD notices.
  const otherDir = join(dir, 'other');
  const other = await build(otherDir, [1, 1]);
  const log = Buffer.concat([
    files.log.subarray(0, bounds[1]),
    other.log.subarray(bounds[1], bounds[2]),
  ]);
  await rm(otherDir, { recursive: true });
  // The other store's id differs, but the header is ours; patch the CRC-covered fields as-is.
  await restore(dir, { rek: files.rek, log });
  await assert.rejects(Store.open({ dir, rekSealer: hsm, fs }), (error: unknown) => {
    assert.ok(error instanceof StoreError && error.code === 'corrupt', String(error));
    assert.equal(error.offset, bounds[1]);
    assert.match(error.message, /fails authentication/);
    return true;
  });
});
