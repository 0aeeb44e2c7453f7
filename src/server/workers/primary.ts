// The primary of a worker pool: owns the sealed store and the engine, forks one worker per core
// to serve requests, replicates every committed command to all workers and acknowledges a write
// only once every live worker has applied it (replacing one that does not in time). It serves no
// requests itself.

import nodeCluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';
import { KeyholdError } from '../../model/errors.ts';
import { BackupReceiver } from '../../state/backup.ts';
import { decodeCommand, encodeCommand } from '../../state/commands.ts';
import { encodeSnapshot } from '../../state/snapshot.ts';
import { EventLog } from '../../observe/event-log.ts';
import type { AuditFile } from '../../observe/audit-file.ts';
import { openAuditFile } from '../keyhold-server.ts';
import type { ServerOptions } from '../server-options.ts';
import { LocalOwner, openOwnedNode } from '../local-owner.ts';
import type { ClusterOwner } from '../cluster-owner.ts';
import type { Replicas } from '../../cluster/cluster-node.ts';
import { SessionTable } from '../../console/session-table.ts';
import type { Root } from '../root-identity.ts';
import type { LoadedCertificate } from '../server-certificate.ts';
import type { GatherTopic } from '../state-owner.ts';
import type {
  ClusterStart,
  NodeCondition,
  ToPrimary,
  ToWorker,
  WireKeyholdError,
} from './messages.ts';
import { EXPOSE_GC, IdleCollector, collectGarbage } from './collect-garbage.ts';
import { WorkerOutbox } from './snapshot-stream.ts';

interface Member {
  readonly worker: Worker;
  /** False until the worker asked for its state; it gets no commands before that. */
  ready: boolean;
  /** The worker has TLS handshakes in progress. */
  handshaking: boolean;
  /** Highest log index this worker has applied. */
  applied: number;
  /** Messages to the worker, in order, with snapshots streamed in pieces. */
  readonly outbox: WorkerOutbox;
  subscriptions: { audit: number; log: number };
  address: string | null;
  /** Backups this worker is uploading for a restore, by upload number. */
  readonly uploads: Map<number, BackupReceiver>;
  /** Killed for not applying a write in time; its exit is awaited. */
  replacing: boolean;
}

/** How long a write waits for a worker to apply it before the worker is replaced, by default. */
export const DEFAULT_APPLY_TIMEOUT_MS = 10_000;

/** How often a cluster node's primary tells its workers the node's condition (ms). */
const CONDITION_MS = 500;

export class Primary {
  readonly root: Root;
  readonly certificate: LoadedCertificate;
  readonly log: EventLog;
  readonly #owner: LocalOwner | ClusterOwner;
  /** A cluster node's owner (the same object as `#owner`), or null for a single node. */
  readonly #cluster: ClusterOwner | null;
  /** A cluster node: the newest etcd revision handed on to the workers. */
  #revision = 0;
  /** A cluster node: etcd revisions of `#unsent`, in order. */
  #unsentRevisions: number[] = [];
  #conditionTimer: NodeJS.Timeout | null = null;
  /** The web console's sessions, for every worker (session-table.ts). */
  readonly #sessions: SessionTable;
  readonly #members = new Map<number, Member>();
  readonly #ticketKeys = randomBytes(48);
  readonly #aggregator = new AggregatorRegistry();
  /** Writes waiting for every live worker to apply them, each with its deadline (ms). */
  readonly #waiters: { index: number; resolve: () => void; deadline: number }[] = [];
  readonly #applyTimeout: number;
  #deadlineTimer: NodeJS.Timeout | null = null;
  readonly #gathers = new Map<
    number,
    { values: unknown[]; missing: Set<number>; done: () => void }
  >();
  #nextGather = 1;
  readonly #workers: number;
  #shuttingDown = false;
  /** Committed commands not yet sent to the workers, from log index `#unsentFirst` on. */
  #unsent: Buffer[] = [];
  #unsentFirst = 0;
  readonly #idle = new IdleCollector();
  /** While the first workers start: told when one listens, or when one cannot start. */
  #listening: ((address: string) => void) | null = null;
  #startFailed: ((error: Error) => void) | null = null;
  /** The `init` snapshot while the first workers start (at one commit), then null: ~100 MB. */
  #initSnapshot: { commit: number; payload: Buffer } | null = null;
  /** The audit file: the workers send their lines here, so that they form one chain. */
  readonly #auditFile: AuditFile | null;

  private constructor(init: {
    owner: LocalOwner | ClusterOwner;
    cluster: ClusterOwner | null;
    auditFile: AuditFile | null;
    root: Root;
    certificate: LoadedCertificate;
    log: EventLog;
    workers: number;
    applyTimeout: number;
    consoleSessionIdle: number | undefined;
  }) {
    this.#owner = init.owner;
    this.#cluster = init.cluster;
    if (init.cluster) {
      this.#revision = init.cluster.node.appliedRevision;
      // Workers hear of `stable` before any write or read waiting on it here is released.
      init.cluster.node.progress.onAdvance = (stable) =>
        this.#broadcast({ type: 'stable', stable });
    }
    this.#sessions = new SessionTable(init.consoleSessionIdle);
    this.#auditFile = init.auditFile;
    this.root = init.root;
    this.certificate = init.certificate;
    this.log = init.log;
    this.#workers = init.workers;
    this.#applyTimeout = init.applyTimeout;
    // The primary's own events (a worker died…) reach subscribers in every worker.
    this.log.stream.setForward((event) => this.#relay({ type: 'log', event }, 'log'));
  }

  /**
   * Opens the state, forks `workers` workers and resolves once all of them listen. If one of
   * them cannot start (address in use, unusable TLS material…), stops the others, closes the
   * state and rejects with that worker's reason.
   */
  static async start(options: ServerOptions, workers: number): Promise<Primary> {
    let applied: ((index: number, command: Buffer) => void) | null = null;
    let primary: Primary | null = null;
    // A cluster node's changes reach the workers the same way, with their etcd revisions; the
    // node publishes a revision as applied only once every worker holds it.
    const replicas: Replicas = {
      applied: (revision, command) => {
        if (primary) primary.#queueApply(revision, encodeCommand(command), true);
      },
      replaced: (revision) => {
        if (primary) primary.#resetCluster(revision);
      },
      caughtUp: () => (primary ? primary.#allApplied(primary.#revision) : Promise.resolve()),
      changed: () => {
        if (primary) primary.#pushCondition();
      },
    };
    const { log, root, owner, certificate } = options.cluster
      ? // Loaded only for a cluster node (etcd's client is costly to load), as in keyhold-server.ts.
        await (
          await import('../open-cluster-node.ts')
        ).openClusterNode(options, options.cluster, replicas)
      : await openOwnedNode(options, (command, index) => applied?.(index, encodeCommand(command)));
    const cluster = options.cluster ? (owner as ClusterOwner) : null;
    let auditFile: AuditFile | null;
    try {
      auditFile = openAuditFile(options, log);
    } catch (error) {
      await owner.close().catch(() => undefined);
      throw error;
    }
    primary = new Primary({
      owner,
      cluster,
      auditFile,
      root,
      certificate,
      log,
      workers,
      applyTimeout: options.applyTimeout ?? DEFAULT_APPLY_TIMEOUT_MS,
      consoleSessionIdle: options.consoleSessionIdle,
    });
    const started = primary;
    applied = (index, command) => started.#queueApply(index, command, false);
    // A single node's storage failure reaches every worker (a cluster node's state lives in etcd).
    if (owner instanceof LocalOwner) {
      owner.onWritesRefused(() => started.#broadcast({ type: 'writes-refused' }));
    }
    // Workers reach V8's collector through the flag rather than by setting it at run time.
    nodeCluster.setupPrimary({
      serialization: 'advanced',
      execArgv: [...process.execArgv, EXPOSE_GC],
    });
    await started.#forkAll();
    if (cluster) {
      try {
        // Joins under the public HOST:PORT, once the workers listen (as a single process does).
        await cluster.start(options.publicHost ?? started.address);
      } catch (error) {
        await started.#abort();
        throw error;
      }
      // The workers started before the node knew its host (and so whether it is a member).
      started.#pushCondition();
      started.#conditionTimer = setInterval(() => started.#pushCondition(), CONDITION_MS);
      started.#conditionTimer.unref();
    }
    return started;
  }

  /** What the workers of a cluster node need to know of it now. */
  #condition(): NodeCondition {
    const node = this.#cluster!.node;
    const timing = this.#cluster!.timing;
    const contact = node.contact();
    return {
      host: node.host,
      notServing: node.isMember ? null : (node.readRefusal()?.message ?? null),
      writeRefusal: node.writeRefusal(),
      silentMs: contact.silentMs,
      etcdError: contact.error,
      maxStaleness: timing.maxStaleness ?? 0,
      readTimeout: timing.readTimeout ?? 10_000,
    };
  }

  #pushCondition(): void {
    if (!this.#cluster || this.#shuttingDown) return;
    this.#broadcast({ type: 'condition', condition: this.#condition() });
  }

  /** A cluster node's progress, for a worker that starts from a snapshot of the state now. */
  #clusterStart(): ClusterStart | undefined {
    if (!this.#cluster) return undefined;
    const progress = this.#cluster.node.progress;
    return {
      revision: this.#revision,
      stable: progress.stable,
      flights: progress.flights(),
      condition: this.#condition(),
    };
  }

  /** A cluster's snapshot mark replaced the whole state at `revision`: every worker starts over. */
  #resetCluster(revision: number): void {
    this.#flushApplies();
    this.#revision = revision;
    const snapshot = encodeSnapshot(this.#owner.state);
    const start = this.#clusterStart();
    for (const m of this.#members.values()) {
      if (m.ready && m.worker.isConnected()) {
        m.outbox.sendSnapshot(snapshot, { type: 'reset', ...(start ? { cluster: start } : {}) });
      }
      m.applied = Math.min(m.applied, revision - 1);
    }
  }

  /** The address the workers listen on. */
  get address(): string {
    for (const member of this.#members.values()) if (member.address) return member.address;
    return '';
  }

  /** Stops every worker, then closes the store. */
  async close(): Promise<void> {
    this.#shuttingDown = true;
    if (this.#deadlineTimer) clearTimeout(this.#deadlineTimer);
    if (this.#conditionTimer) clearInterval(this.#conditionTimer);
    const exits = [...this.#members.values()].map(
      (m) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => m.worker.kill('SIGKILL'), 5000);
          // Its last audit lines are read before the channel's end ('disconnect').
          let waiting = m.worker.isConnected() ? 2 : 1;
          const done = (): void => {
            if (--waiting > 0) return;
            clearTimeout(timer);
            resolve();
          };
          if (waiting === 2) m.worker.once('disconnect', done);
          m.worker.once('exit', done);
          this.#send(m, { type: 'shutdown' });
        }),
    );
    await Promise.all(exits);
    await this.#auditFile?.close();
    await this.#owner.close();
  }

  /** Start-up failed: kills the workers (they hold nothing durable) and closes the state. */
  async #abort(): Promise<void> {
    this.#shuttingDown = true;
    if (this.#deadlineTimer) clearTimeout(this.#deadlineTimer);
    if (this.#conditionTimer) clearInterval(this.#conditionTimer);
    await Promise.all(
      [...this.#members.values()].map(
        (m) =>
          new Promise<void>((resolve) => {
            if (m.worker.isDead()) {
              resolve();
              return;
            }
            m.worker.once('exit', () => resolve());
            m.worker.process.kill('SIGKILL');
          }),
      ),
    );
    await this.#auditFile?.close();
    await this.#owner.close();
  }

  async #forkAll(): Promise<void> {
    const listening = new Promise<string>((resolve, reject) => {
      let count = 0;
      this.#listening = (address) => {
        if (++count === this.#workers) resolve(address);
      };
      this.#startFailed = reject;
    });
    for (let i = 0; i < this.#workers; i++) this.#fork();
    try {
      await listening;
    } catch (error) {
      await this.#abort();
      throw error;
    } finally {
      this.#listening = null;
      this.#startFailed = null;
    }
    this.#initSnapshot?.payload.fill(0);
    this.#initSnapshot = null;
    // Recovery and the workers' snapshots leave a few hundred MB of dead buffers behind; collect
    // them once the message handler that got here (whose frame still holds some) returned.
    for (let i = 0; i < 2; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      collectGarbage();
    }
  }

  #fork(): void {
    const worker = nodeCluster.fork();
    const member: Member = {
      worker,
      ready: false,
      handshaking: false,
      applied: this.#position(),
      outbox: new WorkerOutbox(worker),
      subscriptions: { audit: 0, log: 0 },
      address: null,
      uploads: new Map(),
      replacing: false,
    };
    this.#members.set(worker.id, member);
    worker.on('message', (message: ToPrimary) => this.#onMessage(member, message));
    worker.once('exit', (code, signal) => this.#onExit(member, code, signal));
  }

  #onExit(member: Member, code: number | null, signal: string | null): void {
    this.#members.delete(member.worker.id);
    for (const gather of this.#gathers.values()) {
      if (gather.missing.delete(member.worker.id) && gather.missing.size === 0) gather.done();
    }
    const { audit, log } = member.subscriptions;
    if (audit !== 0 || log !== 0) this.#broadcastSubscribers();
    this.#checkWaiters();
    if (this.#shuttingDown) return;
    if (this.#startFailed && member.address === null) {
      this.#startFailed(
        new Error(
          `worker ${member.worker.process.pid ?? '?'} exited while starting (${signal ?? `code ${String(code)}`})`,
        ),
      );
      return;
    }
    this.log.error(
      `worker ${member.worker.process.pid ?? '?'} exited (${signal ?? `code ${String(code)}`}); starting a new one`,
    );
    // One that died before it listened may fail again at once: no faster than once a second.
    if (member.address === null) setTimeout(() => this.#shuttingDown || this.#fork(), 1000);
    else this.#fork();
  }

  #onMessage(member: Member, message: ToPrimary): void {
    switch (message.type) {
      case 'ready':
        // The snapshot and the switch to `ready` happen in one synchronous step, so the worker
        // sees every later command exactly once, after its snapshot.
        this.#flushApplies();
        member.ready = true;
        member.applied = this.#position();
        if (member.worker.isConnected()) {
          const start = this.#clusterStart();
          member.outbox.sendSnapshot(this.#snapshotForInit(), {
            type: 'init',
            ...(start ? { cluster: start } : {}),
            ticketKeys: this.#ticketKeys,
            certificate: {
              cert: this.certificate.cert,
              key: this.certificate.key,
              files: this.certificate.files,
            },
            writable: this.#owner instanceof LocalOwner ? this.#owner.writable() : true,
          });
        }
        return;
      case 'listening':
        member.address = message.address;
        this.#listening?.(message.address);
        return;
      case 'failed':
        if (this.#startFailed) this.#startFailed(new Error(message.message));
        else
          this.log.error(
            `worker ${member.worker.process.pid ?? '?'} could not start: ${message.message}`,
          );
        return;
      case 'applied':
        member.applied = Math.max(member.applied, message.index);
        this.#checkWaiters();
        return;
      case 'submit':
        this.#answer(member, message.id, async () => {
          const command = decodeCommand(message.command);
          if (this.#cluster) {
            // Acknowledged once every member applied it, and each publishes only what all its
            // workers hold (this node's included).
            await this.#cluster.submit(command, message.name);
            return undefined;
          }
          const index = await (this.#owner as LocalOwner).engine.submit(command);
          await this.#allApplied(index);
          return undefined;
        });
        return;
      case 'cluster':
        this.#answer(member, message.id, async () => {
          const node = this.#cluster?.node;
          if (!node) throw new KeyholdError('CONFLICT', 'this node is not a cluster node');
          if (message.op === 'status') return node.status();
          if (message.op === 'add') await node.addNode(message.host);
          else await node.removeNode(message.host);
          return undefined;
        });
        return;
      case 'backup':
        this.#answer(member, message.id, () => this.#owner.backup());
        return;
      case 'restore-piece': {
        const { upload, bytes } = message;
        this.#answer(member, message.id, () => {
          const receiver = member.uploads.get(upload) ?? new BackupReceiver();
          member.uploads.set(upload, receiver);
          try {
            receiver.add(bytes);
          } catch (error) {
            member.uploads.delete(upload);
            throw error;
          }
          return Promise.resolve(undefined);
        });
        return;
      }
      case 'restore-abort':
        member.uploads.delete(message.upload);
        return;
      case 'restore':
        this.#answer(member, message.id, async () => {
          const receiver = member.uploads.get(message.upload) ?? new BackupReceiver();
          member.uploads.delete(message.upload);
          if (this.#cluster) {
            receiver.take().fill(0);
            await this.#cluster.restore();
            return undefined;
          }
          await (this.#owner as LocalOwner).restoreSealed(receiver.take());
          this.#flushApplies();
          const snapshot = encodeSnapshot(this.#owner.state);
          const index = this.#owner.state.commit;
          for (const m of this.#members.values()) {
            if (m.ready && m.worker.isConnected())
              m.outbox.sendSnapshot(snapshot, { type: 'reset' });
          }
          for (const m of this.#members.values()) m.applied = Math.min(m.applied, index - 1);
          await this.#allApplied(index);
          return undefined;
        });
        return;
      case 'metrics':
        this.#answer(member, message.id, async () => ({
          contentType: this.#aggregator.contentType,
          body: await this.#aggregator.clusterMetrics(),
        }));
        return;
      case 'console-session':
        this.#answer(member, message.id, () => Promise.resolve(this.#sessions.run(message.op)));
        return;
      case 'gather':
        this.#answer(member, message.id, () => this.#gather(message.what));
        return;
      case 'gathered': {
        const gather = this.#gathers.get(message.gid);
        if (gather?.missing.delete(member.worker.id)) {
          gather.values.push(message.value);
          if (gather.missing.size === 0) gather.done();
        }
        return;
      }
      case 'handshaking': {
        member.handshaking = message.busy;
        let workers = 0;
        for (const m of this.#members.values()) if (m.handshaking) workers++;
        this.#broadcast({ type: 'handshaking', workers });
        return;
      }
      case 'subscribe':
        member.subscriptions[message.stream] += message.delta;
        this.#broadcastSubscribers();
        return;
      case 'audit':
        this.#relay(message, 'audit');
        return;
      case 'audit-lines': {
        // A Buffer arrives as one: advanced serialization keeps its type.
        const lines = message.lines;
        this.#auditFile?.write(
          Buffer.isBuffer(lines)
            ? lines
            : Buffer.from(lines.buffer, lines.byteOffset, lines.length),
        );
        return;
      }
      case 'log':
        this.#relay(message, 'log');
        return;
    }
  }

  /** The state as a snapshot, encoded once for all the workers that start together. */
  #snapshotForInit(): Buffer {
    const commit = this.#position();
    if (this.#listening === null) return encodeSnapshot(this.#owner.state);
    if (this.#initSnapshot?.commit !== commit) {
      this.#initSnapshot = { commit, payload: encodeSnapshot(this.#owner.state) };
    }
    return this.#initSnapshot.payload;
  }

  /** Runs `work` and replies with its value or error (also when it throws synchronously). */
  #answer(member: Member, id: number, work: () => Promise<unknown>): void {
    new Promise((resolve) => {
      resolve(work());
    }).then(
      (value) => this.#send(member, { type: 'reply', id, value }),
      (error: unknown) => {
        let wire: WireKeyholdError;
        if (error instanceof KeyholdError) {
          wire = { code: error.code, message: error.message, status: error.status };
        } else {
          this.log.error(
            `internal error: ${error instanceof Error ? error.message : String(error)}`,
          );
          wire = { code: 'INTERNAL', message: 'internal error', status: undefined };
        }
        this.#send(member, { type: 'reply', id, error: wire });
      },
    );
  }

  /** Asks every ready worker for `what`; answers within a second with what arrived. */
  #gather(what: GatherTopic): Promise<unknown[]> {
    const gid = this.#nextGather++;
    const ready = [...this.#members.values()].filter((m) => m.ready);
    return new Promise((resolve) => {
      const gather = {
        values: [] as unknown[],
        missing: new Set(ready.map((m) => m.worker.id)),
        done: () => {
          clearTimeout(timer);
          this.#gathers.delete(gid);
          resolve(gather.values);
        },
      };
      const timer = setTimeout(() => gather.done(), 1000);
      this.#gathers.set(gid, gather);
      for (const member of ready) this.#send(member, { type: 'gather', gid, what });
      if (ready.length === 0) gather.done();
    });
  }

  /**
   * Resolves once every live worker has applied `index` (workers that die stop counting). A
   * worker that has not within the apply timeout is killed and, once it has exited, no longer
   * counts: it can never serve the state from before `index`. A new one, started from the
   * current state, takes its place.
   */
  #allApplied(index: number): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters.push({ index, resolve, deadline: Date.now() + this.#applyTimeout });
      this.#checkWaiters();
      this.#armDeadline();
    });
  }

  /** Keeps one timer for the earliest deadline of the waiting writes. */
  #armDeadline(): void {
    if (this.#deadlineTimer !== null || this.#waiters.length === 0 || this.#shuttingDown) return;
    let next = Infinity;
    for (const waiter of this.#waiters) next = Math.min(next, waiter.deadline);
    this.#deadlineTimer = setTimeout(
      () => {
        this.#deadlineTimer = null;
        this.#replaceLagging();
        this.#armDeadline();
      },
      // setTimeout takes at most 2³¹-1 ms; a later deadline is looked at again then.
      Math.min(next - Date.now(), 2 ** 31 - 1),
    );
  }

  /** Kills every worker that has not applied a write whose deadline has passed. */
  #replaceLagging(): void {
    const now = Date.now();
    let due = 0;
    for (const waiter of this.#waiters)
      if (waiter.deadline <= now) due = Math.max(due, waiter.index);
    if (due === 0) return;
    for (const member of this.#members.values()) {
      if (!member.ready || member.replacing || member.applied >= due) continue;
      member.replacing = true;
      this.log.error(
        `worker ${member.worker.process.pid ?? '?'} did not apply write ${due} within ` +
          `${this.#applyTimeout} ms; replacing it`,
      );
      member.worker.process.kill('SIGKILL');
    }
  }

  #checkWaiters(): void {
    let min = Infinity;
    for (const member of this.#members.values()) {
      if (member.ready) min = Math.min(min, member.applied);
    }
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const waiter = this.#waiters[i]!;
      if (waiter.index <= min) {
        this.#waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  /**
   * Queues a committed command for the workers. The engine applies a group commit's commands in
   * one synchronous loop; they leave as one message per worker (and come back as one `applied`).
   */
  #queueApply(index: number, command: Buffer, isRevision: boolean): void {
    if (this.#unsent.length === 0) {
      this.#unsentFirst = index;
      queueMicrotask(() => this.#flushApplies());
    }
    this.#unsent.push(command);
    if (isRevision) {
      this.#unsentRevisions.push(index);
      this.#revision = index;
    }
  }

  /** Where the workers' copies are: the log index, or a cluster node's etcd revision. */
  #position(): number {
    return this.#cluster ? this.#revision : this.#owner.state.commit;
  }

  #flushApplies(): void {
    if (this.#unsent.length === 0) return;
    const message: ToWorker = {
      type: 'apply',
      first: this.#unsentFirst,
      commands: this.#unsent,
      ...(this.#cluster ? { revisions: this.#unsentRevisions } : {}),
    };
    this.#idle.note(this.#unsent.length);
    this.#unsent = [];
    this.#unsentRevisions = [];
    this.#broadcast(message);
  }

  #broadcast(message: ToWorker): void {
    for (const member of this.#members.values()) this.#send(member, message);
  }

  #broadcastSubscribers(): void {
    let audit = 0;
    let log = 0;
    for (const m of this.#members.values()) {
      audit += m.subscriptions.audit;
      log += m.subscriptions.log;
    }
    this.#broadcast({ type: 'subscribers', audit, log });
  }

  /** Relays a stream event to the workers that have subscribers for it. */
  #relay(message: ToWorker & { type: 'audit' | 'log' }, stream: 'audit' | 'log'): void {
    for (const member of this.#members.values()) {
      if (member.subscriptions[stream] > 0) this.#send(member, message);
    }
  }

  #send(member: Member, message: ToWorker): void {
    if (member.ready && member.worker.isConnected()) member.outbox.send(message);
  }
}
