// KES's key cache of the gateway mode (docs/keystores.md, "Cache"): keys fetched on first use
// and kept in memory; concurrent misses of one name share one fetch; background tickers evict
// everything (`any`), what was not used lately (`unused`), and while the store is offline
// everything after `offline`; a store probe every 10 s decides whether the store is offline.
// Eviction is by ticker, as in KES: an entry lives between 0 and one interval.

import type { KeyRing } from '../state/entities.ts';
import type { CacheExpiry } from '../config/keystore-config.ts';

/** How often the store is probed to decide offline mode (KES: 10 s). */
export const PROBE_INTERVAL_MS = 10_000;

interface Entry {
  readonly ring: KeyRing;
  used: boolean;
}

export class KeyCache {
  readonly #entries = new Map<string, Entry>();
  readonly #loading = new Map<string, Promise<KeyRing>>();
  readonly #timers: NodeJS.Timeout[] = [];
  #offline = false;

  /**
   * `probe` resolves when the store is healthy and rejects otherwise; it runs every
   * `probeInterval` ms (tests shorten it).
   */
  constructor(expiry: CacheExpiry, probe: () => Promise<void>, probeInterval = PROBE_INTERVAL_MS) {
    const every = (ms: number, run: () => void): void => {
      if (ms > 0) this.#timers.push(setInterval(run, ms).unref());
    };
    const offlineCaching = expiry.offline > 0;
    every(expiry.any, () => {
      if (!this.#offline || !offlineCaching) this.#entries.clear();
    });
    every(Math.floor(expiry.unused / 2), () => {
      if (this.#offline && offlineCaching) return;
      for (const [name, entry] of this.#entries) {
        if (entry.used) entry.used = false;
        else this.#entries.delete(name);
      }
    });
    every(expiry.offline, () => {
      if (this.#offline && offlineCaching) this.#entries.clear();
    });
    every(probeInterval, () => {
      probe().then(
        () => (this.#offline = false),
        () => (this.#offline = true),
      );
    });
  }

  /** The store failed its last probe (KES's "offline"). */
  get offline(): boolean {
    return this.#offline;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached key, marking it used. */
  get(name: string): KeyRing | undefined {
    const entry = this.#entries.get(name);
    if (entry) entry.used = true;
    return entry?.ring;
  }

  /** The cached key, or the one `fetch` yields (one fetch per name at a time). */
  load(name: string, fetch: () => Promise<KeyRing>): Promise<KeyRing> {
    const hit = this.get(name);
    if (hit) return Promise.resolve(hit);
    let pending = this.#loading.get(name);
    if (!pending) {
      pending = fetch().then(
        (ring) => {
          this.#loading.delete(name);
          // The fetch is a use: the entry survives the next `unused` tick.
          this.#entries.set(name, { ring, used: true });
          return ring;
        },
        (error: unknown) => {
          this.#loading.delete(name);
          throw error;
        },
      );
      this.#loading.set(name, pending);
    }
    return pending;
  }

  evict(name: string): void {
    this.#entries.delete(name);
  }

  close(): void {
    for (const timer of this.#timers) clearInterval(timer);
    this.#entries.clear();
  }
}
