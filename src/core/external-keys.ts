// Keys kept outside the state, in an external key store (the KES gateway mode, src/keystore/):
// the core looks keys up through this instead of the state when a node runs as a gateway.

import type { KeyRing } from '../state/entities.ts';
import type { Page } from '../state/sorted-names.ts';

/** The key store's health as `/v1/status` and `/v1/ready` report it. */
export interface KeyStoreHealth {
  /** Round trip of the last probe, milliseconds (0 when unknown). */
  readonly latencyMs: number;
  /** The store cannot be reached (or the gateway is in offline mode). */
  readonly unreachable: boolean;
  /** Reachable but failing (e.g. refused credentials); text for logs only. */
  readonly error?: string;
}

export interface ExternalKeys {
  /**
   * Makes a key available to `cached` (from the cache, or fetched from the store). Rejects with
   * KEY_NOT_FOUND or the KES error for a failed read.
   */
  load(enclave: string, name: string): Promise<KeyRing>;
  /** The key if it is at hand now; undefined otherwise (the caller answers KEY_NOT_FOUND). */
  cached(enclave: string, name: string): KeyRing | undefined;
  /** One page of key names, from the store. */
  list(enclave: string, prefix: string, continueAt: string, limit: number): Promise<Page<string>>;
  health(): Promise<KeyStoreHealth>;
}
