// Damage at every offset of every state file, in-process on the store API (real files): a bit
// flip (which bit: seeded) and a truncation at each byte offset of each log segment and the
// snapshot, and of the `rek` file's meaningful bytes (header, sealed REK, manifest slots, CRCs)
// plus a seeded sample of its zero padding (docs/storage.md#damage-sweep). Each open must either
// refuse with a StoreError naming the damaged file and leave every file byte-identical, or
// recover exactly the state that was written — never throw anything else, never return a
// different state. A failing case prints its seed: KEYHOLD_FAULT_SEED=N replays it.
//
// Depth: by default a seeded sample of those offsets, one in SAMPLE_STRIDE spread evenly over
// each file (so every file, both kinds of damage and every region longer than SAMPLE_STRIDE
// bytes); KEYHOLD_SWEEP=all (CI sets it) sweeps every offset.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AesGcmSealer } from '../src/store/aes-gcm-sealer.ts';
import { StoreError } from '../src/store/errors.ts';
import { Store } from '../src/store/store.ts';
import { nodeStoreFs, type StoreFs } from '../src/store/store-fs.ts';
import { Prng } from './helpers/prng.ts';
import { spread, sweepDepth } from './helpers/sweep.ts';

const hsm = new AesGcmSealer(randomBytes(32));
/** What recovery decides is the subject here, over thousands of opens: no fsyncs (seconds). */
const fs: StoreFs = { ...nodeStoreFs, fsync: async () => {}, fdatasync: async () => {} };
/** Records written; the snapshot is taken at SNAPSHOT_AT. Small segments: several files. */
const RECORDS = 12;
const SNAPSHOT_AT = 5;
const PAGE = 4096;
/** Zero-padding offsets of `rek` sampled per page (every other offset is swept). */
const PADDING_SAMPLE = 24;
/** Without KEYHOLD_SWEEP=all, one offset in this many of each file (seeded, evenly spread). */
const SAMPLE_STRIDE = 6;

const payloadOf = (index: number): string => `record-${index}-${'z'.repeat(index % 7)}`;

/** The state a directory holds: the payloads 1..N, from the snapshot and the log after it. */
function logical(recovered: Awaited<ReturnType<typeof Store.open>>['recovered']): string[] {
  const out: string[] = recovered.snapshot
    ? (JSON.parse(recovered.snapshot.payload.toString()) as string[])
    : [];
  for (const record of recovered.records) {
    if (record.index <= out.length) continue; // a segment may start before the snapshot
    assert.equal(record.index, out.length + 1, 'records follow the state without a gap');
    out.push(record.payload.toString());
  }
  return out;
}

async function build(dir: string): Promise<void> {
  const { store } = await Store.open({ dir, rekSealer: hsm, fs, maxSegmentBytes: 160 });
  for (let i = 1; i <= RECORDS; i++) {
    await store.append(Buffer.from(payloadOf(i)));
    if (i === SNAPSHOT_AT) {
      const state = Array.from({ length: i }, (_, k) => payloadOf(k + 1));
      await store.snapshot(i, Buffer.from(JSON.stringify(state)));
    }
  }
  await store.close();
}

async function snapshotOf(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of (await readdir(dir)).sort()) files.set(name, await readFile(join(dir, name)));
  return files;
}

/** Puts the directory back to `files` exactly (removing anything else). */
async function restore(dir: string, files: Map<string, Buffer>): Promise<void> {
  for (const name of await readdir(dir)) if (!files.has(name)) await rm(join(dir, name));
  for (const [name, bytes] of files) await writeFile(join(dir, name), bytes);
}

/** The offsets of `rek` worth every byte: all but the zero padding, which is sampled. */
function rekOffsets(rek: Buffer, prng: Prng): number[] {
  const all: number[] = [];
  const padding: number[] = [];
  for (let o = 0; o < rek.length; o++) {
    const inPage = o % PAGE;
    // The CRC at the end of each page, and every non-zero byte, are swept; runs of zeros sampled.
    if (inPage >= PAGE - 4 || rek[o] !== 0 || (o > 0 && rek[o - 1] !== 0)) all.push(o);
    else padding.push(o);
  }
  const pages = Math.ceil(rek.length / PAGE);
  for (let p = 0; p < pages; p++) {
    const inPage = padding.filter((o) => Math.floor(o / PAGE) === p);
    all.push(...prng.sample(inPage, Math.min(PADDING_SAMPLE, inPage.length)));
  }
  return all.sort((a, b) => a - b);
}

test('a bit flip or a truncation at every offset of every state file: refused naming the file, or the exact state', async (t) => {
  const prng = Prng.fromEnv();
  const dir = await mkdtemp(join(tmpdir(), 'keyhold-sweep-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await build(dir);
  const original = await snapshotOf(dir);
  const expected = Array.from({ length: RECORDS }, (_, k) => payloadOf(k + 1));
  const intact = await Store.open({ dir, rekSealer: hsm, fs });
  assert.deepEqual(logical(intact.recovered), expected);
  await intact.store.close();
  await restore(dir, original);
  const names = [...original.keys()];
  assert.ok(
    names.filter((n) => n.endsWith('.wal')).length >= 2,
    `several segments: ${names.join(' ')}`,
  );
  assert.ok(names.some((n) => n.endsWith('.snap')) && names.includes('rek'), names.join(' '));

  const tally = { cases: 0, refused: 0, recovered: 0 };
  const outcomes = new Map<string, number>();
  for (const [name, bytes] of original) {
    const offsets = spread(
      name === 'rek' ? rekOffsets(bytes, prng) : Array.from(bytes.keys()),
      SAMPLE_STRIDE,
      prng,
    );
    for (const offset of offsets) {
      const bit = prng.int(8);
      for (const damage of ['flip', 'truncate'] as const) {
        const damaged = damage === 'truncate' ? bytes.subarray(0, offset) : Buffer.from(bytes);
        if (damage === 'flip') damaged[offset]! ^= 1 << bit;
        await writeFile(join(dir, name), damaged);
        const before = await snapshotOf(dir);
        const what = `${damage} of ${name} at byte ${offset}${damage === 'flip' ? ` bit ${bit}` : ''} (KEYHOLD_FAULT_SEED=${prng.seed})`;
        tally.cases++;
        let opened: Awaited<ReturnType<typeof Store.open>> | undefined;
        try {
          opened = await Store.open({ dir, rekSealer: hsm, fs });
        } catch (error) {
          assert.ok(error instanceof StoreError, `${what}: not a StoreError: ${String(error)}`);
          assert.ok(
            ['corrupt', 'unsupported-version'].includes(error.code),
            `${what}: code ${error.code}: ${error.message}`,
          );
          assert.ok(
            error.message.includes(name),
            `${what}: the message does not name ${name}: ${error.message}`,
          );
          assert.deepEqual(await snapshotOf(dir), before, `${what}: a refusal changed files`);
          tally.refused++;
          const kind = `${name.replace(/\d+/, 'N')} ${damage}: ${error.code}`;
          outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
        }
        if (opened) {
          try {
            assert.deepEqual(
              logical(opened.recovered),
              expected,
              `${what}: recovered another state`,
            );
            // A recovered directory still takes writes.
            assert.equal(await opened.store.append(Buffer.from('next')), opened.store.lastIndex);
          } finally {
            await opened.store.close();
          }
          tally.recovered++;
          const kind = `${name.replace(/\d+/, 'N')} ${damage}: recovered`;
          outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
        }
        await restore(dir, original);
      }
    }
  }
  t.diagnostic(`seed ${prng.seed}, ${sweepDepth(SAMPLE_STRIDE)}: ${JSON.stringify(tally)}`);
  for (const [kind, n] of [...outcomes].sort()) t.diagnostic(`${kind} × ${n}`);
  assert.ok(tally.refused > 0 && tally.recovered > 0);
});
