// The audit log is a chain that `keyhold audit verify` checks (docs/audit.md): real servers write
// it from real requests (with worker processes and from a single process), the real CLI verifies
// it, and every kind of tampering — an edited, removed, swapped or inserted line, a cut end, a
// wrong HSM key — is named by its file and line. Rotation (rename, SIGHUP) and restarts keep one
// chain across files. `keyhold audit verify` runs in-process (`main(argv, io)`, the function the
// binary calls); the first check runs the binary itself.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HsmKey } from '../src/crypto/index.ts';
import { encodeKmsRequest } from '../src/protocol/kms/index.ts';
import { runInProcess } from './helpers/cli-in-process.ts';
import { rawRequest } from './helpers/raw-https.ts';
import { CLI, startServer, tempDir, TEST_HSM_KEY } from './helpers/server-process.ts';

/** How long a server may take to start: a pool of workers takes seconds on a busy CI machine. */
const START_MS = 60_000;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `keyhold audit verify ARGS` in-process with `hsmKey` as its environment. */
async function verify(args: readonly string[], hsmKey = TEST_HSM_KEY): Promise<CliResult> {
  const run = await runInProcess(['audit', 'verify', ...args], { KEYHOLD_HSM_KEY: hsmKey });
  return { code: run.code ?? -1, stdout: run.stdout, stderr: run.stderr };
}

/** Runs the `keyhold` binary's `audit verify ARGS` with `hsmKey` in the environment. */
function verifyBinary(args: readonly string[], hsmKey = TEST_HSM_KEY): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'audit', 'verify', ...args],
      { env: { ...process.env, KEYHOLD_HSM_KEY: hsmKey, MINIO_KMS_HSM_KEY: '' } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Asserts that verification fails and names `file:line` first. */
async function assertBreak(
  args: readonly string[],
  file: string,
  line: number,
  reason: RegExp,
  hsmKey?: string,
): Promise<void> {
  const result = await verify(args, hsmKey);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const first = result.stderr.split('\n')[0]!;
  assert.ok(first.startsWith(`${file}:${line}: `), `expected ${file}:${line}, got: ${first}`);
  assert.match(first, reason);
}

/** Sends `count` real requests of several kinds (allowed, refused, not found). */
async function traffic(endpoint: string, apiKey: string, count: number): Promise<void> {
  const generate = encodeKmsRequest('KEY:GENERATE', [
    { name: 'nope', version: 0, associatedData: Buffer.alloc(0), length: 32 },
  ]);
  for (let i = 0; i < count; i++) {
    if (i % 3 === 0) await rawRequest(endpoint, apiKey, 'GET', '/version');
    else if (i % 3 === 1) await rawRequest(endpoint, apiKey, 'POST', '/v1/kms/default', generate);
    else await rawRequest(endpoint, '', 'GET', `/no/such/path/${i}`);
  }
}

const linesOf = (file: string): string[] => readFileSync(file, 'utf8').split('\n').slice(0, -1);
const write = (file: string, lines: readonly string[]): void =>
  writeFileSync(file, lines.map((l) => l + '\n').join(''));

async function waitFor(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('audit chain with worker processes (default --workers)', () => {
  const scratch = tempDir();
  const file = join(scratch.dir, 'audit.ndjson');
  const requests = 30;
  before(async () => {
    const server = await startServer({ args: ['--audit-log', file], timeout: START_MS });
    assert.notEqual(
      (JSON.parse(/^\{"ready":true,.*\}$/m.exec(server.output())![0]) as { workers: number })
        .workers,
      0,
      'the default runs worker processes',
    );
    await traffic(server.endpoint, server.rootApiKey, requests);
    assert.equal(await server.stop(), 0);
  });
  after(() => scratch.remove());

  it('verifies: a start record, one record per request with its fields unchanged, a seal', async () => {
    const lines = linesOf(file);
    assert.equal(lines.length, requests + 2);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(records[0]!.audit, 'start');
    assert.equal(records.at(-1)!.audit, 'seal');
    records.forEach((r, i) => assert.equal(r.seq, i));
    for (const r of records.slice(1, -1)) {
      assert.deepEqual(Object.keys(r), ['time', 'request', 'response', 'seq', 'mac']);
      assert.deepEqual(Object.keys(r.request as object), ['ip', 'path', 'method', 'identity']);
    }
    const result = await verifyBinary([file]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^ok: ${requests + 2} records in 1 file`));
    const json = await verify([file, '--json']);
    const report = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(report.valid, true);
    assert.equal(report.from_genesis, true);
    assert.equal(report.sealed, true);
    assert.equal(report.last_seq, requests + 1);
  });

  it('names an edited line', async () => {
    const lines = linesOf(file);
    const edited = join(scratch.dir, 'edited.ndjson');
    lines[5] = lines[5]!.replace(/"code":\d+/, '"code":299');
    assert.notEqual(lines[5], linesOf(file)[5]);
    write(edited, lines);
    await assertBreak([edited], edited, 6, /MAC does not match/);
  });

  it('names a removed line', async () => {
    const lines = linesOf(file);
    const removed = join(scratch.dir, 'removed.ndjson');
    lines.splice(7, 1);
    write(removed, lines);
    await assertBreak([removed], removed, 8, /seq 8 where 7 was expected/);
  });

  it('names two swapped lines', async () => {
    const lines = linesOf(file);
    const swapped = join(scratch.dir, 'swapped.ndjson');
    [lines[10], lines[11]] = [lines[11]!, lines[10]!];
    write(swapped, lines);
    await assertBreak([swapped], swapped, 11, /seq 11 where 10 was expected/);
  });

  it('names an inserted line, copied or forged', async () => {
    const lines = linesOf(file);
    const copied = join(scratch.dir, 'copied.ndjson');
    write(copied, [...lines.slice(0, 12), lines[3]!, ...lines.slice(12)]);
    await assertBreak([copied], copied, 13, /seq 3 where 12 was expected/);
    // A forged line with the right sequence number still lacks the right MAC.
    const forged = join(scratch.dir, 'forged.ndjson');
    const fake = lines[3]!.replace(/"seq":3,/, '"seq":12,');
    write(forged, [...lines.slice(0, 12), fake, ...lines.slice(12)]);
    await assertBreak([forged], forged, 13, /MAC does not match/);
  });

  it('names a cut end: whole lines or mid-line', async () => {
    const lines = linesOf(file);
    const cut = join(scratch.dir, 'cut.ndjson');
    write(cut, lines.slice(0, 20));
    await assertBreak([cut], cut, 21, /ends without a seal record/);
    // --allow-unsealed accepts it: what a cut at the end of a live or crashed run cannot show.
    assert.equal((await verify([cut, '--allow-unsealed'])).code, 0);
    const midLine = join(scratch.dir, 'mid-line.ndjson');
    writeFileSync(midLine, readFileSync(file, 'utf8').slice(0, -40));
    await assertBreak([midLine], midLine, lines.length, /incomplete last line/);
    const headless = join(scratch.dir, 'headless.ndjson');
    write(headless, lines.slice(4));
    await assertBreak([headless], headless, 1, /does not begin with a start record/);
  });

  it('names line 1 under another HSM key', async () => {
    await assertBreak([file], file, 1, /MAC does not match/, HsmKey.generate().toString());
  });
});

describe('audit chain across rotations and restarts (single process)', () => {
  const scratch = tempDir();
  const dir = join(scratch.dir, 'state');
  const file = join(scratch.dir, 'audit.ndjson');
  const first = join(scratch.dir, 'audit.ndjson.1');
  const second = join(scratch.dir, 'audit.ndjson.2');
  const args = ['--audit-log', file, '--workers', '0'];
  after(() => scratch.remove());

  it('continues the chain into the next file after a rename and after SIGHUP', async () => {
    const server = await startServer({ dir, args, timeout: START_MS });
    await traffic(server.endpoint, server.rootApiKey, 6);
    // logrotate's default: rename the file; the server notices and starts a new one.
    renameSync(file, first);
    await waitFor('a new audit file after the rename', () => existsSync(file));
    await traffic(server.endpoint, server.rootApiKey, 6);
    // A rename followed by SIGHUP (logrotate's postrotate) also starts a new file.
    renameSync(file, second);
    server.child.kill('SIGHUP');
    await waitFor('a new audit file after SIGHUP', () => existsSync(file));
    await traffic(server.endpoint, server.rootApiKey, 6);
    assert.equal(await server.stop(), 0);

    for (const f of [first, second]) {
      assert.match(linesOf(f).at(-1)!, /"audit":"seal","reason":"rotate"/);
    }
    const all = await verify([first, second, file]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(
      all.stdout,
      /^ok: \d+ records in 3 files, seq 0–\d+, from the start of the chain, sealed/,
    );
    // Each file verifies on its own, anchored at the MAC it continues from.
    const alone = await verify([second, '--json']);
    assert.equal(alone.code, 0, alone.stderr);
    assert.equal((JSON.parse(alone.stdout) as { from_genesis: boolean }).from_genesis, false);
    // A file left out, or the files out of order, breaks the chain at the next file's start.
    await assertBreak([first, file], file, 1, /does not continue/);
    await assertBreak([second, first], first, 1, /does not continue/);
  });

  it('continues the chain across a restart, and tells a crashed run', async () => {
    const server = await startServer({ dir, args, timeout: START_MS });
    await traffic(server.endpoint, server.rootApiKey, 3);
    assert.equal(await server.stop(), 0);
    const clean = await verify([first, second, file]);
    assert.equal(clean.code, 0, clean.stderr);

    const crashing = await startServer({ dir, args, timeout: START_MS });
    await traffic(crashing.endpoint, crashing.rootApiKey, 3);
    // Past the flush interval: the lines are in the file when the process dies.
    await waitFor('the lines of the crashing run', () =>
      linesOf(file).at(-1)!.includes('/no/such/path/2'),
    );
    await crashing.kill();
    const restarted = await startServer({ dir, args, timeout: START_MS });
    await traffic(restarted.endpoint, restarted.rootApiKey, 3);
    assert.equal(await restarted.stop(), 0);
    const lines = linesOf(file);
    const restart = lines.findLastIndex((l) => l.includes('"audit":"start"'));
    await assertBreak([first, second, file], file, restart + 1, /ended without a seal record/);
    const lenient = await verify([first, second, file, '--allow-unsealed']);
    assert.equal(lenient.code, 0, lenient.stderr);
  });
});
