// Durability of a real server process: kill -9 during a stream of writes loses no acknowledged
// write; a torn log tail is cut; corruption and a wrong HSM key stop start-up with a clear
// message and change nothing; a backup restores the state. The kill -9 rounds alternate between
// the default process model (worker processes answer) and `--workers 0`; the backup runs with
// workers (they must see the restored state); the files' tests run a single process.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { decodeKmsResponse, encodeKmsRequest } from '../src/protocol/kms/index.ts';
import { rawRequest } from './helpers/raw-https.ts';
import { startServer, tempDir, TEST_HSM_KEY } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';
import { spawnSync } from 'node:child_process';
import { CLI } from './helpers/server-process.ts';

const temps: (() => void)[] = [];
after(() => temps.forEach((remove) => remove()));

function newDir(): string {
  const t = tempDir();
  temps.push(t.remove);
  return t.dir;
}

async function createKey(server: ServerProcess, name: string): Promise<number> {
  const body = encodeKmsRequest('KEY:CREATE', [{ name, type: '', addVersion: false }]);
  const res = await rawRequest(server.endpoint, server.rootApiKey, 'POST', '/v1/kms/default', body);
  return res.status;
}

async function keyNames(server: ServerProcess): Promise<Set<string>> {
  const names = new Set<string>();
  let continueAt = '';
  do {
    const body = encodeKmsRequest('KEY:LIST', [{ prefix: '', continueAt, limit: 0 }]);
    const res = await rawRequest(
      server.endpoint,
      server.rootApiKey,
      'POST',
      '/v1/kms/default',
      body,
    );
    assert.equal(res.status, 200);
    const [page] = decodeKmsResponse('KEY:LIST', res.body);
    for (const key of page!.keys) names.add(key.name);
    continueAt = page!.continueAt;
  } while (continueAt !== '');
  return names;
}

/** A single process: where the test is about files, not about worker processes. */
const SINGLE = ['--workers', '0'];

function logFiles(dir: string): string[] {
  return readdirSync(join(dir, 'state'))
    .filter((f) => f.endsWith('.wal'))
    .map((f) => join(dir, 'state', f));
}

describe('server durability', () => {
  it('keeps every acknowledged write across kill -9 (several rounds)', async () => {
    const dir = newDir();
    const acked = new Set<string>();
    for (let round = 0; round < 4; round++) {
      // Even rounds: the default worker processes take the writes; odd rounds: one process.
      const server = await startServer({ dir, ...(round % 2 === 0 ? {} : { args: SINGLE }) });
      try {
        // Everything acknowledged in earlier rounds survived the kill.
        const present = await keyNames(server);
        for (const name of acked) assert.ok(present.has(name), `lost acknowledged key ${name}`);
        let stop = false;
        const writers = Array.from({ length: 4 }, async (_, w) => {
          for (let i = 0; !stop && i < 500; i++) {
            const name = `r${round}-w${w}-k${i}`;
            try {
              if ((await createKey(server, name)) === 200) acked.add(name);
            } catch {
              return; // the connection died with the process
            }
          }
        });
        // Kill at a moment that varies per round, while writes are in flight: once this round
        // had a write acknowledged (a busy machine may take longer than any fixed delay), then
        // some more milliseconds.
        const ackedBefore = acked.size;
        for (let i = 0; i < 3000 && acked.size === ackedBefore; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        await new Promise((r) => setTimeout(r, 50 + round * 97));
        await server.kill();
        stop = true;
        await Promise.all(writers);
      } finally {
        await server.kill().catch(() => undefined);
      }
    }
    assert.ok(acked.size > 0, 'some writes were acknowledged');
    const server = await startServer({ dir, args: SINGLE });
    try {
      const present = await keyNames(server);
      for (const name of acked) assert.ok(present.has(name), `lost acknowledged key ${name}`);
    } finally {
      await server.stop();
    }
  });

  it('cuts a torn tail, and refuses a corrupted log or a wrong HSM key without touching files', async () => {
    const dir = newDir();
    let server = await startServer({ dir, args: SINGLE });
    for (let i = 0; i < 20; i++) assert.equal(await createKey(server, `key-${i}`), 200);
    await server.stop();

    // A torn final record (half-written append): start-up cuts it and keeps the rest.
    const [log] = logFiles(dir);
    assert.ok(log);
    const whole = readFileSync(log);
    writeFileSync(log, Buffer.concat([whole, Buffer.from([0, 0, 0, 40, 1, 2, 3])]));
    server = await startServer({ dir, args: SINGLE });
    assert.equal((await keyNames(server)).size, 20);
    await server.stop();

    // A wrong HSM key: a clear error, non-zero exit, and no file changes.
    const before = readFileSync(logFiles(dir)[0]!);
    const wrong = 'hsm:aes256:' + Buffer.alloc(32, 0x17).toString('base64');
    const run = spawnSync(
      process.execPath,
      [CLI, 'server', dir, '--address', '127.0.0.1:0', ...SINGLE],
      {
        env: { ...process.env, KEYHOLD_HSM_KEY: wrong },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /wrong HSM key/i);
    assert.deepEqual(readFileSync(logFiles(dir)[0]!), before);

    // A flipped byte in the middle of the log: refuse to start, naming the file and offset.
    const corrupt = Buffer.from(before);
    const offset = Math.floor(corrupt.length / 2);
    corrupt[offset]! ^= 0x40;
    writeFileSync(logFiles(dir)[0]!, corrupt);
    const refused = spawnSync(
      process.execPath,
      [CLI, 'server', dir, '--address', '127.0.0.1:0', ...SINGLE],
      {
        env: { ...process.env, KEYHOLD_HSM_KEY: TEST_HSM_KEY },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /\.wal/);
    assert.match(refused.stderr, /offset|byte/i);
    assert.deepEqual(readFileSync(logFiles(dir)[0]!), corrupt);
  });

  it('backs up and restores the whole state, sealed under the HSM key', async () => {
    const server = await startServer({ dir: newDir() });
    try {
      for (const name of ['a', 'b', 'c']) assert.equal(await createKey(server, name), 200);
      const backup = await rawRequest(server.endpoint, server.rootApiKey, 'GET', '/v1/db');
      assert.equal(backup.status, 200);
      assert.ok(!backup.body.includes(Buffer.from('"name":"a"')), 'backup is sealed');
      assert.equal(await createKey(server, 'd'), 200);
      const restore = await rawRequest(
        server.endpoint,
        server.rootApiKey,
        'PUT',
        '/v1/db',
        backup.body,
      );
      assert.equal(restore.status, 200);
      assert.deepEqual([...(await keyNames(server))].sort(), ['a', 'b', 'c']);
      const garbage = await rawRequest(
        server.endpoint,
        server.rootApiKey,
        'PUT',
        '/v1/db',
        Buffer.from('nope'),
      );
      assert.equal(garbage.status, 400);
      assert.deepEqual([...(await keyNames(server))].sort(), ['a', 'b', 'c']);
    } finally {
      await server.stop();
    }
  });
});
