// Log segment files `log-<firstIndex>.wal`: header codec and the recovery parser that tells a torn
// final write (truncate it) from corruption (refuse, naming the file and byte offset).

import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { corruption } from './errors.ts';
import { checkPrefix, encodePrefix, PREFIX_BYTES, readIndex } from './file-prefix.ts';
import { entryAad, plausibleFrame, readFrame, RECORD_HEADER_BYTES } from './record.ts';
import { STORE_ID_BYTES } from './rek-file.ts';
import type { Sealer } from './sealer.ts';

/** Segment header: prefix ‖ storeId(16) ‖ u64 firstIndex ‖ u32 crc32(storeId ‖ firstIndex). */
export const SEGMENT_HEADER_BYTES = PREFIX_BYTES + STORE_ID_BYTES + 12;
const FIRST_INDEX_AT = PREFIX_BYTES + STORE_ID_BYTES;
const HEADER_CRC_AT = FIRST_INDEX_AT + 8;
/** Smallest possible record: header plus an empty payload sealed with 28 bytes of overhead. */
const MIN_RECORD_BYTES = RECORD_HEADER_BYTES + 28;

const NAME = /^log-(\d{1,20})\.wal$/;

/** File name of the segment whose first record has `firstIndex`. Zero-padded so names sort. */
export function segmentName(firstIndex: number): string {
  return `log-${String(firstIndex).padStart(20, '0')}.wal`;
}

/** The first index encoded in a segment file name, or null when `name` is not a segment. */
export function parseSegmentName(name: string): number | null {
  const match = NAME.exec(name);
  if (!match) return null;
  const value = Number(match[1]);
  return Number.isSafeInteger(value) ? value : null;
}

/** The header of a new segment. */
export function encodeSegmentHeader(storeId: Buffer, firstIndex: number): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  encodePrefix('log').copy(header, 0);
  storeId.copy(header, PREFIX_BYTES);
  header.writeBigUInt64BE(BigInt(firstIndex), FIRST_INDEX_AT);
  header.writeUInt32BE(crc32(header.subarray(PREFIX_BYTES, HEADER_CRC_AT)), HEADER_CRC_AT);
  return header;
}

/** A recovered record: its index, unsealed payload, and where it starts in its file. */
export interface SegmentRecord {
  readonly index: number;
  readonly payload: Buffer;
  readonly offset: number;
}

/** A parsed segment. `torn` is set when its end holds an incomplete final write. */
export interface ParsedSegment {
  readonly path: string;
  readonly firstIndex: number;
  readonly records: SegmentRecord[];
  /** Bytes that hold the header and complete records: the size to truncate to when torn. */
  readonly validBytes: number;
  readonly size: number;
  readonly torn: { readonly offset: number; readonly reason: string } | null;
}

/** What the parser needs besides the bytes. */
export interface SegmentContext {
  readonly dir: string;
  readonly name: string;
  readonly storeId: Buffer;
  readonly sealer: Sealer;
  /** Only the newest segment may end in a torn write: older ones were synced before it began. */
  readonly isLast: boolean;
}

/**
 * Parses and unseals every record of a segment. Records must carry consecutive indexes from the
 * header's first index. Throws `corrupt` (naming the file and offset) for a bad header, a record
 * that fails its checksum or seal, or an index out of sequence. In the newest segment a bad
 * record is a torn write, and parsing stops there, unless a record of a *later* write batch
 * follows it: batches are written only after the previous one is synced, so that would prove
 * the bad record had been acknowledged, and it is reported as corruption instead.
 */
export function parseSegment(data: Buffer, context: SegmentContext): ParsedSegment {
  const path = join(context.dir, context.name);
  checkPrefix('log', data, path);
  if (data.length < SEGMENT_HEADER_BYTES) {
    throw corruption(path, PREFIX_BYTES, `segment header truncated (file is ${data.length} bytes)`);
  }
  if (crc32(data.subarray(PREFIX_BYTES, HEADER_CRC_AT)) !== data.readUInt32BE(HEADER_CRC_AT)) {
    throw corruption(path, PREFIX_BYTES, 'segment header checksum mismatch');
  }
  if (!data.subarray(PREFIX_BYTES, FIRST_INDEX_AT).equals(context.storeId)) {
    throw corruption(path, PREFIX_BYTES, 'segment belongs to another store (store id differs)');
  }
  const firstIndex = readIndex(data, FIRST_INDEX_AT, path, 'first index');
  if (firstIndex < 1 || parseSegmentName(context.name) !== firstIndex) {
    throw corruption(
      path,
      FIRST_INDEX_AT,
      `header says the first index is ${firstIndex}, which does not match the file name`,
    );
  }

  const records: SegmentRecord[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  let expected = firstIndex;
  while (offset < data.length) {
    const frame = readFrame(data, offset);
    if (typeof frame === 'string') {
      if (!context.isLast) throw corruption(path, offset, frame);
      const later = findLaterBatch(data, offset, expected, context);
      if (later !== null) {
        throw corruption(
          path,
          offset,
          `${frame}, but an intact later write (record ${later.index} at byte ${later.offset}) ` +
            'follows it, so this is damage, not a torn write',
        );
      }
      return {
        path,
        firstIndex,
        records,
        validBytes: offset,
        size: data.length,
        torn: { offset, reason: frame },
      };
    }
    if (frame.index !== expected) {
      throw corruption(path, offset, `expected record index ${expected}, found ${frame.index}`);
    }
    let payload: Buffer;
    try {
      payload = context.sealer.open(
        frame.sealed,
        entryAad(context.storeId, frame.index, frame.batchPos),
      );
    } catch {
      throw corruption(
        path,
        offset,
        `record ${frame.index} has a valid checksum but fails authentication (tampered, or ` +
          'written under another root key)',
      );
    }
    records.push({ index: frame.index, payload, offset });
    offset = frame.end;
    expected += 1;
  }
  return { path, firstIndex, records, validBytes: offset, size: data.length, torn: null };
}

/**
 * Looks past a bad record at `from` (which should hold index `expected`) for an authentic record
 * that belongs to a later write batch (its batch began after `expected`). Records of the same
 * batch may legitimately survive a torn write (pages reach the disk in any order) and prove
 * nothing.
 */
function findLaterBatch(
  data: Buffer,
  from: number,
  expected: number,
  context: SegmentContext,
): { index: number; offset: number } | null {
  const maxIndex = expected + Math.ceil((data.length - from) / MIN_RECORD_BYTES);
  for (let offset = from + 1; offset + MIN_RECORD_BYTES <= data.length; offset++) {
    if (!plausibleFrame(data, offset, expected + 1, maxIndex)) continue;
    const frame = readFrame(data, offset);
    if (typeof frame === 'string') continue;
    if (frame.batchPos > frame.index - 1 || frame.index - frame.batchPos <= expected) continue;
    try {
      context.sealer
        .open(frame.sealed, entryAad(context.storeId, frame.index, frame.batchPos))
        .fill(0);
    } catch {
      continue;
    }
    return { index: frame.index, offset };
  }
  return null;
}
