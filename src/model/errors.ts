// The error catalogue: every error a client can see, with its stable code and the exact
// (status, message) pair each wire face answers with. Faces never invent their own errors.

/** An HTTP status and the exact message an upstream client compares against. */
export interface WireError {
  readonly status: number;
  readonly message: string;
}

interface CatalogueEntry {
  /** MinIO KMS API (kms-go `Err*`, docs/protocol/kms.md). */
  readonly kms: WireError;
  /** KES API (kms-go/kes `Err*`, docs/protocol/kes.md). */
  readonly kes: WireError;
}

const same = (status: number, message: string): CatalogueEntry => ({
  kms: { status, message },
  kes: { status, message },
});

/**
 * Errors whose wording is fixed by upstream clients. Clients (MinIO among them) compare both the
 * status and the message, so these strings are part of the wire protocol.
 */
export const CATALOGUE = {
  PERMISSION: {
    kms: { status: 403, message: 'access denied: insufficient permissions' },
    kes: { status: 403, message: 'not authorized: insufficient permissions' },
  },
  ENCLAVE_EXISTS: {
    kms: { status: 409, message: 'enclave already exists' },
    kes: { status: 400, message: 'enclave already exists' },
  },
  ENCLAVE_NOT_FOUND: same(404, 'enclave does not exist'),
  KEY_EXISTS: {
    kms: { status: 409, message: 'key already exists' },
    kes: { status: 400, message: 'key already exists' },
  },
  KEY_NOT_FOUND: same(404, 'key does not exist'),
  POLICY_NOT_FOUND: same(404, 'policy does not exist'),
  IDENTITY_NOT_FOUND: same(404, 'identity does not exist'),
  /** A caller assigning a policy to itself (or to the identity whose rights it exercises). */
  SELF_ASSIGN: {
    kms: { status: 403, message: 'access denied: insufficient permissions' },
    kes: { status: 403, message: 'identity cannot assign policy to itself' },
  },
  IDENTITY_EXISTS: {
    kms: { status: 409, message: 'identity already exists' },
    kes: { status: 400, message: 'identity already exists' },
  },
  DECRYPT: {
    kms: { status: 400, message: 'invalid ciphertext' },
    kes: { status: 400, message: 'decryption failed: ciphertext is not authentic' },
  },
  KEY_NO_HMAC: same(409, 'key does not support HMAC'),
  INTERNAL: same(500, 'internal error'),
  UNAVAILABLE: same(503, 'server is not ready for writes'),
} as const satisfies Record<string, CatalogueEntry>;

/** A stable error code: one of the catalogue's entries, or BAD_REQUEST with its own message. */
export type ErrorCode = keyof typeof CATALOGUE | 'BAD_REQUEST' | 'NOT_ACCEPTABLE' | 'TOO_LARGE';

/**
 * The one error type the core throws. `code` selects the wire pair; BAD_REQUEST-like codes carry
 * their own message (which must never contain key material).
 */
export class KeyholdError extends Error {
  readonly code: ErrorCode;
  readonly status: number | undefined;

  constructor(code: ErrorCode, message?: string, status?: number) {
    super(
      message ?? (code in CATALOGUE ? CATALOGUE[code as keyof typeof CATALOGUE].kms.message : code),
    );
    this.name = 'KeyholdError';
    this.code = code;
    this.status = status;
  }

  /** The (status, message) pair the given face answers with. */
  wire(face: 'kms' | 'kes'): WireError {
    if (this.code in CATALOGUE) return CATALOGUE[this.code as keyof typeof CATALOGUE][face];
    const status =
      this.status ?? (this.code === 'NOT_ACCEPTABLE' ? 406 : this.code === 'TOO_LARGE' ? 413 : 400);
    return { status, message: this.message };
  }
}

/** Shorthand for a 400 with a precise message. */
export function badRequest(message: string): KeyholdError {
  return new KeyholdError('BAD_REQUEST', message);
}

/** Maps any thrown value to a KeyholdError; unknown faults become INTERNAL (their detail is logged, not sent). */
export function toKeyholdError(error: unknown): KeyholdError {
  return error instanceof KeyholdError ? error : new KeyholdError('INTERNAL');
}
