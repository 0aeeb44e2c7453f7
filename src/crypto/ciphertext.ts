// Reading the ciphertext formats Keyhold accepts: KES/MinIO raw (sealed ‖ iv ‖ nonce), legacy JSON,
// legacy MessagePack, each optionally behind a textual `v<N>:` version prefix (minkms).

import { AEAD_NONCE_LENGTH, AEAD_TAG_LENGTH } from './aead.ts';
import { decodeStdBase64 } from './base64.ts';
import { NotAuthenticError } from './errors.ts';
import type { KeyType } from './key-type.ts';

/** Length of the sub-key IV that every format carries. */
export const CIPHERTEXT_IV_LENGTH = 16;
/** Bytes a raw ciphertext adds to its plaintext: tag (16) + IV (16) + nonce (12). */
export const CIPHERTEXT_OVERHEAD = AEAD_TAG_LENGTH + CIPHERTEXT_IV_LENGTH + AEAD_NONCE_LENGTH;

/** Which encoding a reading came from. Keyhold only ever writes `raw`. */
export type CiphertextFormat = 'raw' | 'json' | 'msgpack';

/** One interpretation of a ciphertext, ready for AEAD opening. Buffers may view the input. */
export interface Ciphertext {
  readonly format: CiphertextFormat;
  /** Algorithm recorded by a legacy format; absent for raw (the key's own type decides). */
  readonly algorithm?: KeyType;
  /** Legacy key ID (hex) if the ciphertext recorded one; informational only, as upstream. */
  readonly keyId?: string;
  /** N of a `v<N>:` prefix that was stripped. */
  readonly version?: number;
  /** AEAD ciphertext ‖ 16-byte tag (at least 16 bytes). */
  readonly sealed: Buffer;
  /** 16-byte IV for the sub-key derivation. */
  readonly iv: Buffer;
  /** 12-byte AEAD nonce. */
  readonly nonce: Buffer;
}

// Legacy JSON `aead` names (KES ≤ v0.19, MinIO builtin KMS 2020–2024); no other spelling is valid.
const JSON_ALGORITHMS: ReadonlyMap<string, KeyType> = new Map([
  ['AES-256-GCM-HMAC-SHA-256', 'AES256'],
  ['ChaCha20Poly1305', 'ChaCha20'],
]);

// Legacy MessagePack algorithm names (KES v0.20 – 2024-01); upstream's parser also took the new names.
const MSGPACK_ALGORITHMS: ReadonlyMap<string, KeyType> = new Map([
  ['AES256-GCM_SHA256', 'AES256'],
  ['XCHACHA20-POLY1305', 'ChaCha20'],
  ['AES256', 'AES256'],
  ['ChaCha20', 'ChaCha20'],
]);

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Every plausible reading of `input`, in the order to try them; throws NotAuthenticError when
 * there is none (e.g. too short). Dispatch follows KES: first byte 0x95 → MessagePack, `{` → JSON,
 * and if that structure does not parse, the bytes are read as raw. A leading `v<N>:` is stripped
 * for the first reading, and the whole input is offered as a second one, because a raw ciphertext
 * may begin with those bytes by chance (about 1 in 1.7 million) and trial opening is safe under AEAD.
 */
export function parseCiphertext(input: Uint8Array): Ciphertext[] {
  const bytes = Buffer.isBuffer(input)
    ? input
    : Buffer.from(input.buffer, input.byteOffset, input.length);
  const readings: Ciphertext[] = [];
  const prefix = versionPrefix(bytes);
  if (prefix !== undefined) {
    const inner = readStructured(bytes.subarray(prefix.length));
    if (inner !== undefined) readings.push({ ...inner, version: prefix.version });
  }
  const whole = readStructured(bytes);
  if (whole !== undefined) readings.push(whole);
  if (readings.length === 0) throw new NotAuthenticError();
  return readings;
}

/**
 * True when {@link parseCiphertext} reads `bytes` only one way: raw, as a whole (long enough, and
 * a first byte that starts no version prefix and no legacy structure). What every ciphertext
 * Keyhold or KES wrote looks like; SecretKey.open then skips the list of readings.
 */
export function isOnlyRaw(bytes: Uint8Array): boolean {
  const first = bytes[0];
  return bytes.length >= CIPHERTEXT_OVERHEAD && first !== 0x76 && first !== 0x95 && first !== 0x7b;
}

/** Reads one ciphertext without a version prefix: a legacy structure if it parses, else raw. */
function readStructured(bytes: Buffer): Ciphertext | undefined {
  const first = bytes[0];
  if (first === 0x95) {
    const legacy = guard(() => readMsgpack(bytes));
    if (legacy !== undefined) return legacy;
  } else if (first === 0x7b) {
    const legacy = guard(() => readJson(bytes));
    if (legacy !== undefined) return legacy;
  }
  return readRaw(bytes);
}

/** Raw: sealed ‖ iv(16) ‖ nonce(12), the only format Keyhold writes. */
function readRaw(bytes: Buffer): Ciphertext | undefined {
  if (bytes.length < CIPHERTEXT_OVERHEAD) return undefined;
  const ivStart = bytes.length - CIPHERTEXT_IV_LENGTH - AEAD_NONCE_LENGTH;
  const nonceStart = bytes.length - AEAD_NONCE_LENGTH;
  return {
    format: 'raw',
    sealed: bytes.subarray(0, ivStart),
    iv: bytes.subarray(ivStart, nonceStart),
    nonce: bytes.subarray(nonceStart),
  };
}

/** `{"aead":…,"id":…,"iv":b64(16),"nonce":b64(12),"bytes":b64(sealed)}`; `id` optional. */
function readJson(bytes: Buffer): Ciphertext | undefined {
  const value: unknown = JSON.parse(UTF8.decode(bytes));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const { aead, id, iv, nonce, bytes: sealed } = record;
  if (typeof aead !== 'string' || typeof iv !== 'string') return undefined;
  if (typeof nonce !== 'string' || typeof sealed !== 'string') return undefined;
  const algorithm = JSON_ALGORITHMS.get(aead);
  if (algorithm === undefined) return undefined;
  if (id !== undefined && id !== null && typeof id !== 'string') return undefined;
  const ivBytes = decodeStdBase64(iv);
  const nonceBytes = decodeStdBase64(nonce);
  const sealedBytes = decodeStdBase64(sealed);
  if (ivBytes?.length !== CIPHERTEXT_IV_LENGTH || nonceBytes?.length !== AEAD_NONCE_LENGTH) {
    return undefined;
  }
  if (sealedBytes === undefined || sealedBytes.length < AEAD_TAG_LENGTH) return undefined;
  return {
    format: 'json',
    algorithm,
    ...(typeof id === 'string' && id !== '' ? { keyId: id } : {}),
    sealed: sealedBytes,
    iv: ivBytes,
    nonce: nonceBytes,
  };
}

/** fixarray(5): str algorithm, str key ID, bin iv(16), bin nonce(12), bin sealed; nothing after. */
function readMsgpack(bytes: Buffer): Ciphertext | undefined {
  const reader = new MsgpackReader(bytes, 1);
  const name = reader.str();
  const keyId = reader.str();
  const iv = reader.bin();
  const nonce = reader.bin();
  const sealed = reader.bin();
  if (!reader.atEnd()) return undefined;
  const algorithm = MSGPACK_ALGORITHMS.get(name.toString('latin1'));
  if (algorithm === undefined) return undefined;
  if (iv.length !== CIPHERTEXT_IV_LENGTH || nonce.length !== AEAD_NONCE_LENGTH) return undefined;
  if (sealed.length < AEAD_TAG_LENGTH) return undefined;
  return {
    format: 'msgpack',
    algorithm,
    ...(keyId.length > 0 ? { keyId: keyId.toString('latin1') } : {}),
    sealed,
    iv,
    nonce,
  };
}

/** The few MessagePack forms the legacy ciphertext uses; any other byte is a parse failure. */
class MsgpackReader {
  readonly #bytes: Buffer;
  #pos: number;

  constructor(bytes: Buffer, start: number) {
    this.#bytes = bytes;
    this.#pos = start;
  }

  str(): Buffer {
    const lead = this.#u8();
    if (lead >= 0xa0 && lead <= 0xbf) return this.#take(lead & 0x1f);
    if (lead === 0xd9) return this.#take(this.#u8());
    if (lead === 0xda) return this.#take(this.#u16());
    if (lead === 0xdb) return this.#take(this.#u32());
    throw new SyntaxError('expected msgpack str');
  }

  bin(): Buffer {
    const lead = this.#u8();
    if (lead === 0xc4) return this.#take(this.#u8());
    if (lead === 0xc5) return this.#take(this.#u16());
    if (lead === 0xc6) return this.#take(this.#u32());
    throw new SyntaxError('expected msgpack bin');
  }

  atEnd(): boolean {
    return this.#pos === this.#bytes.length;
  }

  #u8(): number {
    return this.#take(1).readUInt8(0);
  }

  #u16(): number {
    return this.#take(2).readUInt16BE(0);
  }

  #u32(): number {
    return this.#take(4).readUInt32BE(0);
  }

  #take(n: number): Buffer {
    const end = this.#pos + n;
    if (end > this.#bytes.length) throw new SyntaxError('truncated msgpack');
    const out = this.#bytes.subarray(this.#pos, end);
    this.#pos = end;
    return out;
  }
}

/** `v` 1–10 decimal digits `:` at the start of the input. */
function versionPrefix(bytes: Buffer): { length: number; version: number } | undefined {
  if (bytes[0] !== 0x76) return undefined;
  let i = 1;
  while (i < bytes.length && i <= 10 && bytes[i]! >= 0x30 && bytes[i]! <= 0x39) i++;
  if (i === 1 || bytes[i] !== 0x3a) return undefined;
  return { length: i + 1, version: Number(bytes.toString('latin1', 1, i)) };
}

/** Runs a structured parser; any exception means "not this format" (upstream: fall back to raw). */
function guard(parse: () => Ciphertext | undefined): Ciphertext | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}
