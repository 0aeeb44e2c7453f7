// The software HSM key (`hsm:aes256:<base64>`, minkms's format) and the only things Keyhold derives
// from it: the REK sealing key, the root API key seed, the cluster trust key, the backup sealing
// key and the audit chain key (HKDF-SHA256).

import { hkdfSync } from 'node:crypto';
import { decodeStdBase64 } from './base64.ts';
import { HsmKeyFormatError } from './errors.ts';
import { randomPool } from './random-pool.ts';

/** Text prefix of a software HSM key. */
export const HSM_KEY_PREFIX = 'hsm:aes256:';
/** Length of the HSM key in bytes. */
export const HSM_KEY_LENGTH = 32;

/**
 * HKDF info labels, one per purpose. Changing any of them changes every derived key: existing
 * state becomes unreadable and the root API key changes. docs/crypto.md lists them.
 */
export const HSM_KEY_LABELS = {
  rekSealing: 'keyhold/v1/rek-sealing',
  rootApiKey: 'keyhold/v1/root-api-key',
  clusterTrust: 'keyhold/v1/cluster-trust',
  backupSealing: 'keyhold/v1/backup-sealing',
  auditChain: 'keyhold/v1/audit-chain',
} as const;

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * A 32-byte software HSM key. Its bytes are reachable only through the derivations below and the
 * (secret) text form; every derivation is HKDF-SHA256(ikm = key, salt = empty, info = label, 32).
 */
export class HsmKey {
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  /** A new random HSM key from the OS CSPRNG. */
  static generate(): HsmKey {
    return new HsmKey(withUnpooledCopy(randomPool.take(HSM_KEY_LENGTH)));
  }

  /**
   * Parses `hsm:aes256:<standard base64 of 32 bytes>` (surrounding whitespace ignored, e.g. a
   * trailing newline from a file). Throws HsmKeyFormatError with problem `prefix`, `base64` or
   * `length`; the message never contains the input.
   */
  static parse(text: string): HsmKey {
    const trimmed = text.trim();
    if (!trimmed.startsWith(HSM_KEY_PREFIX)) {
      throw new HsmKeyFormatError('prefix', `HSM key must start with "${HSM_KEY_PREFIX}"`);
    }
    const bytes = decodeStdBase64(trimmed.slice(HSM_KEY_PREFIX.length));
    if (bytes === undefined) {
      throw new HsmKeyFormatError(
        'base64',
        `HSM key after "${HSM_KEY_PREFIX}" must be standard base64 with padding`,
      );
    }
    if (bytes.length !== HSM_KEY_LENGTH) {
      const length = bytes.length;
      bytes.fill(0);
      throw new HsmKeyFormatError(
        'length',
        `HSM key must be ${HSM_KEY_LENGTH} bytes, but it is ${length} bytes`,
      );
    }
    return new HsmKey(withUnpooledCopy(bytes));
  }

  /** 32-byte AES-256-GCM key that seals the root encryption key (REK) in the data directory. */
  rekSealingKey(): Buffer {
    return this.#derive(HSM_KEY_LABELS.rekSealing);
  }

  /** 32-byte Ed25519 seed of the root (SysAdmin) `k1:` API key. */
  rootApiKeySeed(): Buffer {
    return this.#derive(HSM_KEY_LABELS.rootApiKey);
  }

  /** 32-byte key from which nodes sharing this HSM key establish trust in each other. */
  clusterTrustKey(): Buffer {
    return this.#derive(HSM_KEY_LABELS.clusterTrust);
  }

  /** 32-byte AES-256 key that seals backups (`GET /v1/db`): any node with this HSM key restores them. */
  backupSealingKey(): Buffer {
    return this.#derive(HSM_KEY_LABELS.backupSealing);
  }

  /** 32-byte HMAC-SHA256 key that chains the audit log's lines (src/observe/audit-chain.ts). */
  auditChainKey(): Buffer {
    return this.#derive(HSM_KEY_LABELS.auditChain);
  }

  /** SECRET: the full `hsm:aes256:<base64>` text. Only for showing a generated key to its owner. */
  toString(): string {
    return HSM_KEY_PREFIX + this.#key.toString('base64');
  }

  /** Redacted, so that a key in a logged or serialised object does not leak. */
  toJSON(): string {
    return `${HSM_KEY_PREFIX}[redacted]`;
  }

  [INSPECT](): string {
    return `HsmKey(${HSM_KEY_PREFIX}[redacted])`;
  }

  #derive(label: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), label, 32));
  }
}

/** Moves the key into its own (unpooled) memory and zeroes the source. */
function withUnpooledCopy(bytes: Buffer): Buffer {
  const key = Buffer.alloc(bytes.length);
  key.set(bytes);
  bytes.fill(0);
  return key;
}
