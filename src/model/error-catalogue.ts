// The one table of error wire bytes: for each catalogue code, the exact (status, message) pair
// the KMS API and the KES API answer with. Upstream clients compare both, so every string here is
// wire protocol (docs/protocol/kms.md#errors, docs/protocol/kes.md#errors).

/** An HTTP status and the exact message an upstream client compares against. */
export interface WireError {
  readonly status: number;
  readonly message: string;
}

/** One catalogue error as each face answers it: its two views. */
export interface CatalogueEntry {
  /** MinIO KMS API (kms-go's `kms.Err*`, docs/protocol/kms.md#errors). */
  readonly kms: WireError;
  /** KES API (kms-go's `kes.Err*`, docs/protocol/kes.md#errors). */
  readonly kes: WireError;
}

const same = (status: number, message: string): CatalogueEntry => ({
  kms: { status, message },
  kes: { status, message },
});

/**
 * Errors whose wording is fixed by upstream clients. Clients (MinIO among them) compare both the
 * status and the message, so these strings are part of the wire protocol. The upstream error
 * lists (`KMS_API_ERRORS` in src/protocol/kms, `KES_API_ERRORS` in src/protocol/kes) are views of
 * this table; nothing else spells these messages.
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
  /**
   * KES defines it; Keyhold never answers it (creating a policy that exists replaces it). The
   * KMS view follows the KMS API's 409 for the other "already exists" errors.
   */
  POLICY_EXISTS: {
    kms: { status: 409, message: 'policy already exists' },
    kes: { status: 400, message: 'policy already exists' },
  },
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
  /** KES defines it (a KES cluster's partial replication); Keyhold never answers it. */
  PARTIAL_WRITE: same(503, 'change committed but not replicated'),
} as const satisfies Record<string, CatalogueEntry>;

/** A code whose wire pair the catalogue fixes. */
export type CatalogueCode = keyof typeof CATALOGUE;

/**
 * The catalogue code whose `face` view is exactly (status, message), or undefined. The first in
 * table order wins: the KMS view of SELF_ASSIGN is PERMISSION's, as it is for kms-go.
 */
export function catalogueCodeOf(
  face: 'kms' | 'kes',
  status: number,
  message: string,
): CatalogueCode | undefined {
  for (const code of Object.keys(CATALOGUE) as CatalogueCode[]) {
    const view = CATALOGUE[code][face];
    if (view.status === status && view.message === message) return code;
  }
  return undefined;
}
