// Who is calling: the authenticated identity, resolved against the state once per request.

import type { IdentityRecord } from '../state/entities.ts';
import type { State } from '../state/state.ts';
import type { KesCallerContext } from './kes-path.ts';

/** The authenticated peer of a request. `identity` is '' when no client certificate was sent. */
export interface Caller {
  /** `h1:` form of the identity, or ''. */
  readonly identity: string;
  /** True for the root identity (derived from the HSM key, or pinned by config). */
  readonly root: boolean;
  /** The server's root identity, to resolve service accounts the root created. */
  readonly rootIdentity: string;
  /** Set by the KES face: the request path and config-file policy KES rules are matched on. */
  readonly kes?: KesCallerContext;
  /**
   * The last permission granted to this request (authorize.ts), so that a batch naming the same
   * key in every frame is checked once. Per request: a later request has a new Caller and sees
   * every policy change made before it.
   */
  granted?: Grant;
}

/** A permission decided for one request: `command` on `target` in `enclave`. */
export interface Grant {
  readonly command: string;
  readonly enclave: string | null;
  readonly target: string;
}

/**
 * The record whose rights an identity exercises: its own, or for a service account its parent's
 * (transitively), or 'root' when the chain ends at the root identity. Undefined when the
 * identity is unknown or its parent chain is broken.
 */
export function effectiveRecord(
  state: State,
  identity: string,
  rootIdentity: string,
): IdentityRecord | 'root' | undefined {
  let record = state.identities.get(identity);
  // A parent chain is a few links at most; the bound guards against a corrupt cycle.
  for (let depth = 0; record && record.parent !== ''; depth++) {
    if (record.parent === rootIdentity) return 'root';
    if (depth >= 16) return undefined;
    record = state.identities.get(record.parent);
  }
  return record;
}

/**
 * True if `identity` is the caller itself or an identity whose rights the caller exercises (the
 * parent chain of a service account): changing its policy would change the caller's own rights.
 */
export function isSelf(state: State, caller: Caller, identity: string): boolean {
  if (identity === caller.identity) return true;
  let record = state.identities.get(caller.identity);
  for (let depth = 0; record && record.parent !== '' && depth < 16; depth++) {
    if (record.parent === identity) return true;
    record = state.identities.get(record.parent);
  }
  return false;
}
