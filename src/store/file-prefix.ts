// The 12-byte prefix every store file starts with: magic, format version, and a CRC over both,
// so that a file from a newer Keyhold is told apart from a damaged one.

import { crc32 } from 'node:zlib';
import { corruption, StoreError } from './errors.ts';

/** Length of the prefix: magic(4) ‖ u32 version ‖ u32 crc32(magic ‖ version). */
export const PREFIX_BYTES = 12;

/** The kinds of file in a store directory. */
export type FileKind = 'rek' | 'log' | 'snapshot';

/** The format version each kind of file is written in. */
export const FORMAT_VERSIONS: Readonly<Record<FileKind, number>> = { rek: 2, log: 1, snapshot: 1 };
/** The versions read: a version 1 `rek` (without the manifest) is upgraded at open. */
const READABLE: Readonly<Record<FileKind, readonly number[]>> = {
  rek: [1, 2],
  log: [1],
  snapshot: [1],
};

const MAGIC: Readonly<Record<FileKind, string>> = { rek: 'KHRK', log: 'KHWL', snapshot: 'KHSN' };
const DESCRIPTION: Readonly<Record<FileKind, string>> = {
  rek: 'root key file',
  log: 'log segment',
  snapshot: 'snapshot',
};

/** The prefix for a new file of `kind`, in the version written today unless told otherwise. */
export function encodePrefix(kind: FileKind, version = FORMAT_VERSIONS[kind]): Buffer {
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.write(MAGIC[kind], 0, 'latin1');
  prefix.writeUInt32BE(version, 4);
  prefix.writeUInt32BE(crc32(prefix.subarray(0, 8)), 8);
  return prefix;
}

/**
 * Checks the prefix of `data` read from `file` and returns its version. Throws `corrupt` for a
 * short file, wrong magic or a prefix checksum mismatch, and `unsupported-version` for an intact
 * prefix of a version this code does not read.
 */
export function checkPrefix(kind: FileKind, data: Buffer, file: string): number {
  if (data.length < PREFIX_BYTES) {
    throw corruption(file, 0, `file is ${data.length} bytes, shorter than its header`);
  }
  if (data.toString('latin1', 0, 4) !== MAGIC[kind]) {
    throw corruption(file, 0, `not a Keyhold ${DESCRIPTION[kind]} (bad magic)`);
  }
  if (crc32(data.subarray(0, 8)) !== data.readUInt32BE(8)) {
    throw corruption(file, 4, 'format header checksum mismatch');
  }
  const version = data.readUInt32BE(4);
  if (!READABLE[kind].includes(version)) {
    throw new StoreError(
      'unsupported-version',
      `${file}: format version ${version} is not supported (this Keyhold reads version ` +
        `${READABLE[kind].join(' and ')}); run the Keyhold release that wrote it, or a newer one`,
      { file, offset: 4 },
    );
  }
  return version;
}

/** Reads a u64 that must be a safe integer, or throws `corrupt` naming the offset. */
export function readIndex(data: Buffer, offset: number, file: string, what: string): number {
  const value = data.readBigUInt64BE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw corruption(file, offset, `${what} ${value} is out of range`);
  }
  return Number(value);
}
