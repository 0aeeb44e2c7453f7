// Test harness: a seeded schedule of faults over processes (SIGKILL + restart, SIGSTOP/SIGCONT)
// and links (cut, blackhole, delay, reset), so a fault run can be replayed from its seed. Each
// step either injects one new fault or heals one active fault; `healAll` ends every fault. The
// schedule only chooses and applies; the test decides what must hold meanwhile and afterwards.

import type { Prng } from './prng.ts';
import type { Link } from './tcp-proxy.ts';

/** A process faults can hit: an etcd member (EtcdMember fits) or a Keyhold node wrapper. */
export interface FaultProcess {
  readonly name: string;
  readonly running: boolean;
  readonly paused: boolean;
  kill(): Promise<void>;
  pause(): void;
  resume(): void;
  start(): Promise<void>;
}

export interface FaultScheduleOptions {
  /** Most processes down (killed or paused) at once (default 1: a 3-member etcd keeps quorum). */
  readonly maxDown?: number;
  /** Most links faulty at once (default: all of them). */
  readonly maxLinks?: number;
  /** Delays chosen for a slow link, in ms (default 20..300). */
  readonly delayMs?: readonly [number, number];
  /** Probability that a step heals an active fault rather than adding one (default 0.4). */
  readonly healChance?: number;
}

type Active =
  | { readonly kind: 'killed' | 'paused'; readonly process: FaultProcess }
  | { readonly kind: 'link'; readonly link: Link };

export class FaultSchedule {
  readonly #prng: Prng;
  readonly #processes: readonly FaultProcess[];
  readonly #links: readonly Link[];
  readonly #options: Required<FaultScheduleOptions>;
  readonly #active: Active[] = [];
  /** What each step did, in order (`kill m1`, `cut m0→m2 blackhole`, `heal m0→m2`, …). */
  readonly history: string[] = [];

  constructor(
    prng: Prng,
    targets: { processes?: readonly FaultProcess[]; links?: readonly Link[] },
    options: FaultScheduleOptions = {},
  ) {
    this.#prng = prng;
    this.#processes = targets.processes ?? [];
    this.#links = targets.links ?? [];
    this.#options = {
      maxDown: options.maxDown ?? 1,
      maxLinks: options.maxLinks ?? this.#links.length,
      delayMs: options.delayMs ?? [20, 300],
      healChance: options.healChance ?? 0.4,
    };
  }

  /** The seed that replays this schedule. */
  get seed(): number {
    return this.#prng.seed;
  }

  /** Faults in force now. */
  get active(): number {
    return this.#active.length;
  }

  /** Applies one step: heals an active fault or injects a new one. Returns what it did. */
  async step(): Promise<string> {
    const prng = this.#prng;
    const candidates = this.#candidates();
    let done: string;
    if (
      this.#active.length > 0 &&
      (candidates.length === 0 || prng.chance(this.#options.healChance))
    ) {
      const index = prng.int(this.#active.length);
      const [fault] = this.#active.splice(index, 1);
      done = await heal(fault!);
    } else if (candidates.length > 0) {
      done = await prng.pick(candidates)();
    } else {
      done = 'nothing';
    }
    this.history.push(done);
    return done;
  }

  /** Ends every fault: restarts killed processes, continues paused ones, heals every link. */
  async healAll(): Promise<void> {
    while (this.#active.length > 0) this.history.push(await heal(this.#active.pop()!));
    for (const link of this.#links) link.heal();
  }

  /** The faults that may be injected now, each as the function that injects it. */
  #candidates(): (() => Promise<string>)[] {
    const prng = this.#prng;
    const out: (() => Promise<string>)[] = [];
    const down = this.#active.filter((a) => a.kind !== 'link').length;
    const busy = new Set(this.#active.map((a) => (a.kind === 'link' ? a.link : a.process)));
    if (down < this.#options.maxDown) {
      for (const p of this.#processes) {
        if (busy.has(p) || !p.running) continue;
        out.push(async () => {
          await p.kill();
          this.#active.push({ kind: 'killed', process: p });
          return `kill ${p.name}`;
        });
        out.push(() => {
          p.pause();
          this.#active.push({ kind: 'paused', process: p });
          return Promise.resolve(`pause ${p.name}`);
        });
      }
    }
    const faultyLinks = this.#active.filter((a) => a.kind === 'link').length;
    for (const link of this.#links) {
      if (busy.has(link)) continue;
      // Reset is instantaneous: it is never an active fault, so it is always possible.
      out.push(() => {
        link.reset();
        return Promise.resolve(`reset ${link.name}`);
      });
      if (faultyLinks >= this.#options.maxLinks) continue;
      for (const how of ['refuse', 'blackhole'] as const) {
        out.push(() => {
          link.cut(how);
          this.#active.push({ kind: 'link', link });
          return Promise.resolve(`cut ${link.name} ${how}`);
        });
      }
      out.push(() => {
        const [min, max] = this.#options.delayMs;
        const ms = prng.between(min, max);
        link.delay(ms);
        this.#active.push({ kind: 'link', link });
        return Promise.resolve(`delay ${link.name} ${ms}ms`);
      });
    }
    return out;
  }
}

async function heal(fault: Active): Promise<string> {
  switch (fault.kind) {
    case 'killed':
      await fault.process.start();
      return `restart ${fault.process.name}`;
    case 'paused':
      fault.process.resume();
      return `resume ${fault.process.name}`;
    case 'link':
      fault.link.heal();
      return `heal ${fault.link.name}`;
  }
}
