// The state owned by this process: the sealed store and the engine over it. The single process
// of a node, or the primary of a worker pool (which passes `onApplied` to replicate).

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { HsmKey } from '../crypto/index.ts';
import { BackupReceiver, openBackup, sealedBackupOf } from '../state/backup.ts';
import type { Command } from '../state/commands.ts';
import { Engine } from '../state/engine.ts';
import type { State } from '../state/state.ts';
import { AesGcmSealer } from '../store/aes-gcm-sealer.ts';
import { Store } from '../store/store.ts';
import { EventLog } from '../observe/event-log.ts';
import type { ServerOptions } from './server-options.ts';
import type { Metrics } from '../observe/metrics.ts';
import { resolveRoot } from './root-identity.ts';
import type { Root } from './root-identity.ts';
import { loadServerCertificate } from './server-certificate.ts';
import type { LoadedCertificate } from './server-certificate.ts';
import type { StateOwner } from './state-owner.ts';

export interface LocalOwnerOptions {
  readonly dir: string;
  readonly hsmKey: HsmKey;
  /** Enclave created at first start (requests that name none use it). */
  readonly defaultEnclave: string;
  /** Recorded as the creator of the default enclave. */
  readonly rootIdentity: string;
  readonly log: EventLog;
  readonly onApplied?: (command: Command, index: number) => void;
}

export class LocalOwner implements StateOwner {
  readonly engine: Engine;
  readonly #hsmKey: HsmKey;
  /** Told when storage fails. */
  readonly #onRefused: Set<() => void>;
  /** Set by the serving side: the registry to report (single-process mode). */
  metricsSource: Metrics | null = null;

  private constructor(engine: Engine, options: LocalOwnerOptions, onRefused: Set<() => void>) {
    this.engine = engine;
    this.#onRefused = onRefused;
    this.#hsmKey = options.hsmKey;
  }

  /** Opens (or creates) the sealed state in `DIR/state` and creates the default enclave. */
  static async open(options: LocalOwnerOptions): Promise<LocalOwner> {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const { store, recovered } = await Store.open({
      dir: join(options.dir, 'state'),
      rekSealer: new AesGcmSealer(options.hsmKey.rekSealingKey()),
    });
    for (const warning of recovered.warnings) options.log.warn(warning);
    const onRefused = new Set<() => void>();
    const engine = Engine.recover(store, recovered, {
      ...(options.onApplied ? { onApplied: options.onApplied } : {}),
      onFailed: (error) => {
        // The store's message names the failed call, the file and the errno.
        options.log.error(`${error.message}; writes are refused until the server restarts`);
        for (const listener of onRefused) listener();
      },
    });
    if (!engine.state.enclaves.has(options.defaultEnclave)) {
      await engine.submit({
        op: 'enclave.create',
        enclave: options.defaultEnclave,
        at: Date.now(),
        by: options.rootIdentity,
      });
    }
    return new LocalOwner(engine, options, onRefused);
  }

  get state(): State {
    return this.engine.state;
  }

  /** False once storage failed (`/v1/health/ready?write` answers 503). */
  writable(): boolean {
    return this.engine.writable;
  }

  /** Calls `listener` once storage fails (the primary tells its workers). */
  onWritesRefused(listener: () => void): void {
    this.#onRefused.add(listener);
  }

  /** Resolves once the command is durable and applied here. */
  async submit(command: Command): Promise<void> {
    await this.engine.submit(command);
  }

  async backup(): Promise<Buffer> {
    return sealedBackupOf(await this.engine.exportSnapshot(), this.#hsmKey);
  }

  async restore(backup: AsyncIterable<Uint8Array>): Promise<void> {
    const receiver = new BackupReceiver();
    for await (const piece of backup) receiver.add(piece);
    await this.restoreSealed(receiver.take());
  }

  /** Replaces the whole state with a sealed backup received whole. */
  async restoreSealed(backup: Buffer): Promise<void> {
    await this.engine.restoreSnapshot(openBackup(backup, this.#hsmKey.backupSealingKey()));
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    const registry = this.metricsSource?.registry;
    if (!registry) return { contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '' };
    return { contentType: registry.contentType, body: await registry.metrics() };
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}

/** What the process that owns a node's state opens at start, whatever serves the requests. */
export interface OwnedNode {
  readonly log: EventLog;
  readonly root: Root;
  readonly owner: LocalOwner;
  readonly certificate: LoadedCertificate;
}

/**
 * Resolves the root identity, opens the sealed state (creating the default enclave) and loads
 * the server certificate: the start of both the single process and a worker pool's primary.
 * When the certificate cannot be loaded, the state is closed again (its lock released).
 */
export async function openOwnedNode(
  options: ServerOptions,
  onApplied?: (command: Command, index: number) => void,
): Promise<OwnedNode> {
  const log = options.log ?? new EventLog();
  const root = resolveRoot(options.hsmKey, options.adminIdentity);
  const owner = await LocalOwner.open({
    dir: options.dir,
    hsmKey: options.hsmKey,
    defaultEnclave: options.defaultEnclave ?? 'default',
    rootIdentity: root.identity,
    log,
    ...(onApplied ? { onApplied } : {}),
  });
  try {
    const certificate = await loadServerCertificate(options.dir, options.tls, options.publicHost);
    return { log, root, owner, certificate };
  } catch (error) {
    await owner.close().catch(() => undefined);
    throw error;
  }
}
