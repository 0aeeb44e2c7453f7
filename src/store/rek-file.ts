// The `rek` file: the store's random root encryption key (REK), sealed by the HSM-derived key,
// the store id that every other file of the directory carries, and the store's manifest.

import { crc32 } from 'node:zlib';
import { corruption, StoreError } from './errors.ts';
import { checkPrefix, encodePrefix, PREFIX_BYTES } from './file-prefix.ts';
import {
  decodeManifest,
  encodeSlot,
  MANIFEST_FILE_BYTES,
  PAGE_BYTES,
  SLOT_OFFSETS,
  type Manifest,
} from './manifest.ts';
import type { Sealer } from './sealer.ts';

/** Length of the REK and of the store id. */
export const REK_BYTES = 32;
export const STORE_ID_BYTES = 16;

const ID_END = PREFIX_BYTES + STORE_ID_BYTES;
const SEALED_AT = ID_END + 4;
/** Version 2: the CRC of the key page sits at its end and covers it all, zeros included. */
const PAGE_CRC_AT = PAGE_BYTES - 4;

/** What a `rek` file holds. */
export interface RekFile {
  /** The unsealed REK: the caller owns it and should wipe it when done. */
  readonly rek: Buffer;
  readonly storeId: Buffer;
  /** 1: written before the manifest existed (no manifest); 2: with the manifest. */
  readonly version: number;
  /** The current manifest; null in a version 1 file, or when both slots are damaged. */
  readonly manifest: Manifest | null;
  /** How many of the two manifest slots are damaged (or torn by a crash). */
  readonly damagedSlots: number;
}

/**
 * Encodes a version 2 rek file, three 4 KiB pages. The key page is `prefix ‖ storeId(16) ‖ u32
 * sealedLength ‖ sealed ‖ zeros ‖ u32 crc32(everything after the prefix)`, where `sealed =
 * rekSealer.seal(rek, prefix ‖ storeId)`; it is never rewritten. Then the two manifest slots,
 * both holding `manifest`, which the store updates in place.
 */
export function encodeRekFile(
  rekSealer: Sealer,
  rek: Buffer,
  storeId: Buffer,
  manifest: Manifest,
): Buffer {
  const head = Buffer.concat([encodePrefix('rek'), storeId]);
  const sealed = rekSealer.seal(rek, head);
  const file = Buffer.alloc(MANIFEST_FILE_BYTES);
  head.copy(file, 0);
  file.writeUInt32BE(sealed.length, ID_END);
  sealed.copy(file, SEALED_AT);
  file.writeUInt32BE(crc32(file.subarray(PREFIX_BYTES, PAGE_CRC_AT)), PAGE_CRC_AT);
  for (const offset of SLOT_OFFSETS) encodeSlot(storeId, manifest).copy(file, offset);
  return file;
}

/**
 * Decodes and unseals a rek file (version 1 or 2). Throws `corrupt` when its key part is damaged
 * (checksum, size) and `wrong-key` when it is intact but `rekSealer` cannot open it: a different
 * HSM key. Damaged manifest slots are not an error here: the manifest is then null.
 */
export function decodeRekFile(data: Buffer, file: string, rekSealer: Sealer): RekFile {
  const version = checkPrefix('rek', data, file);
  if (data.length < SEALED_AT + 4) {
    throw corruption(file, PREFIX_BYTES, `file is ${data.length} bytes, shorter than its header`);
  }
  if (version !== 1 && data.length !== MANIFEST_FILE_BYTES) {
    throw corruption(
      file,
      Math.min(data.length, MANIFEST_FILE_BYTES),
      `file is ${data.length} bytes, expected ${MANIFEST_FILE_BYTES}`,
    );
  }
  const sealedLength = data.readUInt32BE(ID_END);
  const sealedEnd = SEALED_AT + sealedLength;
  if (version === 1 ? sealedEnd + 4 !== data.length : sealedEnd > PAGE_CRC_AT) {
    throw corruption(
      file,
      ID_END,
      `sealed key length ${sealedLength} does not match the file size ${data.length}`,
    );
  }
  const crcAt = version === 1 ? sealedEnd : PAGE_CRC_AT;
  if (crc32(data.subarray(PREFIX_BYTES, crcAt)) !== data.readUInt32BE(crcAt)) {
    throw corruption(file, PREFIX_BYTES, 'checksum mismatch');
  }
  let rek: Buffer;
  try {
    rek = rekSealer.open(data.subarray(SEALED_AT, sealedEnd), data.subarray(0, ID_END));
  } catch (error) {
    throw new StoreError(
      'wrong-key',
      `wrong HSM key: cannot unseal ${file} (the data directory was sealed with another HSM key)`,
      { file, cause: error },
    );
  }
  if (rek.length !== REK_BYTES) {
    rek.fill(0);
    throw corruption(file, SEALED_AT, `root key has ${rek.length} bytes, expected ${REK_BYTES}`);
  }
  const storeId = Buffer.from(data.subarray(PREFIX_BYTES, ID_END));
  const { manifest, damaged } =
    version === 1 ? { manifest: null, damaged: 0 } : decodeManifest(data, storeId);
  return { rek, storeId, version, manifest, damagedSlots: damaged };
}
