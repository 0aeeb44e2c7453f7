// Bounded cost against a real server process: attacker-shaped inputs (long names, explosive
// policy patterns, deep and huge JSON, the largest KMS batches, idle and stalled connections,
// many connections, headers at the size limit) each cost the server at most a fixed budget of
// CPU time (user + system, from /proc: robust on a loaded machine) and memory (peak RSS growth),
// and a well-behaved client on its own connection keeps being answered meanwhile. The budgets
// are the cost bounds of a security claim (docs/testing-security.md#bounded-cost), generous on
// purpose: they fail on super-linear work or unbounded buffering, not on a slow machine.

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KMS_API_ERRORS, ApiKey } from '../src/sdk/index.ts';
import type { KmsClient } from '../src/sdk/index.ts';
import { encodeKmsRequest } from '../src/protocol/kms/index.ts';
import { MAX_KMS_FRAMES } from '../src/api/kms/kms-routes.ts';
import { KES_MAX_BODY } from '../src/api/kes/kes-key-routes.ts';
import { clientFor, inParallel, rejectsWith } from './helpers/kms-assert.ts';
import { cpuMs } from './helpers/process-cpu.ts';
import { childrenOf, mib, watchMemory } from './helpers/process-memory.ts';
import { rawRequest } from './helpers/raw-https.ts';
import { openRaw } from './helpers/raw-tls.ts';
import type { RawConnection } from './helpers/raw-tls.ts';
import { startServer } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';
import { apiKeyCert, kes } from './kes-server-support.ts';
import type { ClientCert } from './kes-server-support.ts';

const MiB = 1024 * 1024;
const ENCLAVE = 'tenant';
/** About 10^11 ways to place its stars over an 80-character name, for a backtracking matcher. */
const EXPLOSIVE = '*a*a*a*a*a*a*a*a*a*b';
const LONG = 'a'.repeat(80);
/** A well-behaved client's request must never wait longer than this behind an attack. */
const CANARY_BOUND_MS = 3000;
/** CPU the server may spend besides the attack (timers, GC, the canary's own requests). */
const FIXED_CPU_MS = 300;
const CANARY_CPU_MS = 5;

let server: ServerProcess;
let pids: number[];
let root: KmsClient;
let user: KmsClient;
let canary: KmsClient;
let rootCert: ClientCert;

before(async () => {
  server = await startServer({ args: ['--workers', '2'] });
  pids = [server.child.pid!, ...childrenOf(server.child.pid!)];
  root = clientFor(server.endpoint, server.rootApiKey, { enclave: ENCLAVE, timeout: 30_000 });
  await root.createEnclave(ENCLAVE);
  await root.createKey('k');
  await root.createPolicy('tricky', { allow: { 'KEY:GENERATE': [EXPLOSIVE] } });
  const key = ApiKey.generate();
  await root.createIdentity(key.identity.toH1());
  await root.assignPolicy('tricky', key.identity.toH1());
  user = clientFor(server.endpoint, key.toK1(), { enclave: ENCLAVE, timeout: 30_000 });
  canary = clientFor(server.endpoint, server.rootApiKey, { enclave: ENCLAVE, timeout: 30_000 });
  rootCert = apiKeyCert(server.rootApiKey);
  await canary.keyStatus('k'); // its connection is open before any attack starts
});

after(async () => {
  for (const c of [root, user, canary]) c.close();
  await server.stop();
});

interface Budget {
  /** What one unit of the attack is (for messages). */
  readonly unit: string;
  readonly units: number;
  readonly cpuMsPerUnit: number;
  readonly memory: number;
}

/**
 * Runs `attack` while a well-behaved client asks for a key's status every 50 ms on its own
 * kept-alive connection; then checks the server's CPU time, its peak memory growth, and the
 * slowest answer the well-behaved client got.
 */
async function withinBudget(budget: Budget, attack: () => Promise<void>): Promise<string> {
  const watch = watchMemory(pids);
  const cpuBefore = cpuMs(pids);
  const state = { running: true };
  let canaryCalls = 0;
  let slowest = 0;
  const loop = (async () => {
    while (state.running) {
      const start = Date.now();
      await canary.keyStatus('k');
      slowest = Math.max(slowest, Date.now() - start);
      canaryCalls++;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    await attack();
  } finally {
    state.running = false;
    await loop;
  }
  const cpu = cpuMs(pids) - cpuBefore;
  const { total } = watch.stop();
  const cpuBudget = budget.units * budget.cpuMsPerUnit + FIXED_CPU_MS + canaryCalls * CANARY_CPU_MS;
  const summary =
    `${budget.units} ${budget.unit}: ${cpu.toFixed(0)} ms CPU (budget ${cpuBudget.toFixed(0)}), ` +
    `memory +${mib(total)} (budget ${mib(budget.memory)}), slowest well-behaved answer ${slowest} ms`;
  assert.ok(cpu <= cpuBudget, summary);
  assert.ok(total <= budget.memory, summary);
  assert.ok(slowest <= CANARY_BOUND_MS, summary);
  return summary;
}

const kmsBody = (frames: number, name: string): Buffer =>
  encodeKmsRequest(
    'KEY:STATUS',
    Array.from({ length: frames }, () => ({ name, version: 0 })),
  );

describe('attacker-shaped requests cost a bounded amount', () => {
  it('names far beyond the grammar (1 MiB): refused before any pattern sees them', async (t) => {
    const huge = 'a'.repeat(MiB);
    t.diagnostic(
      await withinBudget(
        { unit: '1 MiB names', units: 16, cpuMsPerUnit: 60, memory: 128 * MiB },
        () =>
          inParallel(Array(16).fill(huge), 4, (name: string) =>
            rejectsWith(user.keyStatus(name), { status: 400, message: /^key name/ }),
          ),
      ),
    );
  });

  it('an explosive policy pattern against the longest names, in batches of 100', async (t) => {
    t.diagnostic(
      await withinBudget({ unit: 'batches', units: 40, cpuMsPerUnit: 25, memory: 64 * MiB }, () =>
        inParallel(Array(40).fill(0), 4, () =>
          rejectsWith(user.generateKeyBatch(Array(100).fill({ name: LONG })), {
            status: 403,
            message: /insufficient permissions/,
          }),
        ),
      ),
    );
  });

  it('deep JSON (a body of nothing but open brackets) and huge JSON objects on the KES face', async (t) => {
    const deep = '{"plaintext":' + '['.repeat(KES_MAX_BODY - 20);
    const wide = '{' + Array.from({ length: 60_000 }, (_, i) => `"p${i}":1`).join(',') + '}';
    assert.ok(wide.length < KES_MAX_BODY);
    t.diagnostic(
      await withinBudget(
        // A 1 MB object of 60,000 distinct keys costs V8 ~100 ms to build (dictionary-mode
        // objects): linear, and bounded by the body limit; 250 ms per body is the budget.
        { unit: '1 MB JSON bodies', units: 18, cpuMsPerUnit: 250, memory: 128 * MiB },
        () =>
          inParallel(
            [...Array<string>(12).fill(deep), ...Array<string>(6).fill(wide)],
            2,
            async (body) => {
              const res = await kes(
                server.endpoint,
                rootCert,
                'POST',
                `/v1/key/encrypt/k?enclave=${ENCLAVE}`,
                {
                  body,
                },
              );
              // Too deep: refused. Wide: unknown fields are ignored (as Go does), so it encrypts.
              assert.equal(res.status, body === deep ? 400 : 200, res.text.slice(0, 200));
            },
          ),
      ),
    );
  });

  it(`KMS batches: the largest allowed (${MAX_KMS_FRAMES} frames) and one frame more`, async (t) => {
    const largest = kmsBody(MAX_KMS_FRAMES, 'k');
    const tooMany = kmsBody(MAX_KMS_FRAMES + 1, 'k');
    t.diagnostic(
      await withinBudget(
        // Per frame: a status lookup is microseconds; 0.05 ms is ample.
        { unit: 'frames', units: 6 * MAX_KMS_FRAMES, cpuMsPerUnit: 0.05, memory: 192 * MiB },
        () =>
          inParallel([largest, tooMany, largest, tooMany, largest, tooMany], 2, async (body) => {
            const res = await rawRequest(
              server.endpoint,
              server.rootApiKey,
              'POST',
              `/v1/kms/${ENCLAVE}`,
              body,
            );
            assert.equal(
              res.status,
              body === largest ? 200 : 400,
              res.body.toString().slice(0, 200),
            );
          }),
      ),
    );
  });

  it('headers at the size limit, and just past it (431)', async (t) => {
    // Node's 16 KiB counts the target, names and values: 100 headers of 150 bytes are under it.
    const under = Array.from({ length: 100 }, (_, i) => `X-H${i}: ${'v'.repeat(140)}\r\n`).join('');
    const over = under + `X-Last: ${'v'.repeat(2048)}\r\n`;
    const send = async (headers: string): Promise<number> => {
      const c = await openRaw(server.endpoint, server.rootApiKey);
      try {
        c.socket.write(`GET /version HTTP/1.1\r\nHost: k\r\n${headers}Connection: close\r\n\r\n`);
        const [res] = await c.until((r) => r.length > 0, 10_000);
        return res?.status ?? 0;
      } finally {
        c.socket.destroy();
      }
    };
    t.diagnostic(
      await withinBudget(
        { unit: 'requests (each a TLS handshake)', units: 60, cpuMsPerUnit: 30, memory: 64 * MiB },
        () =>
          inParallel(
            [...Array<string>(30).fill(under), ...Array<string>(30).fill(over)],
            6,
            async (h) => {
              assert.equal(await send(h), h === under ? 200 : 431);
            },
          ),
      ),
    );
  });

  it('many connections at once, each with one request', async (t) => {
    t.diagnostic(
      await withinBudget(
        {
          unit: 'connections (each a TLS handshake)',
          units: 150,
          cpuMsPerUnit: 30,
          memory: 96 * MiB,
        },
        async () => {
          const all = await Promise.all(
            Array.from({ length: 150 }, () => openRaw(server.endpoint, server.rootApiKey)),
          );
          try {
            for (const c of all) c.socket.write('GET /version HTTP/1.1\r\nHost: k\r\n\r\n');
            const answers = await Promise.all(all.map((c) => c.until((r) => r.length > 0, 20_000)));
            assert.deepEqual(new Set(answers.map((r) => r[0]?.status)), new Set([200]));
          } finally {
            for (const c of all) c.socket.destroy();
          }
        },
      ),
    );
  });

  it('idle connections (no TLS handshake) and stalled ones (half a request head) cost nothing while they wait', async (t) => {
    const [host, port] = [
      server.endpoint.slice(0, server.endpoint.lastIndexOf(':')),
      Number(server.endpoint.slice(server.endpoint.lastIndexOf(':') + 1)),
    ];
    const idle: Socket[] = [];
    const stalled: RawConnection[] = [];
    t.diagnostic(
      await withinBudget(
        { unit: 'connections held 3 s', units: 200, cpuMsPerUnit: 5, memory: 64 * MiB },
        async () => {
          try {
            for (let i = 0; i < 150; i++) {
              const s = connect(port, host);
              s.on('error', () => undefined);
              idle.push(s);
            }
            for (let i = 0; i < 50; i++) {
              const c = await openRaw(server.endpoint, server.rootApiKey);
              c.socket.write('POST /v1/kms/tenant HTTP/1.1\r\nHost: k\r\nContent-Le');
              stalled.push(c);
            }
            await new Promise((r) => setTimeout(r, 3000));
            // The server still has them all (nothing was answered or closed for being idle yet).
            assert.equal(stalled.filter((c) => c.closed()).length, 0);
          } finally {
            for (const s of idle) s.destroy();
            for (const c of stalled) c.socket.destroy();
          }
        },
      ),
    );
  });

  it('the server still serves everyone', async () => {
    assert.equal((await root.generateKey('k')).plaintext.length, 32);
    await rejectsWith(user.generateKey(LONG), KMS_API_ERRORS.permission);
  });
});
