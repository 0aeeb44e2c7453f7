// The wait rule for reads (docs/cluster.md, "Reads: the wait rule"), shared by a cluster node's
// primary process and its workers: a read waits while an object it depends on has a change in
// flight; and the bounded-staleness refusal of a node cut off from etcd for too long.

import type { Caller } from '../core/caller.ts';
import type { ReadCheck } from '../core/read-wait.ts';
import { ReadWait } from '../core/read-wait.ts';
import type { KeyholdError } from '../model/errors.ts';
import type { State } from '../state/state.ts';
import type { Progress } from './progress.ts';
import { unavailable } from './progress.ts';

/**
 * The wait rule over `progress` for a read of `state`: returns when nothing the read depends on
 * is in flight, else throws ReadWait until it is (or an UNAVAILABLE after `timeoutMs`).
 * `behind(revision)` names who has not applied it yet, for that error.
 */
export function waitRule(
  state: State,
  progress: Progress,
  read: ReadCheck,
  timeoutMs: number,
  behind: (revision: number) => string,
): void {
  const paths = readDependencies(state, read.caller);
  paths.push(read.object);
  const revision = progress.blockingRevision(paths, read.list);
  if (revision === 0) return;
  const object = read.object;
  throw new ReadWait(
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          unavailable(
            `${object} has a change (revision ${revision}) not yet applied by every member (waiting for ${behind(revision) || 'the others'}); ` +
              `it becomes readable once they apply it or are removed with rm-node`,
          ),
        );
      }, timeoutMs);
      void progress.whenStable(revision).then(() => {
        clearTimeout(timer);
        resolve();
      });
    }),
  );
}

/**
 * What every read by `caller` depends on: its identity records in every enclave, the parent
 * chains of its service accounts and the policies of those records (a superset of what
 * authorization reads, so no read sees rights from before a change in flight).
 */
export function readDependencies(state: State, caller: Caller): string[] {
  if (caller.root || caller.identity === '') return [];
  const identities = new Set<string>([caller.identity]);
  const policies = new Set<string>();
  // Bounded: parent chains are short, and a cycle cannot form (parents never change).
  for (const identity of identities) {
    if (identities.size > 64) break;
    for (const record of state.identities.recordsOf(identity)) {
      if (record.parent !== '') identities.add(record.parent);
      if (record.policy !== '') policies.add(`enclave/${record.enclave}/policy/${record.policy}`);
    }
  }
  return [...[...identities].map((i) => `identity/${i}`), ...policies];
}

/** The bounded-staleness refusal of a node not heard from etcd for `silentMs`, or null. */
export function stalenessRefusal(
  host: string,
  silentMs: number,
  maxStaleness: number,
  etcdError: string,
): KeyholdError | null {
  if (maxStaleness <= 0 || silentMs <= maxStaleness) return null;
  return unavailable(
    `this node (${host}) has not reached etcd for ${(silentMs / 1000).toFixed(1)} s, more than its ` +
      `--etcd-max-staleness of ${maxStaleness / 1000} s: it refuses reads rather than risk answering ` +
      `from a state the other members may have changed (${etcdError || 'no answer'})`,
  );
}
