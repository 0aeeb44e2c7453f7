// The store's manifest: what it knows it wrote (newest snapshot, newest log segment, highest
// durable index), kept in two slots of the `rek` file so that recovery can tell lost files apart.

import { crc32 } from 'node:zlib';

/**
 * What the store knows exists. Every field is a lower bound of the truth on disk at any moment a
 * crash can observe: a claim is recorded only after the files it names are durable, and files
 * are deleted only after a manifest that no longer needs them is durable.
 */
export interface Manifest {
  /** Orders the two slots: the valid slot with the higher sequence is the current one. */
  readonly sequence: number;
  /** Index of the newest snapshot written (0: none). */
  readonly snapshot: number;
  /** First index of the newest log segment, which must exist (0: no segment). */
  readonly segment: number;
  /** Highest index known to be durable (every index up to it was acknowledged or could be). */
  readonly durable: number;
}

/** The `rek` file is three pages: the sealed key, then one slot per page (a torn write spoils one). */
export const PAGE_BYTES = 4096;
export const SLOT_OFFSETS = [PAGE_BYTES, 2 * PAGE_BYTES] as const;
/** Length of a `rek` file that carries the manifest. */
export const MANIFEST_FILE_BYTES = 3 * PAGE_BYTES;
/** slot = storeId(16) ‖ u64 sequence ‖ u64 snapshot ‖ u64 segment ‖ u64 durable ‖ zeros ‖ u32 crc32. */
const SLOT_BYTES = PAGE_BYTES;
const FIELDS_AT = [16, 24, 32, 40] as const;

/** The manifest of a store that has written nothing yet. */
export const EMPTY_MANIFEST: Manifest = { sequence: 0, snapshot: 0, segment: 0, durable: 0 };

/** One slot's bytes: a whole page, every byte covered by its CRC. */
export function encodeSlot(storeId: Buffer, manifest: Manifest): Buffer {
  const slot = Buffer.alloc(SLOT_BYTES);
  storeId.copy(slot, 0);
  const values = [manifest.sequence, manifest.snapshot, manifest.segment, manifest.durable];
  FIELDS_AT.forEach((at, i) => slot.writeBigUInt64BE(BigInt(values[i]!), at));
  slot.writeUInt32BE(crc32(slot.subarray(0, SLOT_BYTES - 4)), SLOT_BYTES - 4);
  return slot;
}

/**
 * The current manifest in `file` (a whole `rek` file): the valid slot with the higher sequence,
 * or null when neither is valid; `damaged` counts the slots that are not (a torn write, or damage).
 */
export function decodeManifest(
  file: Buffer,
  storeId: Buffer,
): { manifest: Manifest | null; damaged: number } {
  let manifest: Manifest | null = null;
  let damaged = 0;
  for (const offset of SLOT_OFFSETS) {
    const slot = decodeSlot(file.subarray(offset, offset + SLOT_BYTES), storeId);
    if (slot === null) damaged += 1;
    else if (manifest === null || slot.sequence > manifest.sequence) manifest = slot;
  }
  return { manifest, damaged };
}

function decodeSlot(slot: Buffer, storeId: Buffer): Manifest | null {
  if (slot.length !== SLOT_BYTES) return null;
  if (crc32(slot.subarray(0, SLOT_BYTES - 4)) !== slot.readUInt32BE(SLOT_BYTES - 4)) return null;
  if (!slot.subarray(0, 16).equals(storeId)) return null;
  const fields = FIELDS_AT.map((at) => slot.readBigUInt64BE(at));
  if (fields.some((value) => value > BigInt(Number.MAX_SAFE_INTEGER))) return null;
  const [sequence, snapshot, segment, durable] = fields.map(Number) as [
    number,
    number,
    number,
    number,
  ];
  return { sequence, snapshot, segment, durable };
}
