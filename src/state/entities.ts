// The records the state holds: enclaves, key rings with versions, policies and identities.
// Plain data, except key rings and versions: views of compact records (key-rings.ts, key-slab.ts).
// The state machine (state.ts) is the only writer.

import type { Privilege } from '../model/privilege.ts';
import type { KeyRing, KeyRings, KeyVersion } from './key-rings.ts';
import type { SortedNames } from './sorted-names.ts';

// Key rings and versions are views the rings of an enclave make (key-rings.ts).
export type { KeyRing, KeyVersion } from './key-rings.ts';

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
