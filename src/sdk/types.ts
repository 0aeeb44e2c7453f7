// The SDK's result and option types, and their conversion from the KMS API's wire messages,
// including the checks kms-go applies to replies (key types, `h1:` identities, privileges).
import { KEY_TYPES } from '../crypto/index.ts';
import type { KeyType } from '../crypto/index.ts';
import { parseIdentity } from '../identity/index.ts';
import type {
  EnclaveStatusResponse,
  IdentityResponse,
  KeyStatusResponse,
  PolicyResponse,
  PolicyStatusResponse,
  RuleSet,
  ServerStatusResponse,
} from '../protocol/kms/index.ts';
import { KmsResponseError } from './errors.ts';

/** Key algorithms of the KMS API (AES-256-GCM, ChaCha20-Poly1305): the server's one list. */
export { KEY_TYPES, type KeyType };

/** Privileges of an identity: cluster root, enclave admin, policy-bound user. */
export const PRIVILEGES = ['SysAdmin', 'Admin', 'User'] as const;
export type Privilege = (typeof PRIVILEGES)[number];

/** One page of a listing. `continueAt` is the first name of the next page, '' on the last. */
export interface Page<T> {
  readonly items: T[];
  readonly continueAt: string;
}

/** Paging of a list call. All optional: everything from the start, server-chosen page size. */
export interface ListOptions {
  /** Only names starting with this prefix. */
  readonly prefix?: string | undefined;
  /** Start at (and include) this name: the `continueAt` of the previous page. */
  readonly continueAt?: string | undefined;
  /** At most this many items per page; 0 or absent lets the server choose. */
  readonly limit?: number | undefined;
}

export interface EnclaveStatus {
  readonly name: string;
  readonly createdAt: Date | undefined;
  /** `h1:` identity of the creator, or ''. */
  readonly createdBy: string;
}

export interface KeyStatus {
  readonly name: string;
  /** The version described (the latest one unless a version was asked for). */
  readonly version: number;
  readonly type: KeyType;
  readonly createdAt: Date | undefined;
  readonly createdBy: string;
}

/** KEY:ENCRYPT result: the ciphertext and the key version that sealed it. */
export interface EncryptResult {
  readonly version: number;
  readonly ciphertext: Buffer;
}

/** KEY:GENERATE result: a data encryption key, plain and sealed. The plaintext is secret. */
export interface DataKey {
  readonly version: number;
  readonly plaintext: Buffer;
  readonly ciphertext: Buffer;
}

/** KEY:MAC result. */
export interface MacResult {
  readonly version: number;
  readonly mac: Buffer;
}

/** Command name (e.g. `KEY:GENERATE`) → name patterns (e.g. `my-key*`). */
export type PolicyRules = Record<string, string[]>;

export interface PolicyStatus {
  readonly name: string;
  readonly createdAt: Date | undefined;
  readonly createdBy: string;
}

export interface Policy extends PolicyStatus {
  /** A command is allowed on a name iff an allow pattern matches and no deny pattern does. */
  readonly allow: PolicyRules;
  readonly deny: PolicyRules;
}

export interface IdentityStatus {
  /** `h1:` identity. */
  readonly identity: string;
  readonly privilege: Privilege;
  /** Assigned policy ('' for none, and always '' for Admin and SysAdmin). */
  readonly policy: string;
  readonly createdAt: Date | undefined;
  readonly createdBy: string;
  readonly isServiceAccount: boolean;
  /** Service accounts this identity created. */
  readonly serviceAccounts: string[];
  readonly tags: Record<string, string>;
}

/** Status of one cluster node, as CLUSTER:STATUS reports it. */
export type NodeStatus = ServerStatusResponse;

export interface ClusterStatus {
  /** Node ID → status of every node that answered. */
  readonly nodesUp: Map<number, NodeStatus>;
  /** Node ID → `host:port` of every node that did not. */
  readonly nodesDown: Map<number, string>;
}

const PRIVILEGE_OF_NUMBER: Readonly<Record<number, Privilege>> = {
  1: 'SysAdmin',
  2: 'Admin',
  3: 'User',
};

/** Checks an identity field as kms-go does: '' or a valid `h1:` identity. */
function checkIdentity(value: string, field: string): string {
  if (value === '') return value;
  try {
    if (parseIdentity(value).toH1() === value) return value;
  } catch {
    // reported below
  }
  throw new KmsResponseError(`${field} is not an h1: identity`);
}

export function toEnclaveStatus(m: EnclaveStatusResponse): EnclaveStatus {
  return {
    name: m.name,
    createdAt: m.createdAt,
    createdBy: checkIdentity(m.createdBy, 'enclave created_by'),
  };
}

/** kms-go rejects a key status whose type is not exactly `AES256` or `ChaCha20` (even empty). */
export function toKeyStatus(m: KeyStatusResponse): KeyStatus {
  if (!(KEY_TYPES as readonly string[]).includes(m.type)) {
    throw new KmsResponseError(`key '${m.name}' has the unknown type '${m.type}'`);
  }
  return {
    name: m.name,
    version: m.version,
    type: m.type as KeyType,
    createdAt: m.createdAt,
    createdBy: checkIdentity(m.createdBy, 'key created_by'),
  };
}

export function toPolicyStatus(m: PolicyStatusResponse): PolicyStatus {
  return {
    name: m.name,
    createdAt: m.createdAt,
    createdBy: checkIdentity(m.createdBy, 'policy created_by'),
  };
}

export function toPolicy(m: PolicyResponse): Policy {
  return { ...toPolicyStatus(m), allow: fromRuleSets(m.allow), deny: fromRuleSets(m.deny) };
}

export function toIdentityStatus(m: IdentityResponse): IdentityStatus {
  const privilege = PRIVILEGE_OF_NUMBER[m.privilege];
  if (privilege === undefined) {
    throw new KmsResponseError(`identity has the unknown privilege ${m.privilege}`);
  }
  return {
    identity: checkIdentity(m.identity, 'identity'),
    privilege,
    policy: m.policy,
    createdAt: m.createdAt,
    createdBy: checkIdentity(m.createdBy, 'identity created_by'),
    isServiceAccount: m.isServiceAccount,
    serviceAccounts: m.serviceAccounts.map((s) => checkIdentity(s, 'service account')),
    tags: { ...m.tags },
  };
}

/** Orders patterns as kms-go marshals a RuleSet: by length, then lexically. */
export function sortPatterns(patterns: Iterable<string>): string[] {
  return [...patterns].sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
}

/** Wire RuleSets → pattern lists (empty patterns dropped, kms-go's order). */
export function fromRuleSets(sets: Record<string, RuleSet>): PolicyRules {
  const out: PolicyRules = {};
  for (const [command, set] of Object.entries(sets)) {
    out[command] = sortPatterns(Object.keys(set.rules).filter((p) => p !== ''));
  }
  return out;
}

/** Pattern lists → wire RuleSets (empty patterns dropped). */
export function toRuleSets(rules: PolicyRules): Record<string, RuleSet> {
  const out: Record<string, RuleSet> = {};
  for (const [command, patterns] of Object.entries(rules)) {
    out[command] = {
      rules: Object.fromEntries(patterns.filter((p) => p !== '').map((p) => [p, {}])),
    };
  }
  return out;
}
