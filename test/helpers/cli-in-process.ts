// Runs the CLI in the test's own process — `main(argv, io)`, the same function the `keyhold`
// binary calls — with its own stdout, stderr, stdin and environment, and collects what it
// wrote. The servers it talks to are still real processes; only the client side skips the
// ~0.3 s a fresh Node process costs per command. A few tests run the binary itself
// (runBinary in test/kes-cli-run.ts) so the real entry point stays covered.

import { PassThrough, Writable } from 'node:stream';
import { main } from '../../src/cli/cli.ts';

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function collector(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      done();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** Runs `keyhold ...args` in-process with `env` as its whole environment and `input` as stdin. */
export async function runInProcess(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  input = '',
): Promise<CliRun> {
  const stdout = collector();
  const stderr = collector();
  const stdin = new PassThrough();
  stdin.end(input);
  const code = await main(args, { stdout: stdout.stream, stderr: stderr.stream, stdin, env });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}
