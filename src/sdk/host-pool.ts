// Host selection for the SDK's load-balanced requests, as kms-go does (docs/protocol/kms.md):
// a random healthy host per request, a host that failed with a network error is suspended a while.
import type { EndpointPool } from './transport.ts';

/** How long a host that failed with a network error is skipped, unless nothing else is left. */
export const DEFAULT_SUSPEND_MS = 30_000;

/**
 * The endpoints of a KMS cluster and which of them are suspended. Not a connection pool: it only
 * decides the order in which one request tries the hosts.
 */
export class HostPool implements EndpointPool {
  readonly #hosts: readonly string[];
  readonly #suspendMs: number;
  readonly #now: () => number;
  readonly #random: () => number;
  /** host → time (ms) until which it is suspended. */
  readonly #suspended = new Map<string, number>();

  /**
   * `hosts` must be non-empty and free of duplicates. `now` and `random` are injectable so the
   * order can be tested deterministically.
   */
  constructor(
    hosts: readonly string[],
    options: { suspendMs?: number; now?: () => number; random?: () => number } = {},
  ) {
    if (hosts.length === 0) throw new RangeError('a KMS client needs at least one endpoint');
    if (new Set(hosts).size !== hosts.length) {
      throw new RangeError(`duplicate endpoint in ${hosts.join(', ')}`);
    }
    this.#hosts = [...hosts];
    this.#suspendMs = options.suspendMs ?? DEFAULT_SUSPEND_MS;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** All hosts, in configuration order. */
  get hosts(): readonly string[] {
    return this.#hosts;
  }

  /**
   * The order in which one request should try the hosts: every healthy host in random order,
   * then the suspended ones, soonest-to-recover first (a request still gets an answer when all
   * hosts had failed recently but one has come back).
   */
  order(): string[] {
    const now = this.#now();
    const healthy: string[] = [];
    const suspended: [string, number][] = [];
    for (const host of this.#hosts) {
      const until = this.#suspended.get(host);
      if (until === undefined || until <= now) {
        if (until !== undefined) this.#suspended.delete(host);
        healthy.push(host);
      } else {
        suspended.push([host, until]);
      }
    }
    for (let i = healthy.length - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1));
      [healthy[i], healthy[j]] = [healthy[j]!, healthy[i]!];
    }
    suspended.sort((a, b) => a[1] - b[1]);
    return [...healthy, ...suspended.map(([host]) => host)];
  }

  /** Marks `host` as failed: it is tried last for the suspension period. */
  fail(host: string): void {
    this.#suspended.set(host, this.#now() + this.#suspendMs);
  }

  /** Marks `host` as working again (it answered). */
  succeed(host: string): void {
    this.#suspended.delete(host);
  }

  /** True while `host` is suspended. */
  isSuspended(host: string): boolean {
    const until = this.#suspended.get(host);
    return until !== undefined && until > this.#now();
  }
}
