// The KES API's error values (docs/protocol/kes.md#errors): the exact (status, message) pairs
// kms-go's `kes` package defines and compares with `==`, MinIO among its callers, as the KES view
// of the error catalogue (src/model/error-catalogue.ts). The SDK's KES client matches them.
import { CATALOGUE } from '../../model/errors.ts';

/** An HTTP status with the exact message a KES client compares against. */
export interface KesErrorValue {
  readonly status: number;
  readonly message: string;
}

/** kms-go/kes `Err*` by their kms-go names: the whole upstream catalogue, legacy entries included. */
export const KES_API_ERRORS = {
  notAllowed: CATALOGUE.PERMISSION.kes,
  keyNotFound: CATALOGUE.KEY_NOT_FOUND.kes,
  keyExists: CATALOGUE.KEY_EXISTS.kes,
  decrypt: CATALOGUE.DECRYPT.kes,
  policyNotFound: CATALOGUE.POLICY_NOT_FOUND.kes,
  identityNotFound: CATALOGUE.IDENTITY_NOT_FOUND.kes,
  policyExists: CATALOGUE.POLICY_EXISTS.kes,
  identityExists: CATALOGUE.IDENTITY_EXISTS.kes,
  enclaveExists: CATALOGUE.ENCLAVE_EXISTS.kes,
  enclaveNotFound: CATALOGUE.ENCLAVE_NOT_FOUND.kes,
  partialWrite: CATALOGUE.PARTIAL_WRITE.kes,
} as const satisfies Record<string, KesErrorValue>;

export type KesApiErrorName = keyof typeof KES_API_ERRORS;
