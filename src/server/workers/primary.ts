// The primary of a worker pool: owns the sealed store and the engine, forks one worker per core
// to serve requests, replicates every committed command to all workers and acknowledges a write
// only once every live worker has applied it (replacing one that does not in time). It serves no
// requests itself.

import cluster from 'node:cluster';
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
import { openOwnedNode } from '../local-owner.ts';
import type { LocalOwner } from '../local-owner.ts';
import { SessionTable } from '../../console/session-table.ts';
import type { Root } from '../root-identity.ts';
import type { LoadedCertificate } from '../server-certificate.ts';
import type { GatherTopic } from '../state-owner.ts';
import type { ToPrimary, ToWorker, WireKeyholdError } from './messages.ts';
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

export class Primary {
  readonly root: Root;
  readonly certificate: LoadedCertificate;
  readonly log: EventLog;
  readonly #owner: LocalOwner;
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
    owner: LocalOwner;
    auditFile: AuditFile | null;
    root: Root;
    certificate: LoadedCertificate;
    log: EventLog;
    workers: number;
    applyTimeout: number;
    consoleSessionIdle: number | undefined;
  }) {
    this.#owner = init.owner;
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
    const { log, root, owner, certificate } = await openOwnedNode(options, (command, index) =>
      applied?.(index, encodeCommand(command)),
    );
    let auditFile: AuditFile | null;
    try {
      auditFile = openAuditFile(options, log);
    } catch (error) {
      await owner.close().catch(() => undefined);
      throw error;
    }
    const primary = new Primary({
      owner,
      auditFile,
      root,
      certificate,
      log,
      workers,
      applyTimeout: options.applyTimeout ?? DEFAULT_APPLY_TIMEOUT_MS,
      consoleSessionIdle: options.consoleSessionIdle,
    });
    applied = (index, command) => primary.#queueApply(index, command);
    // Workers reach V8's collector through the flag rather than by setting it at run time.
    cluster.setupPrimary({
      serialization: 'advanced',
      execArgv: [...process.execArgv, EXPOSE_GC],
    });
    await primary.#forkAll();
    return primary;
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
    const worker = cluster.fork();
    const member: Member = {
      worker,
      ready: false,
      handshaking: false,
      applied: this.#owner.state.commit,
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
        member.applied = this.#owner.state.commit;
        if (member.worker.isConnected()) {
          member.outbox.sendSnapshot(this.#snapshotForInit(), {
            type: 'init',
            ticketKeys: this.#ticketKeys,
            certificate: {
              cert: this.certificate.cert,
              key: this.certificate.key,
              files: this.certificate.files,
            },
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
          const index = await this.#owner.engine.submit(decodeCommand(message.command));
          await this.#allApplied(index);
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
          await this.#owner.restoreSealed(receiver.take());
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
      case 'audit-lines':
        this.#auditFile?.write(message.lines);
        return;
      case 'log':
        this.#relay(message, 'log');
        return;
    }
  }

  /** The state as a snapshot, encoded once for all the workers that start together. */
  #snapshotForInit(): Buffer {
    const commit = this.#owner.state.commit;
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
  #queueApply(index: number, command: Buffer): void {
    if (this.#unsent.length === 0) {
      this.#unsentFirst = index;
      queueMicrotask(() => this.#flushApplies());
    }
    this.#unsent.push(command);
  }

  #flushApplies(): void {
    if (this.#unsent.length === 0) return;
    const message: ToWorker = { type: 'apply', first: this.#unsentFirst, commands: this.#unsent };
    this.#idle.note(this.#unsent.length);
    this.#unsent = [];
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
