// Fast codecs for the messages of the high-volume commands (KEY:GENERATE, KEY:ENCRYPT,
// KEY:DECRYPT, KEY:MAC): flat messages whose fields are only uint32, string and bytes. Decoding
// them with the generated codecs (a reader, a validation pass and a fresh defaults object per
// frame) and encoding them one buffer per message, then copying into the body, was ~19 % of a
// worker's time under batched KEY:GENERATE (node --cpu-prof). These write every frame of a reply
// straight into one buffer and read a frame in one pass.
//
// The decoder only takes the common, unambiguous case — known fields with their proper wire
// type, ASCII strings, 32-bit varints of at most five bytes, in-bounds lengths, and unknown
// fields of wire types 0, 1, 2 and 5 — and gives up (undefined) on anything else, so the caller
// falls back to the generated codec, which decides and words the error. Where it answers, it
// answers exactly as the generated codec would (flat-codec.test.ts compares them on random
// messages and random bytes).

import {
  DecryptRequest,
  EncryptRequest,
  GenerateKeyRequest,
  MACRequest,
} from './pb/keyhold/kms/v1/request.ts';
import {
  DecryptResponse,
  EncryptResponse,
  GenerateKeyResponse,
  MACResponse,
} from './pb/keyhold/kms/v1/response.ts';
import { FRAME_HEADER_SIZE } from './frame.ts';
import type { MessageCodec } from './message-codec.ts';
import { answerTooLarge } from './wire-error.ts';

type Kind = 'uint32' | 'string' | 'bytes';

/** One field of a flat message: its number, its kind and the generated type's property. */
type Field = readonly [no: number, kind: Kind, property: string];

type Message = Record<string, unknown>;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** Shared zero-length value for absent bytes fields (nobody writes into a zero-length Buffer). */
const NO_BYTES = Buffer.alloc(0);

/** A flat message type: a decoder that may decline, a size function and an in-place encoder. */
export class FlatCodec {
  /** Fields by number (sparse; the numbers are small). */
  readonly #byNumber: (Field | undefined)[] = [];
  // The fields in ascending number order, as the generated encoders write them, as parallel
  // arrays: size() and write() run per answer, and an indexed loop over them costs less than
  // destructuring a tuple per field.
  /** Tag byte of each field. */
  readonly #tags: readonly number[];
  /** Kind of each field: 0 uint32, 1 string, 2 bytes. */
  readonly #kinds: readonly number[];
  /** Property of each field in the generated type. */
  readonly #properties: readonly string[];
  readonly #defaults: () => Message;

  constructor(fields: readonly Field[], defaults: () => Message) {
    const sorted = [...fields].sort((a, b) => a[0] - b[0]);
    this.#tags = sorted.map(
      ([no, kind]) => (no << 3) | (kind === 'uint32' ? WIRE_VARINT : WIRE_LEN),
    );
    this.#kinds = sorted.map(([, kind]) => KIND_CODE[kind]);
    this.#properties = sorted.map(([, , property]) => property);
    for (const field of fields) this.#byNumber[field[0]] = field;
    this.#defaults = defaults;
  }

  /**
   * Decodes `bytes[start, end)`, or returns undefined when the bytes are anything but the common
   * well-formed case (the generated codec then decides). Bytes fields are copies.
   */
  tryDecode(bytes: Buffer, start: number, end: number): Message | undefined {
    const message = this.#defaults();
    let pos = start;
    while (pos < end) {
      const tag = bytes[pos++]!;
      // Multi-byte tags (field numbers above 15) are never known fields here: let the generated
      // codec handle them.
      if (tag & 0x80) return undefined;
      const no = tag >>> 3;
      const wire = tag & 7;
      if (no === 0) return undefined;
      const field = this.#byNumber[no];
      if (field !== undefined && wire === (field[1] === 'uint32' ? WIRE_VARINT : WIRE_LEN)) {
        if (wire === WIRE_VARINT) {
          const value = readUint32(bytes, pos, end);
          if (value < 0) return undefined;
          pos = varintEnd(bytes, pos);
          message[field[2]] = value;
          continue;
        }
        const length = readUint32(bytes, pos, end);
        if (length < 0) return undefined;
        pos = varintEnd(bytes, pos);
        if (length > end - pos) return undefined;
        if (field[1] === 'string') {
          const text = asciiText(bytes, pos, length);
          if (text === undefined) return undefined;
          message[field[2]] = text;
        } else {
          message[field[2]] = copyBytes(bytes, pos, length);
        }
        pos += length;
        continue;
      }
      // An unknown field, or a known one with another wire type (skipped, as the generated code
      // does): step over it.
      switch (wire) {
        case WIRE_VARINT: {
          let i = pos;
          while (i < end && i - pos < 10 && bytes[i]! & 0x80) i++;
          if (i >= end || i - pos >= 10) return undefined;
          pos = i + 1;
          break;
        }
        case WIRE_I64:
          pos += 8;
          break;
        case WIRE_I32:
          pos += 4;
          break;
        case WIRE_LEN: {
          const length = readUint32(bytes, pos, end);
          if (length < 0) return undefined;
          pos = varintEnd(bytes, pos) + length;
          break;
        }
        default:
          return undefined;
      }
      if (pos > end) return undefined;
    }
    return message;
  }

  /** Encoded size of `message` in bytes. */
  size(message: Message): number {
    const kinds = this.#kinds;
    const properties = this.#properties;
    let size = 0;
    for (let i = 0; i < kinds.length; i++) {
      const value = message[properties[i]!];
      const kind = kinds[i];
      if (kind === UINT32) {
        if (value !== 0) size += 1 + varintSize(checkUint32(value as number));
      } else {
        const length =
          kind === STRING ? Buffer.byteLength(value as string) : (value as Uint8Array).length;
        if (length !== 0) size += 1 + varintSize(length) + length;
      }
    }
    return size;
  }

  /** Writes `message` at `out[offset…]` (room for `size(message)` bytes); returns the new offset. */
  write(message: Message, out: Buffer, offset: number): number {
    const tags = this.#tags;
    const kinds = this.#kinds;
    const properties = this.#properties;
    let pos = offset;
    for (let i = 0; i < kinds.length; i++) {
      const value = message[properties[i]!];
      const kind = kinds[i];
      if (kind === UINT32) {
        if (value === 0) continue;
        out[pos++] = tags[i]!;
        pos = writeVarint(out, pos, value as number);
      } else if (kind === STRING) {
        if (value === '') continue;
        out[pos++] = tags[i]!;
        pos = writeVarint(out, pos, Buffer.byteLength(value as string));
        pos += out.write(value as string, pos, 'utf8');
      } else {
        const bytes = value as Uint8Array;
        if (bytes.length === 0) continue;
        out[pos++] = tags[i]!;
        pos = writeVarint(out, pos, bytes.length);
        out.set(bytes, pos);
        pos += bytes.length;
      }
    }
    return pos;
  }
}

const UINT32 = 0;
const STRING = 1;
const BYTES = 2;
const KIND_CODE: Readonly<Record<Kind, number>> = { uint32: UINT32, string: STRING, bytes: BYTES };

/** Bytes up to this length are copied by a loop rather than a view and Buffer.from. */
const SHORT_COPY = 128;

/** A copy of `bytes[pos, pos + length)` (NO_BYTES when empty). */
function copyBytes(bytes: Buffer, pos: number, length: number): Buffer {
  if (length === 0) return NO_BYTES;
  if (length > SHORT_COPY) return Buffer.from(bytes.subarray(pos, pos + length));
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = bytes[pos + i]!;
  return out;
}

/** The last string decoded (a key name: the same in most requests) and its bytes. */
let lastText = '';
const lastTextBytes = Buffer.alloc(64);

/**
 * `bytes[pos, pos + length)` as text if it is ASCII, else undefined. The last text decoded is
 * reused when the bytes are the same: a client names the same key request after request.
 */
function asciiText(bytes: Buffer, pos: number, length: number): string | undefined {
  let same = length === lastText.length;
  for (let i = 0; i < length; i++) {
    const b = bytes[pos + i]!;
    if (b > 0x7f) return undefined;
    if (same && b !== lastTextBytes[i]) same = false;
  }
  if (same) return lastText;
  const text = bytes.toString('latin1', pos, pos + length);
  if (length <= lastTextBytes.length) {
    bytes.copy(lastTextBytes, 0, pos, pos + length);
    lastText = text;
  }
  return text;
}

/** A varint of at most five bytes holding a uint32 at `bytes[pos]`, or -1 for anything else. */
function readUint32(bytes: Buffer, pos: number, end: number): number {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (pos + i >= end) return -1;
    const b = bytes[pos + i]!;
    if (i === 4) return b > 0x0f ? -1 : value + b * 2 ** 28;
    value |= (b & 0x7f) << (7 * i);
    if (!(b & 0x80)) return value >>> 0;
  }
  return -1;
}

/** Position after the varint at `pos` (already validated by readUint32). */
function varintEnd(bytes: Buffer, pos: number): number {
  while (bytes[pos]! & 0x80) pos++;
  return pos + 1;
}

function varintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

function writeVarint(out: Buffer, pos: number, value: number): number {
  while (value > 0x7f) {
    out[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

function checkUint32(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`invalid uint32: ${value}`);
  }
  return value;
}

const generateKeyRequest = new FlatCodec(
  [
    [1, 'string', 'name'],
    [2, 'uint32', 'version'],
    [3, 'bytes', 'associatedData'],
    [4, 'uint32', 'length'],
  ],
  () => ({ name: '', version: 0, associatedData: NO_BYTES, length: 0 }),
);
const encryptRequest = new FlatCodec(
  [
    [1, 'string', 'name'],
    [2, 'uint32', 'version'],
    [3, 'bytes', 'plaintext'],
    [4, 'bytes', 'associatedData'],
  ],
  () => ({ name: '', version: 0, plaintext: NO_BYTES, associatedData: NO_BYTES }),
);
const decryptRequest = new FlatCodec(
  [
    [1, 'string', 'name'],
    [2, 'uint32', 'version'],
    [3, 'bytes', 'ciphertext'],
    [4, 'bytes', 'associatedData'],
  ],
  () => ({ name: '', version: 0, ciphertext: NO_BYTES, associatedData: NO_BYTES }),
);
const macRequest = new FlatCodec(
  [
    [1, 'string', 'name'],
    [2, 'uint32', 'version'],
    [3, 'bytes', 'message'],
  ],
  () => ({ name: '', version: 0, message: NO_BYTES }),
);
const generateKeyResponse = new FlatCodec(
  [
    [1, 'uint32', 'version'],
    [2, 'bytes', 'plaintext'],
    [3, 'bytes', 'ciphertext'],
  ],
  () => ({ version: 0, plaintext: NO_BYTES, ciphertext: NO_BYTES }),
);
const encryptResponse = new FlatCodec(
  [
    [1, 'uint32', 'version'],
    [2, 'bytes', 'ciphertext'],
  ],
  () => ({ version: 0, ciphertext: NO_BYTES }),
);
const decryptResponse = new FlatCodec([[1, 'bytes', 'plaintext']], () => ({
  plaintext: NO_BYTES,
}));
const macResponse = new FlatCodec(
  [
    [1, 'uint32', 'version'],
    [2, 'bytes', 'mac'],
  ],
  () => ({ version: 0, mac: NO_BYTES }),
);

const FLAT = new Map<unknown, FlatCodec>([
  [GenerateKeyRequest, generateKeyRequest],
  [EncryptRequest, encryptRequest],
  [DecryptRequest, decryptRequest],
  [MACRequest, macRequest],
  [GenerateKeyResponse, generateKeyResponse],
  [EncryptResponse, encryptResponse],
  [DecryptResponse, decryptResponse],
  [MACResponse, macResponse],
]);

/**
 * Encodes one frame per message, all carrying `cmd`, into a single buffer sized up front (the
 * body encodeFrames would make from the generated encoders' output, byte for byte). Throws
 * ANSWER_TOO_LARGE instead of allocating more than `maxBytes`.
 */
export function encodeFlatFrames(
  cmd: number,
  codec: FlatCodec,
  messages: readonly Record<string, unknown>[],
  maxBytes = Infinity,
): Buffer {
  if (messages.length === 1) {
    // One frame (what MinIO asks for): no array of sizes.
    const size = codec.size(messages[0]!);
    if (FRAME_HEADER_SIZE + size > maxBytes) throw answerTooLarge(maxBytes);
    const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + size);
    out.writeUInt16BE(cmd, 0);
    out.writeUInt32BE(size, 2);
    codec.write(messages[0]!, out, FRAME_HEADER_SIZE);
    return out;
  }
  let total = 0;
  const sizes = new Array<number>(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const size = codec.size(messages[i]!);
    sizes[i] = size;
    total += FRAME_HEADER_SIZE + size;
  }
  if (total > maxBytes) throw answerTooLarge(maxBytes);
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < messages.length; i++) {
    out.writeUInt16BE(cmd, pos);
    out.writeUInt32BE(sizes[i]!, pos + 2);
    pos = codec.write(messages[i]!, out, pos + FRAME_HEADER_SIZE);
  }
  return out;
}

/** The flat twin of a generated codec, when the message is one of the hot commands'. */
export function flatCodecOf(codec: MessageCodec<unknown>): FlatCodec | undefined {
  return FLAT.get(codec);
}
