// Snapshot codec: the whole state as one record, so the log can be compacted and a new node
// (or a restore) can start from it. Sealed by the store like every other record.

import { SecretKey } from '../crypto/index.ts';
import type { KeyType } from '../crypto/index.ts';
import type { Privilege } from '../model/privilege.ts';
import type { KeyRing, PolicyRecord, RuleMap } from './entities.ts';
import { SortedNames } from './sorted-names.ts';
import { State } from './state.ts';

const FORMAT = 1;

interface VersionJson {
  version: number;
  type: KeyType;
  key: string;
  hmacKey: string | null;
  at: number;
  by: string;
  imported: boolean;
}
interface SnapshotJson {
  v: number;
  commit: number;
  enclaves: {
    name: string;
    at: number;
    by: string;
    keys: { name: string; highest: number; versions: VersionJson[] }[];
    policies: { name: string; allow: RuleMap; deny: RuleMap; at: number; by: string }[];
  }[];
  identities: {
    identity: string;
    enclave: string;
    privilege: Privilege;
    policy: string;
    at: number;
    by: string;
    parent: string;
    tags: Record<string, string>;
  }[];
}

/** Serializes the complete state (including key material: the store seals it). */
export function encodeSnapshot(state: State): Buffer {
  const json: SnapshotJson = {
    v: FORMAT,
    commit: state.commit,
    enclaves: [...state.enclaves.values()].map((e) => ({
      name: e.name,
      at: e.createdAt.getTime(),
      by: e.createdBy,
      keys: [...e.keys.values()].map((ring) => ({
        name: ring.name,
        highest: ring.highest,
        versions: [...ring.versions.values()].map((v) => ({
          version: v.version,
          type: v.key.type,
          key: v.key.exportKeyMaterial().toString('base64'),
          hmacKey: v.hmacKey ? v.hmacKey.toString('base64') : null,
          at: v.createdAt.getTime(),
          by: v.createdBy,
          imported: v.imported,
        })),
      })),
      policies: [...e.policies.values()].map((p) => ({
        name: p.name,
        allow: p.allow,
        deny: p.deny,
        at: p.createdAt.getTime(),
        by: p.createdBy,
      })),
    })),
    identities: [...state.identities.values()].map((i) => ({
      identity: i.identity,
      enclave: i.enclave,
      privilege: i.privilege,
      policy: i.policy,
      at: i.createdAt.getTime(),
      by: i.createdBy,
      parent: i.parent,
      tags: i.tags,
    })),
  };
  return Buffer.from(JSON.stringify(json));
}

/** Rebuilds a state from a snapshot; throws on an unknown format version. */
export function decodeSnapshot(bytes: Uint8Array): State {
  const json = JSON.parse(Buffer.from(bytes).toString('utf8')) as SnapshotJson;
  if (json.v !== FORMAT) throw new Error(`unsupported snapshot format version ${String(json.v)}`);
  const state = new State();
  state.commit = json.commit;
  for (const e of json.enclaves) {
    const keys = new SortedNames<KeyRing>();
    for (const k of e.keys) {
      const versions = new Map(
        k.versions.map((v) => [
          v.version,
          {
            version: v.version,
            key: new SecretKey(v.type, Buffer.from(v.key, 'base64')),
            hmacKey: v.hmacKey === null ? null : Buffer.from(v.hmacKey, 'base64'),
            createdAt: new Date(v.at),
            createdBy: v.by,
            imported: v.imported,
          },
        ]),
      );
      keys.set(k.name, { name: k.name, versions, highest: k.highest });
    }
    const policies = new SortedNames<PolicyRecord>();
    for (const p of e.policies) {
      policies.set(p.name, {
        name: p.name,
        allow: p.allow,
        deny: p.deny,
        createdAt: new Date(p.at),
        createdBy: p.by,
      });
    }
    state.enclaves.set(e.name, {
      name: e.name,
      createdAt: new Date(e.at),
      createdBy: e.by,
      keys,
      policies,
    });
  }
  for (const i of json.identities) {
    state.identities.set(i.identity, {
      identity: i.identity,
      enclave: i.enclave,
      privilege: i.privilege,
      policy: i.policy,
      createdAt: new Date(i.at),
      createdBy: i.by,
      parent: i.parent,
      tags: i.tags,
    });
  }
  return state;
}
