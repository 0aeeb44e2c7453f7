// HChaCha20 (draft-irtf-cfrg-xchacha §2.2), the sub-key function of KES's ChaCha20 keys. Node has no
// hchacha20 cipher, so it is recovered from the raw OpenSSL chacha20 keystream (see below).

import { createCipheriv } from 'node:crypto';

// "expand 32-byte k" as little-endian words.
const SIGMA0 = 0x61707865;
const SIGMA1 = 0x3320646e;
const SIGMA2 = 0x79622d32;
const SIGMA3 = 0x6b206574;
const ZERO_BLOCK = Buffer.alloc(64);

/**
 * HChaCha20(key, nonce) → 32 bytes, written to `out` (a new Buffer if omitted).
 *
 * OpenSSL's `chacha20` takes a 16-byte IV = block counter word ‖ 96-bit nonce, i.e. exactly state
 * words 12..15, which is where HChaCha20 puts its 16-byte nonce. Keystream block 0 is then
 * rounds(state) + state, and HChaCha20 is rounds(state) at words 0..3 and 12..15, so subtracting
 * the known input words (sigma, nonce) from the keystream gives the result.
 */
export function hchacha20(key: Uint8Array, nonce: Uint8Array, out?: Buffer): Buffer {
  if (key.length !== 32) throw new RangeError('HChaCha20 key must be 32 bytes');
  if (nonce.length !== 16) throw new RangeError('HChaCha20 nonce must be 16 bytes');
  const result = out ?? Buffer.allocUnsafe(32);
  if (result.length < 32) throw new RangeError('HChaCha20 output must hold 32 bytes');
  const ks = createCipheriv('chacha20', key, nonce).update(ZERO_BLOCK);
  const n = Buffer.from(nonce.buffer, nonce.byteOffset, 16);
  result.writeUInt32LE((ks.readUInt32LE(0) - SIGMA0) >>> 0, 0);
  result.writeUInt32LE((ks.readUInt32LE(4) - SIGMA1) >>> 0, 4);
  result.writeUInt32LE((ks.readUInt32LE(8) - SIGMA2) >>> 0, 8);
  result.writeUInt32LE((ks.readUInt32LE(12) - SIGMA3) >>> 0, 12);
  result.writeUInt32LE((ks.readUInt32LE(48) - n.readUInt32LE(0)) >>> 0, 16);
  result.writeUInt32LE((ks.readUInt32LE(52) - n.readUInt32LE(4)) >>> 0, 20);
  result.writeUInt32LE((ks.readUInt32LE(56) - n.readUInt32LE(8)) >>> 0, 24);
  result.writeUInt32LE((ks.readUInt32LE(60) - n.readUInt32LE(12)) >>> 0, 28);
  ks.fill(0);
  return result;
}
