// The KES API's error values (docs/protocol/kes.md#errors): the exact (status, message) pairs
// kms-go's `kes` package defines and compares with `==`, MinIO among its callers. The server
// answers them (through the catalogue in src/model/errors.ts) and the SDK's KES client matches them.

/** An HTTP status with the exact message a KES client compares against. */
export interface KesErrorValue {
  readonly status: number;
  readonly message: string;
}

/** kms-go/kes `Err*`: the whole upstream catalogue, legacy entries included. */
export const KES_API_ERRORS = {
  notAllowed: { status: 403, message: 'not authorized: insufficient permissions' },
  keyNotFound: { status: 404, message: 'key does not exist' },
  keyExists: { status: 400, message: 'key already exists' },
  decrypt: { status: 400, message: 'decryption failed: ciphertext is not authentic' },
  policyNotFound: { status: 404, message: 'policy does not exist' },
  identityNotFound: { status: 404, message: 'identity does not exist' },
  policyExists: { status: 400, message: 'policy already exists' },
  identityExists: { status: 400, message: 'identity already exists' },
  enclaveExists: { status: 400, message: 'enclave already exists' },
  enclaveNotFound: { status: 404, message: 'enclave does not exist' },
  partialWrite: { status: 503, message: 'change committed but not replicated' },
} as const satisfies Record<string, KesErrorValue>;

export type KesApiErrorName = keyof typeof KES_API_ERRORS;
