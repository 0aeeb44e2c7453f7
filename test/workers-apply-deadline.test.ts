// A worker that does not apply a committed write in time (here: stopped with SIGSTOP) is killed
// and replaced; the write is acknowledged once every live worker applied it, and no worker ever
// serves the state from before it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { encodeKmsRequest } from '../src/protocol/kms/index.ts';
import { rawRequest, type RawResponse } from './helpers/raw-https.ts';
import { startServer, type ServerProcess } from './helpers/server-process.ts';
import { childrenOf } from './helpers/process-memory.ts';

const WORKERS = 3;
const DEADLINE = ['--apply-timeout', '2s'];

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return condition();
}

/** The request's response, or null when none came within `ms`. */
function within(ms: number, request: Promise<RawResponse>): Promise<RawResponse | null> {
  return Promise.race([
    request,
    new Promise<null>((resolve) => setTimeout(() => resolve(null), ms).unref()),
  ]);
}

const kms = (server: ServerProcess, body: Buffer) =>
  rawRequest(server.endpoint, server.rootApiKey, 'POST', '/v1/kms/default', body);

const GENERATE = (name: string): Buffer =>
  encodeKmsRequest('KEY:GENERATE', [
    { name, version: 0, associatedData: Buffer.from('{}'), length: 32 },
  ]);

describe('a worker that does not apply a write in time', () => {
  let server: ServerProcess;
  const stopped: number[] = [];
  before(async () => {
    server = await startServer({ args: ['--workers', String(WORKERS), ...DEADLINE] });
  });
  after(async () => {
    for (const pid of stopped) if (isAlive(pid)) process.kill(pid, 'SIGCONT');
    await server.stop();
  });

  it('is replaced, the write succeeds, and every worker refuses the deleted key', async () => {
    const create = encodeKmsRequest('KEY:CREATE', [
      { name: 'doomed', type: '', addVersion: false },
    ]);
    assert.equal((await kms(server, create)).status, 200);
    const workers = childrenOf(server.child.pid!);
    assert.equal(workers.length, WORKERS);
    const hung = workers[0]!;
    process.kill(hung, 'SIGSTOP');
    stopped.push(hung);
    // The primary hands each new connection to the next worker that took its last one; the
    // stopped worker takes one more (of these probes, which hang until it is killed) and no
    // other after it. So the delete below reaches a live worker.
    // (The probe's connection stays open in the primary, which handed it over, until the end.)
    for (let i = 0; i < WORKERS; i++) kms(server, GENERATE('doomed')).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));

    const del = encodeKmsRequest('KEY:DELETE', [{ name: 'doomed', version: 0, allVersions: true }]);
    const deleted = await within(20_000, kms(server, del));
    assert.ok(deleted, 'the delete was answered (a hung worker does not stall writes)');
    assert.equal(deleted.status, 200);
    // Acknowledged only once the stopped worker is gone: it can never serve the key again.
    assert.equal(isAlive(hung), false, 'the stopped worker was killed before the acknowledgement');
    assert.match(server.output(), new RegExp(`worker ${hung} did not apply .* replacing it`));

    assert.ok(
      await waitFor(() => childrenOf(server.child.pid!).length === WORKERS, 15_000),
      'a new worker replaced it',
    );
    const statuses = await Promise.all(
      Array.from({ length: 12 }, () => kms(server, GENERATE('doomed')).then((r) => r.status)),
    );
    assert.deepEqual(new Set(statuses), new Set([404]));

    // Writes go on at the usual pace.
    const again = encodeKmsRequest('KEY:CREATE', [{ name: 'after', type: '', addVersion: false }]);
    assert.equal((await within(20_000, kms(server, again)))?.status, 200);
  });
});
