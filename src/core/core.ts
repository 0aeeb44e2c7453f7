// The domain core: every operation of either face, authorized once and executed against the
// state. Faces parse requests and encode responses; they never touch the state directly.

import { createHmac } from 'node:crypto';
import type { KeyType } from '../crypto/index.ts';
import { KEY_TYPES, NotAuthenticError, SecretKey, randomPool } from '../crypto/index.ts';
import { KeyholdError, badRequest } from '../model/errors.ts';
import { isValidName, isValidPrefix } from '../model/names.ts';
import { parseIdentity } from '../identity/index.ts';
import { parsePrivilege } from '../model/privilege.ts';
import type { Privilege } from '../model/privilege.ts';
import type { Command } from '../state/commands.ts';
import type {
  EnclaveRecord,
  IdentityRecord,
  KeyRing,
  KeyVersion,
  PolicyRecord,
  RuleMap,
} from '../state/entities.ts';
import { latestVersion } from '../state/entities.ts';
import type { Page } from '../state/sorted-names.ts';
import type { State } from '../state/state.ts';
import { authorize, authorizeKesPath, authorizeScope, isAllowed } from './authorize.ts';
import type { ExternalKeys, KeyStoreHealth } from './external-keys.ts';
import type { Caller } from './caller.ts';
import { isSelf } from './caller.ts';
import { describeSelf } from './kes-self.ts';
import type { SelfDescription } from './kes-self.ts';
import type { ReadCheck } from './read-wait.ts';

/** Where the core sends state changes (the engine, or a forwarder to it). */
export interface CommandSink {
  submit(command: Command): Promise<void>;
  /**
   * A cluster node: throws ReadWait (read-wait.ts) while the read depends on a change in flight,
   * or the error to answer when the node may not serve (not a member). Absent on a single node.
   */
  checkRead?(read: ReadCheck): void;
}

/** Paging parameters of every list operation. */
export interface ListParams {
  readonly prefix: string;
  readonly continueAt: string;
  /** 0 = the server's maximum page size. */
  readonly limit: number;
}

/** The largest page a list returns (KES returns at most 1024 names). */
export const MAX_PAGE = 1024;
/** The longest identity list prefix (an `h1:` identity has 46 characters). */
const MAX_IDENTITY_PREFIX = 80;
/** Data keys are 1..1024 bytes long; 0 asks for the default 32. */
export const MAX_DATA_KEY_LENGTH = 1024;

export interface GeneratedKey {
  readonly version: number;
  readonly plaintext: Buffer;
  readonly ciphertext: Buffer;
}

export class Core {
  readonly #state: State;
  readonly #sink: CommandSink;
  readonly #now: () => number;
  /** Set in KES gateway mode: keys live in an external store, not in the state. */
  readonly #external: ExternalKeys | undefined;
  /**
   * The last key ring read from the state, with the state's change count then: a client names
   * the same key request after request, and the ring (a view valid until the state changes) is
   * reused without the two name lookups, as long as nothing changed.
   */
  #lastRing:
    | {
        readonly changes: number;
        readonly enclave: string;
        readonly name: string;
        readonly ring: KeyRing;
      }
    | undefined;

  constructor(
    state: State,
    sink: CommandSink,
    now: () => number = Date.now,
    external?: ExternalKeys,
  ) {
    this.#state = state;
    this.#sink = sink;
    this.#now = now;
    this.#external = external;
  }

  /** True in KES gateway mode (keys in an external store). */
  get gateway(): boolean {
    return this.#external !== undefined;
  }

  // ── authorization without an operation ──────────────────────────────────
  // Faces ask these before they read a body or when a request has no core operation; the
  // operation that follows finds the decision already made (Caller.granted), so each request is
  // checked once.

  /**
   * Throws PERMISSION unless the caller may run `command` on `target` in `enclave` (null: at
   * cluster level). Faces check their own name grammar first (KES's order: 400, then 403).
   */
  authorize(caller: Caller, command: string, enclave: string | null, target: string): void {
    authorize(this.#state, caller, command, enclave, target);
  }

  /** Throws PERMISSION unless the caller may run a cluster-level command (SysAdmin only). */
  authorizeCluster(caller: Caller, command: string): void {
    authorize(this.#state, caller, command, null, '');
  }

  /**
   * Throws PERMISSION unless some command in `enclave` (null: at cluster level) could be allowed
   * to the caller: for refusing a request before its body is read.
   */
  authorizeScope(caller: Caller, enclave: string | null): void {
    authorizeScope(this.#state, caller, enclave);
  }

  /** A KES request with no core operation (status, metrics, API listing, log streams). */
  authorizeKesPath(caller: Caller, enclave: string | null): void {
    authorizeKesPath(this.#state, caller, enclave);
  }

  /** What the caller itself may do in `enclave` (KES self-describe: needs no permission). */
  describeSelf(caller: Caller, enclave: string): SelfDescription {
    return describeSelf(this.#state, caller, enclave);
  }

  /**
   * Nanoseconds one lookup in the key state takes (KES's `keystore_latency`: the keys live in
   * memory, so the "key store" is this lookup). Call after authorizing the request.
   */
  keystoreLatency(enclave: string): number {
    const t0 = process.hrtime.bigint();
    this.#state.enclaves.has(enclave);
    return Math.max(1, Number(process.hrtime.bigint() - t0));
  }

  // ── enclaves (cluster-level: SysAdmin only) ──────────────────────────────

  async createEnclave(caller: Caller, name: string): Promise<void> {
    checkName('enclave', name);
    authorize(this.#state, caller, 'ENCLAVE:CREATE', null, name);
    await this.#sink.submit({ op: 'enclave.create', enclave: name, ...this.#stamp(caller) });
  }

  async deleteEnclave(caller: Caller, name: string): Promise<void> {
    checkName('enclave', name);
    authorize(this.#state, caller, 'ENCLAVE:DELETE', null, name);
    await this.#sink.submit({ op: 'enclave.delete', enclave: name, cascade: true });
  }

  enclaveStatus(caller: Caller, name: string): EnclaveRecord {
    checkName('enclave', name);
    this.#read(caller, `enclave/${name}`);
    authorize(this.#state, caller, 'ENCLAVE:STATUS', null, name);
    return this.#state.enclave(name);
  }

  listEnclaves(caller: Caller, params: ListParams): Page<EnclaveRecord> {
    checkPrefix(params.prefix);
    this.#read(caller, 'enclave', true);
    authorize(this.#state, caller, 'ENCLAVE:LIST', null, params.prefix);
    return page(this.#state.enclaves, params);
  }

  // ── keys ─────────────────────────────────────────────────────────────────

  async createKey(
    caller: Caller,
    enclave: string,
    request: { name: string; type: string; addVersion: boolean },
  ): Promise<void> {
    checkName('key', request.name);
    authorize(this.#state, caller, 'KEY:CREATE', enclave, request.name);
    const type = parseKeyType(request.type);
    await this.#sink.submit({
      op: 'key.create',
      enclave,
      name: request.name,
      type,
      key: randomPool.take(32),
      hmacKey: randomPool.take(32),
      imported: false,
      addVersion: request.addVersion,
      ...this.#stamp(caller),
    });
  }

  async importKey(
    caller: Caller,
    enclave: string,
    request: { name: string; type: string; key: Uint8Array; hmacKey?: Uint8Array | null },
  ): Promise<void> {
    checkName('key', request.name);
    authorize(this.#state, caller, 'KEY:IMPORT', enclave, request.name);
    const type = parseKeyType(request.type);
    if (request.key.length !== 32) {
      throw new KeyholdError('NOT_ACCEPTABLE', `invalid key size for '${type}'`);
    }
    await this.#sink.submit({
      op: 'key.create',
      enclave,
      name: request.name,
      type,
      key: Buffer.from(request.key),
      hmacKey: request.hmacKey ? Buffer.from(request.hmacKey) : null,
      imported: true,
      addVersion: false,
      ...this.#stamp(caller),
    });
  }

  async deleteKey(
    caller: Caller,
    enclave: string,
    request: { name: string; version: number; allVersions: boolean },
  ): Promise<void> {
    checkName('key', request.name);
    authorize(this.#state, caller, 'KEY:DELETE', enclave, request.name);
    if (request.allVersions && request.version !== 0) {
      throw badRequest('a key version and all versions are mutually exclusive');
    }
    await this.#sink.submit({
      op: 'key.delete',
      enclave,
      name: request.name,
      version: request.version,
      all: request.allVersions,
    });
  }

  /** The requested version (0 = latest) of a key, with its ring. */
  keyStatus(
    caller: Caller,
    enclave: string,
    request: { name: string; version: number },
  ): { ring: KeyRing; version: KeyVersion } {
    checkName('key', request.name);
    this.#readKey(caller, enclave, request.name);
    authorize(this.#state, caller, 'KEY:STATUS', enclave, request.name);
    const ring = this.#ring(enclave, request.name);
    return { ring, version: pickVersion(ring, request.version) };
  }

  listKeys(caller: Caller, enclave: string, params: ListParams): Page<KeyRing> {
    // In gateway mode the state holds no keys: a face must list through listKeyRings.
    if (this.#external) throw new KeyholdError('INTERNAL');
    checkPrefix(params.prefix);
    this.#read(caller, `enclave/${enclave}/key`, true);
    authorize(this.#state, caller, 'KEY:LIST', enclave, params.prefix);
    return page(this.#state.enclave(enclave).keys, params);
  }

  encrypt(
    caller: Caller,
    enclave: string,
    request: { name: string; version: number; plaintext: Uint8Array; associatedData: Uint8Array },
  ): { version: number; ciphertext: Buffer } {
    checkName('key', request.name);
    this.#readKey(caller, enclave, request.name);
    authorize(this.#state, caller, 'KEY:ENCRYPT', enclave, request.name);
    const version = pickVersion(this.#ring(enclave, request.name), request.version);
    return {
      version: version.version,
      ciphertext: version.key.seal(request.plaintext, request.associatedData),
    };
  }

  generate(
    caller: Caller,
    enclave: string,
    request: { name: string; version: number; associatedData: Uint8Array; length: number },
  ): GeneratedKey {
    checkName('key', request.name);
    this.#readKey(caller, enclave, request.name);
    authorize(this.#state, caller, 'KEY:GENERATE', enclave, request.name);
    const length = request.length === 0 ? 32 : request.length;
    if (length > MAX_DATA_KEY_LENGTH) {
      throw badRequest(`invalid data key length ${length}: must be 1..${MAX_DATA_KEY_LENGTH}`);
    }
    const version = pickVersion(this.#ring(enclave, request.name), request.version);
    const plaintext = randomPool.take(length);
    return {
      version: version.version,
      plaintext,
      ciphertext: version.key.seal(plaintext, request.associatedData),
    };
  }

  /**
   * Decrypts with the given version, or with version 0 with whichever live version opens it
   * (latest first): MinIO never sends a version (docs/protocol/kms.md).
   */
  decrypt(
    caller: Caller,
    enclave: string,
    request: { name: string; version: number; ciphertext: Uint8Array; associatedData: Uint8Array },
  ): Buffer {
    checkName('key', request.name);
    this.#readKey(caller, enclave, request.name);
    authorize(this.#state, caller, 'KEY:DECRYPT', enclave, request.name);
    const ring = this.#ring(enclave, request.name);
    const { ciphertext, associatedData } = request;
    if (request.version !== 0) {
      const plaintext = tryOpen(pickVersion(ring, request.version), ciphertext, associatedData);
      if (plaintext) return plaintext;
      throw new KeyholdError('DECRYPT');
    }
    const latest = latestVersion(ring);
    const plaintext = tryOpen(latest, ciphertext, associatedData);
    if (plaintext) return plaintext;
    if (ring.versionCount > 1) {
      const older = ring.versions().filter((v) => v.version !== latest.version);
      for (const version of older.reverse()) {
        const opened = tryOpen(version, ciphertext, associatedData);
        if (opened) return opened;
      }
    }
    throw new KeyholdError('DECRYPT');
  }

  mac(
    caller: Caller,
    enclave: string,
    request: { name: string; version: number; message: Uint8Array },
  ): { version: number; mac: Buffer } {
    checkName('key', request.name);
    this.#readKey(caller, enclave, request.name);
    authorize(this.#state, caller, 'KEY:MAC', enclave, request.name);
    const version = pickVersion(this.#ring(enclave, request.name), request.version);
    if (!version.hmacKey) throw new KeyholdError('KEY_NO_HMAC');
    return {
      version: version.version,
      mac: createHmac('sha256', version.hmacKey).update(request.message).digest(),
    };
  }

  // ── keys in an external store (KES gateway mode) ─────────────────────────

  /**
   * Authorizes `command` on a key and, in gateway mode, fetches the key into the cache, so that
   * the synchronous operation the face calls next finds it. A no-op for keys in the state.
   */
  async loadKey(caller: Caller, enclave: string, name: string, command: string): Promise<void> {
    if (!this.#external) return;
    checkName('key', name);
    authorize(this.#state, caller, command, enclave, name);
    this.#state.enclave(enclave);
    await this.#external.load(enclave, name);
  }

  /** A page of key names: from the state, or in gateway mode from the store. */
  async listKeyNames(caller: Caller, enclave: string, params: ListParams): Promise<Page<string>> {
    if (!this.#external) {
      const rings = this.listKeys(caller, enclave, params);
      return { items: rings.items.map((r) => r.name), continueAt: rings.continueAt };
    }
    checkPrefix(params.prefix);
    authorize(this.#state, caller, 'KEY:LIST', enclave, params.prefix);
    this.#state.enclave(enclave);
    return this.#external.list(enclave, params.prefix, params.continueAt, pageLimit(params.limit));
  }

  /** A page of keys with their versions (gateway mode: names from the store, each key fetched). */
  async listKeyRings(caller: Caller, enclave: string, params: ListParams): Promise<Page<KeyRing>> {
    if (!this.#external) return this.listKeys(caller, enclave, params);
    const names = await this.listKeyNames(caller, enclave, params);
    const items: KeyRing[] = [];
    for (const name of names.items) {
      try {
        items.push(await this.#external.load(enclave, name));
      } catch (error) {
        // Deleted between listing and reading: not part of the page.
        if (!(error instanceof KeyholdError) || error.code !== 'KEY_NOT_FOUND') throw error;
      }
    }
    return { items, continueAt: names.continueAt };
  }

  /** The key store's health (the state is always at hand: 1 ns, reachable). */
  async keyStoreHealth(): Promise<KeyStoreHealth & { readonly external: boolean }> {
    if (!this.#external) return { latencyMs: 0, unreachable: false, external: false };
    return { ...(await this.#external.health()), external: true };
  }

  // ── policies ─────────────────────────────────────────────────────────────

  async createPolicy(
    caller: Caller,
    enclave: string,
    request: { name: string; allow: RuleMap; deny: RuleMap },
  ): Promise<void> {
    checkName('policy', request.name);
    authorize(this.#state, caller, 'POLICY:CREATE', enclave, request.name);
    await this.#sink.submit({
      op: 'policy.put',
      enclave,
      name: request.name,
      allow: request.allow,
      deny: request.deny,
      ...this.#stamp(caller),
    });
  }

  async deletePolicy(caller: Caller, enclave: string, name: string): Promise<void> {
    checkName('policy', name);
    authorize(this.#state, caller, 'POLICY:DELETE', enclave, name);
    await this.#sink.submit({ op: 'policy.delete', enclave, name });
  }

  async assignPolicy(
    caller: Caller,
    enclave: string,
    request: { identity: string; policy: string },
  ): Promise<void> {
    checkName('policy', request.policy);
    const identity = canonicalIdentity(request.identity);
    authorize(this.#state, caller, 'POLICY:ASSIGN', enclave, request.policy);
    // A policy given to oneself would raise one's own rights beyond what was granted.
    if (isSelf(this.#state, caller, enclave, identity)) throw new KeyholdError('SELF_ASSIGN');
    await this.#sink.submit({ op: 'policy.assign', enclave, identity, policy: request.policy });
  }

  policy(caller: Caller, enclave: string, name: string, command = 'POLICY:GET'): PolicyRecord {
    checkName('policy', name);
    this.#read(caller, `enclave/${enclave}/policy/${name}`);
    authorize(this.#state, caller, command, enclave, name);
    const policy = this.#state.enclave(enclave).policies.get(name);
    if (!policy) throw new KeyholdError('POLICY_NOT_FOUND');
    return policy;
  }

  listPolicies(caller: Caller, enclave: string, params: ListParams): Page<PolicyRecord> {
    checkPrefix(params.prefix);
    this.#read(caller, `enclave/${enclave}/policy`, true);
    authorize(this.#state, caller, 'POLICY:LIST', enclave, params.prefix);
    return page(this.#state.enclave(enclave).policies, params);
  }

  // ── identities ───────────────────────────────────────────────────────────

  async createIdentity(
    caller: Caller,
    enclave: string,
    request: {
      identity: string;
      privilege: string;
      isServiceAccount: boolean;
      tags: Record<string, string>;
    },
  ): Promise<void> {
    const identity = canonicalIdentity(request.identity);
    authorize(this.#state, caller, 'IDENTITY:CREATE', enclave, identity);
    const privilege = parsePrivilege(request.privilege);
    if (!privilege) throw badRequest(`invalid privilege '${request.privilege}'`);
    if (identity === caller.identity || identity === caller.rootIdentity) {
      throw badRequest('an identity cannot change its own privileges');
    }
    this.#checkCanGrant(caller, enclave, privilege);
    await this.#sink.submit({
      op: 'identity.put',
      enclave,
      identity,
      privilege,
      parent: request.isServiceAccount ? caller.identity : '',
      tags: request.tags,
      scoped: true,
      ...this.#stamp(caller),
    });
  }

  async deleteIdentity(caller: Caller, enclave: string, text: string): Promise<void> {
    const identity = canonicalIdentity(text);
    authorize(this.#state, caller, 'IDENTITY:DELETE', enclave, identity);
    // Only this enclave's record: the answer never depends on another enclave's.
    const record = this.#state.identities.get(enclave, identity);
    if (record) this.#checkCanGrant(caller, enclave, record.privilege);
    await this.#sink.submit({ op: 'identity.delete', enclave, identity });
  }

  identity(caller: Caller, enclave: string, text: string): IdentityRecord {
    const identity = canonicalIdentity(text);
    this.#read(caller, `identity/${identity}`);
    authorize(this.#state, caller, 'IDENTITY:STATUS', enclave, identity);
    const record = this.#state.identities.get(enclave, identity);
    if (!record) throw new KeyholdError('IDENTITY_NOT_FOUND');
    return record;
  }

  /**
   * Which of `commands` `identity` may run on `target` in `enclave`, by the same decision every
   * request gets (the console's policy preview). The caller must be allowed to see the identity
   * (IDENTITY:STATUS); the identity need not be registered (then it may run nothing).
   */
  previewAccess(
    caller: Caller,
    enclave: string,
    request: { identity: string; target: string; commands: readonly string[] },
  ): string[] {
    const identity = canonicalIdentity(request.identity);
    this.#read(caller, `identity/${identity}`);
    authorize(this.#state, caller, 'IDENTITY:STATUS', enclave, identity);
    this.#state.enclave(enclave);
    const subject: Caller = {
      identity,
      root: identity === caller.rootIdentity,
      rootIdentity: caller.rootIdentity,
    };
    return request.commands.filter((c) =>
      isAllowed(this.#state, subject, c, enclave, request.target),
    );
  }

  /** The service accounts of an identity record a caller was allowed to see (same enclave). */
  serviceAccountsOf(record: IdentityRecord): string[] {
    return this.#state.serviceAccountsOf(record.enclave, record.identity).map((r) => r.identity);
  }

  listIdentities(caller: Caller, enclave: string, params: ListParams): Page<IdentityRecord> {
    if (params.prefix.length > MAX_IDENTITY_PREFIX) {
      throw badRequest(`listing pattern '${quote(params.prefix)}' is too long`);
    }
    this.#read(caller, 'identity', true);
    authorize(this.#state, caller, 'IDENTITY:LIST', enclave, params.prefix);
    this.#state.enclave(enclave);
    return this.#state.identities.page(
      enclave,
      params.prefix,
      params.continueAt,
      pageLimit(params.limit),
    );
  }

  // ── helpers ──────────────────────────────────────────────────────────────

  /** A cluster node's wait rule and membership check (a no-op on a single node). */
  #read(caller: Caller, object: string, list = false): void {
    this.#sink.checkRead?.({ caller, object, list });
  }

  /**
   * {@link #read} of a key, its object name built only on a cluster node: the key operations
   * run once per frame of a batch.
   */
  #readKey(caller: Caller, enclave: string, name: string): void {
    if (this.#sink.checkRead !== undefined) this.#read(caller, `enclave/${enclave}/key/${name}`);
  }

  #stamp(caller: Caller): { at: number; by: string } {
    return { at: this.#now(), by: caller.identity };
  }

  #ring(enclave: string, name: string): KeyRing {
    if (this.#external) {
      this.#state.enclave(enclave);
      const ring = this.#external.cached(enclave, name);
      if (!ring) throw new KeyholdError('KEY_NOT_FOUND');
      return ring;
    }
    const changes = this.#state.changes;
    const last = this.#lastRing;
    if (last !== undefined && last.changes === changes && last.name === name) {
      if (last.enclave === enclave) return last.ring;
    }
    const ring = this.#state.keyRing(enclave, name);
    this.#lastRing = { changes, enclave, name, ring };
    return ring;
  }

  /**
   * Only a SysAdmin grants SysAdmin; Admins and up grant Admin; Users never grant more than User.
   * The caller's privilege: SysAdmin if registered as one in any enclave, else its record's in
   * `enclave`.
   */
  #checkCanGrant(caller: Caller, enclave: string, privilege: Privilege): void {
    if (caller.root || privilege === 'User') return;
    let mine = this.#state.identities.get(enclave, caller.identity)?.privilege;
    for (const record of this.#state.identities.recordsOf(caller.identity)) {
      if (record.privilege === 'SysAdmin') mine = 'SysAdmin';
    }
    const ok =
      privilege === 'Admin' ? mine === 'Admin' || mine === 'SysAdmin' : mine === 'SysAdmin';
    if (!ok) throw new KeyholdError('PERMISSION');
  }
}

/** The `h1:` form of an identity given as `h1:…` or hex; BAD_REQUEST otherwise. */
function canonicalIdentity(text: string): string {
  try {
    return parseIdentity(text).toH1();
  } catch {
    throw badRequest('invalid identity: expected h1:<base64url> or 64 lowercase hex digits');
  }
}

/**
 * The last name found valid (validity depends on the text alone): a batch names one key in every
 * frame, and a client one key request after request.
 */
let lastValidName: string | null = null;

/**
 * 400 unless `name` is in the name grammar. Runs before authorization, so that no policy pattern
 * is ever matched against a name longer than the grammar allows.
 */
function checkName(kind: string, name: string): void {
  if (name === lastValidName) return;
  if (isValidName(name)) lastValidName = name;
  else {
    throw badRequest(
      `${kind} name '${quote(name)}' is empty, too long or contains invalid characters`,
    );
  }
}

/** 400 unless `prefix` is a valid list prefix (before authorization, as names). */
function checkPrefix(prefix: string): void {
  if (!isValidPrefix(prefix)) {
    throw badRequest(`listing pattern '${quote(prefix)}' is empty, too long or is invalid`);
  }
}

/** A name as error messages quote it: cut after 80 characters (names may be megabytes long). */
function quote(name: string): string {
  return name.length > 80 ? `${name.slice(0, 80)}…` : name;
}

function parseKeyType(text: string): KeyType {
  if (text === '') return 'AES256';
  const type = KEY_TYPES.find((t) => t.toLowerCase() === text.toLowerCase());
  if (!type) throw new KeyholdError('NOT_ACCEPTABLE', `algorithm '${text}' is not supported`);
  return type;
}

function pickVersion(ring: KeyRing, version: number): KeyVersion {
  if (version === 0) return latestVersion(ring);
  const found = ring.version(version);
  if (!found) throw new KeyholdError('KEY_NOT_FOUND');
  return found;
}

/**
 * Opens a ciphertext with one key version, or returns null. An imported key also tries the other
 * algorithm on raw ciphertexts: MinIO converts its legacy JSON ciphertexts to the raw format
 * before sending them to a KMS, dropping the algorithm name, so a ChaCha20 ciphertext written by
 * MinIO's builtin KMS (hosts without AES instructions) arrives for a key imported as AES256.
 */
function tryOpen(
  version: KeyVersion,
  ciphertext: Uint8Array,
  associatedData: Uint8Array,
): Buffer | null {
  try {
    return version.key.open(ciphertext, associatedData);
  } catch (error) {
    if (!(error instanceof NotAuthenticError)) throw error;
  }
  if (!version.imported) return null;
  const other = new SecretKey(
    version.type === 'AES256' ? 'ChaCha20' : 'AES256',
    version.key.exportKeyMaterial(),
  );
  try {
    return other.open(ciphertext, associatedData);
  } catch (error) {
    if (!(error instanceof NotAuthenticError)) throw error;
    return null;
  }
}

function pageLimit(limit: number): number {
  return limit === 0 || limit > MAX_PAGE ? MAX_PAGE : limit;
}

function page<T>(
  names: { page(prefix: string, continueAt: string, limit: number): Page<T> },
  params: ListParams,
): Page<T> {
  return names.page(params.prefix, params.continueAt, pageLimit(params.limit));
}
