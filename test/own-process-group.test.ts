// The harness that starts frozen-in-tests processes in a group of their own
// (test/helpers/own-process-group.ts): the child leads its own group, and the group is killed
// when the test process that started it ends, normally or by a signal.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const HELPER = fileURLToPath(new URL('./helpers/own-process-group.js', import.meta.url));

/** A test process stand-in: starts `sleep` in its own group, prints its pid, then `then`. */
const script = (then: string): string => `
  import { spawn } from 'node:child_process';
  import { killGroupAtExit, OWN_GROUP } from ${JSON.stringify(HELPER)};
  const child = killGroupAtExit(spawn('sleep', ['30'], { ...OWN_GROUP, stdio: 'ignore' }));
  console.log(child.pid);
  ${then}
`;

/** Fields of /proc/PID/stat after the command name: state, ppid, pgrp, ...; null once gone. */
function stat(pid: number): string[] | null {
  try {
    return (
      readFileSync(`/proc/${String(pid)}/stat`, 'utf8')
        .split(') ')[1]
        ?.split(' ') ?? null
    );
  } catch {
    return null;
  }
}

const groupOf = (pid: number): number => Number(stat(pid)?.[2]);

/** Whether `pid` still runs (a zombie waiting for its new parent to reap it does not), for 5 s. */
async function stillRunning(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    const state = stat(pid)?.[0];
    if (state === undefined || state === 'Z') return false;
    await sleep(50);
  }
  return true;
}

async function run(
  then: string,
  withPid: (pid: number, standIn: ChildProcess) => void,
): Promise<{ pid: number; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script(then)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let pid = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (pid === 0 && out.includes('\n')) {
      pid = Number(out.trim());
      withPid(pid, child);
    }
  });
  const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, sig) => resolve(sig)),
  );
  return { pid, signal };
}

const skip = process.platform !== 'linux' ? 'reads /proc' : false;

describe('processes in a group of their own', { skip }, () => {
  it('lead their own group and die with the test process that started them', async () => {
    let group = 0;
    const { pid } = await run('setTimeout(() => process.exit(0), 100);', (p) => {
      group = groupOf(p);
    });
    assert.equal(group, pid, 'the child leads a process group of its own');
    assert.equal(await stillRunning(pid), false, 'killed when the starting process exited');
  });

  it('are killed when the test process is interrupted, which still ends by the signal', async () => {
    let stopped = false;
    const { pid, signal } = await run('setInterval(() => {}, 1000);', (p, standIn) => {
      process.kill(p, 'SIGSTOP'); // frozen, as the fault tests leave their processes
      stopped = true;
      standIn.kill('SIGINT');
    });
    assert.ok(stopped);
    assert.equal(signal, 'SIGINT');
    assert.equal(await stillRunning(pid), false);
  });
});
