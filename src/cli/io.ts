// The CLI's view of the outside world: where it writes, what it reads, which environment it
// sees. `main(argv, io)` runs every command inside one CliIo, so the CLI can run in-process (the
// tests do) with its own output streams and environment, and the binary passes the process's.
// The current CliIo travels with the async context, so commands need not thread it through.

// eslint-disable-next-line no-restricted-imports -- only in-process CLI runs enter a scope; the binary never does (withIo)
import { AsyncLocalStorage } from 'node:async_hooks';
import process from 'node:process';
import type { Readable, Writable } from 'node:stream';

export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin: Readable;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The process's own streams and environment: what the `keyhold` binary runs with. */
export const PROCESS_IO: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
};

const current = new AsyncLocalStorage<CliIo>();

/** The CliIo of the command running now (the process's outside any `withIo`). */
export function io(): CliIo {
  return current.getStore() ?? PROCESS_IO;
}

/**
 * Runs `body` with `cliIo` as the current CliIo. The process's own CliIo needs no scope (it is
 * what `io()` returns outside one), and must not get one: an AsyncLocalStorage scope turns on
 * async hooks for the rest of the process, so a `keyhold server` started from it would pay a
 * JavaScript hook on every socket read and write, timer and promise (docs/performance.md).
 */
export function withIo<T>(cliIo: CliIo, body: () => Promise<T>): Promise<T> {
  if (cliIo === PROCESS_IO && current.getStore() === undefined) return body();
  return current.run(cliIo, body);
}

/** The first non-empty environment variable among `names`, trimmed. */
export function envVar(...names: string[]): string | undefined {
  const env = io().env;
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return value.trim();
  }
  return undefined;
}

/** Reads standard input to its end. */
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of io().stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
