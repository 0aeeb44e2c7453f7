// Helper for the `keyhold kes` / `keyhold identity` end-to-end tests: runs the CLI with a clean
// KES/MinIO environment and collects its exit code and output — in-process by default
// (helpers/cli-in-process.ts; the server is a real process either way), or as the compiled
// binary in a child process (runBinary) where the entry point itself is under test.

import { spawn } from 'node:child_process';
import { runInProcess } from './helpers/cli-in-process.ts';
import { CLI } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The current environment without any KES_*, MINIO_* or KEYHOLD_* variable. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(KES_|MINIO_|KEYHOLD_)/.test(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

/** Environment that points `keyhold kes` at `server` as its root (admin) identity. */
export function kesEnv(
  server: ServerProcess,
  extra: Record<string, string> = {},
): Record<string, string> {
  return cleanEnv({ KES_SERVER: server.endpoint, KES_API_KEY: server.rootApiKey, ...extra });
}

/** Runs `keyhold ...args` in-process, optionally with stdin; `cwd` runs the binary instead. */
export function runCli(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string; cwd?: string; timeout?: number } = {},
): Promise<CliResult> {
  if (options.cwd !== undefined) return runBinary(args, options);
  return runInProcess(args, options.env ?? cleanEnv(), options.input);
}

/** Runs `node CLI ...args`, optionally with stdin, and resolves when it exits (default limit 30 s). */
export function runBinary(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string; cwd?: string; timeout?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: options.env ?? cleanEnv(),
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `keyhold ${args.join(' ')} did not exit in time; stdout:\n${stdout}\nstderr:\n${stderr}`,
        ),
      );
    }, options.timeout ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}
