// A real `keyhold server` refuses a data directory whose files no longer account for everything
// it acknowledged (a snapshot or log segment deleted, the newest segment cut short), with a clear
// message and every file left as it was; it still opens a directory of the previous format. A
// seeded handful of bit flips and truncations of each kind of state file is refused by a real
// process too (the every-offset sweep is in-process: test/store-damage-sweep.test.ts).
// The directories are written in process where writing them is not the subject (the face
// harness: the same assembly as `keyhold server`); every refusal, the kill -9 and each start
// that must find everything again are real server processes.

import assert from 'node:assert/strict';
import {
  cpSync,
  readdirSync,
  readFileSync,
  renameSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { decodeKmsResponse, encodeKmsRequest } from '../src/protocol/kms/index.ts';
import { startFaceHarness } from './helpers/face-harness.ts';
import { Prng } from './helpers/prng.ts';
import { rawRequest } from './helpers/raw-https.ts';
import { startServer, tempDir } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

const V1_FIXTURE = fileURLToPath(new URL('../../test/fixtures/store/v1-data', import.meta.url));
const SEGMENT_HEADER_BYTES = 40;
const RECORD_HEADER_BYTES = 20;
const ARGS = ['--workers', '0'];

const temps: (() => void)[] = [];
after(() => temps.forEach((remove) => remove()));

function newDir(): string {
  const t = tempDir();
  temps.push(t.remove);
  return t.dir;
}

/** Sends requests as the root to a real server process or to a node in process. */
type Send = (
  method: string,
  path: string,
  body?: Buffer,
) => Promise<{ readonly status: number; readonly body: Buffer }>;

function sender(server: ServerProcess): Send {
  return (method, path, body) => rawRequest(server.endpoint, server.rootApiKey, method, path, body);
}

function kms(send: ServerProcess | Send, body: Buffer) {
  return (typeof send === 'function' ? send : sender(send))('POST', '/v1/kms/default', body);
}

/** Opens a node on `dir` in this process (the face harness), runs `fn` as the root, closes it. */
async function inProcess(dir: string, fn: (send: Send) => Promise<void>): Promise<void> {
  const harness = await startFaceHarness({ dir });
  try {
    await fn((method, path, body) =>
      harness.request({
        method,
        path,
        as: harness.rootIdentity,
        ...(body === undefined
          ? {}
          : { body, headers: { 'Content-Type': 'application/octet-stream' } }),
      }),
    );
  } finally {
    await harness.close();
  }
}

async function createKeys(server: ServerProcess | Send, names: string[]): Promise<void> {
  for (const name of names) {
    const res = await kms(
      server,
      encodeKmsRequest('KEY:CREATE', [{ name, type: '', addVersion: false }]),
    );
    assert.equal(res.status, 200, `create ${name}`);
  }
}

async function keyNames(server: ServerProcess | Send): Promise<string[]> {
  const names: string[] = [];
  let continueAt = '';
  do {
    const res = await kms(
      server,
      encodeKmsRequest('KEY:LIST', [{ prefix: '', continueAt, limit: 0 }]),
    );
    assert.equal(res.status, 200);
    const [page] = decodeKmsResponse('KEY:LIST', res.body);
    names.push(...page!.keys.map((k) => k.name));
    continueAt = page!.continueAt;
  } while (continueAt !== '');
  return names.sort();
}

/** Every file of `DIR/state` with its bytes (but the lock, which a killed server leaves). */
function stateFiles(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(join(dir, 'state')).sort()) {
    if (name !== 'LOCK') files.set(name, readFileSync(join(dir, 'state', name)));
  }
  return files;
}

function stateFile(dir: string, suffix: string): string {
  const names = readdirSync(join(dir, 'state')).filter((n) => n.endsWith(suffix));
  assert.equal(names.length, 1, `one ${suffix} file in ${names.join(', ')}`);
  return join(dir, 'state', names[0]!);
}

/** Start offsets of the records of a log segment, plus the file size. */
function recordBounds(file: string): number[] {
  const data = readFileSync(file);
  const bounds: number[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  while (offset < data.length) {
    bounds.push(offset);
    offset += RECORD_HEADER_BYTES + data.readUInt32BE(offset);
  }
  assert.equal(offset, data.length);
  return [...bounds, data.length];
}

/**
 * Starts a server on `dir` that must refuse to start: resolves with its output. Checks that it
 * exited non-zero and that no file of the state directory changed.
 */
async function refusal(dir: string): Promise<string> {
  const before = stateFiles(dir);
  const outcome = await startServer({ dir, args: ARGS }).then(
    async (server) => {
      const keys = await keyNames(server).catch(() => []);
      await server.stop();
      return { started: true, text: `started with keys [${keys.join(', ')}]` };
    },
    (error: unknown) => ({ started: false, text: String(error) }),
  );
  assert.equal(outcome.started, false, outcome.text);
  assert.match(outcome.text, /exited with [1-9]\d* before starting/);
  assert.deepEqual(stateFiles(dir), before, 'the refused start changed no file');
  return outcome.text;
}

/** A data directory whose state is a snapshot (written by a restore) and no log segment. */
async function snapshotOnly(dir: string, keys: string[]): Promise<void> {
  await inProcess(dir, async (send) => {
    await createKeys(send, keys);
    const backup = await send('GET', '/v1/db');
    assert.equal(backup.status, 200);
    const restore = await send('PUT', '/v1/db', backup.body);
    assert.equal(restore.status, 200);
  });
  const names = readdirSync(join(dir, 'state'));
  assert.ok(names.some((n) => n.endsWith('.snap')));
  assert.ok(!names.some((n) => n.endsWith('.wal')), names.join(', '));
}

describe('a data directory missing acknowledged data is refused', () => {
  it('refuses a missing snapshot, and starts with everything once it is back', async () => {
    const dir = newDir();
    await snapshotOnly(dir, ['a', 'b', 'c']);
    const snapshot = stateFile(dir, '.snap');
    renameSync(snapshot, `${dir}/aside`);
    const text = await refusal(dir);
    assert.match(text, /snapshot-\d{20}\.snap/);
    assert.match(text, /missing/);
    renameSync(`${dir}/aside`, snapshot);
    const server = await startServer({ dir, args: ARGS });
    try {
      assert.deepEqual(await keyNames(server), ['a', 'b', 'c']);
    } finally {
      await server.stop();
    }
  });

  it('refuses a missing newest log segment, and starts with everything once it is back', async () => {
    const dir = newDir();
    await snapshotOnly(dir, ['a', 'b']);
    await inProcess(dir, (send) => createKeys(send, ['c', 'd']));
    const segment = stateFile(dir, '.wal');
    renameSync(segment, `${dir}/aside`);
    const text = await refusal(dir);
    assert.match(text, /log-\d{20}\.wal/);
    assert.match(text, /missing/);
    renameSync(`${dir}/aside`, segment);
    const server = await startServer({ dir, args: ARGS });
    try {
      assert.deepEqual(await keyNames(server), ['a', 'b', 'c', 'd']);
    } finally {
      await server.stop();
    }
  });

  it('refuses a newest segment cut short by whole records or mid-record, naming what is lost', async () => {
    const dir = newDir();
    await inProcess(dir, (send) => createKeys(send, ['a', 'b', 'c', 'd']));
    const segment = stateFile(dir, '.wal');
    const whole = readFileSync(segment);
    const bounds = recordBounds(segment);
    // Records: 1 creates the enclave, 2..5 the keys. Cut off the last two whole records.
    assert.equal(bounds.length, 6);
    truncateSync(segment, bounds[3]);
    let text = await refusal(dir);
    assert.match(text, new RegExp(`${segment.replace(/[.]/g, '\\.')} at byte ${bounds[3]}`));
    assert.match(text, /records 4\.\.5/);
    assert.doesNotMatch(text, /never acknowledged/);

    // Cut in the middle of the last record: not a torn write, since record 5 was acknowledged.
    writeFileSync(segment, whole.subarray(0, bounds[4]! + 9));
    text = await refusal(dir);
    assert.match(text, new RegExp(`at byte ${bounds[4]}`));
    assert.match(text, /record 5/);
    assert.doesNotMatch(text, /never acknowledged/);

    writeFileSync(segment, whole);
    const server = await startServer({ dir, args: ARGS });
    try {
      assert.deepEqual(await keyNames(server), ['a', 'b', 'c', 'd']);
    } finally {
      await server.stop();
    }
  });

  it('refuses a segment cut short after kill -9 too', async () => {
    const dir = newDir();
    const server = await startServer({ dir, args: ARGS });
    await createKeys(server, ['a', 'b', 'c']);
    await server.kill();
    const segment = stateFile(dir, '.wal');
    const bounds = recordBounds(segment);
    truncateSync(segment, bounds.at(-2));
    const text = await refusal(dir);
    assert.match(text, /record 4 is missing/);
    assert.match(text, /acknowledged records up to 4\b/);
  });

  it('opens a data directory written in the previous store format', async () => {
    const dir = newDir();
    cpSync(V1_FIXTURE, dir, { recursive: true });
    const expected = Array.from({ length: 30 }, (_, i) => `legacy-${i}`).sort();
    const server = await startServer({ dir, args: ARGS });
    try {
      assert.deepEqual(await keyNames(server), expected);
      await createKeys(server, ['new-one']);
    } finally {
      await server.stop();
    }
    // What the first start wrote into the old directory reads back.
    await inProcess(dir, async (send) => {
      assert.deepEqual(await keyNames(send), [...expected, 'new-one'].sort());
    });
  });

  it('refuses a seeded bit flip or truncation of each of the rek, the snapshot and the segment, naming the file', async () => {
    const prng = Prng.fromEnv();
    const dir = newDir();
    await snapshotOnly(dir, ['s1', 's2']);
    await inProcess(dir, (send) => createKeys(send, ['l1', 'l2', 'l3']));
    const original = stateFiles(dir);
    for (const suffix of ['rek', '.snap', '.wal']) {
      const file = stateFile(dir, suffix);
      const name = file.slice(file.lastIndexOf('/') + 1);
      const bytes = original.get(name)!;
      // In the rek, the key page's bytes (a damaged manifest slot is repaired from the other).
      const limit = suffix === 'rek' ? 100 : bytes.length;
      const damage = prng.pick(['flip', 'truncate'] as const);
      const offset = prng.int(limit);
      const damaged = damage === 'truncate' ? bytes.subarray(0, offset) : Buffer.from(bytes);
      if (damage === 'flip') damaged[offset]! ^= 1 << prng.int(8);
      writeFileSync(file, damaged);
      const what = `${damage} of ${name} at ${offset} (KEYHOLD_FAULT_SEED=${prng.seed})`;
      const text = await refusal(dir);
      assert.match(text, /corrupt store|not supported/, what);
      assert.ok(text.includes(name), `${what}: the message names the file:\n${text}`);
      writeFileSync(file, bytes);
    }
    const restarted = await startServer({ dir, args: ARGS });
    try {
      assert.deepEqual(await keyNames(restarted), ['l1', 'l2', 'l3', 's1', 's2']);
    } finally {
      await restarted.stop();
    }
  });
});
