// The records the state holds: enclaves, key rings with versions, policies and identities.
// Plain data; the state machine (state.ts) is the only writer.

import type { SecretKey } from '../crypto/index.ts';
import type { Privilege } from '../model/privilege.ts';
import { SortedNames } from './sorted-names.ts';

/** One version of a key: the secret, its optional HMAC key, and who made it when. */
export interface KeyVersion {
  readonly version: number;
  readonly key: SecretKey;
  /** 32-byte HMAC-SHA256 key for KEY:MAC / KES hmac; null for keys imported without one. */
  readonly hmacKey: Buffer | null;
  readonly createdAt: Date;
  readonly createdBy: string;
  /** True when the key material came from outside (KEY:IMPORT). */
  readonly imported: boolean;
}

/** A named key with its live versions. Version numbers only ever grow, even after deletion. */
export interface KeyRing {
  readonly name: string;
  readonly versions: Map<number, KeyVersion>;
  /** The highest version number ever assigned (the next one is `highest + 1`). */
  highest: number;
}

/** Rules of a KMS-API policy: command name → name patterns. */
export type RuleMap = Record<string, string[]>;

export interface PolicyRecord {
  readonly name: string;
  readonly allow: RuleMap;
  readonly deny: RuleMap;
  readonly createdAt: Date;
  readonly createdBy: string;
}

export interface IdentityRecord {
  /** The identity in its `h1:` form. */
  readonly identity: string;
  readonly enclave: string;
  readonly privilege: Privilege;
  /** Assigned policy name ('' for none). */
  policy: string;
  readonly createdAt: Date;
  readonly createdBy: string;
  /** Set for service accounts: the identity whose rights this one inherits. */
  readonly parent: string;
  readonly tags: Record<string, string>;
}

export interface EnclaveRecord {
  readonly name: string;
  readonly createdAt: Date;
  readonly createdBy: string;
  readonly keys: SortedNames<KeyRing>;
  readonly policies: SortedNames<PolicyRecord>;
}

/** Latest live version of a ring (rings in the state always have at least one). */
export function latestVersion(ring: KeyRing): KeyVersion {
  let best: KeyVersion | undefined;
  for (const v of ring.versions.values()) if (!best || v.version > best.version) best = v;
  if (!best) throw new Error(`key ring '${ring.name}' has no versions`);
  return best;
}
