// Test harness: starts a real `keyhold server` process on 127.0.0.1 port 0 in a fresh directory
// and reads its endpoint and root API key from the readiness line (docs/cli.md#readiness).

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killGroupAtExit, OWN_GROUP } from './own-process-group.ts';

/** Path of the CLI as it ships: the bundle `npm run build` makes (scripts/build-cli-bundle.js). */
export const CLI = fileURLToPath(new URL('../../cli/keyhold.js', import.meta.url));

/**
 * Refuses a bundle older than the compiled modules it is made of (a `tsc` without
 * `npm run build`): the tests would drive yesterday's CLI and server without saying so.
 */
function newestModule(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestModule(path));
    else if (entry.name.endsWith('.js')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}
const SOURCES = fileURLToPath(new URL('../../src/', import.meta.url));
if (statSync(CLI, { throwIfNoEntry: false }) === undefined) {
  throw new Error(`${CLI} is missing: run npm run build (it bundles the CLI after tsc)`);
}
if (newestModule(SOURCES) > statSync(CLI).mtimeMs) {
  throw new Error(
    `${CLI} is older than ${SOURCES}: run npm run build (it bundles the CLI after tsc)`,
  );
}

export interface ServerProcess {
  /** `127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly rootApiKey: string;
  readonly dir: string;
  readonly hsmKey: string;
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

export interface StartOptions {
  /** Reuse a state directory (default: a new temporary one). */
  readonly dir?: string;
  /** HSM key (default: a fixed test key). */
  readonly hsmKey?: string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** Milliseconds to wait for the server to be ready (default 15 s). */
  readonly timeout?: number;
  /** Options for node itself, before the script (the benchmark's `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
}

/** A fixed, public test HSM key: never use it outside tests. */
export const TEST_HSM_KEY = 'hsm:aes256:' + Buffer.alloc(32, 0x42).toString('base64');

/** Creates a temporary directory removed by the returned function. */
export function tempDir(prefix = 'keyhold-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** What a server's readiness line says (docs/cli.md#readiness). */
export interface Readiness {
  /** `https://HOST:PORT`, as clients use it. */
  readonly endpoint: string;
  /** The bound `HOST:PORT`. */
  readonly address: string;
  readonly state: string;
  readonly certificate: string;
  readonly workers: number;
  /** The HTTP/1.1 implementation serving (`--http`). */
  readonly http: 'lean' | 'node';
  /** The root identity, '' when disabled. */
  readonly identity: string;
  /** The root API key, when derived from the HSM key. */
  readonly apiKey?: string;
}

/** A spawned `keyhold server` process and what it printed. */
export interface SpawnedServer {
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  readonly output: () => string;
  /** Calls `listener` after each chunk of output, until the returned function is called. */
  readonly watch: (listener: () => void) => () => void;
  /** The exit code, once the process has exited. */
  readonly exited: Promise<number | null>;
}

/** The server process exited before it was ready. */
export class ServerExit extends Error {
  readonly code: number | null;
  readonly output: string;
  constructor(code: number | null, output: string) {
    super(`server exited with ${String(code)} before starting; output:\n${output}`);
    this.code = code;
    this.output = output;
  }
}

export interface SpawnOptions {
  readonly cwd?: string;
  readonly env?: Record<string, string | undefined>;
  /** Milliseconds to wait for the readiness line before killing the process. */
  readonly timeout: number;
  /** Options for node itself, before the script. */
  readonly nodeArgs?: readonly string[];
}

/**
 * The HTTP/1.1 implementation every test server runs unless its test picks one: CI runs the
 * end-to-end suites once as they are (the default, `lean`) and once more with
 * KEYHOLD_TEST_HTTP=node (.ci/run), so both implementations pass the same tests.
 */
const TEST_HTTP = ((): 'lean' | 'node' | undefined => {
  const value = process.env.KEYHOLD_TEST_HTTP;
  if (value === undefined || value === '') return undefined;
  if (value !== 'lean' && value !== 'node') {
    throw new Error(`KEYHOLD_TEST_HTTP must be 'lean' or 'node', not '${value}'`);
  }
  return value;
})();

/**
 * The worker processes of every test server whose test does not pick `--workers`, when
 * KEYHOLD_TEST_WORKERS says (scripts/run-tests.js sets it to 1; unset, the server's own default,
 * one per core, as the benchmarks want). One worker still takes every end-to-end test through
 * the worker process model (a primary that owns the state, a worker that serves) for one fork
 * rather than one per core: each costs about 0.3 s of CPU, and the suite starts over a hundred
 * servers. CI's second pass sets 2 (.ci/run), the production default on a 2-core machine, where
 * requests alternate between workers. The suites about workers pick their own counts.
 */
const TEST_WORKERS = ((): string | undefined => {
  const value = process.env.KEYHOLD_TEST_WORKERS;
  if (value === undefined || value === '') return undefined;
  if (!/^(0|[1-9][0-9]?)$/.test(value)) {
    throw new Error(`KEYHOLD_TEST_WORKERS must be a whole number from 0 to 99, not '${value}'`);
  }
  return value;
})();

/**
 * `args` of a `server` command with the test defaults its test does not choose itself:
 * `--http TEST_HTTP` and `--workers TEST_WORKERS` (also for tests that spawn a server that must
 * fail to start, without `spawnServer`).
 */
export function withTestDefaults(args: readonly string[]): readonly string[] {
  if (args[0] !== 'server') return args;
  const added = [
    ...(TEST_HTTP === undefined || args.includes('--http') ? [] : ['--http', TEST_HTTP]),
    ...(TEST_WORKERS === undefined || args.includes('--workers')
      ? []
      : ['--workers', TEST_WORKERS]),
  ];
  return ['server', ...added, ...args.slice(1)];
}

/**
 * The one way tests start a server: spawns the CLI with `args` (a `server` command) and
 * KEYHOLD_READY=1, and resolves once the server prints its readiness line, the machine-readable
 * line meant for this (the banner is for people). Rejects with ServerExit when the process exits
 * first, or with an Error (having killed it) when `timeout` passes.
 */
export function spawnServer(
  args: readonly string[],
  options: SpawnOptions,
): Promise<{ server: SpawnedServer; ready: Readiness }> {
  const argv = withTestDefaults(args);
  const child = killGroupAtExit(
    spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...argv], {
      ...OWN_GROUP, // tests freeze servers and workers with SIGSTOP
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env: { ...process.env, ...options.env, KEYHOLD_READY: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let output = '';
  let stdout = '';
  const watchers = new Set<() => void>();
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const server: SpawnedServer = {
    child,
    output: () => output,
    watch: (listener) => {
      watchers.add(listener);
      return () => watchers.delete(listener);
    },
    exited,
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    output += chunk.toString();
    for (const watcher of watchers) watcher();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    for (const watcher of watchers) watcher();
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      stop();
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${options.timeout} ms; output:\n${output}`));
    }, options.timeout);
    const check = (): void => {
      const line = /^\{"ready":true,.*\}$/m.exec(stdout)?.[0];
      if (line === undefined || settled) return;
      settled = true;
      clearTimeout(timer);
      stop();
      const ready = JSON.parse(line) as Readiness;
      const wanted = args.includes('--http') ? undefined : TEST_HTTP;
      if (argv[0] === 'server' && wanted !== undefined && ready.http !== wanted) {
        child.kill('SIGKILL');
        reject(new Error(`KEYHOLD_TEST_HTTP=${wanted}, but the server runs --http ${ready.http}`));
        return;
      }
      resolve({ server, ready });
    };
    const stop = server.watch(check);
    void exited.then((code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stop();
      reject(new ServerExit(code, output));
    });
  });
}

/** Starts a server and resolves once it is ready. */
export async function startServer(options: StartOptions = {}): Promise<ServerProcess> {
  const dir = options.dir ?? tempDir().dir;
  const hsmKey = options.hsmKey ?? TEST_HSM_KEY;
  const { server, ready } = await spawnServer(
    ['server', dir, '--address', '127.0.0.1:0', ...(options.args ?? [])],
    {
      env: { KEYHOLD_HSM_KEY: hsmKey, ...options.env },
      timeout: options.timeout ?? 60_000,
      ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
    },
  );
  const { child, exited } = server;
  return {
    endpoint: ready.endpoint.slice('https://'.length),
    rootApiKey: ready.apiKey ?? '',
    dir,
    hsmKey,
    child,
    output: server.output,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
