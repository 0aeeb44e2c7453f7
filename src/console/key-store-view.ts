// What the console's key-store view shows of a KES gateway's external key store: what the node
// really knows — the configured kind and endpoint, a health probe made now (state, latency), the
// cache's settings and how many keys it holds, and the node's recent log lines about the store.

import type { CacheExpiry } from '../config/keystore-config.ts';
import type { KeyStoreHealth } from '../core/external-keys.ts';
import type { EventLog } from '../observe/event-log.ts';
import { LEVELS, levelName } from '../observe/event-log.ts';

/** The gateway's store and cache, as the server hands them to the console. */
export interface KeyStoreFacts {
  /** The `keystore:` backend: fs, vault, aws, azure, gcp. */
  readonly kind: string;
  /** The store's own description (kind, endpoint or path, options), as the start banner has it. */
  readonly description: string;
  readonly expiry: CacheExpiry;
  /** The live cache (src/keystore/key-cache.ts). */
  readonly cache: { readonly size: number; readonly offline: boolean };
}

/** How far back the view looks for the store's errors. */
const RECENT_MS = 60 * 60 * 1000;
const MAX_RECENT = 20;
/** The prefixes the gateway and the store backends log their failures under. */
const STORE_LINE = /^(key store|vault):/;

export interface KeyStoreView {
  readonly kind: string;
  readonly description: string;
  /** reachable; unreachable (or offline); failing (reachable, but refusing, e.g. credentials). */
  readonly state: 'reachable' | 'unreachable' | 'failing';
  readonly latencyMs: number;
  readonly cache: {
    readonly keys: number;
    readonly offline: boolean;
    /** Milliseconds; 0 = never. */
    readonly expiryAny: number;
    readonly expiryUnused: number;
    readonly expiryOffline: number;
  };
  /** Only for identities that may read the server log (DEBUG:LOG); null otherwise. */
  readonly error: string | null;
  readonly recentErrors: { time: Date; level: string; message: string }[] | null;
}

/** The view of the store, with its log text only when `mayReadLog`. */
export function keyStoreView(
  facts: KeyStoreFacts,
  health: KeyStoreHealth,
  log: EventLog,
  mayReadLog: boolean,
): KeyStoreView {
  const state = health.unreachable
    ? 'unreachable'
    : health.error !== undefined
      ? 'failing'
      : 'reachable';
  return {
    kind: facts.kind,
    description: facts.description,
    state,
    latencyMs: health.latencyMs,
    cache: {
      keys: facts.cache.size,
      offline: facts.cache.offline,
      expiryAny: facts.expiry.any,
      expiryUnused: facts.expiry.unused,
      expiryOffline: facts.expiry.offline,
    },
    error: mayReadLog ? (health.error ?? null) : null,
    recentErrors: mayReadLog
      ? log
          .since(new Date(Date.now() - RECENT_MS))
          .filter((e) => e.level >= LEVELS.WARN && STORE_LINE.test(e.message))
          .slice(-MAX_RECENT)
          .reverse()
          .map((e) => ({ time: e.time, level: levelName(e.level), message: e.message }))
      : null,
  };
}
