// Backups: a snapshot of the whole state sealed under a key derived from the HSM key, so that a
// backup restores onto any node with the same HSM key and is useless without it.

import { NotAuthenticError, SecretKey } from '../crypto/index.ts';
import type { HsmKey } from '../crypto/index.ts';
import { KeyholdError } from '../model/errors.ts';

/** First bytes of every backup file (format version 1). */
const MAGIC = Buffer.from('KEYHOLD-BACKUP\x01');

/** The largest backup a node accepts. */
export const MAX_BACKUP_BYTES = 1024 * 1024 * 1024;

function notABackup(): KeyholdError {
  return new KeyholdError('BAD_REQUEST', 'invalid backup: not a Keyhold backup file');
}

/**
 * A backup as it arrives, piece by piece (the upload of a restore). A start that is not a
 * Keyhold backup is refused with the first piece that shows it, and anything past `limit` bytes
 * as soon as it arrives, so neither is received in full. The pieces are kept as given (not
 * copied) until `take` joins them.
 */
export class BackupReceiver {
  readonly #limit: number;
  #pieces: Uint8Array[] = [];
  #size = 0;

  constructor(limit = MAX_BACKUP_BYTES) {
    this.#limit = limit;
  }

  /** Adds the next piece; throws BAD_REQUEST (not a backup) or TOO_LARGE. */
  add(piece: Uint8Array): void {
    for (let i = 0; this.#size + i < MAGIC.length && i < piece.length; i++) {
      if (piece[i] !== MAGIC[this.#size + i]) throw notABackup();
    }
    this.#size += piece.length;
    if (this.#size > this.#limit) {
      throw new KeyholdError('TOO_LARGE', `backup larger than ${String(this.#limit)} bytes`);
    }
    this.#pieces.push(piece);
  }

  /** The whole backup (one copy of the pieces, which are released). */
  take(): Buffer {
    const pieces = this.#pieces;
    this.#pieces = [];
    return Buffer.concat(pieces, this.#size);
  }
}

/**
 * The backup of one snapshot payload, as every owner of the state (a single node, a cluster
 * member) answers `GET /v1/db`: sealed under the HSM key's backup key. The clear payload is
 * wiped once sealed.
 */
export function sealedBackupOf(snapshot: Buffer, hsmKey: HsmKey): Buffer {
  try {
    return sealBackup(snapshot, hsmKey.backupSealingKey());
  } finally {
    snapshot.fill(0);
  }
}

/** Seals a snapshot payload into a backup. */
export function sealBackup(snapshot: Uint8Array, backupKey: Uint8Array): Buffer {
  const sealed = new SecretKey('AES256', backupKey).seal(snapshot, MAGIC);
  return Buffer.concat([MAGIC, sealed]);
}

/** Opens a backup; a clear BAD_REQUEST for anything that is not a backup sealed by this HSM key. */
export function openBackup(backup: Uint8Array, backupKey: Uint8Array): Buffer {
  const bytes = Buffer.from(backup.buffer, backup.byteOffset, backup.byteLength);
  if (bytes.length < MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw notABackup();
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
