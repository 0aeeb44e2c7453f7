// Backups: a snapshot of the whole state sealed under a key derived from the HSM key, so that a
// backup restores onto any node with the same HSM key and is useless without it.

import { NotAuthenticError, SecretKey } from '../crypto/index.ts';
import { KeyholdError } from '../model/errors.ts';

/** First bytes of every backup file (format version 1). */
const MAGIC = Buffer.from('KEYHOLD-BACKUP\x01');

/** Seals a snapshot payload into a backup. */
export function sealBackup(snapshot: Uint8Array, backupKey: Uint8Array): Buffer {
  const sealed = new SecretKey('AES256', backupKey).seal(snapshot, MAGIC);
  return Buffer.concat([MAGIC, sealed]);
}

/** Opens a backup; a clear BAD_REQUEST for anything that is not a backup sealed by this HSM key. */
export function openBackup(backup: Uint8Array, backupKey: Uint8Array): Buffer {
  const bytes = Buffer.from(backup.buffer, backup.byteOffset, backup.byteLength);
  if (bytes.length < MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new KeyholdError('BAD_REQUEST', 'invalid backup: not a Keyhold backup file');
  }
  try {
    return new SecretKey('AES256', backupKey).open(bytes.subarray(MAGIC.length), MAGIC);
  } catch (error) {
    if (error instanceof NotAuthenticError) {
      throw new KeyholdError(
        'BAD_REQUEST',
        'invalid backup: corrupted, or sealed under a different HSM key',
      );
    }
    throw error;
  }
}
