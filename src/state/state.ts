// The state machine: validates commands against the current state (`check`) and applies them
// deterministically (`apply`). The in-memory state is the read path; nothing here does I/O.

import { KeyholdError, badRequest } from '../model/errors.ts';
import type { Command } from './commands.ts';
import type { EnclaveRecord, IdentityRecord, KeyRing } from './entities.ts';
import { Identities } from './identities.ts';
import { KeyRings } from './key-rings.ts';
import { KeySlab } from './key-slab.ts';
import { SortedNames } from './sorted-names.ts';

/** The last value given to any State's `changes` (process-wide: values are never shared). */
let lastChange = 0;

export class State {
  readonly enclaves = new SortedNames<EnclaveRecord>();
  /** The identity records of every enclave (an identity may have one in each). */
  readonly identities = new Identities();
  /** Number of commands applied (the log index of the last one). */
  commit = 0;
  #slab: KeySlab;
  #changes = ++lastChange;

  /** @param slab where key versions live (a snapshot decoder passes the one it filled). */
  constructor(slab: KeySlab = new KeySlab()) {
    this.#slab = slab;
  }

  /**
   * Changes with every change of this state (each command applied, each replacement): anything
   * derived from the state, such as an authorization decision, holds as long as this stays the
   * same. Unlike `commit`, it never goes back or repeats, and no two State objects of the process
   * ever share a value, so a value alone names one state as it was (a cache keyed by it keeps no
   * reference to the state).
   */
  get changes(): number {
    return this.#changes;
  }

  /** The compact store of every key version (for the snapshot codec). */
  get keySlab(): KeySlab {
    return this.#slab;
  }

  /** A new, empty enclave record whose keys live in this state's slab. */
  newEnclave(name: string, createdAt: Date, createdBy: string): EnclaveRecord {
    return {
      name,
      createdAt,
      createdBy,
      keys: new KeyRings(this.#slab),
      policies: new SortedNames(),
    };
  }

  /** Number of objects held (enclaves, keys, policies, identities): the size of a snapshot. */
  get size(): number {
    let n = this.enclaves.size + this.identities.size;
    for (const enclave of this.enclaves.values()) n += enclave.keys.size + enclave.policies.size;
    return n;
  }

  /** The enclave or ENCLAVE_NOT_FOUND. */
  enclave(name: string): EnclaveRecord {
    const enclave = this.enclaves.get(name);
    if (!enclave) throw new KeyholdError('ENCLAVE_NOT_FOUND');
    return enclave;
  }

  /** The key ring or KEY_NOT_FOUND. */
  keyRing(enclave: string, name: string): KeyRing {
    const ring = this.enclave(enclave).keys.get(name);
    if (!ring) throw new KeyholdError('KEY_NOT_FOUND');
    return ring;
  }

  /**
   * Throws the error a client should see if `command` cannot be applied to the current state.
   * A command that passes is applied without further checks (and must then succeed).
   */
  check(command: Command): void {
    switch (command.op) {
      case 'enclave.create':
        if (this.enclaves.has(command.enclave)) throw new KeyholdError('ENCLAVE_EXISTS');
        return;
      case 'enclave.delete':
        this.enclave(command.enclave);
        return;
      case 'key.create': {
        const exists = this.enclave(command.enclave).keys.has(command.name);
        if (command.addVersion) {
          if (!exists) throw new KeyholdError('KEY_NOT_FOUND');
        } else if (exists) {
          throw new KeyholdError('KEY_EXISTS');
        }
        return;
      }
      case 'key.delete': {
        const ring = this.keyRing(command.enclave, command.name);
        if (command.version !== 0 && !ring.version(command.version)) {
          throw new KeyholdError('KEY_NOT_FOUND');
        }
        return;
      }
      case 'policy.put':
        this.enclave(command.enclave);
        return;
      case 'policy.delete':
        if (!this.enclave(command.enclave).policies.has(command.name)) {
          throw new KeyholdError('POLICY_NOT_FOUND');
        }
        return;
      case 'policy.assign': {
        const enclave = this.enclave(command.enclave);
        if (!enclave.policies.has(command.policy)) throw new KeyholdError('POLICY_NOT_FOUND');
        const identity = this.identities.get(command.enclave, command.identity);
        if (!identity) throw new KeyholdError('IDENTITY_NOT_FOUND');
        if (identity.privilege !== 'User') {
          throw badRequest('policies can only be assigned to user identities');
        }
        return;
      }
      case 'identity.put':
        this.enclave(command.enclave);
        // Never an overwrite: that would change a privilege or a parent without the rights to
        // delete the identity (and re-parenting could make cycles). Logs written before this
        // check may hold overwrites; apply still replays them as they were. Only this enclave's
        // record counts: whether the identity exists elsewhere must not show here.
        if (this.identities.has(command.enclave, command.identity)) {
          throw new KeyholdError('IDENTITY_EXISTS');
        }
        return;
      case 'identity.delete':
        if (!this.identities.has(command.enclave, command.identity)) {
          throw new KeyholdError('IDENTITY_NOT_FOUND');
        }
        return;
    }
  }

  /** Applies a checked command. Deterministic: the same commands give the same state. */
  apply(command: Command): void {
    this.#changes = ++lastChange;
    this.commit++;
    switch (command.op) {
      case 'enclave.create':
        this.enclaves.set(
          command.enclave,
          this.newEnclave(command.enclave, new Date(command.at), command.by),
        );
        return;
      case 'enclave.delete': {
        this.enclaves.get(command.enclave)?.keys.clear();
        this.enclaves.delete(command.enclave);
        const members = this.identities.deleteEnclave(command.enclave);
        if (command.cascade) this.#orphansGo(members.map((m) => m.identity));
        return;
      }
      case 'key.create':
        this.enclave(command.enclave).keys.add(command.name, {
          type: command.type,
          key: command.key,
          hmacKey: command.hmacKey,
          at: command.at,
          by: command.by,
          imported: command.imported,
        });
        return;
      case 'key.delete': {
        const keys = this.enclave(command.enclave).keys;
        if (command.all) keys.deleteRing(command.name);
        else keys.deleteVersion(command.name, command.version);
        return;
      }
      case 'policy.put':
        this.enclave(command.enclave).policies.set(command.name, {
          name: command.name,
          allow: command.allow,
          deny: command.deny,
          createdAt: new Date(command.at),
          createdBy: command.by,
        });
        return;
      case 'policy.delete':
        // Identities keep the name: a deleted policy grants nothing (deny by default).
        this.enclave(command.enclave).policies.delete(command.name);
        return;
      case 'policy.assign': {
        const identity = this.identities.get(command.enclave, command.identity);
        if (identity) identity.policy = command.policy;
        return;
      }
      case 'identity.put': {
        let policy = '';
        if (command.scoped !== true) {
          // An old log's put replaces the identity's one record, wherever it was.
          for (const old of [...this.identities.recordsOf(command.identity)]) {
            policy = old.policy;
            this.identities.delete(old.enclave, old.identity);
          }
        }
        this.identities.set({
          identity: command.identity,
          enclave: command.enclave,
          privilege: command.privilege,
          policy: command.privilege === 'User' ? policy : '',
          createdAt: new Date(command.at),
          createdBy: command.by,
          parent: command.parent,
          tags: command.tags,
        });
        return;
      }
      case 'identity.delete':
        this.identities.delete(command.enclave, command.identity);
        this.#orphansGo([command.identity]);
        return;
    }
  }

  /**
   * Replaces the whole content with another state's (a restore), zeroing this one's key material.
   * `other` must not be used afterwards.
   */
  replaceWith(other: State): void {
    this.#changes = ++lastChange;
    this.#slab.wipe();
    this.#slab = other.#slab;
    this.enclaves.clear();
    for (const enclave of other.enclaves.values()) this.enclaves.set(enclave.name, enclave);
    this.identities.clear();
    for (const identity of other.identities.values()) this.identities.set(identity);
    this.commit = other.commit;
  }

  /** Service accounts of an identity's record in `enclave` (deleted with it). */
  serviceAccountsOf(enclave: string, identity: string): IdentityRecord[] {
    const out: IdentityRecord[] = [];
    for (const record of this.identities.page(enclave, '', '', Number.MAX_SAFE_INTEGER).items) {
      if (record.parent === identity) out.push(record);
    }
    return out;
  }

  /**
   * The record whose rights a service account of `parent` in `enclave` inherits: the parent's
   * record in that enclave, else one of its records that acts in every enclave (a SysAdmin, or
   * a service account of one). Undefined when there is none: the service account has no rights
   * and goes (orphansGo).
   */
  parentRecord(enclave: string, parent: string, depth = 0): IdentityRecord | undefined {
    const own = this.identities.get(enclave, parent);
    if (own) return own;
    for (const record of this.identities.recordsOf(parent)) {
      if (this.#actsEverywhere(record, depth)) return record;
    }
    return undefined;
  }

  /**
   * True if a record's rights may reach every enclave: a SysAdmin, or a service account whose
   * chain ends at one or at an identity without records (the root identity, which the state does
   * not know; the core resolves it, see core/caller.ts).
   */
  #actsEverywhere(record: IdentityRecord, depth: number): boolean {
    if (record.parent === '') return record.privilege === 'SysAdmin';
    // A parent chain is a few links at most; the bound guards against a corrupt cycle.
    if (depth >= 16) return false;
    if (this.identities.recordsOf(record.parent).next().done === true) return true;
    const parent = this.parentRecord(record.enclave, record.parent, depth + 1);
    return parent !== undefined && this.#actsEverywhere(parent, depth + 1);
  }

  /**
   * After records of `removed` identities went: deletes every service account whose parent no
   * longer resolves (parentRecord), transitively and in every enclave, so that none regains
   * rights when its parent is created again.
   */
  #orphansGo(removed: readonly string[]): void {
    // One pass over all identities per generation of service accounts (chains are short).
    for (let gone = new Set(removed); gone.size > 0;) {
      const next = new Set<string>();
      for (const record of [...this.identities.values()]) {
        if (record.parent === '' || !gone.has(record.parent)) continue;
        if (this.parentRecord(record.enclave, record.parent)) continue;
        this.identities.delete(record.enclave, record.identity);
        next.add(record.identity);
      }
      gone = next;
    }
  }
}
