// The optional native data-key crypto (native/keyhold_crypto.c): loaded at startup when it was
// built and agrees with node:crypto on a self-test; otherwise SecretKey uses node:crypto.
// KEYHOLD_NATIVE_CRYPTO=0 forces node:crypto (docs/performance.md#native-data-key-crypto).

import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { aeadSeal } from './aead.ts';
import { hchacha20 } from './hchacha20.ts';
import { HmacSha256 } from './hmac-sha256.ts';
import type { KeyType } from './key-type.ts';

/** The signature of {@link NativeCrypto.chainLines}. */
export type ChainLines = (
  lines: Uint8Array,
  inner: Uint8Array,
  outer: Uint8Array,
  prev: Uint8Array,
  seq: number,
  out: Uint8Array,
) => number;

/**
 * The addon's two calls. Both derive the sub-key from the master key and the IV (HMAC-SHA256 for
 * AES256, HChaCha20 for ChaCha20), run the AEAD on a reused per-thread context, wipe the sub-key
 * and keep no key bytes after returning. Wrong argument types or lengths throw TypeError /
 * RangeError; neither call ever crashes the process on bad input.
 */
export interface NativeCrypto {
  /**
   * Seals `plaintext` into `out` (exactly plaintext.length + 44 bytes), whose last 28 bytes must
   * already hold the fresh IV (16) and nonce (12): writes the AEAD ciphertext ‖ tag before them.
   */
  seal(
    algorithm: NativeAlgorithm,
    masterKey: Uint8Array,
    plaintext: Uint8Array,
    associatedData: Uint8Array,
    out: Uint8Array,
  ): void;
  /**
   * Opens `sealed` (ciphertext ‖ 16-byte tag) into `out` (sealed.length − 16 bytes): true when
   * authentic; false, with `out` zeroed, when not.
   */
  open(
    algorithm: NativeAlgorithm,
    masterKey: Uint8Array,
    iv: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    associatedData: Uint8Array,
    out: Uint8Array,
  ): boolean;
  /**
   * The audit chain's batch (src/observe/audit-chain.ts `nextLines`): for each non-empty line of
   * `lines` (UTF-8 JSON object texts separated by newlines) with its closing brace dropped, L,
   * and sequence number N counting up from `seq`, writes L ‖ `,"seq":N` ‖ `,"mac":"<hex>"}` ‖
   * newline into `out`, the MAC being HMAC-SHA256 (RFC 2104) of `prev` ‖ L ‖ `,"seq":N` whose
   * key pads start `inner` (key ⊕ ipad, then room for 96 bytes plus the longest line plus 30)
   * and `outer` (key ⊕ opad). `prev` ends as the last MAC. Returns the bytes written; throws
   * RangeError (changing nothing) when `inner` or `out` is too small. Absent from an addon built
   * before it was added.
   */
  readonly chainLines?: ChainLines;
}

/** The addon's algorithm numbers. */
export type NativeAlgorithm = 0 | 1;

/** The addon's number for a key type. */
export const NATIVE_ALGORITHM: Readonly<Record<KeyType, NativeAlgorithm>> = Object.freeze({
  AES256: 0,
  ChaCha20: 1,
});

/** Which implementation seals and opens data keys in this process, and why. */
export interface DataKeyCryptoInfo {
  readonly backend: 'native' | 'node:crypto';
  /** Why node:crypto is used (empty for native): not built, disabled, failed to load or self-test. */
  readonly reason: string;
}

/**
 * The implementation SecretKey uses: the addon, or null for node:crypto. Set once at load; tests
 * and the crypto benchmark set `native` to null for a while to run the node:crypto path too.
 */
export const dataKeyCrypto: { native: NativeCrypto | null } = { native: null };

/**
 * The addon's {@link NativeCrypto.chainLines} when it loaded and agrees with node:crypto, for the
 * audit chain (src/observe/audit-chain.ts); null: the chain MACs with node:crypto. Tests set it
 * to null for a while to run the node:crypto path too.
 */
export const auditChainNative: { chainLines: ChainLines | null } = { chainLines: null };

/** The path the addon is built to, relative to this file once compiled (dist/src/crypto/). */
const ADDON = fileURLToPath(
  new URL('../../../native/build/Release/keyhold_crypto.node', import.meta.url),
);

/** What loading decided (`dataKeyCrypto.native` may since have been changed by a test). */
export const dataKeyCryptoInfo: DataKeyCryptoInfo = load();

function load(): DataKeyCryptoInfo {
  if (process.env.KEYHOLD_NATIVE_CRYPTO === '0') {
    return { backend: 'node:crypto', reason: 'KEYHOLD_NATIVE_CRYPTO=0' };
  }
  if (!existsSync(ADDON)) {
    return { backend: 'node:crypto', reason: 'native addon not built (npm run build:native)' };
  }
  let addon: NativeCrypto;
  try {
    addon = createRequire(import.meta.url)(ADDON) as NativeCrypto;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { backend: 'node:crypto', reason: `native addon failed to load: ${message}` };
  }
  let agrees: boolean;
  try {
    agrees = selfTest(addon);
  } catch {
    agrees = false;
  }
  if (!agrees) {
    return {
      backend: 'node:crypto',
      reason: 'native addon failed its self-test against node:crypto',
    };
  }
  dataKeyCrypto.native = addon;
  try {
    if (chainSelfTest(addon)) auditChainNative.chainLines = addon.chainLines!.bind(addon);
  } catch {
    // The audit chain then MACs with node:crypto.
  }
  return { backend: 'native', reason: '' };
}

/**
 * Seals with the addon and with node:crypto under a fixed key, IV and nonce (empty and 37-byte
 * plaintexts, with and without associated data, both algorithms) and compares the bytes; opens
 * each ciphertext with the addon, and a tampered one must not open.
 */
export function selfTest(addon: NativeCrypto): boolean {
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const iv = Buffer.from(Array.from({ length: 16 }, (_, i) => 0x20 + i));
  const nonce = Buffer.from(Array.from({ length: 12 }, (_, i) => 0x30 + i));
  for (const type of ['AES256', 'ChaCha20'] as const) {
    const subKey = type === 'AES256' ? new HmacSha256(key).digest(iv) : hchacha20(key, iv);
    for (const length of [0, 37]) {
      for (const aad of [Buffer.alloc(0), Buffer.from('{"bucket":"bucket/object"}')]) {
        const plaintext = Buffer.from(Array.from({ length }, (_, i) => (i * 7) & 0xff));
        const expected = Buffer.concat([aeadSeal(type, subKey, nonce, plaintext, aad), iv, nonce]);
        const out = Buffer.alloc(length + 44);
        iv.copy(out, length + 16);
        nonce.copy(out, length + 32);
        addon.seal(NATIVE_ALGORITHM[type], key, plaintext, aad, out);
        if (!out.equals(expected)) return false;
        const sealed = out.subarray(0, length + 16);
        const opened = Buffer.alloc(length);
        if (!addon.open(NATIVE_ALGORITHM[type], key, iv, nonce, sealed, aad, opened)) return false;
        if (!opened.equals(plaintext)) return false;
        sealed[length] = sealed[length]! ^ 1;
        if (addon.open(NATIVE_ALGORITHM[type], key, iv, nonce, sealed, aad, opened)) return false;
      }
    }
  }
  return true;
}

/**
 * True when the addon has `chainLines` and it writes, for three lines (one empty, one with
 * multi-byte UTF-8, lengths across SHA-256's padding boundaries), the bytes and MACs node:crypto's
 * HMAC-SHA256 gives, starting from sequence number 9 (one more digit at 10).
 */
export function chainSelfTest(addon: NativeCrypto): boolean {
  if (typeof addon.chainLines !== 'function') return false;
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => 0x40 + i));
  const inner = Buffer.alloc(1024);
  const outer = Buffer.alloc(64);
  for (let i = 0; i < 64; i++) {
    inner[i] = (key[i] ?? 0) ^ 0x36;
    outer[i] = (key[i] ?? 0) ^ 0x5c;
  }
  const texts = ['{"a":"' + 'x'.repeat(40) + '"}', '', '{"b":"ä€' + 'y'.repeat(300) + '"}'];
  let prev = Buffer.alloc(32, 0xab);
  const start = Buffer.from(prev);
  let expected = '';
  let seq = 9;
  for (const text of texts) {
    if (text === '') continue;
    const body = `${text.slice(0, -1)},"seq":${seq++}`;
    prev = createHmac('sha256', key).update(prev).update(body).digest();
    expected += `${body},"mac":"${prev.toString('hex')}"}\n`;
  }
  const out = Buffer.alloc(2048);
  const written = addon.chainLines(Buffer.from(texts.join('\n')), inner, outer, start, 9, out);
  return out.toString('utf8', 0, written) === expected && start.equals(prev);
}
