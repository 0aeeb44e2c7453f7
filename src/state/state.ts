// The state machine: validates commands against the current state (`check`) and applies them
// deterministically (`apply`). The in-memory state is the read path; nothing here does I/O.

import { KeyholdError, badRequest } from '../model/errors.ts';
import type { Command } from './commands.ts';
import type { EnclaveRecord, IdentityRecord, KeyRing } from './entities.ts';
import { KeyRings } from './key-rings.ts';
import { KeySlab } from './key-slab.ts';
import { SortedNames } from './sorted-names.ts';

export class State {
  readonly enclaves = new SortedNames<EnclaveRecord>();
  /** Every identity of every enclave, by `h1:` identity (an identity lives in one enclave). */
  readonly identities = new SortedNames<IdentityRecord>();
  /** Number of commands applied (the log index of the last one). */
  commit = 0;
  #slab: KeySlab;

  /** @param slab where key versions live (a snapshot decoder passes the one it filled). */
  constructor(slab: KeySlab = new KeySlab()) {
    this.#slab = slab;
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
        const identity = this.identities.get(command.identity);
        if (identity?.enclave !== command.enclave) throw new KeyholdError('IDENTITY_NOT_FOUND');
        if (identity.privilege !== 'User') {
          throw badRequest('policies can only be assigned to user identities');
        }
        return;
      }
      case 'identity.put':
        this.enclave(command.enclave);
        // Never an overwrite: that would change a privilege or a parent without the rights to
        // delete the identity (and re-parenting could make cycles). Logs written before this
        // check may hold overwrites; apply still replays them as they were.
        if (this.identities.has(command.identity)) throw new KeyholdError('IDENTITY_EXISTS');
        return;
      case 'identity.delete': {
        const identity = this.identities.get(command.identity);
        if (identity?.enclave !== command.enclave) throw new KeyholdError('IDENTITY_NOT_FOUND');
        return;
      }
    }
  }

  /** Applies a checked command. Deterministic: the same commands give the same state. */
  apply(command: Command): void {
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
        const members: string[] = [];
        for (const identity of this.identities.values()) {
          if (identity.enclave === command.enclave) members.push(identity.identity);
        }
        if (command.cascade) this.#deleteIdentities(members);
        else for (const member of members) this.identities.delete(member);
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
        const identity = this.identities.get(command.identity);
        if (identity) identity.policy = command.policy;
        return;
      }
      case 'identity.put': {
        const existing = this.identities.get(command.identity);
        this.identities.set(command.identity, {
          identity: command.identity,
          enclave: command.enclave,
          privilege: command.privilege,
          policy: command.privilege === 'User' ? (existing?.policy ?? '') : '',
          createdAt: new Date(command.at),
          createdBy: command.by,
          parent: command.parent,
          tags: command.tags,
        });
        return;
      }
      case 'identity.delete':
        this.#deleteIdentities([command.identity]);
        return;
    }
  }

  /**
   * Replaces the whole content with another state's (a restore), zeroing this one's key material.
   * `other` must not be used afterwards.
   */
  replaceWith(other: State): void {
    this.#slab.wipe();
    this.#slab = other.#slab;
    this.enclaves.clear();
    for (const enclave of other.enclaves.values()) this.enclaves.set(enclave.name, enclave);
    this.identities.clear();
    for (const identity of other.identities.values())
      this.identities.set(identity.identity, identity);
    this.commit = other.commit;
  }

  /** Service accounts of an identity (deleted with it). */
  serviceAccountsOf(identity: string): IdentityRecord[] {
    const out: IdentityRecord[] = [];
    for (const record of this.identities.values()) if (record.parent === identity) out.push(record);
    return out;
  }

  /** Deletes `identities` and their service accounts, transitively, in every enclave. */
  #deleteIdentities(identities: readonly string[]): void {
    const doomed = new Set(identities);
    // One pass over all identities per generation of service accounts (chains are short).
    for (let grew = doomed.size > 0; grew;) {
      grew = false;
      for (const record of this.identities.values()) {
        if (doomed.has(record.parent) && !doomed.has(record.identity)) {
          doomed.add(record.identity);
          grew = true;
        }
      }
    }
    for (const identity of doomed) this.identities.delete(identity);
  }
}
