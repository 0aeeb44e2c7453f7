// Errors the SDK throws, all KeyholdErrors (switch on `code`): KmsApiError (the server answered
// with an error status and message), KmsConnectionError (no endpoint reachable), KmsResponseError
// (a reply breaking the protocol), and predicates for the kms-go error values.
import { KeyholdError } from '../model/errors.ts';
import { KMS_API_ERRORS, KmsApiError } from '../protocol/kms/index.ts';
import type { KmsApiErrorName } from '../protocol/kms/index.ts';
import type { HostFailure } from './transport.ts';

export { KMS_API_ERRORS, KmsApiError, KmsWireError } from '../protocol/kms/index.ts';
export type { KmsApiErrorName, KmsErrorValue } from '../protocol/kms/index.ts';

export type { HostFailure } from './transport.ts';
export { ERROR_CODES, KeyholdError } from '../model/errors.ts';
export type { ErrorCode } from '../model/errors.ts';

/**
 * Every host a request tried failed at the network level (connection refused or reset, TLS
 * failure, timeout). `failures` lists each attempt; `cause` is the last one's error.
 */
export class KmsConnectionError extends KeyholdError {
  override readonly name = 'KmsConnectionError';
  readonly failures: readonly HostFailure[];

  /** Code CONNECTION_FAILED. */
  constructor(failures: readonly HostFailure[]) {
    const detail = failures.map((f) => `${f.host}: ${f.error.message}`).join('; ');
    super('CONNECTION_FAILED', `no KMS server reachable (${detail})`, {
      cause: failures.at(-1)?.error,
    });
    this.failures = failures;
  }
}

/**
 * A reply that breaks the KMS protocol as kms-go enforces it: a 200 without Content-Length, a
 * malformed frame or message, a key type other than `AES256`/`ChaCha20`, an identity that is not
 * `h1:`. Signals a server bug or a non-KMS server at the endpoint; `cause` has the detail.
 */
export class KmsResponseError extends KeyholdError {
  override readonly name = 'KmsResponseError';

  /** Code INVALID_RESPONSE. */
  constructor(message: string, options?: ErrorOptions) {
    super('INVALID_RESPONSE', `invalid KMS server reply: ${message}`, options);
  }
}

/** True iff `error` is a KmsApiError equal (status and message) to the named kms-go error. */
export function isKmsError(error: unknown, name: KmsApiErrorName): error is KmsApiError {
  return error instanceof KmsApiError && error.is(KMS_API_ERRORS[name]);
}

/** 404 `key does not exist`. */
export const isKeyNotFound = (error: unknown): error is KmsApiError =>
  isKmsError(error, 'keyNotFound');
/** 409 `key already exists`. */
export const isKeyExists = (error: unknown): error is KmsApiError => isKmsError(error, 'keyExists');
/** 404 `enclave does not exist`. */
export const isEnclaveNotFound = (error: unknown): error is KmsApiError =>
  isKmsError(error, 'enclaveNotFound');
/** 409 `enclave already exists`. */
export const isEnclaveExists = (error: unknown): error is KmsApiError =>
  isKmsError(error, 'enclaveExists');
/** 404 `policy does not exist`. */
export const isPolicyNotFound = (error: unknown): error is KmsApiError =>
  isKmsError(error, 'policyNotFound');
/** 404 `identity does not exist`. */
export const isIdentityNotFound = (error: unknown): error is KmsApiError =>
  isKmsError(error, 'identityNotFound');
/** 403 `access denied: insufficient permissions`. */
export const isPermissionDenied = (error: unknown): error is KmsApiError =>
  isKmsError(error, 'permission');
/** 400 `invalid ciphertext`. */
export const isDecryptError = (error: unknown): error is KmsApiError =>
  isKmsError(error, 'decrypt');
