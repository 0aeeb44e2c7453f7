// A `keyhold server` that cannot start (address in use, bad TLS files, unusable or locked data
// directory, bad HSM key…) exits non-zero with one clear line and leaves no process behind, with
// or without worker processes.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  CLI,
  startServer,
  tempDir,
  TEST_HSM_KEY,
  withTestDefaults,
} from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

const temps: (() => void)[] = [];
/** One server holding a data directory, for the "in use" case of both worker counts. */
let holder: Promise<{ dir: string; server: ServerProcess }> | undefined;
after(async () => {
  if (holder) await (await holder).server.stop();
  temps.forEach((remove) => remove());
});

function holdingServer(): Promise<{ dir: string; server: ServerProcess }> {
  holder ??= (async () => {
    const dir = newDir();
    return { dir, server: await startServer({ dir, args: ['--workers', '0'] }) };
  })();
  return holder;
}

function newDir(): string {
  const t = tempDir();
  temps.push(t.remove);
  return t.dir;
}

/** PIDs of live processes whose command line mentions `marker` (a test's unique directory). */
function processesMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z') pids.push(Number(entry));
      }
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

interface Outcome {
  readonly code: number | null;
  readonly stderr: string;
  readonly stdout: string;
  /** Processes of this server still alive once it exited (or was killed after the bound). */
  readonly leftovers: number[];
}

/**
 * Runs `keyhold server DIR ARGS` and waits at most 60 s for it to exit (a loaded machine starts workers slowly). Whatever it left
 * running is reported, then killed by PID.
 */
async function run(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
  others: number[] = [],
): Promise<Outcome> {
  const child = spawn(process.execPath, [CLI, ...withTestDefaults(['server', dir, ...args])], {
    env: { ...process.env, KEYHOLD_HSM_KEY: TEST_HSM_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), 60_000);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  // Workers that outlive the primary get up to 300 ms to be gone (none can appear once it has
  // exited: only the primary starts them); look again every 20 ms, done as soon as none is left.
  const deadline = Date.now() + 300;
  let leftovers = processesMentioning(dir).filter((pid) => !others.includes(pid));
  while (leftovers.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    leftovers = processesMentioning(dir).filter((pid) => !others.includes(pid));
  }
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return { code, stderr, stdout, leftovers };
}

function assertFailed(outcome: Outcome, message: RegExp): void {
  const text = `stderr:\n${outcome.stderr}\nstdout:\n${outcome.stdout}`;
  assert.ok(outcome.code !== null, `still running after 60 s; ${text}`);
  assert.notEqual(outcome.code, 0, text);
  assert.deepEqual(outcome.leftovers, [], `processes left behind; ${text}`);
  const lines = outcome.stderr.split('\n').filter((line) => line.trim() !== '');
  assert.equal(lines.length, 1, `one line on stderr; ${text}`);
  assert.match(lines[0]!, /^keyhold: /);
  assert.match(lines[0]!, message);
  assert.doesNotMatch(outcome.stdout, /Endpoint:/);
}

function listen(): Promise<{ server: Server; address: string }> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({ server, address: `127.0.0.1:${port}` });
    });
  });
}

const GARBAGE_PEM = '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n';

for (const workers of ['2', '0']) {
  describe(`a server that cannot start exits at once (--workers ${workers})`, () => {
    it('on an address in use', async () => {
      const taken = await listen();
      try {
        const dir = newDir();
        const outcome = await run(dir, ['--address', taken.address, '--workers', workers]);
        assertFailed(
          outcome,
          new RegExp(`${taken.address}.*EADDRINUSE|EADDRINUSE.*${taken.address}`),
        );
        assert.ok(!existsSync(join(dir, 'state', 'LOCK')), 'the data directory is unlocked');
      } finally {
        taken.server.close();
      }
    });

    it('on an address that does not resolve', async () => {
      const outcome = await run(newDir(), ['--address', '999.1.1.1:0', '--workers', workers]);
      assertFailed(outcome, /999\.1\.1\.1/);
    });

    it('on TLS files that are not a certificate and key', async () => {
      const dir = newDir();
      const pem = join(dir, 'bad.pem');
      writeFileSync(pem, GARBAGE_PEM);
      const outcome = await run(dir, [
        '--address',
        '127.0.0.1:0',
        '--workers',
        workers,
        '--tls-cert',
        pem,
        '--tls-key',
        pem,
      ]);
      assertFailed(outcome, /bad\.pem/);
      assert.ok(!existsSync(join(dir, 'state', 'LOCK')), 'the data directory is unlocked');
    });

    it('on a data directory that cannot be created', async () => {
      const base = newDir();
      writeFileSync(join(base, 'file'), 'not a directory');
      const outcome = await run(join(base, 'file', 'data'), [
        '--address',
        '127.0.0.1:0',
        '--workers',
        workers,
      ]);
      assertFailed(outcome, /file/);
    });

    it('on a data directory in use by another server', async () => {
      const { dir, server } = await holdingServer();
      const outcome = await run(
        dir,
        ['--address', '127.0.0.1:0', '--workers', workers],
        {},
        processesMentioning(dir),
      );
      assertFailed(outcome, /in use by another Keyhold process/);
      assert.equal(server.child.exitCode, null, 'the server holding the directory still runs');
    });

    it('on a malformed HSM key', async () => {
      const outcome = await run(newDir(), ['--address', '127.0.0.1:0', '--workers', workers], {
        KEYHOLD_HSM_KEY: 'hsm:aes256:short',
      });
      assertFailed(outcome, /HSM key/);
    });
  });
}
