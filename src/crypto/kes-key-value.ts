// KES stored-key values (what a KES keystore holds per key): the current base64-of-protobuf
// KeyVersion (encode + parse) and the legacy JSON forms (parse only).

import { createHash } from 'node:crypto';
import { decodeStdBase64 } from './base64.ts';
import { KeyValueFormatError } from './errors.ts';
import type { KeyType } from './key-type.ts';
import { SECRET_KEY_LENGTH, SecretKey } from './secret-key.ts';

/** A parsed stored key. Legacy JSON values have no HMAC key. */
export interface KesKeyValue {
  readonly key: SecretKey;
  /** 32-byte HMAC-SHA256 key (SECRET), independent of `key`. */
  readonly hmacKey?: Buffer;
  /** Millisecond precision: sub-millisecond nanos of a stored timestamp are dropped. */
  readonly createdAt?: Date;
  /** Identity that created the key. */
  readonly createdBy?: string;
}

const HMAC_KEY_LENGTH = 32;

// KeyVersion.SecretKey.Type and HMACKey.Hash enum values (kes internal/protobuf crypto.proto).
const PROTO_KEY_TYPES: ReadonlyMap<number, KeyType> = new Map([
  [1, 'AES256'],
  [2, 'ChaCha20'],
]);
const PROTO_HASH_SHA256 = 1;

// Legacy JSON `algorithm` values; absent or "" means AES256.
const LEGACY_ALGORITHMS: ReadonlyMap<string, KeyType> = new Map([
  ['', 'AES256'],
  ['AES256-GCM_SHA256', 'AES256'],
  ['XCHACHA20-POLY1305', 'ChaCha20'],
  ['AES256', 'AES256'],
  ['ChaCha20', 'ChaCha20'],
]);

// RFC 3339 as Go's time.Time marshals it (optional fraction, Z or ±hh:mm).
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/** hex(SHA-256(key)[0:16]): the key ID legacy KES recorded in ciphertexts (32 hex characters). */
export function legacyKeyId(keyBytes: Uint8Array): string {
  return createHash('sha256').update(keyBytes).digest().toString('hex', 0, 16);
}

/**
 * Parses a stored key value: legacy JSON if it is a JSON object, otherwise standard base64 of the
 * protobuf KeyVersion. Throws KeyValueFormatError naming the problem (never the key bytes).
 */
export function parseKesKeyValue(value: string | Uint8Array): KesKeyValue {
  const text = typeof value === 'string' ? value : Buffer.from(value).toString('utf8');
  if (text.trimStart().startsWith('{')) return parseLegacyJson(text);
  // Go's base64 decoder skips CR and LF.
  const bytes = decodeStdBase64(text.replace(/[\r\n]/g, ''));
  if (bytes === undefined || bytes.length === 0) {
    throw new KeyValueFormatError('neither JSON nor standard base64');
  }
  try {
    return parseKeyVersion(bytes);
  } finally {
    bytes.fill(0);
  }
}

/**
 * Encodes the current format: std base64 of KeyVersion{SecretKey, HMACKey, CreatedAt, CreatedBy},
 * fields in number order, proto3 defaults omitted, as Go's protobuf marshaller writes them.
 * Requires the HMAC key (upstream refuses to encode a key version without one). The result is SECRET.
 */
export function encodeKesKeyValue(value: KesKeyValue): string {
  const { hmacKey, createdAt, createdBy } = value;
  if (hmacKey?.length !== HMAC_KEY_LENGTH) {
    throw new KeyValueFormatError('an HMAC key of 32 bytes is required');
  }
  const timestamp = createdAt === undefined ? undefined : encodeTimestamp(createdAt);
  const creator = createdBy === undefined || createdBy === '' ? undefined : Buffer.from(createdBy);
  const tail = [
    ...(timestamp === undefined ? [] : [lengthDelimited(3, timestamp)]),
    ...(creator === undefined ? [] : [lengthDelimited(4, creator)]),
  ];
  // Both key messages are 0a 20 <32 bytes> 10 <enum>: 36 bytes, so single-byte lengths.
  const keyMessageLength = 2 + SECRET_KEY_LENGTH + 2;
  const head = 2 * (2 + keyMessageLength);
  // Secret bytes go only into this one unpooled buffer, which is zeroed after base64 encoding.
  const out = Buffer.alloc(head + tail.reduce((sum, part) => sum + part.length, 0));
  const keyBytes = value.key.exportKeyMaterial();
  let pos = 0;
  for (const [number, bytes, enumValue] of [
    [1, keyBytes, value.key.type === 'AES256' ? 1 : 2],
    [2, hmacKey, PROTO_HASH_SHA256],
  ] as const) {
    out[pos++] = (number << 3) | 2;
    out[pos++] = keyMessageLength;
    out[pos++] = (1 << 3) | 2;
    out[pos++] = bytes.length;
    out.set(bytes, pos);
    pos += bytes.length;
    out[pos++] = 2 << 3;
    out[pos++] = enumValue;
  }
  keyBytes.fill(0);
  for (const part of tail) {
    out.set(part, pos);
    pos += part.length;
  }
  const text = out.toString('base64');
  out.fill(0);
  return text;
}

/** google.protobuf.Timestamp{seconds, nanos} with zero fields omitted. */
function encodeTimestamp(date: Date): Buffer {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new KeyValueFormatError('created-at is not a valid date');
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000;
  return Buffer.concat([
    ...(seconds === 0 ? [] : [encodeVarint(1n << 3n), encodeVarint(BigInt(seconds))]),
    ...(nanos === 0 ? [] : [encodeVarint(2n << 3n), encodeVarint(BigInt(nanos))]),
  ]);
}

function parseKeyVersion(bytes: Buffer): KesKeyValue {
  let secret: { key: Buffer; type: KeyType } | undefined;
  let hmacKey: Buffer | undefined;
  let createdAt: Date | undefined;
  let createdBy: string | undefined;
  for (const f of readFields(bytes, 'key version')) {
    if (f.number === 1) secret = parseSecretKey(bytesOf(f, 'secret key'));
    else if (f.number === 2) hmacKey = parseHmacKey(bytesOf(f, 'HMAC key'));
    else if (f.number === 3) createdAt = parseTimestamp(bytesOf(f, 'created-at'));
    else if (f.number === 4) createdBy = utf8Of(bytesOf(f, 'created-by'), 'created-by');
  }
  if (secret === undefined) throw new KeyValueFormatError('secret key is missing');
  try {
    return {
      key: new SecretKey(secret.type, secret.key),
      ...(hmacKey !== undefined ? { hmacKey } : {}),
      ...(createdAt !== undefined ? { createdAt } : {}),
      ...(createdBy !== undefined && createdBy !== '' ? { createdBy } : {}),
    };
  } finally {
    secret.key.fill(0);
  }
}

function parseSecretKey(bytes: Buffer): { key: Buffer; type: KeyType } {
  let key: Buffer | undefined;
  let typeNumber = 0n;
  for (const f of readFields(bytes, 'secret key')) {
    if (f.number === 1) key = bytesOf(f, 'secret key bytes');
    else if (f.number === 2) typeNumber = varintOf(f, 'secret key type');
  }
  if (key?.length !== SECRET_KEY_LENGTH) {
    throw new KeyValueFormatError('secret key must be 32 bytes');
  }
  const type = PROTO_KEY_TYPES.get(Number(BigInt.asUintN(32, typeNumber)));
  if (type === undefined) throw new KeyValueFormatError(`unknown secret key type ${typeNumber}`);
  return { key: Buffer.from(key), type };
}

function parseHmacKey(bytes: Buffer): Buffer {
  let key: Buffer | undefined;
  let hashNumber = 0n;
  for (const f of readFields(bytes, 'HMAC key')) {
    if (f.number === 1) key = bytesOf(f, 'HMAC key bytes');
    else if (f.number === 2) hashNumber = varintOf(f, 'HMAC hash');
  }
  if (key?.length !== HMAC_KEY_LENGTH) throw new KeyValueFormatError('HMAC key must be 32 bytes');
  if (BigInt.asUintN(32, hashNumber) !== BigInt(PROTO_HASH_SHA256)) {
    throw new KeyValueFormatError(`unknown HMAC hash ${hashNumber}`);
  }
  return Buffer.from(key);
}

function parseTimestamp(bytes: Buffer): Date {
  let seconds = 0n;
  let nanos = 0n;
  for (const f of readFields(bytes, 'created-at')) {
    if (f.number === 1) seconds = BigInt.asIntN(64, varintOf(f, 'created-at seconds'));
    else if (f.number === 2) nanos = BigInt.asIntN(32, varintOf(f, 'created-at nanos'));
  }
  if (nanos < 0n || nanos > 999_999_999n) throw new KeyValueFormatError('created-at is invalid');
  const ms = Number(seconds) * 1000 + Math.floor(Number(nanos) / 1_000_000);
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) throw new KeyValueFormatError('created-at is out of range');
  return date;
}

function parseLegacyJson(text: string): KesKeyValue {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new KeyValueFormatError('not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KeyValueFormatError('JSON value is not an object');
  }
  const {
    bytes,
    algorithm,
    created_at: createdAtText,
    created_by: createdBy,
  } = value as Record<string, unknown>;
  if (typeof bytes !== 'string') throw new KeyValueFormatError('"bytes" is missing');
  const keyBytes = decodeStdBase64(bytes);
  if (keyBytes === undefined) throw new KeyValueFormatError('"bytes" is not standard base64');
  let type: KeyType | undefined;
  let createdAt: Date | undefined;
  try {
    if (keyBytes.length !== SECRET_KEY_LENGTH) {
      throw new KeyValueFormatError('"bytes" must decode to 32 bytes');
    }
    if (algorithm === undefined || algorithm === null) type = 'AES256';
    else if (typeof algorithm === 'string') type = LEGACY_ALGORITHMS.get(algorithm);
    if (type === undefined) throw new KeyValueFormatError('"algorithm" is not a known algorithm');
    if (createdAtText !== undefined && createdAtText !== null) {
      if (typeof createdAtText !== 'string' || !RFC3339.test(createdAtText)) {
        throw new KeyValueFormatError('"created_at" is not an RFC 3339 time');
      }
      createdAt = new Date(createdAtText);
      if (Number.isNaN(createdAt.getTime())) {
        throw new KeyValueFormatError('"created_at" is not an RFC 3339 time');
      }
    }
    if (createdBy !== undefined && createdBy !== null && typeof createdBy !== 'string') {
      throw new KeyValueFormatError('"created_by" is not a string');
    }
    return {
      key: new SecretKey(type, keyBytes),
      ...(createdAt !== undefined ? { createdAt } : {}),
      ...(typeof createdBy === 'string' && createdBy !== '' ? { createdBy } : {}),
    };
  } finally {
    keyBytes.fill(0);
  }
}

// --- minimal protobuf wire format (varint and length-delimited; others skipped) ---

interface WireField {
  readonly number: number;
  readonly wireType: number;
  readonly varint: bigint;
  readonly bytes: Buffer | undefined;
}

function readFields(bytes: Buffer, what: string): WireField[] {
  const fields: WireField[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = bytes[pos++];
      if (b === undefined) throw new KeyValueFormatError(`${what} is truncated`);
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, result);
    }
    throw new KeyValueFormatError(`${what} has an overlong varint`);
  };
  while (pos < bytes.length) {
    const tag = varint();
    const number = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    if (number === 0 || number > 0x1fffffff) {
      throw new KeyValueFormatError(`${what} has an invalid field number`);
    }
    if (wireType === 0) {
      fields.push({ number, wireType, varint: varint(), bytes: undefined });
    } else if (wireType === 2) {
      const length = varint();
      if (length > BigInt(bytes.length - pos))
        throw new KeyValueFormatError(`${what} is truncated`);
      const end = pos + Number(length);
      fields.push({ number, wireType, varint: 0n, bytes: bytes.subarray(pos, end) });
      pos = end;
    } else if (wireType === 1 || wireType === 5) {
      pos += wireType === 1 ? 8 : 4;
      if (pos > bytes.length) throw new KeyValueFormatError(`${what} is truncated`);
    } else {
      throw new KeyValueFormatError(`${what} has an unsupported wire type ${wireType}`);
    }
  }
  return fields;
}

function bytesOf(f: WireField, what: string): Buffer {
  if (f.bytes === undefined) throw new KeyValueFormatError(`${what} has the wrong wire type`);
  return f.bytes;
}

function varintOf(f: WireField, what: string): bigint {
  if (f.wireType !== 0) throw new KeyValueFormatError(`${what} has the wrong wire type`);
  return f.varint;
}

function utf8Of(bytes: Buffer, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new KeyValueFormatError(`${what} is not valid UTF-8`);
  }
}

function encodeVarint(value: bigint): Buffer {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

function lengthDelimited(number: number, payload: Buffer): Buffer {
  return Buffer.concat([
    encodeVarint(BigInt((number << 3) | 2)),
    encodeVarint(BigInt(payload.length)),
    payload,
  ]);
}
