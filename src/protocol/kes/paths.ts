// The KES API's request paths (docs/protocol/kes.md), in one table: the KES face serves them, KES
// policies and KMS command rules are matched against them, the config file's `api:` section names
// them, and the SDK's KES client sends them. A path ending in `/` takes a resource after it.

export const KES_PATHS = {
  version: '/version',
  ready: '/v1/ready',
  status: '/v1/status',
  metrics: '/v1/metrics',
  api: '/v1/api',
  logAudit: '/v1/log/audit',
  logError: '/v1/log/error',
  keyCreate: '/v1/key/create/',
  keyImport: '/v1/key/import/',
  keyDescribe: '/v1/key/describe/',
  keyList: '/v1/key/list/',
  keyDelete: '/v1/key/delete/',
  keyGenerate: '/v1/key/generate/',
  keyEncrypt: '/v1/key/encrypt/',
  keyDecrypt: '/v1/key/decrypt/',
  keyHmac: '/v1/key/hmac/',
  keyBulkDecrypt: '/v1/key/bulk/decrypt/',
  policyDescribe: '/v1/policy/describe/',
  policyRead: '/v1/policy/read/',
  policyList: '/v1/policy/list/',
  policyWrite: '/v1/policy/write/',
  policyAssign: '/v1/policy/assign/',
  policyDelete: '/v1/policy/delete/',
  identityDescribe: '/v1/identity/describe/',
  identityList: '/v1/identity/list/',
  identitySelfDescribe: '/v1/identity/self/describe',
  identityDelete: '/v1/identity/delete/',
} as const;

export type KesPathName = keyof typeof KES_PATHS;

/**
 * Every route path of the KES API (the keys the config file's `api:` section may use). Aliases a
 * route also answers on (`/v1/key/list` without the slash) are not listed: `api:` cannot name them.
 */
export const KES_ROUTE_PATHS: readonly string[] = Object.values(KES_PATHS);
