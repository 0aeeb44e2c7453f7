// Public surface of the KES client SDK: KesClient, its errors, response types and helpers.
// Every name is Kes-prefixed so that `src/sdk/index.ts` can re-export this module beside the KMS client.
export { KesClient, type KesClientOptions, type KesImportOptions } from './kes-client.ts';
export {
  KES_ERRORS,
  KesConnectionError,
  KesError,
  KesResponseError,
  parseKesErrorResponse,
} from './errors.ts';
export { normalizeKesEndpoint, parseKesEndpoints } from './endpoints.ts';
export { KesLogStream } from './ndjson.ts';
export { parseKesMetrics, type KesMetrics, type PrometheusSample } from './metrics.ts';
export {
  encodeKesStatus,
  type KesAlgorithm,
  type KesApiRoute,
  type KesAuditEvent,
  type KesDataKey,
  type KesErrorEvent,
  type KesIdentityInfo,
  type KesKeyInfo,
  type KesPolicy,
  type KesPolicyInfo,
  type KesSelfInfo,
  type KesStatus,
  type KesVersion,
} from './responses.ts';
export type { KesTlsOptions } from './kes-retry.ts';
