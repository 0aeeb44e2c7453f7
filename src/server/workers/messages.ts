// The messages between the primary of a worker pool and its workers (node:cluster IPC with
// 'advanced' serialization, so Buffers and Dates cross intact). Key material crosses only
// this in-memory pipe between processes of one node, never a file or the network.

import type { AuditRecord } from '../../observe/audit.ts';
import type { LogEvent } from '../../observe/event-log.ts';
import type { GatherTopic } from '../state-owner.ts';
import type { SessionOp } from '../../console/session-table.ts';

/** A client-facing error, as it crosses back to the worker that asked. */
export interface WireKeyholdError {
  readonly code: string;
  readonly message: string;
  readonly status: number | undefined;
}

/** What a worker of a cluster node knows of the node, pushed by its primary when it changes. */
export interface NodeCondition {
  /** The node's public HOST:PORT. */
  readonly host: string;
  /** Why the node serves no client requests (not a member, removed), or null. */
  readonly notServing: string | null;
  /** Why a write would be refused up front now, or null. */
  readonly writeRefusal: string | null;
  /** Milliseconds since etcd last answered the node, when this was sent. */
  readonly silentMs: number;
  readonly etcdError: string;
  /** Bounded staleness (ms; 0 = off). */
  readonly maxStaleness: number;
  readonly readTimeout: number;
}

/** A cluster node's worker starts with this beside its snapshot (which holds up to `revision`). */
export interface ClusterStart {
  readonly revision: number;
  /** Every member applied every revision up to this one. */
  readonly stable: number;
  /** The node's changes still in flight (the wait rule), oldest first. */
  readonly flights: readonly { revision: number; objects: readonly string[] }[];
  readonly condition: NodeCondition;
}

/** Primary → worker. */
export type ToWorker =
  /** A piece of the snapshot that the next `init` or `reset` starts from (snapshot-stream.ts). */
  | { readonly type: 'snapshot'; readonly total: number; readonly bytes: Buffer }
  /** Start from the snapshot just sent; what every worker shares (TLS tickets, certificate). */
  | {
      readonly type: 'init';
      readonly ticketKeys: Buffer;
      /** The certificate and key, and the files they came from (for messages). */
      readonly certificate: { cert: Buffer; key: Buffer; files: { cert: string; key: string } };
      /** False once the primary's storage failed: report not ready for writes. */
      readonly writable: boolean;
      /** A cluster node: its progress, so that the worker follows the wait rule. */
      readonly cluster?: ClusterStart;
    }
  /** The primary's storage failed: every write is refused until the server restarts. */
  | { readonly type: 'writes-refused' }
  /**
   * Committed commands to apply, in log order: indexes `first`, `first + 1`, … (a cluster node:
   * at the etcd revisions `revisions`, in order).
   */
  | {
      readonly type: 'apply';
      readonly first: number;
      readonly commands: readonly Buffer[];
      readonly revisions?: readonly number[];
    }
  /** The whole state was replaced (restore, a cluster's snapshot mark) by the snapshot just sent. */
  | { readonly type: 'reset'; readonly cluster?: ClusterStart }
  /** A cluster node: every member has applied every revision up to `stable`. */
  | { readonly type: 'stable'; readonly stable: number }
  /** A cluster node: its membership, writability and contact with etcd changed. */
  | { readonly type: 'condition'; readonly condition: NodeCondition }
  /** The answer to a worker's request `id`. */
  | {
      readonly type: 'reply';
      readonly id: number;
      readonly value?: unknown;
      readonly error?: WireKeyholdError;
    }
  /** How many subscribers the node has in all, per stream; workers forward events while > 0. */
  | { readonly type: 'subscribers'; readonly audit: number; readonly log: number }
  | { readonly type: 'audit'; readonly record: AuditRecord }
  | { readonly type: 'log'; readonly event: LogEvent }
  /** How many workers have TLS handshakes in progress (handshake-gate.ts). */
  | { readonly type: 'handshaking'; readonly workers: number }
  /** Asks for this worker's value of `what` (answer with `gathered`). */
  | { readonly type: 'gather'; readonly gid: number; readonly what: GatherTopic }
  /** Stop accepting connections and exit. */
  | { readonly type: 'shutdown' };

/** Worker → primary. */
export type ToPrimary =
  /** The worker listens for messages and wants its state. */
  | { readonly type: 'ready' }
  | { readonly type: 'listening'; readonly address: string }
  /** The worker could not start (it exits next): why, in one line. */
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'applied'; readonly index: number }
  /** A write; `name`: its name when the client named the request (request-id.ts). */
  | {
      readonly type: 'submit';
      readonly id: number;
      readonly command: Buffer;
      readonly name?: string;
    }
  | { readonly type: 'backup'; readonly id: number }
  /** A cluster node's membership commands, answered by its primary. */
  | {
      readonly type: 'cluster';
      readonly id: number;
      readonly op: 'status' | 'add' | 'remove';
      readonly host: string;
    }
  /** The next piece of backup upload `upload` (the reply says whether it was accepted). */
  | {
      readonly type: 'restore-piece';
      readonly id: number;
      readonly upload: number;
      readonly bytes: Buffer;
    }
  /** Restore from upload `upload`, now complete. */
  | { readonly type: 'restore'; readonly id: number; readonly upload: number }
  /** Upload `upload` will not complete (the client went away): drop what arrived. */
  | { readonly type: 'restore-abort'; readonly upload: number }
  | { readonly type: 'metrics'; readonly id: number }
  /** A web console session operation; the primary holds the node's sessions (session-table.ts). */
  | { readonly type: 'console-session'; readonly id: number; readonly op: SessionOp }
  /** Collect `what` from every worker; the reply's value is the list. */
  | { readonly type: 'gather'; readonly id: number; readonly what: GatherTopic }
  | { readonly type: 'gathered'; readonly gid: number; readonly value: unknown }
  /** This worker started or stopped having TLS handshakes in progress. */
  | { readonly type: 'handshaking'; readonly busy: boolean }
  | { readonly type: 'subscribe'; readonly stream: 'audit' | 'log'; readonly delta: 1 | -1 }
  | { readonly type: 'audit'; readonly record: AuditRecord }
  /** Formatted audit lines for the audit file, which only the primary writes (chained). */
  | { readonly type: 'audit-lines'; readonly lines: Uint8Array }
  | { readonly type: 'log'; readonly event: LogEvent };
