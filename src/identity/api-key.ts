// API keys: a 32-byte Ed25519 seed written as `k1:` + base64url (KMS API, aead.dev/mtls) or
// `kes:v1:` + base64(0x00 || seed) (KES API). The key's identity is the SHA-256 of its
// Ed25519 SubjectPublicKeyInfo. The seed never appears in errors, inspect output or JSON.
import { Buffer } from 'node:buffer';
import {
  type KeyObject,
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
export type ApiKeyFormat = 'k1' | 'kes';

const K1_PREFIX = 'k1:';
const KES_PREFIX = 'kes:v1:';
const SEED_LENGTH = 32;
// PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410) up to the 32-byte seed.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * An Ed25519 API key. Immutable; create with {@link parseApiKey}, {@link ApiKey.generate},
 * {@link ApiKey.fromSeed} or {@link ApiKey.fromPrivateKey}.
 */
export class ApiKey {
  /** The form used by `toText()` (where it was parsed from, or chosen at creation). */
  readonly format: ApiKeyFormat;
  readonly #seed: Buffer;
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #identity: Identity;

  private constructor(seed: Uint8Array, format: ApiKeyFormat) {
    if (seed.length !== SEED_LENGTH) {
      throw new InvalidApiKeyError(
        `an API key seed must be ${SEED_LENGTH} bytes, got ${seed.length}`,
      );
    }
    this.format = format;
    this.#seed = Buffer.alloc(SEED_LENGTH); // unpooled: not inside a shared slab
    this.#seed.set(seed);
    const pkcs8 = Buffer.concat([PKCS8_ED25519_PREFIX, this.#seed]);
    try {
      this.#privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    } finally {
      pkcs8.fill(0);
    }
    this.#publicKey = createPublicKey(this.#privateKey);
    this.#identity = identityOfSpki(this.#publicKey.export({ type: 'spki', format: 'der' }));
  }

  /** A new random key. */
  static generate(format: ApiKeyFormat = 'k1'): ApiKey {
    const seed = randomFillSync(Buffer.alloc(SEED_LENGTH));
    try {
      return new ApiKey(seed, format);
    } finally {
      seed.fill(0);
    }
  }

  /** The key for a 32-byte Ed25519 seed (copied; the caller may wipe its buffer). */
  static fromSeed(seed: Uint8Array, format: ApiKeyFormat = 'k1'): ApiKey {
    return new ApiKey(seed, format);
  }

  /** The API key of an Ed25519 private key (as `kes identity <key.pem>` does). */
  static fromPrivateKey(key: KeyObject, format: ApiKeyFormat = 'kes'): ApiKey {
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

  /** SHA-256 of the Ed25519 SPKI `302a300506032b6570032100 || publicKey`. */
  get identity(): Identity {
    return this.#identity;
  }

  /** The Ed25519 private key, for signing and TLS. */
  get privateKey(): KeyObject {
    return this.#privateKey;
  }

  /** The Ed25519 public key. */
  get publicKey(): KeyObject {
    return this.#publicKey;
  }

  /** `k1:` + base64url without padding of the seed (46 characters). Secret. */
  toK1(): string {
    return K1_PREFIX + this.#seed.toString('base64url');
  }

  /** `kes:v1:` + standard base64 of `0x00 || seed` (51 characters). Secret. */
  toKes(): string {
    return KES_PREFIX + Buffer.concat([Buffer.of(0), this.#seed]).toString('base64');
  }

  /** The secret text in this key's `format`. */
  toText(): string {
    return this.format === 'k1' ? this.toK1() : this.toKes();
  }

  /** Same seed, compared in constant time. */
  equals(other: ApiKey): boolean {
    return timingSafeEqual(this.#seed, other.#seed);
  }

  /** Redacted: names the identity, never the key. Use `toK1()` / `toKes()` for the secret. */
  toString(): string {
    return `ApiKey(${this.#identity.format(this.format === 'k1' ? 'h1' : 'hex')})`;
  }

  /** Redacted, like `toString()`, so a key that reaches JSON does not leak. */
  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * Parses `k1:…` (base64url, no padding, 32 bytes) or the KES form `kes:v1:…` (standard
 * base64 of 33 bytes: type 0x00 then the seed; the prefix is optional, as upstream trims it
 * if present). KES-form failures carry the upstream messages
 * `kes: invalid API key: invalid length` and `kes: invalid API key: unsupported type`.
 * `k2:` (ECDSA) keys are rejected as unsupported.
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
  if (text.startsWith('k2:')) {
    throw new InvalidApiKeyError(
      "invalid API key: 'k2:' (ECDSA) API keys are not supported; use a 'k1:' (Ed25519) key",
    );
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

function decodeSeed(seed: Buffer, format: ApiKeyFormat): ApiKey {
  try {
    return ApiKey.fromSeed(seed, format);
  } finally {
    seed.fill(0);
  }
}
