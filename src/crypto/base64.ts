// Strict standard base64 (RFC 4648 §4, with padding) as Go's encoding/base64.StdEncoding reads it;
// Buffer.from(s, 'base64') silently skips invalid characters, which would hide corrupt input.

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes padded standard base64. Returns undefined for any other text (URL alphabet, missing
 * padding, stray characters). Like Go's non-strict decoder, non-zero trailing bits are accepted.
 */
export function decodeStdBase64(text: string): Buffer | undefined {
  if (!STD_BASE64.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}

/** Each byte's value as a base64 digit of the standard alphabet, -1 for any other byte. */
const DIGITS = new Int8Array(256).fill(-1);
const STD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
for (let i = 0; i < STD_ALPHABET.length; i++) DIGITS[STD_ALPHABET.charCodeAt(i)] = i;
const PAD = 0x3d;
/**
 * The 12 bits two base64 digits stand for, by the two bytes (`first << 8 | second`); -1 when
 * either is not a digit of the standard alphabet. Two lookups per group of four digits instead
 * of four (128 KiB, made once).
 */
const DIGIT_PAIRS = new Int16Array(65536).fill(-1);
for (let i = 0; i < 64; i++) {
  for (let j = 0; j < 64; j++) {
    DIGIT_PAIRS[(STD_ALPHABET.charCodeAt(i) << 8) | STD_ALPHABET.charCodeAt(j)] = (i << 6) | j;
  }
}

/**
 * {@link decodeStdBase64} of the ASCII text in `bytes[start, end)`, read straight from the bytes
 * (no string made first): the same bytes for the same text, undefined for any text it refuses.
 */
export function decodeStdBase64Bytes(
  bytes: Uint8Array,
  start: number,
  end: number,
): Buffer | undefined {
  const length = end - start;
  if (length % 4 !== 0) return undefined;
  if (length === 0) return Buffer.alloc(0);
  const pad = bytes[end - 1] !== PAD ? 0 : bytes[end - 2] !== PAD ? 1 : 2;
  const out = Buffer.allocUnsafe((length / 4) * 3 - pad);
  const full = pad === 0 ? end : end - 4;
  let o = 0;
  for (let i = start; i < full; i += 4) {
    const high = DIGIT_PAIRS[(bytes[i]! << 8) | bytes[i + 1]!]!;
    const low = DIGIT_PAIRS[(bytes[i + 2]! << 8) | bytes[i + 3]!]!;
    if ((high | low) < 0) return undefined;
    const v = (high << 12) | low;
    out[o] = v >> 16;
    out[o + 1] = v >> 8;
    out[o + 2] = v;
    o += 3;
  }
  if (pad > 0) {
    // The last group: two digits and `==`, or three and `=` (non-zero trailing bits accepted).
    const a = DIGITS[bytes[full]!]!;
    const b = DIGITS[bytes[full + 1]!]!;
    if ((a | b) < 0) return undefined;
    out[o] = (a << 2) | (b >> 4);
    if (pad === 1) {
      const c = DIGITS[bytes[full + 2]!]!;
      if (c < 0) return undefined;
      out[o + 1] = ((b & 15) << 4) | (c >> 2);
    }
  }
  return out;
}

const ALPHABET = Buffer.from(STD_ALPHABET, 'latin1');
/** The two digits of each 12-bit value, first in the high byte: two lookups per three bytes. */
const DIGIT_PAIR_TEXT = new Uint16Array(4096);
for (let v = 0; v < 4096; v++) DIGIT_PAIR_TEXT[v] = (ALPHABET[v >> 6]! << 8) | ALPHABET[v & 63]!;

/** Length of the padded standard base64 of `n` bytes. */
export function stdBase64Length(n: number): number {
  return Math.ceil(n / 3) * 4;
}

/**
 * Writes the padded standard base64 of `src` into `out` at `offset` (the same text as
 * `src.toString('base64')`, as bytes, without a string in between: a data key's base64 is never
 * a string no one can wipe). Returns the offset after it; `out` must have room
 * ({@link stdBase64Length}).
 */
export function encodeStdBase64Into(src: Uint8Array, out: Uint8Array, offset: number): number {
  const n = src.length;
  let o = offset;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (src[i]! << 16) | (src[i + 1]! << 8) | src[i + 2]!;
    const high = DIGIT_PAIR_TEXT[v >> 12]!;
    const low = DIGIT_PAIR_TEXT[v & 4095]!;
    out[o] = high >> 8;
    out[o + 1] = high;
    out[o + 2] = low >> 8;
    out[o + 3] = low;
    o += 4;
  }
  if (i < n) {
    const a = src[i]!;
    const b = i + 1 < n ? src[i + 1]! : 0;
    out[o++] = ALPHABET[a >> 2]!;
    out[o++] = ALPHABET[((a & 3) << 4) | (b >> 4)]!;
    out[o++] = i + 1 < n ? ALPHABET[(b & 15) << 2]! : PAD;
    out[o++] = PAD;
  }
  return o;
}
