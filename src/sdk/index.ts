// Public surface of `keyhold/sdk`: the KMS API client, its option and result types, errors,
// endpoint parsing and the minkms policy document format.
export {
  KmsClient,
  LOG_LEVELS,
  type BytesLike,
  type CallOptions,
  type DecryptParams,
  type EnclaveCallOptions,
  type EncryptParams,
  type GenerateKeyParams,
  type KeyStatusParams,
  type KmsClientOptions,
  type LogLevelName,
  type LogOptions,
  type LogStream,
  type MacParams,
} from './kms-client.ts';
export type { TlsOptions } from './transport.ts';
export {
  KEY_TYPES,
  PRIVILEGES,
  type ClusterStatus,
  type DataKey,
  type EnclaveStatus,
  type EncryptResult,
  type IdentityStatus,
  type KeyStatus,
  type KeyType,
  type ListOptions,
  type MacResult,
  type NodeStatus,
  type Page,
  type Policy,
  type PolicyRules,
  type PolicyStatus,
  type Privilege,
} from './types.ts';
export {
  ERROR_CODES,
  KeyholdError,
  KMS_API_ERRORS,
  KmsApiError,
  KmsConnectionError,
  KmsResponseError,
  isDecryptError,
  isEnclaveExists,
  isEnclaveNotFound,
  isIdentityNotFound,
  isKeyExists,
  isKeyNotFound,
  isKmsError,
  isPermissionDenied,
  isPolicyNotFound,
  type ErrorCode,
  type HostFailure,
  type KmsApiErrorName,
  type KmsErrorValue,
} from './errors.ts';
export {
  DEFAULT_KMS_PORT,
  InvalidEndpointError,
  expandEllipses,
  normalizeEndpoint,
  parseEndpoints,
} from './endpoints.ts';
export {
  InvalidPolicyError,
  formatPolicyDocument,
  parsePolicyDocument,
  type PolicyDocument,
} from './policy-document.ts';
export { ApiKey, parseApiKey } from '../identity/index.ts';
export type { LogRecord, VersionResponse } from '../protocol/kms/index.ts';
export * from './kes/index.ts';
