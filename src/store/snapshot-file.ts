// Snapshot files `snapshot-<index>.snap`: the state machine's serialized state as of a log index,
// sealed under the REK, with header and body checksums.

import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { corruption } from './errors.ts';
import { checkPrefix, encodePrefix, PREFIX_BYTES, readIndex } from './file-prefix.ts';
import { RECORD_TYPE } from './record.ts';
import { STORE_ID_BYTES } from './rek-file.ts';
import type { Sealer } from './sealer.ts';

/** Header: prefix ‖ storeId(16) ‖ u64 index ‖ u64 sealedLength ‖ u32 crc32(storeId…length). */
const INDEX_AT = PREFIX_BYTES + STORE_ID_BYTES;
const LENGTH_AT = INDEX_AT + 8;
const HEADER_CRC_AT = LENGTH_AT + 8;
const HEADER_BYTES = HEADER_CRC_AT + 4;

const NAME = /^snapshot-(\d{1,20})\.snap$/;

/** File name of the snapshot as of `index`. */
export function snapshotName(index: number): string {
  return `snapshot-${String(index).padStart(20, '0')}.snap`;
}

/** The index encoded in a snapshot file name, or null when `name` is not a snapshot. */
export function parseSnapshotName(name: string): number | null {
  const match = NAME.exec(name);
  if (!match) return null;
  const value = Number(match[1]);
  return Number.isSafeInteger(value) ? value : null;
}

/** Associated data of a snapshot body: type(1) ‖ storeId(16) ‖ u64 index. */
function snapshotAad(storeId: Buffer, index: number): Buffer {
  const aad = Buffer.alloc(1 + storeId.length + 8);
  aad.writeUInt8(RECORD_TYPE.snapshot, 0);
  storeId.copy(aad, 1);
  aad.writeBigUInt64BE(BigInt(index), 1 + storeId.length);
  return aad;
}

/** Encodes a snapshot file: header ‖ sealed payload ‖ u32 crc32(sealed payload). */
export function encodeSnapshot(
  sealer: Sealer,
  storeId: Buffer,
  index: number,
  payload: Uint8Array,
): Buffer {
  const sealed = sealer.seal(payload, snapshotAad(storeId, index));
  const file = Buffer.alloc(HEADER_BYTES + sealed.length + 4);
  encodePrefix('snapshot').copy(file, 0);
  storeId.copy(file, PREFIX_BYTES);
  file.writeBigUInt64BE(BigInt(index), INDEX_AT);
  file.writeBigUInt64BE(BigInt(sealed.length), LENGTH_AT);
  file.writeUInt32BE(crc32(file.subarray(PREFIX_BYTES, HEADER_CRC_AT)), HEADER_CRC_AT);
  sealed.copy(file, HEADER_BYTES);
  file.writeUInt32BE(crc32(sealed), HEADER_BYTES + sealed.length);
  return file;
}

/**
 * Decodes and unseals a snapshot file named `name` in `dir`. Throws `corrupt` naming the file and
 * offset for any damage, including a body that fails authentication.
 */
export function decodeSnapshot(
  data: Buffer,
  dir: string,
  name: string,
  storeId: Buffer,
  sealer: Sealer,
): { index: number; payload: Buffer } {
  const path = join(dir, name);
  checkPrefix('snapshot', data, path);
  if (data.length < HEADER_BYTES + 4) {
    throw corruption(
      path,
      PREFIX_BYTES,
      `snapshot header truncated (file is ${data.length} bytes)`,
    );
  }
  if (crc32(data.subarray(PREFIX_BYTES, HEADER_CRC_AT)) !== data.readUInt32BE(HEADER_CRC_AT)) {
    throw corruption(path, PREFIX_BYTES, 'snapshot header checksum mismatch');
  }
  if (!data.subarray(PREFIX_BYTES, INDEX_AT).equals(storeId)) {
    throw corruption(path, PREFIX_BYTES, 'snapshot belongs to another store (store id differs)');
  }
  const index = readIndex(data, INDEX_AT, path, 'snapshot index');
  if (parseSnapshotName(name) !== index) {
    throw corruption(
      path,
      INDEX_AT,
      `header says index ${index}, which does not match the file name`,
    );
  }
  const length = readIndex(data, LENGTH_AT, path, 'sealed length');
  if (HEADER_BYTES + length + 4 !== data.length) {
    throw corruption(
      path,
      LENGTH_AT,
      `sealed length ${length} does not match the file size ${data.length}`,
    );
  }
  const sealed = data.subarray(HEADER_BYTES, HEADER_BYTES + length);
  if (crc32(sealed) !== data.readUInt32BE(HEADER_BYTES + length)) {
    throw corruption(path, HEADER_BYTES, 'snapshot body checksum mismatch');
  }
  try {
    return { index, payload: sealer.open(sealed, snapshotAad(storeId, index)) };
  } catch {
    throw corruption(
      path,
      HEADER_BYTES,
      'snapshot has a valid checksum but fails authentication (tampered, or written under ' +
        'another root key)',
    );
  }
}
