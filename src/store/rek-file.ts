// The `rek` file: the store's random root encryption key (REK), sealed by the HSM-derived key,
// together with the store id that every other file of the directory carries.

import { crc32 } from 'node:zlib';
import { corruption, StoreError } from './errors.ts';
import { checkPrefix, encodePrefix, PREFIX_BYTES } from './file-prefix.ts';
import type { Sealer } from './sealer.ts';

/** Length of the REK and of the store id. */
export const REK_BYTES = 32;
export const STORE_ID_BYTES = 16;

const ID_END = PREFIX_BYTES + STORE_ID_BYTES;
const SEALED_AT = ID_END + 4;

/**
 * Encodes the rek file: `prefix ‖ storeId(16) ‖ u32 sealedLength ‖ sealed ‖ u32 crc32`, where
 * `sealed = rekSealer.seal(rek, prefix ‖ storeId)` and the CRC covers everything after the prefix.
 */
export function encodeRekFile(rekSealer: Sealer, rek: Buffer, storeId: Buffer): Buffer {
  const head = Buffer.concat([encodePrefix('rek'), storeId]);
  const sealed = rekSealer.seal(rek, head);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(sealed.length);
  const body = Buffer.concat([head, length, sealed, Buffer.alloc(4)]);
  body.writeUInt32BE(crc32(body.subarray(PREFIX_BYTES, body.length - 4)), body.length - 4);
  return body;
}

/**
 * Decodes and unseals a rek file. Throws `corrupt` when its bytes are damaged (checksum) and
 * `wrong-key` when they are intact but `rekSealer` cannot open them: a different HSM key.
 * The caller owns the returned `rek` and should wipe it when done.
 */
export function decodeRekFile(
  data: Buffer,
  file: string,
  rekSealer: Sealer,
): { rek: Buffer; storeId: Buffer } {
  checkPrefix('rek', data, file);
  if (data.length < SEALED_AT + 4) {
    throw corruption(file, PREFIX_BYTES, `file is ${data.length} bytes, shorter than its header`);
  }
  const sealedLength = data.readUInt32BE(ID_END);
  if (SEALED_AT + sealedLength + 4 !== data.length) {
    throw corruption(
      file,
      ID_END,
      `sealed key length ${sealedLength} does not match the file size ${data.length}`,
    );
  }
  const crcAt = data.length - 4;
  if (crc32(data.subarray(PREFIX_BYTES, crcAt)) !== data.readUInt32BE(crcAt)) {
    throw corruption(file, PREFIX_BYTES, 'checksum mismatch');
  }
  let rek: Buffer;
  try {
    rek = rekSealer.open(data.subarray(SEALED_AT, crcAt), data.subarray(0, ID_END));
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
  return { rek, storeId: Buffer.from(data.subarray(PREFIX_BYTES, ID_END)) };
}
