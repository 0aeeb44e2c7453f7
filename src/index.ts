// Public library surface of the `keyhold` package: run a node from code, and the formats it
// shares with clients. The SDK clients are the `keyhold/sdk` export.

export { startNode, type RunningNode } from './server/node.ts';
export { KeyholdServer } from './server/keyhold-server.ts';
export type { ServerOptions } from './server/server-options.ts';
export { HsmKey, SecretKey, NotAuthenticError, type KeyType } from './crypto/index.ts';
export { ApiKey, Identity, parseApiKey, parseIdentity } from './identity/index.ts';
export { VERSION } from './version.ts';
