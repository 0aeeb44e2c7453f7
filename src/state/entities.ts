// The records the state holds: enclaves, key rings with versions, policies and identities.
// Plain data, except key rings and versions: views of compact records (key-rings.ts, key-slab.ts).
// The state machine (state.ts) is the only writer.

import type { KeyType, SecretKey } from '../crypto/index.ts';
import type { Privilege } from '../model/privilege.ts';
import type { KeyRings } from './key-rings.ts';
import type { SortedNames } from './sorted-names.ts';

/**
 * One version of a key: the secret, its optional HMAC key, and who made it when. A view of the
 * state's compact key records, valid until the state changes: use it at once, don't keep it.
 */
export interface KeyVersion {
  readonly version: number;
  readonly type: KeyType;
  /** The key, from a bounded cache (made on first use). */
  readonly key: SecretKey;
  /** 32-byte HMAC-SHA256 key for KEY:MAC / KES hmac (SECRET); null for keys imported without. */
  readonly hmacKey: Buffer | null;
  readonly createdAt: Date;
  readonly createdBy: string;
  /** True when the key material came from outside (KEY:IMPORT). */
  readonly imported: boolean;
}

/**
 * A named key with its live versions (at least one). Version numbers only ever grow, even after
 * deletion. A view like KeyVersion: valid until the state changes.
 */
export interface KeyRing {
  readonly name: string;
  /** The highest version number ever assigned (the next one is `highest + 1`). */
  readonly highest: number;
  /** Number of live versions. */
  readonly versionCount: number;
  /** The live version with the highest number. */
  latest(): KeyVersion;
  /** Live version `version`, if any. */
  version(version: number): KeyVersion | undefined;
  /** Every live version, in ascending version order. */
  versions(): KeyVersion[];
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
  readonly keys: KeyRings;
  readonly policies: SortedNames<PolicyRecord>;
}

/** Latest live version of a ring (rings in the state always have at least one). */
export function latestVersion(ring: KeyRing): KeyVersion {
  return ring.latest();
}
