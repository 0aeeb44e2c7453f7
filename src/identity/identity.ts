// An identity is SHA-256 over a public key's DER SubjectPublicKeyInfo. The KMS API writes it
// as `h1:` + base64url (no padding), the KES API as 64 lowercase hex digits: one value, two
// spellings, each computed on first use and cached.
import { Buffer } from 'node:buffer';
import { hash } from 'node:crypto';
import { inspect } from 'node:util';

/** Text that is neither an `h1:` identity nor a 64-digit lowercase hex identity. */
export class InvalidIdentityError extends Error {
  override readonly name = 'InvalidIdentityError';
}

/** The two text encodings of an identity. */
export type IdentityEncoding = 'h1' | 'hex';

const H1_PREFIX = 'h1:';
const H1_PATTERN = /^h1:[A-Za-z0-9_-]{43}$/;
const HEX_PATTERN = /^[0-9a-f]{64}$/;

let adopt: (digest: Buffer) => Identity;

/**
 * An identity: the 32-byte SHA-256 of a DER SubjectPublicKeyInfo. Immutable. Identities
 * are public values (they appear in configs, logs and policy listings), so comparison is a
 * plain byte comparison, not constant-time. Use `toHex()` or `toH1()` as a map key; both
 * strings are cached on the instance.
 */
export class Identity {
  readonly #digest: Buffer;
  #hex: string | undefined;
  #h1: string | undefined;

  private constructor(digest: Buffer) {
    this.#digest = digest;
  }

  /** Wraps a 32-byte SHA-256 digest (copied). */
  static fromDigest(digest: Uint8Array): Identity {
    if (digest.length !== 32) {
      throw new InvalidIdentityError(`identity digest must be 32 bytes, got ${digest.length}`);
    }
    return new Identity(Buffer.from(digest));
  }

  static {
    // Module-private fast path: adopt a freshly computed digest Buffer without a copy.
    adopt = (digest) => new Identity(digest);
  }

  /** The 32 digest bytes (a copy). */
  get digest(): Buffer {
    return Buffer.from(this.#digest);
  }

  /** KES form: 64 lowercase hex digits. */
  toHex(): string {
    return (this.#hex ??= this.#digest.toString('hex'));
  }

  /** KMS form: `h1:` + base64url without padding (46 characters). */
  toH1(): string {
    return (this.#h1 ??= H1_PREFIX + this.#digest.toString('base64url'));
  }

  /** The identity in the requested encoding. */
  format(encoding: IdentityEncoding): string {
    return encoding === 'h1' ? this.toH1() : this.toHex();
  }

  /** Same digest. Plain comparison: identities are public, not secrets. */
  equals(other: Identity): boolean {
    return this === other || this.#digest.equals(other.#digest);
  }

  /** The `h1:` form. The KES API uses `toHex()`; call the one your face needs explicitly. */
  toString(): string {
    return this.toH1();
  }

  /** JSON as the `h1:` string. */
  toJSON(): string {
    return this.toH1();
  }

  [inspect.custom](): string {
    return `Identity(${this.toH1()})`;
  }
}

/** The identity of a DER SubjectPublicKeyInfo: SHA-256 over exactly these bytes. */
export function identityOfSpki(spkiDer: Uint8Array): Identity {
  // One-shot crypto.hash (Node >= 20.12) costs about half of createHash().update().digest().
  return adopt(hash('sha256', spkiDer, 'buffer'));
}

/**
 * Parses either encoding: `h1:` + 43 base64url characters, or 64 lowercase hex digits.
 * Uppercase hex is rejected rather than folded: KES compares identities as exact strings,
 * so an uppercase identity in a KES config never matched anyone, and silently accepting it
 * would grant access that the same config did not grant upstream. Error messages never
 * repeat the input, since a mistaken value may be an API key (a secret).
 */
export function parseIdentity(text: string): Identity {
  if (HEX_PATTERN.test(text)) return adopt(Buffer.from(text, 'hex'));
  if (H1_PATTERN.test(text)) return adopt(Buffer.from(text.slice(H1_PREFIX.length), 'base64url'));
  throw new InvalidIdentityError(describeInvalid(text));
}

function describeInvalid(text: string): string {
  if (/^(k\d+:|kes:v1:)/.test(text)) {
    return 'invalid identity: this is an API key (a secret), not an identity; use the identity derived from it';
  }
  if (text.startsWith(H1_PREFIX)) {
    return (
      `invalid identity: 'h1:' must be followed by 43 base64url characters (A-Z a-z 0-9 - _), ` +
      `got ${text.length - H1_PREFIX.length} characters` +
      (text.length === 46 ? ' including characters outside that alphabet' : '')
    );
  }
  if (/^[0-9a-fA-F]{64}$/.test(text)) return 'invalid identity: hex identities must be lowercase';
  if (/^[0-9a-fA-F]+$/.test(text)) {
    return `invalid identity: a hex identity has 64 digits, got ${text.length}`;
  }
  return (
    `invalid identity (${text.length} characters): expected 'h1:' + 43 base64url characters ` +
    `or 64 lowercase hex digits (the SHA-256 of a public key)`
  );
}
