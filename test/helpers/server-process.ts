// Test harness: starts a real `keyhold server` process on 127.0.0.1 port 0 in a fresh directory
// and reads its endpoint and root API key from the banner, as a user would.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Path of the compiled CLI entry point. */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

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
  /** Milliseconds to wait for the banner (default 15 s). */
  readonly timeout?: number;
}

/** A fixed, public test HSM key: never use it outside tests. */
export const TEST_HSM_KEY = 'hsm:aes256:' + Buffer.alloc(32, 0x42).toString('base64');

/** Creates a temporary directory removed by the returned function. */
export function tempDir(prefix = 'keyhold-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Starts a server and resolves once its banner shows the endpoint. */
export function startServer(options: StartOptions = {}): Promise<ServerProcess> {
  const dir = options.dir ?? tempDir().dir;
  const hsmKey = options.hsmKey ?? TEST_HSM_KEY;
  const child = spawn(
    process.execPath,
    [CLI, 'server', dir, '--address', '127.0.0.1:0', ...(options.args ?? [])],
    {
      env: { ...process.env, KEYHOLD_HSM_KEY: hsmKey, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within the timeout; output:\n${output}`));
    }, options.timeout ?? 15_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const endpoint = /Endpoint:\s+https:\/\/(\S+)/.exec(output)?.[1];
      const apiKey = /API Key:\s+(k1:\S+)/.exec(output)?.[1];
      const root = /Root:\s+(\S+)/.exec(output)?.[1];
      if (endpoint && (apiKey || root)) {
        clearTimeout(timer);
        resolve({
          endpoint,
          rootApiKey: apiKey ?? '',
          dir,
          hsmKey,
          child,
          output: () => output,
          stop: async () => {
            child.kill('SIGTERM');
            return exited;
          },
          kill: async () => {
            child.kill('SIGKILL');
            await exited;
          },
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${String(code)} before starting; output:\n${output}`));
    });
  });
}
