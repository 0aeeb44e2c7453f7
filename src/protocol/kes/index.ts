// Public surface of the KES wire protocol shared by the server's KES face, the core's KES policy
// checks, the config file and the SDK's KES client: request paths, the policy shape, errors.
export * from './paths.ts';
export * from './policy.ts';
export * from './errors.ts';
