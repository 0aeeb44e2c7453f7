// Tests for Store: round trips, snapshots and compaction, group commit, I/O failure, the lock,
// the wrong HSM key and format versions. Real files in a temporary directory throughout.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { HsmKey } from '../crypto/index.ts';
import { AesGcmSealer } from './aes-gcm-sealer.ts';
import { StoreError } from './errors.ts';
import { segmentName } from './segment.ts';
import { Store } from './store.ts';
import { nodeStoreFs, type StoreFs } from './store-fs.ts';

const hsm = new AesGcmSealer(randomBytes(32));

async function tempDir(t: TestContext): Promise<string> {
  const base = await mkdtemp(join(tmpdir(), 'keyhold-store-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  return join(base, 'data');
}

function payloadOf(index: number): Buffer {
  return Buffer.from(`command ${index} ${'x'.repeat(index % 13)}`);
}

async function dirBytes(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of (await readdir(dir)).sort()) files.set(name, await readFile(join(dir, name)));
  return files;
}

function isStoreError(code: StoreError['code'], pattern?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof StoreError, `expected a StoreError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

test('appends survive close and reopen; the directory and files are private', async (t) => {
  const dir = await tempDir(t);
  const { store, recovered } = await Store.open({ dir, rekSealer: hsm });
  assert.deepEqual(recovered, { snapshot: null, records: [], warnings: [] });
  assert.equal(store.lastIndex, 0);
  for (let i = 1; i <= 5; i++) assert.equal(await store.append(payloadOf(i)), i);
  assert.equal(store.lastIndex, 5);
  assert.equal(store.durableIndex, 5);
  await store.close();
  await store.close();
  await assert.rejects(store.append(payloadOf(6)), isStoreError('closed'));

  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  const names = await readdir(dir);
  assert.deepEqual(names.sort(), ['log-00000000000000000001.wal', 'rek']);
  for (const name of names) assert.equal((await stat(join(dir, name))).mode & 0o777, 0o600);
  const log = await readFile(join(dir, names[0]!));
  assert.equal(log.indexOf('command'), -1, 'payloads are sealed on disk');

  const again = await Store.open({ dir, rekSealer: hsm });
  assert.equal(again.recovered.snapshot, null);
  assert.deepEqual(
    again.recovered.records.map((r) => [r.index, r.payload.toString()]),
    [1, 2, 3, 4, 5].map((i) => [i, payloadOf(i).toString()]),
  );
  assert.equal(again.store.lastIndex, 5);
  assert.equal(await again.store.append(payloadOf(6)), 6);
  await again.store.close();
  const third = await Store.open({ dir, rekSealer: hsm });
  assert.deepEqual(
    third.recovered.records.map((r) => r.index),
    [1, 2, 3, 4, 5, 6],
  );
  await third.store.close();
});

test('snapshots compact the log across segment files', async (t) => {
  const dir = await tempDir(t);
  const { store } = await Store.open({ dir, rekSealer: hsm, maxSegmentBytes: 200 });
  for (let i = 1; i <= 30; i++) await store.append(payloadOf(i));
  const segmentsBefore = (await readdir(dir)).filter((n) => n.endsWith('.wal'));
  assert.ok(segmentsBefore.length > 5, `rolled into ${segmentsBefore.length} segments`);

  await store.snapshot(20, Buffer.from('state@20'));
  assert.equal(store.snapshotIndex, 20);
  const after = (await readdir(dir)).sort();
  assert.deepEqual(
    after.filter((n) => n.endsWith('.snap')),
    ['snapshot-00000000000000000020.snap'],
  );
  const kept = after.filter((n) => n.endsWith('.wal')).map((n) => Number(/\d+/.exec(n)![0]));
  assert.ok(kept.length < segmentsBefore.length);
  assert.ok(kept[0]! <= 21, 'the segment holding record 21 is kept');
  assert.ok(kept.length < 2 || kept[1]! > 21, 'segments wholly at or below 20 are gone');
  await store.close();

  const reopened = await Store.open({ dir, rekSealer: hsm, maxSegmentBytes: 200 });
  assert.equal(reopened.recovered.snapshot?.index, 20);
  assert.equal(reopened.recovered.snapshot.payload.toString(), 'state@20');
  assert.deepEqual(
    reopened.recovered.records.map((r) => r.index),
    Array.from({ length: 10 }, (_, i) => 21 + i),
  );
  assert.deepEqual(reopened.recovered.records[0]!.payload, payloadOf(21));

  await reopened.store.snapshot(30, Buffer.from('state@30'));
  assert.deepEqual(await readdir(dir).then((n) => n.sort()), [
    'LOCK',
    'rek',
    'snapshot-00000000000000000030.snap',
  ]);
  assert.equal(await reopened.store.append(payloadOf(31)), 31);
  await reopened.store.close();
  const last = await Store.open({ dir, rekSealer: hsm });
  assert.equal(last.recovered.snapshot?.payload.toString(), 'state@30');
  assert.deepEqual(
    last.recovered.records.map((r) => r.index),
    [31],
  );
  await assert.rejects(last.store.snapshot(29, Buffer.alloc(0)), RangeError);
  await last.store.close();
});

test('a snapshot beyond lastIndex installs state and restarts the log after it', async (t) => {
  const dir = await tempDir(t);
  const { store } = await Store.open({ dir, rekSealer: hsm });
  await store.append(payloadOf(1));
  const inFlight = store.append(payloadOf(2));
  await assert.rejects(store.snapshot(100, Buffer.from('x')), /in flight/);
  await inFlight;
  await store.snapshot(100, Buffer.from('transferred'));
  assert.equal(store.lastIndex, 100);
  assert.equal(await store.append(payloadOf(101)), 101);
  await store.close();
  assert.deepEqual((await readdir(dir)).sort(), [
    segmentName(101),
    'rek',
    'snapshot-00000000000000000100.snap',
  ]);
  const reopened = await Store.open({ dir, rekSealer: hsm });
  assert.equal(reopened.recovered.snapshot?.payload.toString(), 'transferred');
  assert.deepEqual(
    reopened.recovered.records.map((r) => r.index),
    [101],
  );
  await reopened.store.close();
});

test('a snapshot taken while appends are pending keeps them all', async (t) => {
  const dir = await tempDir(t);
  const { store } = await Store.open({ dir, rekSealer: hsm });
  for (let i = 1; i <= 3; i++) await store.append(payloadOf(i));
  const pending = Array.from({ length: 7 }, (_, i) => store.append(payloadOf(4 + i)));
  // Covers records that are not yet on disk: the segment holding 1..3 goes, 4..10 follow.
  await store.snapshot(5, Buffer.from('state@5'));
  assert.deepEqual(await Promise.all(pending), [4, 5, 6, 7, 8, 9, 10]);
  await store.close();
  const reopened = await Store.open({ dir, rekSealer: hsm });
  assert.equal(reopened.recovered.snapshot?.index, 5);
  assert.deepEqual(
    reopened.recovered.records.map((r) => r.index),
    [6, 7, 8, 9, 10],
  );
  assert.deepEqual(reopened.recovered.warnings, []);
  await reopened.store.close();
});

test('group commit: 1000 concurrent appends take a handful of fdatasyncs and resolve in order', async (t) => {
  const dir = await tempDir(t);
  const counts = { fdatasync: 0, write: 0 };
  const counting: StoreFs = {
    ...nodeStoreFs,
    fdatasync: (fd) => {
      counts.fdatasync += 1;
      return nodeStoreFs.fdatasync(fd);
    },
    write: (fd, data, position) => {
      counts.write += 1;
      return nodeStoreFs.write(fd, data, position);
    },
  };
  const { store } = await Store.open({ dir, rekSealer: hsm, fs: counting });
  const base = { ...counts };
  const order: number[] = [];
  const results = await Promise.all(
    Array.from({ length: 1000 }, (_, i) =>
      store.append(payloadOf(i + 1)).then((index) => {
        order.push(index);
        return index;
      }),
    ),
  );
  assert.deepEqual(
    results,
    Array.from({ length: 1000 }, (_, i) => i + 1),
  );
  assert.deepEqual(order, results, 'promises resolve in index order');
  const syncs = counts.fdatasync - base.fdatasync;
  assert.ok(syncs >= 1 && syncs <= 5, `${syncs} fdatasyncs for 1000 appends`);

  // Appends issued while a batch is being written form the next batch.
  const during: Promise<number>[] = [];
  const first = store.append(payloadOf(1001)).then((i) => {
    return i;
  });
  await Promise.resolve();
  await Promise.resolve();
  for (let i = 0; i < 50; i++) during.push(store.append(payloadOf(1002 + i)));
  assert.equal(await first, 1001);
  assert.deepEqual(
    await Promise.all(during),
    Array.from({ length: 50 }, (_, i) => 1002 + i),
  );
  await store.close();
  const reopened = await Store.open({ dir, rekSealer: hsm });
  assert.equal(reopened.recovered.records.length, 1051);
  assert.ok(reopened.recovered.records.every((r, i) => r.payload.equals(payloadOf(i + 1))));
  await reopened.store.close();
});

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected`), { code });
}

test('a failing write rejects the append, fails the store, and loses nothing acknowledged', async (t) => {
  const dir = await tempDir(t);
  let failWrites = false;
  const faulty: StoreFs = {
    ...nodeStoreFs,
    write: async (fd, data, position) => {
      if (!failWrites) return nodeStoreFs.write(fd, data, position);
      // Half the bytes reach the file, then the disk is full.
      const half = Math.max(1, Math.floor(data.length / 2));
      await nodeStoreFs.write(fd, data.subarray(0, half), position);
      throw errno('ENOSPC');
    },
  };
  const { store } = await Store.open({ dir, rekSealer: hsm, fs: faulty });
  for (let i = 1; i <= 3; i++) await store.append(payloadOf(i));
  failWrites = true;
  const doomed = [store.append(payloadOf(4)), store.append(payloadOf(5))];
  for (const append of doomed) await assert.rejects(append, isStoreError('failed', /ENOSPC/));
  failWrites = false;
  await assert.rejects(
    store.append(payloadOf(6)),
    isStoreError('failed', /refuses further writes/),
  );
  await assert.rejects(store.snapshot(3, Buffer.alloc(1)), isStoreError('failed'));
  await store.close();

  // The store cut the half-written batch off again, so the rejected records do not reappear.
  const reopened = await Store.open({ dir, rekSealer: hsm });
  assert.deepEqual(
    reopened.recovered.records.map((r) => r.index),
    [1, 2, 3],
  );
  assert.deepEqual(reopened.recovered.warnings, []);
  assert.equal(await reopened.store.append(payloadOf(4)), 4);
  await reopened.store.close();
});

test('a failing fdatasync (EIO) rejects the batch and fails the store', async (t) => {
  const dir = await tempDir(t);
  let fail = false;
  const faulty: StoreFs = {
    ...nodeStoreFs,
    fdatasync: (fd) => (fail ? Promise.reject(errno('EIO')) : nodeStoreFs.fdatasync(fd)),
  };
  const { store } = await Store.open({ dir, rekSealer: hsm, fs: faulty });
  await store.append(payloadOf(1));
  await store.append(payloadOf(2));
  fail = true;
  await assert.rejects(store.append(payloadOf(3)), isStoreError('failed', /EIO/));
  await assert.rejects(store.append(payloadOf(4)), isStoreError('failed'));
  await store.close();
  const reopened = await Store.open({ dir, rekSealer: hsm });
  const indexes = reopened.recovered.records.map((r) => r.index);
  // Record 3 was written but never acknowledged: it may or may not be there.
  assert.ok(
    JSON.stringify(indexes) === '[1,2]' || JSON.stringify(indexes) === '[1,2,3]',
    String(indexes),
  );
  await reopened.store.close();
});

test('a failing segment creation fails the store cleanly', async (t) => {
  const dir = await tempDir(t);
  const faulty: StoreFs = {
    ...nodeStoreFs,
    rename: (from, to) =>
      from.endsWith('.wal.tmp') ? Promise.reject(errno('EIO')) : nodeStoreFs.rename(from, to),
  };
  const { store } = await Store.open({ dir, rekSealer: hsm, fs: faulty });
  await assert.rejects(store.append(payloadOf(1)), isStoreError('failed', /EIO/));
  await store.close();
  const reopened = await Store.open({ dir, rekSealer: hsm });
  assert.deepEqual(reopened.recovered.records, []);
  assert.ok(!(await readdir(dir)).some((n) => n.endsWith('.tmp')), 'leftover tmp removed');
  await reopened.store.close();
});

test('the wrong HSM key is refused clearly and changes nothing on disk', async (t) => {
  const dir = await tempDir(t);
  const { store } = await Store.open({ dir, rekSealer: hsm });
  await store.append(payloadOf(1));
  await store.snapshot(1, Buffer.from('s'));
  await store.append(payloadOf(2));
  await store.close();
  const before = await dirBytes(dir);
  const other = new AesGcmSealer(randomBytes(32));
  await assert.rejects(
    Store.open({ dir, rekSealer: other }),
    isStoreError('wrong-key', new RegExp(`^wrong HSM key: cannot unseal ${join(dir, 'rek')}`)),
  );
  assert.deepEqual(await dirBytes(dir), before);
  const ok = await Store.open({ dir, rekSealer: hsm });
  assert.equal(ok.recovered.records.length, 1);
  await ok.store.close();
});

test('a second open of the same directory fails while the first holds it', async (t) => {
  const dir = await tempDir(t);
  const first = await Store.open({ dir, rekSealer: hsm });
  await assert.rejects(Store.open({ dir, rekSealer: hsm }), isStoreError('locked', /already open/));
  await first.store.close();
  const second = await Store.open({ dir, rekSealer: hsm });
  await second.store.close();
});

async function childPid(
  script: string,
): Promise<{ pid: number; exited: Promise<void>; kill(): void }> {
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise((resolve) => child.once('spawn', resolve));
  return { pid: child.pid!, exited, kill: () => child.kill('SIGKILL') };
}

test('a lock held by a live process is refused; a stale one is taken over', async (t) => {
  const dir = await tempDir(t);
  await (await Store.open({ dir, rekSealer: hsm })).store.close();
  const lock = join(dir, 'LOCK');

  const live = await childPid('setTimeout(() => {}, 20000)');
  t.after(() => live.kill());
  await writeFile(lock, `pid=${live.pid} start=- boot=-\n`);
  await assert.rejects(
    Store.open({ dir, rekSealer: hsm }),
    isStoreError('locked', new RegExp(`in use by another Keyhold process \\(pid ${live.pid}`)),
  );
  assert.equal((await readFile(lock, 'latin1')).startsWith(`pid=${live.pid}`), true);

  // Same live pid, but the lock records another start time: the pid was reused.
  if ((await readFile('/proc/self/stat').catch(() => null)) !== null) {
    await writeFile(lock, `pid=${live.pid} start=1 boot=-\n`);
    const reused = await Store.open({ dir, rekSealer: hsm });
    await reused.store.close();
  }
  live.kill();
  await live.exited;

  for (const content of [
    `pid=${live.pid} start=- boot=-\n`, // dead process
    `pid=${process.pid} start=- boot=-\n`, // our own pid from a previous life (container pid 1)
    '', // torn lock file
  ]) {
    await writeFile(lock, content);
    const { store } = await Store.open({ dir, rekSealer: hsm });
    assert.match(await readFile(lock, 'latin1'), new RegExp(`^pid=${process.pid} `));
    await store.close();
    await assert.rejects(stat(lock), /ENOENT/);
  }
});

function withVersion(file: Buffer, version: number): Buffer {
  const copy = Buffer.from(file);
  copy.writeUInt32BE(version, 4);
  copy.writeUInt32BE(crc32(copy.subarray(0, 8)), 8);
  return copy;
}

test('files of a future format version are refused with a clear message', async (t) => {
  const dir = await tempDir(t);
  const { store } = await Store.open({ dir, rekSealer: hsm });
  await store.append(payloadOf(1));
  await store.close();
  const rek = join(dir, 'rek');
  const original = await readFile(rek);
  await writeFile(rek, withVersion(original, 3));
  await assert.rejects(
    Store.open({ dir, rekSealer: hsm }),
    isStoreError('unsupported-version', /format version 3 is not supported/),
  );
  await writeFile(rek, original);
  const log = join(dir, segmentName(1));
  await writeFile(log, withVersion(await readFile(log), 7));
  const before = await dirBytes(dir);
  await assert.rejects(
    Store.open({ dir, rekSealer: hsm }),
    isStoreError('unsupported-version', new RegExp(`${segmentName(1)}: format version 7`)),
  );
  assert.deepEqual(await dirBytes(dir), before);
});

test('missing files are corruption, not an empty store', async (t) => {
  const dir = await tempDir(t);
  const { store } = await Store.open({ dir, rekSealer: hsm, maxSegmentBytes: 150 });
  for (let i = 1; i <= 10; i++) await store.append(payloadOf(i));
  await store.close();
  const segments = (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
  assert.ok(segments.length >= 3);

  const middle = join(dir, segments[1]!);
  const saved = await readFile(middle);
  await rm(middle);
  await assert.rejects(
    Store.open({ dir, rekSealer: hsm }),
    isStoreError('corrupt', /records \d+\.\.\d+ are missing/),
  );
  await writeFile(middle, saved);

  const first = join(dir, segments[0]!);
  const firstSaved = await readFile(first);
  await rm(first);
  await assert.rejects(
    Store.open({ dir, rekSealer: hsm }),
    isStoreError('corrupt', /records 1\.\./),
  );
  await writeFile(first, firstSaved);

  const rek = await readFile(join(dir, 'rek'));
  await rm(join(dir, 'rek'));
  await assert.rejects(
    Store.open({ dir, rekSealer: hsm }),
    isStoreError('corrupt', /root key file is missing/),
  );
  await writeFile(join(dir, 'rek'), rek, { mode: 0o600 });
  const ok = await Store.open({ dir, rekSealer: hsm });
  assert.equal(ok.recovered.records.length, 10);
  await ok.store.close();
});

test('a damaged newest snapshot falls back to an older one only when the log covers the gap', async (t) => {
  const dir = await tempDir(t);
  // Tiny segments: one record each, so a snapshot really deletes log files.
  const { store } = await Store.open({ dir, rekSealer: hsm, maxSegmentBytes: 60 });
  for (let i = 1; i <= 4; i++) await store.append(payloadOf(i));
  await store.snapshot(2, Buffer.from('state@2'));
  await store.close();
  assert.ok(!(await readdir(dir)).includes(segmentName(1)));
  const snap2Path = join(dir, 'snapshot-00000000000000000002.snap');
  const snap2 = await readFile(snap2Path);
  const bogus = Buffer.from(snap2);
  bogus[bogus.length - 10]! ^= 0x01;
  await writeFile(snap2Path, bogus);
  const before = await dirBytes(dir);
  await assert.rejects(
    Store.open({ dir, rekSealer: hsm }),
    isStoreError(
      'corrupt',
      /snapshot-00000000000000000002\.snap at byte \d+: snapshot body checksum/,
    ),
    'records 1..2 are only in the snapshot, so it is needed',
  );
  assert.deepEqual(await dirBytes(dir), before);

  // A newer damaged snapshot (4) while snapshot 2 and the log up to 4 are intact: nothing lost.
  await writeFile(snap2Path, snap2);
  await writeFile(join(dir, 'snapshot-00000000000000000004.snap'), bogus);
  const recovered = await Store.open({ dir, rekSealer: hsm });
  assert.equal(recovered.recovered.snapshot?.index, 2);
  assert.deepEqual(
    recovered.recovered.records.map((r) => r.index),
    [3, 4],
  );
  assert.match(
    recovered.recovered.warnings.join('\n'),
    /snapshot-00000000000000000004\.snap.*nothing lost/,
  );
  // The next snapshot replaces both.
  await recovered.store.snapshot(4, Buffer.from('state@4'));
  await recovered.store.close();
  assert.deepEqual(
    (await readdir(dir)).filter((n) => n.endsWith('.snap')),
    ['snapshot-00000000000000000004.snap'],
  );
  const last = await Store.open({ dir, rekSealer: hsm });
  assert.equal(last.recovered.snapshot?.payload.toString(), 'state@4');
  assert.deepEqual(last.recovered.warnings, []);
  await last.store.close();
});

test('oversized payloads are refused without failing the store', async (t) => {
  const dir = await tempDir(t);
  const { store } = await Store.open({ dir, rekSealer: hsm });
  await assert.rejects(store.append(Buffer.allocUnsafe(64 * 1024 * 1024 + 1)), RangeError);
  assert.equal(await store.append(payloadOf(1)), 1);
  await store.close();
});

test('a lost snapshot or log segment is refused by the manifest, whichever it is', async (t) => {
  const dir = await tempDir(t);
  const { store } = await Store.open({ dir, rekSealer: hsm, maxSegmentBytes: 150 });
  for (let i = 1; i <= 4; i++) await store.append(payloadOf(i));
  await store.snapshot(2, Buffer.from('state@2'));
  const oldSnapshot = await readFile(join(dir, 'snapshot-00000000000000000002.snap'));
  for (let i = 5; i <= 12; i++) await store.append(payloadOf(i));
  await store.snapshot(6, Buffer.from('state@6'));
  for (let i = 13; i <= 16; i++) await store.append(payloadOf(i));
  await store.close();
  const files = await dirBytes(dir);
  const segments = [...files.keys()].filter((n) => n.endsWith('.wal'));
  assert.ok(segments.length >= 3, segments.join(', '));
  const snapshot = 'snapshot-00000000000000000006.snap';
  assert.deepEqual(
    [...files.keys()].filter((n) => n.endsWith('.snap')),
    [snapshot],
  );

  const cases: { remove: string[]; add?: [string, Buffer]; message: RegExp }[] = [
    { remove: [snapshot], message: new RegExp(`${snapshot} at byte 0: the snapshot is missing`) },
    { remove: [segments[0]!], message: /missing before .*a segment was lost/ },
    { remove: [segments[1]!], message: /records \d+\.\.\d+ are missing/ },
    {
      remove: [segments.at(-1)!],
      message: new RegExp(`${segments.at(-1)!} at byte 0: the newest log segment is missing`),
    },
    { remove: segments, message: /newest log segment is missing/ },
    { remove: [snapshot, ...segments], message: /the snapshot is missing.* hold only none/ },
    {
      // An older snapshot of the same store put back in place of the newest one.
      remove: [snapshot],
      add: ['snapshot-00000000000000000002.snap', oldSnapshot],
      message: new RegExp(`${snapshot} at byte 0: the snapshot is missing`),
    },
  ];
  for (const { remove, add, message } of cases) {
    for (const name of remove) await rm(join(dir, name));
    if (add) await writeFile(join(dir, add[0]), add[1], { mode: 0o600 });
    const before = await dirBytes(dir);
    await assert.rejects(
      Store.open({ dir, rekSealer: hsm }),
      isStoreError('corrupt', message),
      remove.join(', '),
    );
    assert.deepEqual(await dirBytes(dir), before, 'nothing was changed');
    if (add) await rm(join(dir, add[0]));
    for (const name of remove) await writeFile(join(dir, name), files.get(name)!, { mode: 0o600 });
  }

  // An old snapshot beside the current one is superseded, as after any snapshot.
  await writeFile(join(dir, 'snapshot-00000000000000000002.snap'), oldSnapshot, { mode: 0o600 });
  const ok = await Store.open({ dir, rekSealer: hsm });
  assert.equal(ok.recovered.snapshot?.payload.toString(), 'state@6');
  assert.deepEqual(
    ok.recovered.records.map((r) => r.index),
    [7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
  );
  await ok.store.close();
  assert.ok(!(await readdir(dir)).includes('snapshot-00000000000000000002.snap'));
});

test('a crash leaves a manifest that still catches a lost segment or acknowledged records', async (t) => {
  const dir = await tempDir(t);
  const { store } = await Store.open({ dir, rekSealer: hsm, maxSegmentBytes: 150 });
  for (let i = 1; i <= 9; i++) await store.append(payloadOf(i));
  // The files as a kill -9 now would leave them (the page cache survives the process).
  const crashed = await dirBytes(dir);
  await store.close();
  crashed.delete('LOCK');
  const segments = [...crashed.keys()].filter((n) => n.endsWith('.wal'));
  const newest = segments.at(-1)!;
  const put = async (without: string | null, cut?: number) => {
    for (const name of await readdir(dir)) await rm(join(dir, name));
    for (const [name, data] of crashed) {
      if (name === without) continue;
      await writeFile(join(dir, name), name === newest && cut ? data.subarray(0, cut) : data);
    }
  };
  await put(newest);
  await assert.rejects(
    Store.open({ dir, rekSealer: hsm }),
    isStoreError('corrupt', /newest log segment is missing.*acknowledged records up to 9\b/),
  );
  // The last record cut off at its first byte: acknowledged, so not a torn write.
  await put(null, crashed.get(newest)!.length - 1);
  await assert.rejects(
    Store.open({ dir, rekSealer: hsm }),
    isStoreError('corrupt', /record 9 was acknowledged/),
  );
  await put(null);
  const ok = await Store.open({ dir, rekSealer: hsm });
  assert.equal(ok.recovered.records.length, 9);
  await ok.store.close();
});

test('a directory written before the manifest existed opens, and is upgraded', async (t) => {
  const dir = await tempDir(t);
  const fixture = fileURLToPath(
    new URL('../../../test/fixtures/store/v1-data/state', import.meta.url),
  );
  await cp(fixture, dir, { recursive: true });
  // Git keeps no directory modes: a checkout's umask decides the fixture's, not the store.
  await chmod(dir, 0o700);
  // The fixture's public test HSM key (test/fixtures/store/v1-data/README.md).
  const hsmKey = HsmKey.parse('hsm:aes256:' + Buffer.alloc(32, 0x42).toString('base64'));
  const sealer = new AesGcmSealer(hsmKey.rekSealingKey());
  const oldRek = await readFile(join(dir, 'rek'));
  assert.equal(oldRek.readUInt32BE(4), 1, 'the fixture has a version 1 rek');
  const { store, recovered } = await Store.open({ dir, rekSealer: sealer });
  assert.equal(recovered.snapshot?.index, 24);
  assert.deepEqual(
    recovered.records.map((r) => r.index),
    [25, 26, 27, 28, 29, 30, 31],
  );
  assert.deepEqual(recovered.warnings, []);
  assert.equal(await store.append(Buffer.from('after the upgrade')), 32);
  await store.close();
  const rek = await readFile(join(dir, 'rek'));
  assert.equal(rek.readUInt32BE(4), 2, 'the rek now carries the manifest');
  assert.equal(rek.length, 3 * 4096);

  // From now on a lost segment is noticed.
  const newest = (await readdir(dir))
    .filter((n) => n.endsWith('.wal'))
    .sort()
    .at(-1)!;
  const saved = await readFile(join(dir, newest));
  await rm(join(dir, newest));
  await assert.rejects(
    Store.open({ dir, rekSealer: sealer }),
    isStoreError('corrupt', /newest log segment is missing/),
  );
  await writeFile(join(dir, newest), saved, { mode: 0o600 });
  const again = await Store.open({ dir, rekSealer: sealer });
  assert.equal(again.recovered.records.at(-1)?.payload.toString(), 'after the upgrade');
  await again.store.close();
});
