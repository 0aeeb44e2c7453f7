// State commands (minkms names): `backup [FILE]` saves the server's sealed state snapshot,
// `restore FILE` replaces the server's state with one. Both are SysAdmin only.

import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Command } from './command.ts';
import { defineClientCommand } from './client-options.ts';
import { printJsonValue } from './kms-format.ts';
import { print, printError } from './output.ts';
import { io, readStdin } from './io.ts';

/** `YYYYMMDD_HHMMSS_keyhold.db` in UTC (minkms names its backups `YYYYMMDD_HHMMSS_kms.db…`). */
export function defaultBackupName(now: Date = new Date()): string {
  const iso = now.toISOString();
  return `${iso.slice(0, 10).replace(/-/g, '')}_${iso.slice(11, 19).replace(/:/g, '')}_keyhold.db`;
}

export const backupCommand: Command = defineClientCommand({
  name: 'backup',
  summary: "Save the server's state to a file",
  synopsis: '[FILE] [options]',
  description: `Downloads a snapshot of the server's state (enclaves, keys, policies, identities) into FILE
(default: YYYYMMDD_HHMMSS_keyhold.db in the current directory, UTC time; '-' writes to
stdout). The snapshot is sealed under the HSM key: only a server with the same HSM
key can restore it. An existing FILE is not overwritten. Requires SysAdmin.`,
  positionals: [0, 1],
  async run({ client, args, json }) {
    const file = args.positionals[0] ?? defaultBackupName();
    const snapshot = await client.backup();
    if (file === '-') {
      await pipeline(snapshot, io().stdout, { end: false });
      return 0;
    }
    let out: WriteStream;
    try {
      out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
      await new Promise<void>((resolve, reject) => {
        out.once('open', () => resolve());
        out.once('error', reject);
      });
    } catch (error) {
      snapshot.destroy();
      throw new Error(`cannot create ${file}: ${(error as Error).message}`, { cause: error });
    }
    let bytes = 0;
    snapshot.on('data', (chunk: Buffer) => (bytes += chunk.length));
    try {
      await pipeline(snapshot, out);
    } catch (error) {
      await rm(file, { force: true });
      printError(`backup incomplete, removed ${file}`);
      throw error;
    }
    if (json) printJsonValue({ file, bytes });
    else print(`Saved the state (${bytes} bytes) to ${file}.`);
    return 0;
  },
});

export const restoreCommand: Command = defineClientCommand({
  name: 'restore',
  summary: "Replace the server's state with a backup",
  synopsis: 'FILE [options]',
  description: `Uploads a snapshot made by 'keyhold backup' ('-' reads stdin) and replaces the server's
whole state with it: everything created after the backup is lost. Requires SysAdmin and a
server with the HSM key the backup was made with.`,
  positionals: [1, 1],
  async run({ client, args, json }) {
    const file = args.positionals[0]!;
    let snapshot: Buffer;
    if (file === '-') {
      snapshot = await readStdin();
    } else {
      try {
        snapshot = await readFile(file);
      } catch (error) {
        throw new Error(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
      }
    }
    await client.restore(snapshot);
    if (json) printJsonValue({ file, bytes: snapshot.length });
    else print(`Restored the state from ${file} (${snapshot.length} bytes).`);
    return 0;
  },
});

export const BACKUP_COMMANDS: readonly Command[] = [backupCommand, restoreCommand];
