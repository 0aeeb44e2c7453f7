// Where a command finds the HSM key, the same way for `keyhold server` and the offline commands
// (`keyhold audit verify`): KEYHOLD_HSM_KEY, then MINIO_KMS_HSM_KEY, then a config file's, then
// (development only) the key kept in the state directory.

import cluster from 'node:cluster';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HsmKey } from '../crypto/index.ts';
import { io } from './io.ts';

/** The development HSM key's file in the state directory (`keyhold server --dev`). */
export const DEV_HSM_FILE = 'dev-hsm.key';

/**
 * The HSM key from the environment, else `configured`, else with `dev` the one in
 * `DIR/dev-hsm.key` — created there (with a warning) when `create` is true, else it must exist.
 */
export async function loadHsmKey(
  dir: string,
  dev: boolean,
  configured?: HsmKey,
  create = true,
): Promise<HsmKey> {
  const text = io().env.KEYHOLD_HSM_KEY ?? io().env.MINIO_KMS_HSM_KEY;
  if (text !== undefined && text !== '') return HsmKey.parse(text);
  if (configured) return configured;
  if (!dev) {
    throw new Error(
      create
        ? "no HSM key: set KEYHOLD_HSM_KEY (create one with 'keyhold hsm new'), or use --dev for a throwaway development server"
        : 'no HSM key: set KEYHOLD_HSM_KEY (or MINIO_KMS_HSM_KEY) to the key the server runs with, or give --dev DIR for a development server',
    );
  }
  const file = join(dir, DEV_HSM_FILE);
  if (!create) {
    if (!existsSync(file)) throw new Error(`no development HSM key in ${file}`);
    return HsmKey.parse(readFileSync(file, 'utf8').trim());
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(file)) writeFileSync(file, HsmKey.generate().toString() + '\n', { mode: 0o600 });
  if (!cluster.isWorker)
    io().stderr.write(
      `\nWARNING: development mode. The HSM key is stored in clear beside the data in\n` +
        `         ${file}\n` +
        `         Anyone who can read that directory can unseal every key. Never use --dev in production.\n\n`,
    );
  return HsmKey.parse(readFileSync(file, 'utf8').trim());
}
