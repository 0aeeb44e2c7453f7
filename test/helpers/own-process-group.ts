// Test harness: starts the processes that tests freeze with SIGSTOP (Keyhold servers and their
// workers, etcd members) in a process group of their own, and kills every such group when the
// test process ends.
//
// Why a group of their own: when a process group becomes orphaned (the shell that started the
// run exits while the tests go on) and one of its members is stopped, the kernel sends the whole
// group SIGHUP and SIGCONT, and a frozen server dies of the SIGHUP in the middle of its test. A
// group whose leader's parent is in another session is orphaned from the start, so it never
// becomes orphaned and never gets that SIGHUP. The cost is that a Ctrl-C at the terminal no
// longer reaches these processes directly, so this module passes it on.

import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();

function killEveryGroup(): void {
  for (const child of live) {
    if (child.pid === undefined) continue;
    try {
      process.kill(-child.pid, 'SIGKILL'); // the group: a server's workers too
    } catch {
      // already gone
    }
  }
}

process.once('exit', killEveryGroup);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killEveryGroup();
    process.kill(process.pid, signal); // the default action now: end as the signal says
  });
}

/** What to spawn these processes with: a process group (and session) of their own. */
export const OWN_GROUP = { detached: true } as const;

/** Kills `child`'s group when the test process ends; `child` was spawned with OWN_GROUP. */
export function killGroupAtExit<T extends ChildProcess>(child: T): T {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}
