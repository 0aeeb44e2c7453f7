// The KES gateway mode (docs/keystores.md): a stateless node over an external key store. Master
// keys are written to and read from the store byte for byte as KES keeps them; identities and
// policies come from the config file; the in-memory state holds only the default enclave.
// Serves the core both as its command sink (create/delete go to the store) and as its external
// key lookup (reads go through KES's cache).

import type { ExternalKeys, KeyStoreHealth } from '../core/external-keys.ts';
import { parseKesKeyValue, SecretKey } from '../crypto/index.ts';
import { KeyholdError } from '../model/errors.ts';
import type { EventLog } from '../observe/event-log.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { Command } from '../state/commands.ts';
import type { KeyRing } from '../state/entities.ts';
import type { Page } from '../state/sorted-names.ts';
import { State } from '../state/state.ts';
import { randomPool } from '../crypto/index.ts';
import type { CacheExpiry } from '../config/keystore-config.ts';
import { gatewayKeyRing, storedValueOf } from '../keystore/gateway-key.ts';
import { KeyCache } from '../keystore/key-cache.ts';
import type { KeyStore } from '../keystore/keystore.ts';
import {
  KeyExistsError,
  KeyNotFoundError,
  StoreUnreachableError,
  messageOf,
  pageNames,
  storeFailure,
} from '../keystore/keystore.ts';
import type { StateOwner } from './state-owner.ts';

export interface GatewayOptions {
  readonly store: KeyStore;
  readonly cache: CacheExpiry;
  /** The one enclave of a gateway (KES has none: every key is in it). */
  readonly enclave: string;
  readonly rootIdentity: string;
  readonly log: EventLog;
  /** Milliseconds between offline probes (KES: 10 s; tests shorten it). */
  readonly probeInterval?: number;
}

/** Why a command that changes identities, policies or enclaves is refused in gateway mode. */
const STATELESS =
  'not available in KES gateway mode: identities and policies come from the config file, and the gateway has one enclave';

export class Gateway implements StateOwner, ExternalKeys {
  readonly state = new State();
  readonly store: KeyStore;
  readonly cache: KeyCache;
  readonly #enclave: string;
  readonly #log: EventLog;
  /** Set by the serving side: the registry to report. */
  metricsSource: Metrics | null = null;

  constructor(options: GatewayOptions) {
    this.store = options.store;
    this.#enclave = options.enclave;
    this.#log = options.log;
    this.state.apply({
      op: 'enclave.create',
      enclave: options.enclave,
      at: Date.now(),
      by: options.rootIdentity,
    });
    this.cache = new KeyCache(options.cache, () => this.store.status(), options.probeInterval);
  }

  // ── the core's command sink ──────────────────────────────────────────────

  async submit(command: Command): Promise<void> {
    switch (command.op) {
      case 'key.create':
        return this.#create(command);
      case 'key.delete':
        return this.#delete(command);
      default:
        throw new KeyholdError('NOT_IMPLEMENTED', STATELESS);
    }
  }

  async #create(command: Extract<Command, { op: 'key.create' }>): Promise<void> {
    this.#checkEnclave(command.enclave);
    if (command.addVersion) {
      throw new KeyholdError(
        'NOT_IMPLEMENTED',
        'a key in a KES key store has one version: adding versions is not available in KES gateway mode',
      );
    }
    // KES gives every new or imported key an HMAC key (its stored format requires one).
    const hmacKey = command.hmacKey ?? randomPool.take(32);
    let value: string;
    try {
      value = storedValueOf({
        key: new SecretKey(command.type, command.key),
        hmacKey,
        createdAt: new Date(command.at),
        createdBy: command.by,
      });
    } finally {
      if (!command.hmacKey) hmacKey.fill(0);
    }
    try {
      await this.store.create(command.name, value);
    } catch (error) {
      if (error instanceof KeyExistsError) throw new KeyholdError('KEY_EXISTS');
      this.#log.error(`key store: cannot create key '${command.name}': ${messageOf(error)}`);
      throw storeFailure('create');
    }
    // As in KES, a created key is not cached: the first use reads it back from the store.
  }

  async #delete(command: Extract<Command, { op: 'key.delete' }>): Promise<void> {
    this.#checkEnclave(command.enclave);
    if (!command.all && command.version > 1) throw new KeyholdError('KEY_NOT_FOUND');
    try {
      await this.store.delete(command.name);
    } catch (error) {
      if (error instanceof KeyNotFoundError) throw new KeyholdError('KEY_NOT_FOUND');
      this.#log.error(`key store: cannot delete key '${command.name}': ${messageOf(error)}`);
      throw storeFailure('delete');
    } finally {
      this.cache.evict(command.name);
    }
  }

  #checkEnclave(enclave: string): void {
    if (enclave !== this.#enclave) throw new KeyholdError('ENCLAVE_NOT_FOUND');
  }

  backup(): Promise<Buffer> {
    return Promise.reject(
      new KeyholdError(
        'NOT_IMPLEMENTED',
        'not available in KES gateway mode: the keys are in the external key store; back that up',
      ),
    );
  }

  /** Refused before reading the upload. */
  restore(_backup: AsyncIterable<Uint8Array>): Promise<void> {
    return Promise.reject(
      new KeyholdError(
        'NOT_IMPLEMENTED',
        'not available in KES gateway mode: the keys are in the external key store',
      ),
    );
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    const registry = this.metricsSource?.registry;
    if (!registry) return { contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '' };
    return { contentType: registry.contentType, body: await registry.metrics() };
  }

  async close(): Promise<void> {
    this.cache.close();
    await this.store.close();
  }

  // ── the core's external key lookup ───────────────────────────────────────

  load(enclave: string, name: string): Promise<KeyRing> {
    this.#checkEnclave(enclave);
    return this.cache.load(name, () => this.#fetch(name));
  }

  cached(enclave: string, name: string): KeyRing | undefined {
    return enclave === this.#enclave ? this.cache.get(name) : undefined;
  }

  async #fetch(name: string): Promise<KeyRing> {
    let value: string;
    try {
      value = await this.store.get(name);
    } catch (error) {
      if (error instanceof KeyNotFoundError) throw new KeyholdError('KEY_NOT_FOUND');
      this.#log.error(`key store: cannot read key '${name}': ${messageOf(error)}`);
      throw storeFailure('read');
    }
    try {
      return gatewayKeyRing(name, parseKesKeyValue(value));
    } catch (error) {
      // The parser never quotes key bytes.
      this.#log.error(`key store: key '${name}' is not a KES key value: ${messageOf(error)}`);
      throw storeFailure('read');
    }
  }

  async list(
    enclave: string,
    prefix: string,
    continueAt: string,
    limit: number,
  ): Promise<Page<string>> {
    this.#checkEnclave(enclave);
    let names: string[];
    try {
      names = await this.store.list(prefix);
    } catch (error) {
      this.#log.error(`key store: cannot list keys: ${messageOf(error)}`);
      throw storeFailure('list');
    }
    return pageNames(names, prefix, continueAt, limit);
  }

  /**
   * Probes the store now (credentials included), unless the cache is offline: then KES reports
   * unreachable at once, without waiting for a probe.
   */
  async health(): Promise<KeyStoreHealth> {
    if (this.cache.offline) return { latencyMs: 0, unreachable: true };
    const t0 = performance.now();
    try {
      await this.store.status();
      return { latencyMs: Math.max(1, Math.round(performance.now() - t0)), unreachable: false };
    } catch (error) {
      const message = messageOf(error);
      this.#log.warn(`key store: status probe failed: ${message}`);
      if (error instanceof StoreUnreachableError) return { latencyMs: 0, unreachable: true };
      return { latencyMs: 0, unreachable: false, error: message };
    }
  }
}
