// The root (SysAdmin) identity of a node: pinned by configuration, disabled, or the identity of
// the API key derived from the HSM key (printed at start, recomputable offline).

import type { HsmKey } from '../crypto/index.ts';
import { ApiKey, parseIdentity } from '../identity/index.ts';

export interface Root {
  /** The derived root API key; null when configuration pins or disables the root. */
  readonly apiKey: ApiKey | null;
  /** `h1:` identity of the root, '' when disabled. */
  readonly identity: string;
}

/** Resolves the root from the HSM key and an optional pinned identity (`h1:`, hex or `disabled`). */
export function resolveRoot(hsmKey: HsmKey, adminIdentity: string | undefined): Root {
  if (adminIdentity === undefined) {
    const apiKey = ApiKey.fromSeed(hsmKey.rootApiKeySeed(), 'k1');
    return { apiKey, identity: apiKey.identity.toH1() };
  }
  if (adminIdentity === 'disabled') return { apiKey: null, identity: '' };
  return { apiKey: null, identity: parseIdentity(adminIdentity).toH1() };
}
