// Test helper: resident memory of a server process and its workers, read from /proc, and a
// watcher that keeps the peak growth over a test phase (large buffers are returned to the
// system when freed, so a final reading can miss what was held for a while).

import { readdirSync, readFileSync } from 'node:fs';

/** Resident memory of `pid` in bytes (0 once it has ended). */
export function rssOf(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** PIDs of the live child processes of `pid` (the workers of a primary). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z') out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/**
 * Samples the RSS of `pids` every `intervalMs` from now on. `stop()` returns, per PID, the
 * largest growth over its reading at the start, and the largest growth of their sum.
 */
export function watchMemory(
  pids: readonly number[],
  intervalMs = 20,
): { stop: () => { perProcess: Map<number, number>; total: number } } {
  const base = new Map(pids.map((pid) => [pid, rssOf(pid)]));
  const baseTotal = [...base.values()].reduce((a, b) => a + b, 0);
  const peak = new Map(pids.map((pid) => [pid, 0]));
  let peakTotal = 0;
  const sample = (): void => {
    let total = 0;
    for (const pid of pids) {
      const rss = rssOf(pid);
      total += rss;
      peak.set(pid, Math.max(peak.get(pid) ?? 0, rss - (base.get(pid) ?? 0)));
    }
    peakTotal = Math.max(peakTotal, total - baseTotal);
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return { perProcess: peak, total: peakTotal };
    },
  };
}

/** Mebibytes, for messages. */
export const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
