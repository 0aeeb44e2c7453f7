// API keys: a 32-byte Ed25519 seed written as `k1:` + base64url (KMS API, aead.dev/mtls) or
// `kes:v1:` + base64(0x00 || seed) (KES API), or an ECDSA private scalar written as `k2:` +
// base64url (aead.dev/mtls; 32, 48 or 66 bytes for P-256, P-384, P-521). The key's identity is
// the SHA-256 of its SubjectPublicKeyInfo. The secret never appears in errors, inspect output
// or JSON.
import { Buffer } from 'node:buffer';
import {
  type KeyObject,
  createECDH,
  createPrivateKey,
  createPublicKey,
  randomFillSync,
  timingSafeEqual,
} from 'node:crypto';
import { inspect } from 'node:util';
import { type Identity, identityOfSpki } from './identity.ts';

/** Text that is not a usable API key. The message never contains the key material. */
export class InvalidApiKeyError extends Error {
  override readonly name = 'InvalidApiKeyError';
}

/** The text form an API key was read from, or should be written in by default. */
export type ApiKeyFormat = 'k1' | 'kes' | 'k2';

const K1_PREFIX = 'k1:';
const K2_PREFIX = 'k2:';
const KES_PREFIX = 'kes:v1:';
const SEED_LENGTH = 32;
/** `k2:` scalar length → curve (OpenSSL name, JWK name), as aead.dev/mtls reads them. */
const K2_CURVES = new Map([
  [32, { openssl: 'prime256v1', jwk: 'P-256' }],
  [48, { openssl: 'secp384r1', jwk: 'P-384' }],
  [66, { openssl: 'secp521r1', jwk: 'P-521' }],
]);
// PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410) up to the 32-byte seed.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * An API key: Ed25519 (`k1:`, `kes:v1:`) or ECDSA (`k2:`). Immutable; create with
 * {@link parseApiKey}, {@link ApiKey.generate}, {@link ApiKey.fromSeed},
 * {@link ApiKey.fromEcdsaScalar} or {@link ApiKey.fromPrivateKey}.
 */
export class ApiKey {
  /** The form used by `toText()` (where it was parsed from, or chosen at creation). */
  readonly format: ApiKeyFormat;
  /** The Ed25519 seed, or the ECDSA private scalar (`k2:`). */
  readonly #secret: Buffer;
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #identity: Identity;

  private constructor(secret: Uint8Array, format: ApiKeyFormat) {
    this.format = format;
    this.#secret = Buffer.alloc(secret.length); // unpooled: not inside a shared slab
    this.#secret.set(secret);
    this.#privateKey = format === 'k2' ? ecdsaKey(this.#secret) : ed25519Key(this.#secret);
    this.#publicKey = createPublicKey(this.#privateKey);
    this.#identity = identityOfSpki(this.#publicKey.export({ type: 'spki', format: 'der' }));
  }

  /** A new random key. */
  static generate(format: 'k1' | 'kes' = 'k1'): ApiKey {
    const seed = randomFillSync(Buffer.alloc(SEED_LENGTH));
    try {
      return new ApiKey(seed, format);
    } finally {
      seed.fill(0);
    }
  }

  /** The key for a 32-byte Ed25519 seed (copied; the caller may wipe its buffer). */
  static fromSeed(seed: Uint8Array, format: 'k1' | 'kes' = 'k1'): ApiKey {
    return new ApiKey(seed, format);
  }

  /**
   * The `k2:` key for an ECDSA private scalar of 32, 48 or 66 bytes (P-256, P-384, P-521;
   * copied). Throws InvalidApiKeyError for another length or a scalar outside the curve's range.
   */
  static fromEcdsaScalar(scalar: Uint8Array): ApiKey {
    return new ApiKey(scalar, 'k2');
  }

  /** The API key of an Ed25519 private key (as `kes identity <key.pem>` does). */
  static fromPrivateKey(key: KeyObject, format: 'k1' | 'kes' = 'kes'): ApiKey {
    if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
      throw new InvalidApiKeyError(
        `only an Ed25519 private key has an API key, got a ${key.asymmetricKeyType ?? key.type} ${key.type} key`,
      );
    }
    const { d } = key.export({ format: 'jwk' });
    if (d === undefined) throw new InvalidApiKeyError('the Ed25519 key did not export its seed');
    const seed = Buffer.from(d, 'base64url');
    try {
      return new ApiKey(seed, format);
    } finally {
      seed.fill(0);
    }
  }

  /** SHA-256 of the public key's SPKI (for Ed25519: `302a300506032b6570032100 || publicKey`). */
  get identity(): Identity {
    return this.#identity;
  }

  /** The private key (Ed25519, or ECDSA for `k2:`), for signing and TLS. */
  get privateKey(): KeyObject {
    return this.#privateKey;
  }

  /** The public key. */
  get publicKey(): KeyObject {
    return this.#publicKey;
  }

  /** `k1:` + base64url without padding of the seed (46 characters). Secret. Ed25519 only. */
  toK1(): string {
    return K1_PREFIX + this.#ed25519Seed().toString('base64url');
  }

  /** `kes:v1:` + standard base64 of `0x00 || seed` (51 characters). Secret. Ed25519 only. */
  toKes(): string {
    return KES_PREFIX + Buffer.concat([Buffer.of(0), this.#ed25519Seed()]).toString('base64');
  }

  /** `k2:` + base64url without padding of the ECDSA scalar. Secret. ECDSA only. */
  toK2(): string {
    if (this.format !== 'k2') throw new TypeError('an Ed25519 API key has no k2: form');
    return K2_PREFIX + this.#secret.toString('base64url');
  }

  /** The secret text in this key's `format`. */
  toText(): string {
    switch (this.format) {
      case 'k1':
        return this.toK1();
      case 'k2':
        return this.toK2();
      case 'kes':
        return this.toKes();
    }
  }

  /** Same algorithm and secret, compared in constant time. */
  equals(other: ApiKey): boolean {
    return (
      (this.format === 'k2') === (other.format === 'k2') &&
      this.#secret.length === other.#secret.length &&
      timingSafeEqual(this.#secret, other.#secret)
    );
  }

  /** Redacted: names the identity, never the key. Use `toText()` for the secret. */
  toString(): string {
    return `ApiKey(${this.#identity.format(this.format === 'kes' ? 'hex' : 'h1')})`;
  }

  /** Redacted, like `toString()`, so a key that reaches JSON does not leak. */
  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }

  #ed25519Seed(): Buffer {
    if (this.format === 'k2') {
      throw new TypeError("a 'k2:' (ECDSA) API key has no 'k1:' or 'kes:v1:' form");
    }
    return this.#secret;
  }
}

function ed25519Key(seed: Buffer): KeyObject {
  if (seed.length !== SEED_LENGTH) {
    throw new InvalidApiKeyError(
      `an API key seed must be ${SEED_LENGTH} bytes, got ${seed.length}`,
    );
  }
  const pkcs8 = Buffer.concat([PKCS8_ED25519_PREFIX, seed]);
  try {
    return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  } finally {
    pkcs8.fill(0);
  }
}

/** The ECDSA private key for a `k2:` scalar: its length names the curve; 0 < scalar < n. */
function ecdsaKey(scalar: Buffer): KeyObject {
  const curve = K2_CURVES.get(scalar.length);
  if (curve === undefined) {
    throw new InvalidApiKeyError(
      `invalid API key: a 'k2:' key must hold a 32, 48 or 66-byte ECDSA scalar (P-256, P-384, P-521), got ${scalar.length} bytes`,
    );
  }
  let point: Buffer;
  try {
    // ECDH computes the public point and refuses a scalar outside [1, n-1].
    const ecdh = createECDH(curve.openssl);
    ecdh.setPrivateKey(scalar);
    point = ecdh.getPublicKey();
  } catch {
    throw new InvalidApiKeyError(`invalid API key: not a valid ${curve.jwk} private key`);
  }
  const half = (point.length - 1) / 2;
  return createPrivateKey({
    key: {
      kty: 'EC',
      crv: curve.jwk,
      x: point.subarray(1, 1 + half).toString('base64url'),
      y: point.subarray(1 + half).toString('base64url'),
      d: scalar.toString('base64url'),
    },
    format: 'jwk',
  });
}

/**
 * Parses `k1:…` (base64url, no padding, 32 bytes) or the KES form `kes:v1:…` (standard
 * base64 of 33 bytes: type 0x00 then the seed; the prefix is optional, as upstream trims it
 * if present), or `k2:…` (base64url, no padding, an ECDSA scalar of 32, 48 or 66 bytes). KES-form
 * failures carry the upstream messages `kes: invalid API key: invalid length` and
 * `kes: invalid API key: unsupported type`.
 */
export function parseApiKey(text: string): ApiKey {
  if (/\s/.test(text)) {
    throw new InvalidApiKeyError('invalid API key: contains whitespace (a trailing newline?)');
  }
  if (text.startsWith(K1_PREFIX)) {
    const body = text.slice(K1_PREFIX.length);
    if (!/^[A-Za-z0-9_-]{43}$/.test(body)) {
      throw new InvalidApiKeyError(
        `invalid API key: 'k1:' must be followed by 43 base64url characters (A-Z a-z 0-9 - _), got ${body.length} characters` +
          (body.length === 43 ? ' including characters outside that alphabet' : ''),
      );
    }
    return decodeSeed(Buffer.from(body, 'base64url'), 'k1');
  }
  if (text.startsWith(K2_PREFIX)) {
    const body = text.slice(K2_PREFIX.length);
    if (!/^[A-Za-z0-9_-]+$/.test(body) || body.length % 4 === 1) {
      throw new InvalidApiKeyError(
        "invalid API key: 'k2:' must be followed by base64url characters (A-Z a-z 0-9 - _) without padding",
      );
    }
    const scalar = Buffer.from(body, 'base64url');
    try {
      if (scalar.toString('base64url') !== body) {
        throw new InvalidApiKeyError("invalid API key: 'k2:' is not canonical base64url");
      }
      return ApiKey.fromEcdsaScalar(scalar);
    } finally {
      scalar.fill(0);
    }
  }
  const other = /^(k\d+):/.exec(text);
  if (other !== null) {
    throw new InvalidApiKeyError(`invalid API key: unsupported type '${other[1]!}:'`);
  }
  if (/^h1:/.test(text) || /^[0-9a-f]{64}$/.test(text)) {
    throw new InvalidApiKeyError('invalid API key: this is an identity, not an API key');
  }
  const body = text.startsWith(KES_PREFIX) ? text.slice(KES_PREFIX.length) : text;
  if (body.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(body)) {
    throw new InvalidApiKeyError('kes: invalid API key: not standard base64');
  }
  const bytes = Buffer.from(body, 'base64');
  try {
    if (bytes.length !== SEED_LENGTH + 1) {
      throw new InvalidApiKeyError('kes: invalid API key: invalid length');
    }
    if (bytes[0] !== 0) throw new InvalidApiKeyError('kes: invalid API key: unsupported type');
    return ApiKey.fromSeed(bytes.subarray(1), 'kes');
  } finally {
    bytes.fill(0);
  }
}

function decodeSeed(seed: Buffer, format: 'k1' | 'kes'): ApiKey {
  try {
    return ApiKey.fromSeed(seed, format);
  } finally {
    seed.fill(0);
  }
}
