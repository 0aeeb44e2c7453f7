// One node of a cluster on etcd: the in-memory state fed by the apply loop (catch-up by range
// reads, then a watch, revision by revision), the write path (admission, one compare-and-put
// transaction on the footprint markers, acknowledgement once every member applied it), the
// wait rule for reads, and membership. docs/cluster.md describes each rule and why.

import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DeleteBuilder, Etcd3, IKeyValue, IRangeResponse, PutBuilder, Watcher } from 'etcd3';
import type { ReadCheck } from '../core/read-wait.ts';
import type { HsmKey } from '../crypto/index.ts';
import { KeyholdError } from '../model/errors.ts';
import type { Command } from '../state/commands.ts';
import { encodeCommand } from '../state/commands.ts';
import { Engine } from '../state/engine.ts';
import { conflictKeys } from '../state/engine.ts';
import { decodeSnapshot, encodeSnapshot } from '../state/snapshot.ts';
import { State } from '../state/state.ts';
import { AesGcmSealer } from '../store/aes-gcm-sealer.ts';
import { Store } from '../store/store.ts';
import { openCluster } from './bootstrap.ts';
import { connectEtcd, prefixEnd, withTimeout } from './etcd-client.ts';
import type { EtcdOptions } from './etcd-client.ts';
import { ClusterKeys, DEFAULT_PREFIX, EtcdLayout } from './etcd-layout.ts';
import { decodeEntry, encodeEntry } from './log-entry.ts';
import type { LogEntry, SnapshotMark } from './log-entry.ts';
import { LocalCopy } from './local-copy.ts';
import {
  DEFAULT_TRIM_INTERVAL_MS,
  DEFAULT_TRIM_THRESHOLD,
  readTrim,
  readTrimSnapshot,
  Trimmer,
} from './log-trim.ts';
import { readChunks } from './snapshot-chunks.ts';
import { Progress, unavailable } from './progress.ts';
import { applyTracked } from './touched.ts';
import { stalenessRefusal, waitRule } from './wait-rule.ts';

export interface ClusterNodeOptions {
  /** The node's directory: the local copy lives in `DIR/cluster/`, single-node state in `DIR/state/`. */
  readonly dir: string;
  readonly hsmKey: HsmKey;
  readonly etcd: EtcdOptions;
  readonly warn: (message: string) => void;
  readonly info?: (message: string) => void;
  /** Milliseconds a write waits for every member before its outcome is reported unknown (10 s). */
  readonly writeTimeout?: number;
  /** Milliseconds a read waits for a change in flight before it is answered 503 (10 s). */
  readonly readTimeout?: number;
  /** Milliseconds without a heartbeat after which a member is down (5 s; heartbeats every 1 s). */
  readonly livenessTimeout?: number;
  /**
   * Bounded-staleness mode: refuse reads once this node has not heard from etcd for this many
   * milliseconds (off when absent or 0: the lone-survivor promise, docs/cluster.md).
   */
  readonly maxStaleness?: number;
  /** Worker processes serving from copies of this node's state (absent: none). */
  readonly replicas?: Replicas;
}

/**
 * The copies of the state in a node's worker processes, fed by the node's primary: every applied
 * change is handed on at once (in revision order), and the node publishes a revision as applied
 * only once every copy holds it, so that "every member applied it" covers every worker too.
 */
export interface Replicas {
  /** The log entry at `revision` was applied to `state` (whether or not the command applied). */
  applied(revision: number, command: Command): void;
  /** A snapshot mark at `revision` replaced the whole state. */
  replaced(revision: number): void;
  /** Resolves once every copy holds every change handed on so far. */
  caughtUp(): Promise<void>;
  /** The member set, or this node's membership, changed. */
  changed(): void;
}

/** The timings a deployment (or a test) may change. */
export type ClusterTiming = Partial<
  Pick<ClusterNodeOptions, 'writeTimeout' | 'readTimeout' | 'livenessTimeout' | 'maxStaleness'>
>;

/** One member as `status()` reports it. */
export interface MemberStatus {
  readonly host: string;
  readonly self: boolean;
  readonly reachable: boolean;
  readonly appliedRevision: number;
  /** Revisions behind the newest this node knows of. */
  readonly lag: number;
  /** Wall-clock ms of the last applied record seen from it (0 = none since this node started). */
  readonly lastHeartbeat: number;
}

export interface ClusterStatus {
  readonly clusterId: string;
  readonly prefix: string;
  readonly self: string;
  readonly member: boolean;
  readonly serving: boolean;
  readonly revision: number;
  readonly stable: number;
  readonly members: readonly MemberStatus[];
  readonly etcd: {
    readonly endpoints: readonly string[];
    readonly healthy: boolean;
    readonly error: string;
  };
}

/** Longer than etcd3's own retries of a call (3 attempts of 2 s). */
const CALL_MS = 8000;
/** Log keys per read of a catch-up (a few hundred bytes each). */
const LOG_PAGE = 2000;
const PROBE_MS = 2000;
/** How long `stable` may go unrecorded in the local copy while no other record is written. */
const STABLE_SAVE_MS = 100;

/** What one catch-up did, and where its time went (milliseconds). */
interface CatchUpReport {
  entries: number;
  /** It loaded the trim snapshot first. */
  snapshot: boolean;
  /** Waiting for etcd: the trim record, the snapshot's chunks, the log, the member records. */
  etcdMs: number;
  /** Opening, decoding and applying (the state, the local copy's queue, the workers' queue). */
  applyMs: number;
  totalMs: number;
}

/** A log entry opened and decoded, or why it is refused (`passed`: its revision counts as processed). */
type OpenedLog =
  | { readonly revision: number; readonly entry: LogEntry }
  | { readonly revision: number; readonly refused: string; readonly passed: boolean };

interface OpenedRecords {
  id: string;
  keys: ClusterKeys;
}

export class ClusterNode {
  /** The state every read sees (the same object for the node's whole life). */
  readonly state: State;
  readonly progress: Progress;
  readonly #client: Etcd3;
  readonly #layout: EtcdLayout;
  readonly #options: ClusterNodeOptions;
  readonly #copy: LocalCopy;
  #cluster: OpenedRecords | null = null;
  #host = '';
  /** Newest etcd revision whose events this node has processed. */
  #processed = 0;
  /** Newest log or membership revision applied (what this node publishes). */
  #appliedRevision = 0;
  /** Newest revision published in this node's applied record. */
  #published = 0;
  #members = new Set<string>();
  #removed = false;
  #created = false;
  /** etcd key -> host, for deletes of member records. */
  readonly #hostOfKey = new Map<string, string>();
  /** Non-members that publish progress (nodes waiting to be added). */
  readonly #candidates = new Map<
    string,
    { applied: number; heardAt: number; stopped: boolean; lastSeen: number }
  >();
  #queue: Promise<void> = Promise.resolve();
  #watcher: Watcher | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #probe: NodeJS.Timeout | null = null;
  #lastProbeRevision = 0;
  #etcdError = '';
  /** When etcd last answered this node (a probe, or events from the watch); performance.now(). */
  #lastContact = performance.now();
  #closed = false;
  readonly #processedWaiters: { revision: number; resolve: () => void }[] = [];
  #restarting = false;
  /** The newest `stable` written to the local copy (in any record's header). */
  #stableSaved = 0;
  /** Pending write of a record holding only `stable` (see #saveStable). */
  #stableTimer: NodeJS.Timeout | null = null;
  /**
   * The newest append to the local copy. The store makes appends durable in call order and fails
   * every later one after a failed one, so this one settling means every earlier one did.
   */
  #lastAppend: Promise<void> = Promise.resolve();
  /** The applied-record put in flight, or the one queued behind it (see #publish). */
  #publishRunning: Promise<void> = Promise.resolve();
  #publishQueued: Promise<void> | null = null;
  #publishForce = false;
  #trimmer: Trimmer | null = null;
  /**
   * A node without a local copy catching up at its first start: it appends nothing to the local
   * copy and writes one snapshot once caught up (docs/cluster.md, "The local copy").
   */
  #copyDeferred = false;

  private constructor(options: ClusterNodeOptions, client: Etcd3, copy: LocalCopy, state: State) {
    this.#options = options;
    this.#client = client;
    this.#layout = new EtcdLayout(options.etcd.prefix ?? DEFAULT_PREFIX);
    this.#copy = copy;
    this.state = state;
    this.progress = new Progress(options.livenessTimeout ?? 5000);
  }

  /**
   * Loads the local copy, then finds (or creates, importing single-node state) the cluster in
   * etcd and catches up. With a local copy and etcd unreachable it starts from the local copy and
   * keeps trying in the background; without one it waits for etcd.
   */
  static async open(options: ClusterNodeOptions): Promise<ClusterNode> {
    const client = connectEtcd(options.etcd);
    let copy: LocalCopy | null = null;
    try {
      const opened = await LocalCopy.open(
        join(options.dir, 'cluster'),
        options.hsmKey,
        options.warn,
      );
      copy = opened.copy;
      const loaded = opened.loaded;
      const node = new ClusterNode(options, client, copy, loaded?.state ?? new State());
      if (loaded) {
        node.#processed = loaded.meta.revision;
        node.#appliedRevision = loaded.meta.revision;
        node.#members = new Set(loaded.meta.members);
        node.#removed = loaded.meta.removed;
        node.progress.setMembers(loaded.meta.members);
        node.progress.stable = loaded.meta.stable;
        for (const flight of loaded.inFlight)
          node.progress.applied(flight.revision, flight.objects);
      }
      try {
        await node.#connect(loaded?.meta.clusterId ?? null);
      } catch (error) {
        if (!isUnreachable(error)) throw error;
        if (!loaded) {
          // gRPC's own text names neither etcd nor where it was looked for.
          throw new Error(
            `cannot reach etcd at ${options.etcd.endpoints.join(',')}: ${messageOf(error).trim()}` +
              (/certificate|SSL|TLS|handshake/i.test(messageOf(error))
                ? ' (etcd refused the TLS connection: check --etcd-ca, --etcd-cert and --etcd-key)'
                : ''),
            { cause: error },
          );
        }
        node.#etcdError = messageOf(error);
        options.warn(
          `etcd unreachable (${messageOf(error)}): serving reads from the local copy in ${join(options.dir, 'cluster')}; writes fail until etcd answers`,
        );
      }
      return node;
    } catch (error) {
      await copy?.close().catch(() => undefined);
      client.close();
      throw error;
    }
  }

  /** This node's host as the cluster knows it. */
  get host(): string {
    return this.#host;
  }

  get isMember(): boolean {
    return this.#members.has(this.#host) && !this.#removed;
  }

  /** Newest log or membership revision applied here. */
  get appliedRevision(): number {
    return this.#appliedRevision;
  }

  get clusterId(): string {
    return this.#cluster?.id ?? '';
  }

  /**
   * Starts taking part under `host` (the public HOST:PORT): the applied record and its
   * heartbeat, the watch; the first node of a new cluster makes itself its first member.
   */
  async start(host: string): Promise<void> {
    this.#host = host;
    if (!this.#cluster) {
      // etcd was unreachable at open: keep trying in the background.
      void this.#reconnectLoop();
      return;
    }
    await this.#participate();
  }

  async #participate(): Promise<void> {
    await this.#publish(true);
    this.#startHeartbeat();
    await this.#found();
    this.#startProbe();
    await this.#restartWatch();
    this.#startTrimmer();
  }

  async #reconnectLoop(): Promise<void> {
    for (;;) {
      await sleep(1000);
      if (this.#closed) return;
      try {
        if (!this.#cluster) await this.#connect(this.#localClusterId);
        await this.#participate();
        this.#etcdError = '';
        this.#options.info?.('etcd reachable again: following the cluster');
        return;
      } catch (error) {
        this.#etcdError = messageOf(error);
        if (!isUnreachable(error)) this.#options.warn(`cluster: ${messageOf(error)}`);
      }
    }
  }

  /** The cluster id of the local copy (null: none yet). */
  #localClusterId: string | null = null;

  async #connect(localClusterId: string | null): Promise<void> {
    this.#localClusterId = localClusterId;
    const stateDir = join(this.#options.dir, 'state');
    const present = existsSync(stateDir) && readdirSync(stateDir).length > 0 && !localClusterId;
    const opened = await openCluster(
      this.#client,
      this.#layout,
      this.#options.hsmKey,
      { present, dir: stateDir, load: () => loadSingleNode(stateDir, this.#options) },
      this.#options.etcd.endpoints.join(','),
    );
    if (localClusterId && localClusterId !== opened.id) {
      throw new Error(
        `${join(this.#options.dir, 'cluster')} holds a copy of cluster ${localClusterId}, but etcd prefix ${this.#layout.prefix} holds cluster ${opened.id}: ` +
          `move that directory away to join cluster ${opened.id}`,
      );
    }
    this.#created = opened.created;
    this.#cluster = opened;
    this.#copyDeferred = !localClusterId;
    try {
      const report = await this.#catchUp();
      this.#copyDeferred = false;
      const began = performance.now();
      if (!localClusterId) await this.#snapshotLocal();
      else await this.#flushCopy();
      this.#reportCatchUp(report, performance.now() - began);
    } catch (error) {
      // Not connected until caught up (a retry starts again from the record).
      this.#cluster = null;
      throw error;
    } finally {
      this.#copyDeferred = false;
    }
  }

  // ── apply loop ──────────────────────────────────────────────────────────────────────────────

  /**
   * Reads every log entry after `#processed` and the member and progress records, at one
   * revision; first the trimmed log's snapshot when entries after `#processed` were trimmed.
   * Resolves with how many entries it applied and where the time went.
   */
  async #catchUp(): Promise<CatchUpReport> {
    const layout = this.#layout;
    const report = { entries: 0, snapshot: false, etcdMs: 0, applyMs: 0, totalMs: 0 };
    const began = performance.now();
    let mark = began;
    const lap = (): number => {
      const now = performance.now();
      const ms = now - mark;
      mark = now;
      return ms;
    };
    const trim = await readTrim(this.#client, this.#keys);
    const readRevision = trim.readRevision;
    if (trim.record && trim.record.trimmed > this.#processed) {
      const payload = await readTrimSnapshot(this.#client, this.#keys, trim.record, readRevision);
      report.etcdMs += lap();
      this.#options.info?.(
        `cluster: the log before revision ${trim.record.trimmed} was trimmed after this node's revision ${this.#processed}: loading the snapshot at revision ${trim.record.revision}`,
      );
      await this.#replaceState(payload, trim.record.revision);
      report.snapshot = true;
      report.applyMs += lap();
    }
    const { log, decodeMs } = await this.#readLog(readRevision, this.#processed);
    const read = lap();
    report.etcdMs += read - decodeMs;
    report.applyMs += decodeMs;
    for (const opened of log) await this.#applyOpened(opened);
    report.entries = log.length;
    report.applyMs += lap();
    const records = (prefix: string): Promise<IKeyValue[]> =>
      withTimeout(
        this.#client.kv.range({
          key: Buffer.from(prefix),
          range_end: prefixEnd(prefix),
          revision: readRevision,
        }),
        CALL_MS * 2,
        'the member records',
      ).then((res) => res.kvs);
    const members = (await records(layout.memberPrefix)).map((kv) => this.#hostIn(kv));
    const applied = (await records(layout.appliedPrefix)).map((kv) => this.#openJson(kv));
    report.etcdMs += lap();
    this.#setMembers(members, Math.max(this.#processed, readRevision));
    // Whether they are still running shows within the liveness timeout: count them as heard now.
    for (const record of applied) this.#noteApplied(record);
    this.#processed = Math.max(this.#processed, readRevision);
    this.progress.update();
    this.#wakeProcessed();
    report.totalMs = performance.now() - began;
    return report;
  }

  /**
   * The log entries created after revision `after`, as of revision `at`, opened and decoded, in
   * creation order; `decodeMs`: the time spent opening and decoding (the rest is etcd's).
   * Paged in key order with neither sort nor filter: etcd 3.4 answers a sorted or
   * revision-filtered range by reading every key in it (each page would read the whole log),
   * and log keys are request ids, so key order is not revision order: the node keeps the newer
   * entries and sorts them itself (docs/cluster.md, "Catching up and compaction"). The next page
   * is asked for before this one is decoded.
   */
  async #readLog(at: number, after: number): Promise<{ log: OpenedLog[]; decodeMs: number }> {
    const layout = this.#layout;
    const end = prefixEnd(layout.logPrefix);
    const found: { opened: OpenedLog; created: number }[] = [];
    let decodeMs = 0;
    const keep = (kvs: readonly IKeyValue[]): void => {
      const began = performance.now();
      for (const kv of kvs) {
        const created = Number(kv.create_revision);
        if (created > after) found.push({ opened: this.#openLog(kv), created });
      }
      decodeMs += performance.now() - began;
    };
    if (at - after <= LOG_PAGE) {
      // At most LOG_PAGE entries can be newer (a transaction creates at most one log key): one
      // filtered read, which etcd answers by reading the whole log once, sending only those.
      const res = await withTimeout(
        this.#client.kv.range({
          key: Buffer.from(layout.logPrefix),
          range_end: end,
          min_create_revision: after + 1,
          revision: at,
        }),
        CALL_MS * 2,
        'a log read',
      );
      keep(res.kvs);
    } else {
      const page = (from: Buffer): Promise<IRangeResponse> =>
        withTimeout(
          this.#client.kv.range({ key: from, range_end: end, limit: LOG_PAGE, revision: at }),
          CALL_MS * 2,
          'a log read',
        );
      let next: Promise<IRangeResponse> | null = page(Buffer.from(layout.logPrefix));
      while (next) {
        const res: IRangeResponse = await next;
        const last = res.kvs[res.kvs.length - 1];
        // On to the first key after the last one read, while this page is decoded.
        next = res.more && last ? page(Buffer.concat([last.key, Buffer.of(0)])) : null;
        keep(res.kvs);
      }
    }
    found.sort((a, b) => a.created - b.created);
    return { log: found.map((f) => f.opened), decodeMs };
  }

  /** Says where a long catch-up's time went (a new node's join, a restart far behind). */
  #reportCatchUp(report: CatchUpReport, copyMs: number): void {
    if (report.entries < 1000 && !report.snapshot) return;
    const ms = (n: number): string => `${Math.round(n)} ms`;
    this.#options.info?.(
      `cluster: caught up ${report.entries} log entries${report.snapshot ? ' after the trim snapshot' : ''} to revision ${this.#processed} in ${ms(report.totalMs + copyMs)}: ` +
        `etcd reads ${ms(report.etcdMs)}, decode and apply ${ms(report.applyMs)}, local copy ${ms(copyMs)}`,
    );
  }

  async #restartWatch(): Promise<void> {
    if (this.#closed) return;
    const old = this.#watcher;
    this.#watcher = null;
    if (old) await old.cancel().catch(() => undefined);
    // Anything the old watch had not delivered is read again, in order.
    const caughtUp = this.#queue.then(() => this.#catchUp());
    this.#queue = caughtUp.then(
      () => undefined,
      () => undefined,
    );
    this.#reportCatchUp(await caughtUp, 0);
    const watcher = await this.#client
      .watch()
      .prefix(this.#layout.prefix)
      .startRevision(String(this.#processed + 1))
      .create();
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have run meanwhile
    if (this.#closed) {
      await watcher.cancel();
      return;
    }
    this.#watcher = watcher;
    // Progress notifications (no events) do not move #processed: some etcd 3.4 and 3.5 releases
    // could send one ahead of events still to come. Heartbeats keep the prefix moving, and the
    // probe catches a watch that stops delivering.
    watcher.on('data', (res) => {
      this.#lastContact = performance.now();
      const events = res.events;
      this.#queue = this.#queue
        .then(() => this.#processEvents(events))
        .catch((error: unknown) => this.#options.warn(`cluster apply: ${messageOf(error)}`));
    });
    watcher.on('error', (error: unknown) => {
      // A compacted start revision or a cancelled watch: catch up from the live log keys.
      this.#options.warn(`cluster watch: ${messageOf(error)}; catching up`);
      this.#scheduleRestart();
    });
  }

  #scheduleRestart(): void {
    if (this.#restarting || this.#closed) return;
    this.#restarting = true;
    void (async () => {
      for (;;) {
        try {
          await this.#restartWatch();
          break;
        } catch (error) {
          this.#etcdError = messageOf(error);
          await sleep(1000);
          if (this.#closed) break;
        }
      }
      this.#restarting = false;
    })();
  }

  /** Every PROBE_MS: is etcd reachable, and has the watch delivered what etcd has? */
  #startProbe(): void {
    if (this.#probe) return;
    let probing = false;
    this.#probe = setInterval(() => {
      if (probing) return;
      probing = true;
      void (async () => {
        try {
          // As long as etcd3's own retries on other members (one dead member is not "etcd down").
          // The newest applied record (heartbeats move them every second). Not the newest change
          // under the whole prefix: other prefixes may share this etcd, and etcd sorts a range
          // by reading every key in it, which over the log keys of a large cluster overloaded
          // etcd (probes timing out made writes fail as "etcd is unreachable").
          const res = await withTimeout(
            this.#client.kv.range({
              key: Buffer.from(this.#layout.appliedPrefix),
              range_end: prefixEnd(this.#layout.appliedPrefix),
              sort_order: 'Descend',
              sort_target: 'Mod',
              limit: 1,
              keys_only: true,
            }),
            CALL_MS,
            'the revision probe',
          );
          this.#etcdError = '';
          this.#lastContact = performance.now();
          const revision = Number(res.kvs[0]?.mod_revision ?? 0);
          // The watch has not delivered a revision etcd had at the previous probe: stalled.
          if (this.#lastProbeRevision > this.#processed && this.#watcher) {
            this.#options.warn(
              `cluster watch stalled at revision ${this.#processed} (etcd is at ${revision}): catching up`,
            );
            this.#scheduleRestart();
          }
          this.#lastProbeRevision = revision;
        } catch (error) {
          this.#etcdError = messageOf(error);
        } finally {
          probing = false;
        }
      })();
    }, PROBE_MS);
    this.#probe.unref();
  }

  async #processEvents(events: readonly { type: string | number; kv: IKeyValue }[]): Promise<void> {
    let changed = false;
    for (const event of events) {
      const kv = event.kv;
      const revision = Number(kv.mod_revision);
      if (revision <= this.#processed) continue;
      const key = kv.key.toString();
      const isPut = event.type === 'Put' || event.type === 0;
      try {
        changed = (await this.#processEvent(key, kv, isPut, revision)) || changed;
      } catch (error) {
        this.#options.warn(
          `cluster: refusing the record at ${key} (revision ${revision}): ${messageOf(error)}`,
        );
      }
      this.#processed = Math.max(this.#processed, revision);
    }
    // Not awaited: the put takes an etcd round trip, and events behind it (the other members'
    // applied records a write waits for) need not wait for it.
    if (this.#appliedRevision > this.#published || changed) {
      this.#publish(false).catch((error: unknown) =>
        this.#options.warn(`cluster: publishing the applied record: ${messageOf(error)}`),
      );
    }
    this.#progressChanged();
    this.#wakeProcessed();
  }

  /** Recomputes `stable` (releasing what it resolves) and has the local copy record it. */
  #progressChanged(): void {
    this.progress.update();
    this.#saveStable();
  }

  /**
   * So that a restart without etcd knows the changes up to `stable` are no longer in flight.
   * Every record carries the `stable` of its time, so while writes keep coming the next entry
   * records it at no cost; a record of its own (one more fsync) is written only once the node
   * has had no other record to write for STABLE_SAVE_MS. Losing it in a crash loses nothing:
   * after a restart without etcd, those changes count as in flight and reads of them wait.
   */
  #saveStable(): void {
    if (this.progress.stable <= this.#stableSaved || this.#stableTimer || this.#closed) return;
    this.#stableTimer = setTimeout(() => {
      this.#stableTimer = null;
      this.#writeStable();
    }, STABLE_SAVE_MS);
    this.#stableTimer.unref();
  }

  #writeStable(): void {
    if (this.progress.stable <= this.#stableSaved) return;
    this.#stableSaved = this.progress.stable;
    this.#track(this.#copy.appendStable(this.#appliedRevision, this.#stableSaved));
  }

  /** One event; true when it changed the member set. */
  async #processEvent(
    key: string,
    kv: IKeyValue,
    isPut: boolean,
    revision: number,
  ): Promise<boolean> {
    const layout = this.#layout;
    let changed = false;
    {
      if (key.startsWith(layout.logPrefix)) {
        if (isPut) await this.#applyLog(kv);
      } else if (key.startsWith(layout.memberPrefix)) {
        const members = new Set(this.#members);
        if (isPut) members.add(this.#hostIn(kv));
        else {
          const host = this.#hostOfKey.get(key);
          if (host) members.delete(host);
        }
        this.#setMembers([...members], revision);
        changed = true;
      } else if (key.startsWith(layout.appliedPrefix)) {
        if (isPut) this.#noteApplied(this.#openJson(kv));
      }
    }
    return changed;
  }

  /** Applies one log entry (a put of a new `log/` key) and writes it to the local copy. */
  async #applyLog(kv: IKeyValue): Promise<void> {
    await this.#applyOpened(this.#openLog(kv));
  }

  /** Opens and decodes one log entry; a refused one says why when it is applied (in order). */
  #openLog(kv: IKeyValue): OpenedLog {
    const key = kv.key.toString();
    const revision = Number(kv.mod_revision);
    if (kv.create_revision !== kv.mod_revision) {
      return {
        revision,
        refused: `ignoring a rewrite of log key ${key} at revision ${revision}`,
        passed: false,
      };
    }
    try {
      return { revision, entry: decodeEntry(this.#keys.open(key, kv.value)) };
    } catch (error) {
      // Not sealed by this cluster for this key (copied, moved, altered): every node refuses it
      // the same way, so the replicas stay identical.
      return {
        revision,
        refused: `refusing log entry at revision ${revision}: ${messageOf(error)}`,
        passed: true,
      };
    }
  }

  async #applyOpened(opened: OpenedLog): Promise<void> {
    const revision = opened.revision;
    if (!('entry' in opened)) {
      this.#options.warn(`cluster: ${opened.refused}`);
      if (opened.passed) this.#processed = Math.max(this.#processed, revision);
      return;
    }
    const entry = opened.entry;
    if (entry.kind === 'command') {
      let objects: string[];
      try {
        objects = applyTracked(this.state, entry.command);
      } catch (error) {
        // A command that does not apply here does not apply on any node (same state, same order).
        this.#options.warn(
          `cluster: log entry at revision ${revision} does not apply: ${messageOf(error)}`,
        );
        objects = [];
      }
      this.#options.replicas?.applied(revision, entry.command);
      this.progress.applied(revision, objects);
      this.#appliedRevision = revision;
      this.#processed = Math.max(this.#processed, revision);
      if (this.#copyDeferred) return;
      // Not awaited one by one: the store commits a run of appends with one fsync.
      this.#track(
        this.#copy.appendCommand(revision, this.progress.stable, encodeCommand(entry.command)),
        this.progress.stable,
      );
      if (this.#copy.snapshotDue) await this.#snapshotLocal();
    } else {
      await this.#applySnapshot(entry.mark, revision);
    }
  }

  async #applySnapshot(mark: SnapshotMark, revision: number): Promise<void> {
    await this.#replaceState(await readChunks(this.#client, this.#keys, mark), revision);
  }

  /** Replaces the whole state with the snapshot `payload` (zeroed here) taken at `revision`. */
  async #replaceState(payload: Buffer, revision: number): Promise<void> {
    let restored: State;
    try {
      restored = decodeSnapshot(payload);
    } finally {
      payload.fill(0);
    }
    const commit = this.state.commit + 1;
    this.state.replaceWith(restored);
    this.state.commit = commit;
    // Everything may have changed: every object is in flight until every member has it.
    this.progress.applied(revision, ['enclave', 'identity']);
    this.#options.replicas?.replaced(revision);
    this.#appliedRevision = Math.max(this.#appliedRevision, revision);
    this.#processed = Math.max(this.#processed, revision);
    if (!this.#copyDeferred) await this.#snapshotLocal();
  }

  /**
   * Keeps an append to await before publishing (its failure is reported there, not unhandled);
   * `stable`: the `stable` its header records.
   */
  #track(append: Promise<void>, stable = 0): void {
    // Another record: the one of `stable` alone waits until none came for STABLE_SAVE_MS (while
    // records keep coming, each carries `stable`), so that it does not hold up a write's append.
    this.#stableTimer?.refresh();
    append.catch(() => undefined);
    this.#lastAppend = append;
    if (stable > this.#stableSaved) this.#stableSaved = stable;
  }

  /** Waits until the local copy holds everything applied so far. */
  async #flushCopy(): Promise<void> {
    let last;
    do {
      last = this.#lastAppend;
      await last;
    } while (last !== this.#lastAppend);
  }

  async #snapshotLocal(): Promise<void> {
    await this.#flushCopy();
    await this.#copy.snapshot(
      {
        clusterId: this.clusterId,
        revision: this.#appliedRevision,
        stable: this.progress.stable,
        members: [...this.#members],
        removed: this.#removed,
      },
      this.state,
    );
  }

  #setMembers(hosts: readonly string[], revision: number): void {
    const before = this.#members;
    const next = new Set(hosts);
    const wasMember = before.has(this.#host);
    this.#members = next;
    const known = new Map(this.progress.members);
    for (const host of next) {
      const c = this.#candidates.get(host);
      if (c && !known.has(host)) {
        known.set(host, { host, ...c });
      }
    }
    this.progress.setMembers(next, known);
    if (this.#host && next.has(this.#host)) {
      // This node hears itself: it is alive in its own view while its heartbeats go out.
      const self = this.progress.member(this.#host);
      self.heardAt = performance.now();
      self.stopped = false;
    }
    if (this.#host && wasMember && !next.has(this.#host)) {
      this.#removed = true;
      this.#options.warn(
        `this node (${this.#host}) was removed from the cluster: it no longer serves requests`,
      );
    } else if (this.#host && next.has(this.#host)) {
      this.#removed = false;
    }
    if (!sameSet(before, next)) {
      this.#appliedRevision = Math.max(this.#appliedRevision, revision);
      this.#track(
        this.#copy.appendMembers(revision, this.progress.stable, [...next], this.#removed),
        this.progress.stable,
      );
    }
    this.#options.replicas?.changed();
  }

  /** A heartbeat (applied record) of `host`: its progress, and that it runs (or is stopping). */
  #noteApplied(record: { host: string; revision: number; stopping: boolean }): void {
    const { host, revision, stopping } = record;
    if (host === this.#host) return;
    const heard = { heardAt: performance.now(), stopped: stopping, lastSeen: Date.now() };
    if (this.#members.has(host)) {
      const m = this.progress.member(host);
      if (revision > m.applied) m.applied = revision;
      Object.assign(m, heard);
    } else {
      const c = this.#candidates.get(host) ?? { applied: 0, ...heard };
      c.applied = Math.max(c.applied, revision);
      this.#candidates.set(host, Object.assign(c, heard));
    }
  }

  /**
   * Puts this node's applied record (after its local copy holds what it says). One put at a
   * time, so that records never land out of order; a call made while one is in flight joins the
   * one queued behind it, which publishes the newest revision when its turn comes.
   */
  #publish(force: boolean): Promise<void> {
    if (force) this.#publishForce = true;
    if (this.#publishQueued) return this.#publishQueued;
    const run = this.#publishRunning.then(
      () => this.#publishNow(),
      () => this.#publishNow(),
    );
    this.#publishQueued = run;
    this.#publishRunning = run.catch(() => undefined);
    return run;
  }

  async #publishNow(): Promise<void> {
    this.#publishQueued = null;
    const force = this.#publishForce;
    this.#publishForce = false;
    if (!this.#host || !this.#cluster) return;
    const revision = this.#appliedRevision;
    if (!force && revision <= this.#published) return;
    // The record says "applied": only once the local copy holds it (a restart must not go back),
    // and every worker process of this node too (each serves reads from its own copy). The
    // newest append now covers every revision up to `revision` (later ones need not wait).
    await this.#lastAppend;
    await this.#options.replicas?.caughtUp();
    if (this.#members.has(this.#host)) {
      // This node's own part of "every member applied it" is known here without etcd: its
      // writes need not wait for this put to come back, only for the other members' records.
      const self = this.progress.member(this.#host);
      if (revision > self.applied) {
        self.applied = revision;
        this.#progressChanged();
      }
    }
    const key = this.#keys.applied(this.#host);
    const value = this.#keys.seal(
      key,
      Buffer.from(JSON.stringify({ host: this.#host, revision, stopping: this.#closed })),
    );
    await withTimeout(this.#client.put(key).value(value).exec(), CALL_MS, 'the applied record');
    this.#published = Math.max(this.#published, revision);
    if (this.#members.has(this.#host)) {
      const self = this.progress.member(this.#host);
      self.applied = Math.max(self.applied, revision);
      self.heardAt = performance.now();
      self.stopped = false;
      self.lastSeen = Date.now();
    }
  }

  /**
   * Every second, the applied record again: the heartbeat that tells the others this node runs
   * (a member not heard from for the liveness timeout is down), and a re-check of who is down.
   * Plain puts, each retried on another etcd member by etcd3, so one dead etcd member does not
   * make this node look dead.
   */
  #startHeartbeat(): void {
    if (this.#heartbeat) return;
    this.#heartbeat = setInterval(() => {
      this.#progressChanged();
      if (this.#closed) return;
      this.#publish(true).catch((error: unknown) => (this.#etcdError = messageOf(error)));
    }, 1000);
    this.#heartbeat.unref();
  }

  /** Trims the log in etcd (log-trim.ts) while this node is the lowest live member. */
  #startTrimmer(): void {
    if (this.#trimmer || this.#closed) return;
    const trim = this.#options.etcd.trim;
    this.#trimmer = new Trimmer(
      {
        client: this.#client,
        keys: this.#keys,
        capture: () => this.#capture(),
        processed: () => this.#processed,
        stable: () => this.progress.stable,
        leads: () => this.#leadsTrim(),
        info: (m) => this.#options.info?.(m),
        warn: (m) => this.#options.warn(m),
      },
      {
        interval: trim?.interval ?? DEFAULT_TRIM_INTERVAL_MS,
        threshold: trim?.threshold ?? DEFAULT_TRIM_THRESHOLD,
      },
    );
    this.#trimmer.start();
  }

  /** The state's snapshot and the revision it reflects, taken between two queued applies. */
  #capture(): Promise<{ revision: number; payload: Buffer }> {
    const taken = this.#queue.then(() => ({
      revision: this.#processed,
      payload: encodeSnapshot(this.state),
    }));
    this.#queue = taken.then(
      () => undefined,
      () => undefined,
    );
    return taken;
  }

  /** One member trims at a time (the trim record's compare makes a second one harmless). */
  #leadsTrim(): boolean {
    if (!this.isMember || this.#etcdError !== '') return false;
    const live = [...this.#members].filter(
      (h) => h === this.#host || this.progress.isAlive(this.progress.member(h)),
    );
    return live.sort()[0] === this.#host;
  }

  /** The first node to start on a cluster without members becomes its first member. */
  async #found(): Promise<void> {
    const key = this.#keys.member(this.#host);
    const value = this.#memberValue(key);
    const res = await withTimeout(
      this.#client
        .if(this.#layout.foundedKey, 'Create', '==', 0)
        .then(
          this.#client.put(this.#layout.foundedKey).value(''),
          this.#client.put(key).value(value),
        )
        .commit(),
      CALL_MS,
      'founding the cluster',
    );
    if (res.succeeded) {
      this.#options.info?.(
        `created cluster ${this.clusterId} at etcd prefix ${this.#layout.prefix}; this node (${this.#host}) is its first member`,
      );
    } else if (this.#created) {
      this.#options.warn('cluster created here, but another node became its first member');
    }
  }

  #memberValue(key: string): Buffer {
    return this.#keys.seal(
      key,
      Buffer.from(JSON.stringify({ host: this.#host, since: Date.now() })),
    );
  }

  // ── reads ────────────────────────────────────────────────────────────────────────────────────

  /** The wait rule: throws ReadWait while an object the read depends on is in flight. */
  checkRead(read: ReadCheck): void {
    const refusal = this.readRefusal();
    if (refusal) throw refusal;
    waitRule(this.state, this.progress, read, this.#options.readTimeout ?? 10_000, (revision) =>
      this.progress.behind(revision).join(', '),
    );
  }

  /** Why this node serves no reads now (not a member, or cut off too long), or null. */
  readRefusal(): KeyholdError | null {
    if (!this.isMember) return this.#notServing();
    const silent = performance.now() - this.#lastContact;
    return stalenessRefusal(this.#host, silent, this.#options.maxStaleness ?? 0, this.#etcdError);
  }

  /** Milliseconds since etcd last answered this node, and the last etcd error ('' if none). */
  contact(): { silentMs: number; error: string } {
    return { silentMs: performance.now() - this.#lastContact, error: this.#etcdError };
  }

  #notServing(): KeyholdError {
    if (this.#removed) {
      return unavailable(
        `this node (${this.#host}) was removed from the cluster and no longer serves requests; ` +
          `to serve again, add it back with keyhold add-node ${this.#host} on a member`,
      );
    }
    return unavailable(
      `this node (${this.#host || 'starting'}) is not a member of the cluster yet: ` +
        `run keyhold add-node ${this.#host || 'HOST'} on a member to add it`,
    );
  }

  /** Can a write succeed now? Null if so, else why not. */
  writeRefusal(): string | null {
    if (!this.isMember) return this.#notServing().message;
    if (!this.#cluster || this.#etcdError) {
      return `etcd is unreachable (${this.#etcdError || 'not connected'})`;
    }
    const down = this.progress.down().filter((h) => h !== this.#host);
    if (down.length > 0) {
      return (
        `writes need every member node, and ${down.map((h) => `node ${h}`).join(', ')} ${down.length > 1 ? 'are' : 'is'} not responding ` +
        `(no heartbeat); if it is gone for good, remove it with keyhold rm-node`
      );
    }
    return null;
  }

  // ── writes ───────────────────────────────────────────────────────────────────────────────────

  /**
   * Checks, writes and waits until every member applied `command`. Rejects with the client's
   * error (the command does not apply), or UNAVAILABLE (a member down, etcd unreachable, or the
   * acknowledgement timed out: the message says whether the outcome is known).
   */
  async submit(command: Command, requestName?: string): Promise<void> {
    const refusal = this.writeRefusal();
    if (refusal) throw unavailable(refusal);
    const keys = conflictKeys(command);
    const compare = ancestorsOf(keys);
    // A write the client named (request-id.ts) gets a log key of that name, bound to what it
    // changes: a retry finds the entry of an attempt that landed. Otherwise a random one.
    const logKey = this.#layout.log(
      requestName === undefined
        ? randomBytes(16).toString('hex')
        : this.#keys.hmacName(
            `request\u0000${requestName}\u0000${command.op}\u0000${keys.join('\u0000')}`,
          ),
    );
    const sealed = this.#keys.seal(logKey, encodeEntry({ kind: 'command', command }));
    const revision = await this.#commit(
      () => this.state.check(command),
      compare,
      (client) => [
        client.put(logKey).value(sealed),
        ...keys.map((k) => client.put(this.#keys.marker(k)).value('')),
      ],
      logKey,
      requestName !== undefined,
    );
    await this.#applied(revision, 'the write');
    await this.progress.acknowledged(revision, this.#options.writeTimeout ?? 10_000, 'the write');
  }

  /**
   * Runs `check` against the state at the processed revision W, then one transaction: compare
   * every marker of `compare` unchanged since W (and `guard` absent), then `ops`. A lost compare
   * waits until this node has applied what won, and tries again.
   */
  /**
   * Reads a write's log key: whether an earlier attempt of it landed. When etcd cannot answer
   * (a timeout, etcd3's circuit breaker open after repeated failures) the write is refused with
   * 503 as when its transaction cannot reach etcd, never a 500.
   */
  async #writeCheck(guard: string): Promise<{ kvs: IKeyValue[] }> {
    try {
      return await withTimeout(this.#client.get(guard).exec(), CALL_MS, 'the write check');
    } catch (error) {
      throw unavailable(
        `the write could not reach etcd (${messageOf(error)}); if etcd answered late the write may have taken effect`,
      );
    }
  }

  async #commit(
    check: () => void,
    compare: readonly string[],
    ops: (client: Etcd3) => (PutBuilder | DeleteBuilder)[],
    guard: string,
    named = false,
  ): Promise<number> {
    // Looked up only when the check fails: a retry whose first attempt landed fails its check
    // on that attempt's own effect, and one whose check passes finds it through the guard.
    let lookedUp = !named;
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        check();
      } catch (error) {
        if (!lookedUp) {
          // A retry of a named write whose first attempt landed: that attempt is this write.
          lookedUp = true;
          const earlier = await this.#writeCheck(guard);
          const kv = earlier.kvs[0];
          if (kv) return Number(kv.mod_revision);
        }
        // A refusal ("already exists", "not found") is a read of the objects the write touches:
        // like any read it must not reveal a change still in flight (applied here, not yet by
        // every member), which another node may still answer the other way. Wait until it is
        // applied everywhere, then check again.
        const inFlight = this.progress.blockingRevision(compare, false);
        if (inFlight === 0) throw error;
        await this.#whenStable(inFlight, compare[compare.length - 1] ?? 'the object');
        continue;
      }
      const seen = this.#processed;
      let txn = this.#client.if(guard, 'Create', '==', 0);
      for (const object of compare) txn = txn.and(this.#keys.marker(object), 'Mod', '<', seen + 1);
      let result;
      try {
        result = await withTimeout(txn.then(...ops(this.#client)).commit(), CALL_MS, 'the write');
      } catch (error) {
        throw unavailable(
          `the write could not reach etcd (${messageOf(error)}); if etcd answered late the write may have taken effect`,
        );
      }
      const revision = Number(result.header.revision);
      if (result.succeeded) return revision;
      // etcd3 retries a call that timed out on one member on another: this write may have
      // landed on the first attempt, and the guard then fails on our own entry.
      const landed = await this.#writeCheck(guard);
      const own = landed.kvs[0];
      if (own) return Number(own.mod_revision);
      // Someone else changed an object this write depends on: catch up and check again.
      try {
        await withTimeout(this.#whenProcessed(revision), CALL_MS * 2, 'the watch');
      } catch {
        throw unavailable(
          'a concurrent write changed what this write depends on, and this node has not caught up with it: try again',
        );
      }
    }
    throw new KeyholdError(
      'CONFLICT',
      'the write kept conflicting with concurrent writes: try again',
    );
  }

  /** Waits until every member applied `revision`, a change to `object` (bounded as a read is). */
  async #whenStable(revision: number, object: string): Promise<void> {
    const timeout = this.#options.readTimeout ?? 10_000;
    try {
      await withTimeout(this.progress.whenStable(revision), timeout, 'the members');
    } catch {
      throw unavailable(
        `${object} has a change (revision ${revision}) not yet applied by every member (waiting for ${this.progress.behind(revision).join(', ')}); ` +
          `the write is refused until they apply it or are removed with rm-node`,
      );
    }
  }

  /** Waits until this node applied `revision`, its own write (bounded: its watch may stall). */
  async #applied(revision: number, what: string): Promise<void> {
    const timeout = this.#options.writeTimeout ?? 10_000;
    try {
      await withTimeout(this.#whenProcessed(revision), timeout, `${what}'s revision`);
    } catch {
      throw unavailable(
        `${what} is recorded in the cluster (revision ${revision}) but this node has not heard it back from etcd within ${timeout} ms: ` +
          `its acknowledgement is unknown; it takes effect on every node`,
      );
    }
  }

  #whenProcessed(revision: number): Promise<void> {
    if (this.#processed >= revision) return Promise.resolve();
    return new Promise((resolve) => this.#processedWaiters.push({ revision, resolve }));
  }

  #wakeProcessed(): void {
    for (let i = this.#processedWaiters.length - 1; i >= 0; i--) {
      const w = this.#processedWaiters[i]!;
      if (w.revision <= this.#processed) {
        this.#processedWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  // ── membership ───────────────────────────────────────────────────────────────────────────────

  /**
   * Adds `host`: a running node of this cluster (same HSM key and prefix) that is not yet a
   * member and has caught up. Resolves once every member, `host` included, applied the change.
   */
  async addNode(host: string): Promise<void> {
    const refusal = this.writeRefusal();
    if (refusal) throw unavailable(refusal);
    if (this.#members.has(host)) throw badRequest(`node ${host} is already a member`);
    const candidate = this.#candidates.get(host);
    if (!candidate || !this.progress.isAlive(candidate)) {
      throw badRequest(
        `node ${host} is not running as a node of this cluster: start it with the cluster's HSM key and --etcd on the same prefix, then add it`,
      );
    }
    const key = this.#keys.member(host);
    const value = this.#keys.seal(key, Buffer.from(JSON.stringify({ host, since: Date.now() })));
    const revision = await this.#commit(
      () => undefined,
      [],
      (c) => [c.put(key).value(value)],
      key,
    );
    await this.#applied(revision, `adding ${host}`);
    await this.progress.acknowledged(
      revision,
      this.#options.writeTimeout ?? 10_000,
      `adding ${host}`,
    );
  }

  /**
   * Removes `host` from the members: a write that waits for every remaining member, never for
   * `host` (removing an unreachable node is the operator's statement that it is dead).
   */
  async removeNode(host: string): Promise<void> {
    if (!this.isMember) throw this.#notServing();
    if (!this.#members.has(host)) throw badRequest(`node ${host} is not a member`);
    if (host === this.#host && this.#members.size === 1) {
      throw badRequest('cannot remove the last member of the cluster');
    }
    const down = this.progress.down().filter((h) => h !== host && h !== this.#host);
    if (down.length > 0) {
      throw unavailable(
        `writes need every member node, and node ${down.join(', ')} is not responding`,
      );
    }
    const key = this.#keys.member(host);
    const result = await withTimeout(
      this.#client
        .if(key, 'Create', '>', 0)
        // Its progress record goes too: if it runs again it is a candidate, to be added anew.
        .then(this.#client.delete().key(key), this.#client.delete().key(this.#keys.applied(host)))
        .commit(),
      CALL_MS,
      'the removal',
    );
    if (!result.succeeded) throw badRequest(`node ${host} is not a member`);
    const revision = Number(result.header.revision);
    await this.#applied(revision, `removing ${host}`);
    // Every remaining member: this node applied the removal, so HOST no longer counts.
    await this.progress.acknowledged(
      revision,
      this.#options.writeTimeout ?? 10_000,
      `removing ${host}`,
    );
  }

  /** Every member, reachable or not, with its progress, and etcd's health as this node sees it. */
  status(): ClusterStatus {
    const members: MemberStatus[] = [];
    const newest = Math.max(
      this.#appliedRevision,
      ...[...this.progress.members.values()].map((m) => m.applied),
    );
    for (const host of [...this.#members].sort()) {
      const m = this.progress.member(host);
      const self = host === this.#host;
      members.push({
        host,
        self,
        reachable: self ? !this.#etcdError : this.progress.isAlive(m),
        appliedRevision: self ? this.#appliedRevision : m.applied,
        lag: Math.max(0, newest - (self ? this.#appliedRevision : m.applied)),
        lastHeartbeat: m.lastSeen,
      });
    }
    return {
      clusterId: this.clusterId,
      prefix: this.#layout.prefix,
      self: this.#host,
      member: this.isMember,
      serving: this.isMember,
      revision: this.#processed,
      stable: this.progress.stable,
      members,
      etcd: {
        endpoints: this.#options.etcd.endpoints,
        healthy: this.#etcdError === '',
        error: this.#etcdError,
      },
    };
  }

  /** Stops following etcd and closes the local copy; tells the others it stops (down at once). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#probe) clearInterval(this.#probe);
    this.#trimmer?.stop();
    await this.#watcher?.cancel().catch(() => undefined);
    await this.#queue.catch(() => undefined);
    if (this.#stableTimer) clearTimeout(this.#stableTimer);
    this.#writeStable();
    await this.#flushCopy().catch(() => undefined);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#host && this.#cluster) {
      await withTimeout(this.#publish(true), 2000, 'the last heartbeat').catch(() => undefined);
    }
    this.#client.close();
    await this.#copy.close();
  }

  get #keys(): ClusterKeys {
    if (!this.#cluster) throw unavailable('etcd has not been reached yet');
    return this.#cluster.keys;
  }

  #hostIn(kv: IKeyValue): string {
    const { host } = this.#openJson(kv);
    this.#hostOfKey.set(kv.key.toString(), host);
    return host;
  }

  #openJson(kv: IKeyValue): { host: string; revision: number; stopping: boolean } {
    const parsed = JSON.parse(this.#keys.open(kv.key.toString(), kv.value).toString('utf8')) as {
      host?: unknown;
      revision?: unknown;
      stopping?: unknown;
    };
    if (typeof parsed.host !== 'string') throw new Error('record without a host');
    return {
      host: parsed.host,
      revision: typeof parsed.revision === 'number' ? parsed.revision : 0,
      stopping: parsed.stopping === true,
    };
  }
}

/** Every marker a write must find unchanged: its objects and all their ancestors. */
export function ancestorsOf(keys: readonly string[]): string[] {
  const out = new Set<string>();
  for (const key of keys) {
    const parts = key.split('/');
    for (let i = 1; i <= parts.length; i++) out.add(parts.slice(0, i).join('/'));
  }
  return [...out];
}

/** The snapshot payload of a single node's state in `dir` (DIR/state). */
async function loadSingleNode(dir: string, options: ClusterNodeOptions): Promise<Buffer> {
  const { store, recovered } = await Store.open({
    dir,
    rekSealer: new AesGcmSealer(options.hsmKey.rekSealingKey()),
  });
  try {
    const engine = Engine.recover(store, recovered);
    options.info?.(`importing the single-node state of ${dir} into the new cluster`);
    return encodeSnapshot(engine.state);
  } finally {
    await store.close();
  }
}

function badRequest(message: string): KeyholdError {
  return new KeyholdError('BAD_REQUEST', message);
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function isUnreachable(error: unknown): boolean {
  const m = messageOf(error);
  return /did not answer|UNAVAILABLE|ECONNREFUSED|deadline|No connection|unavailable/i.test(m);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
