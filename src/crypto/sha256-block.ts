// The SHA-256 compression function (FIPS 180-4 §6.2.2) over a saved state, so that HMAC-SHA256
// can start from its key's precomputed inner and outer states: node:crypto offers no reusable
// HMAC state, and its per-call overhead (~0.8 µs a `hash()`) made the two hashes of every
// ciphertext's sub-key cost twice the two compressions done here. Only 32-bit add, rotate and
// logic operations on the data: no table is indexed by secret bytes (constant time).

const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** The initial state H(0) of SHA-256: never written, only read as the state before a first block. */
export const SHA256_INITIAL_STATE: Int32Array = Int32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

/**
 * Processes one 64-byte block given as 16 big-endian words in `w[0..15]` (`w` has room for 64:
 * the message schedule is expanded in place) on `state`, writing the new state to `out` (which may
 * be `state`). The caller zeroes `w` when it held secret data.
 */
export function sha256Compress(state: Int32Array, w: Int32Array, out: Int32Array): void {
  for (let i = 16; i < 64; i++) {
    const w15 = w[i - 15]!;
    const w2 = w[i - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  let f = state[5]!;
  let g = state[6]!;
  let h = state[7]!;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  out[0] = (state[0]! + a) | 0;
  out[1] = (state[1]! + b) | 0;
  out[2] = (state[2]! + c) | 0;
  out[3] = (state[3]! + d) | 0;
  out[4] = (state[4]! + e) | 0;
  out[5] = (state[5]! + f) | 0;
  out[6] = (state[6]! + g) | 0;
  out[7] = (state[7]! + h) | 0;
}

/**
 * Loads the final block of a message into `w`: `bytes` (at most 55 of them, the rest of the
 * message after `before` bytes already compressed), the 0x80 terminator, zeros and the message's
 * bit length. Returns nothing: `w[0..15]` is ready for {@link sha256Compress}.
 */
export function sha256LastBlock(w: Int32Array, bytes: Uint8Array, before: number): void {
  const n = bytes.length;
  if (n > 55) throw new RangeError('the last SHA-256 block holds at most 55 message bytes');
  w.fill(0, 0, 16);
  for (let i = 0; i < n; i++) w[i >>> 2]! |= bytes[i]! << (24 - 8 * (i & 3));
  w[n >>> 2]! |= 0x80 << (24 - 8 * (n & 3));
  // Messages here are far below 2^32 bits: the high word of the length stays 0.
  w[15] = (before + n) * 8;
}
