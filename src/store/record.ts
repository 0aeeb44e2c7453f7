// One log record: `u32 length ‖ u32 crc32 ‖ u64 index ‖ u32 batchPos ‖ sealed payload`, the
// payload sealed under the REK with the store id, record type, index and batchPos as AAD.

import { crc32 } from 'node:zlib';
import type { Sealer } from './sealer.ts';

/** Bytes before the sealed payload. */
export const RECORD_HEADER_BYTES = 20;
/** Largest payload `append` accepts (commands are small; this bounds a damaged length field). */
export const MAX_RECORD_PAYLOAD = 64 * 1024 * 1024;
/** Largest sealed payload a record may declare: the payload limit plus sealing overhead. */
export const MAX_SEALED_RECORD = MAX_RECORD_PAYLOAD + 1024;

/** Record types, bound into the associated data so that blobs of one kind never pass as another. */
export const RECORD_TYPE = { entry: 1, snapshot: 2 } as const;

/** Associated data of a log entry: type(1) ‖ storeId(16) ‖ u64 index ‖ u32 batchPos. */
export function entryAad(storeId: Buffer, index: number, batchPos: number): Buffer {
  const aad = Buffer.alloc(1 + storeId.length + 12);
  aad.writeUInt8(RECORD_TYPE.entry, 0);
  storeId.copy(aad, 1);
  aad.writeBigUInt64BE(BigInt(index), 1 + storeId.length);
  aad.writeUInt32BE(batchPos, 9 + storeId.length);
  return aad;
}

/**
 * Encodes one record. `batchPos` is the record's position in the write batch it is committed
 * with (0 for the first); recovery uses it to tell a torn final write from damage in the middle.
 * The CRC covers the length, index, batchPos and sealed bytes.
 */
export function encodeRecord(
  sealer: Sealer,
  storeId: Buffer,
  index: number,
  batchPos: number,
  payload: Uint8Array,
): Buffer {
  const sealed = sealer.seal(payload, entryAad(storeId, index, batchPos));
  const record = Buffer.alloc(RECORD_HEADER_BYTES + sealed.length);
  record.writeUInt32BE(sealed.length, 0);
  record.writeBigUInt64BE(BigInt(index), 8);
  record.writeUInt32BE(batchPos, 16);
  sealed.copy(record, RECORD_HEADER_BYTES);
  record.writeUInt32BE(recordCrc(record, 0, record.length), 4);
  return record;
}

function recordCrc(data: Buffer, offset: number, end: number): number {
  return crc32(data.subarray(offset + 8, end), crc32(data.subarray(offset, offset + 4)));
}

/** A record whose framing and checksum are intact (its seal is not checked yet). */
export interface RecordFrame {
  readonly offset: number;
  readonly index: number;
  readonly batchPos: number;
  readonly sealed: Buffer;
  /** Offset just past the record. */
  readonly end: number;
}

/**
 * Reads the record framed at `offset`. Returns the frame when it is complete and its checksum
 * matches, or a sentence saying why not.
 */
export function readFrame(data: Buffer, offset: number): RecordFrame | string {
  const remaining = data.length - offset;
  if (remaining < RECORD_HEADER_BYTES) {
    return `record header truncated (${remaining} of ${RECORD_HEADER_BYTES} bytes present)`;
  }
  const length = data.readUInt32BE(offset);
  if (length > MAX_SEALED_RECORD) return `record length ${length} exceeds the maximum`;
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > data.length) {
    return `record truncated (declares ${length} bytes, ${remaining - RECORD_HEADER_BYTES} present)`;
  }
  if (recordCrc(data, offset, end) !== data.readUInt32BE(offset + 4)) {
    return 'record checksum mismatch';
  }
  const index = data.readBigUInt64BE(offset + 8);
  if (index > BigInt(Number.MAX_SAFE_INTEGER)) return `record index ${index} out of range`;
  return {
    offset,
    index: Number(index),
    batchPos: data.readUInt32BE(offset + 16),
    sealed: data.subarray(offset + RECORD_HEADER_BYTES, end),
    end,
  };
}

/**
 * Quick filter for the recovery scan: could a record of an index in [minIndex, maxIndex] start
 * at `offset`? Checks only length and index fields, so that scanning a damaged tail byte by byte
 * computes a CRC only where the framing is plausible.
 */
export function plausibleFrame(
  data: Buffer,
  offset: number,
  minIndex: number,
  maxIndex: number,
): boolean {
  if (data.length - offset < RECORD_HEADER_BYTES) return false;
  const length = data.readUInt32BE(offset);
  if (length > MAX_SEALED_RECORD || offset + RECORD_HEADER_BYTES + length > data.length) {
    return false;
  }
  const index = data.readBigUInt64BE(offset + 8);
  return index >= BigInt(minIndex) && index <= BigInt(maxIndex);
}
