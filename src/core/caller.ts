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
 * The record whose rights `record` exercises: itself, or for a service account its parent's
 * (the parent's record in the same enclave, else its SysAdmin record: State.parentRecord),
 * transitively; 'root' when the chain ends at the root identity. Undefined when the chain is
 * broken.
 */
export function effectiveOf(
  state: State,
  record: IdentityRecord | undefined,
  rootIdentity: string,
): IdentityRecord | 'root' | undefined {
  // A parent chain is a few links at most; the bound guards against a corrupt cycle.
  for (let depth = 0; record && record.parent !== ''; depth++) {
    if (record.parent === rootIdentity) return 'root';
    if (depth >= 16) return undefined;
    record = state.parentRecord(record.enclave, record.parent);
  }
  return record;
}

/**
 * The record whose rights an identity exercises in `enclave` (null: at cluster level): 'root'
 * or a SysAdmin record from any enclave it is registered in (a SysAdmin acts everywhere), else
 * its own record of that enclave, resolved by effectiveOf. Records in other enclaves never
 * count otherwise. Undefined when the identity has no standing there.
 */
export function effectiveRecord(
  state: State,
  identity: string,
  rootIdentity: string,
  enclave: string | null,
): IdentityRecord | 'root' | undefined {
  let inEnclave: IdentityRecord | undefined;
  for (const record of state.identities.recordsOf(identity)) {
    const effective = effectiveOf(state, record, rootIdentity);
    if (effective === 'root' || effective?.privilege === 'SysAdmin') return effective;
    if (record.enclave === enclave) inEnclave = effective;
  }
  return inEnclave;
}

/**
 * True if `identity` is the caller itself or an identity whose rights the caller exercises in
 * `enclave` (the parent chain of a service account): changing its policy would change the
 * caller's own rights.
 */
export function isSelf(state: State, caller: Caller, enclave: string, identity: string): boolean {
  if (identity === caller.identity) return true;
  let record = state.identities.get(enclave, caller.identity);
  for (let depth = 0; record && record.parent !== '' && depth < 16; depth++) {
    if (record.parent === identity) return true;
    record = state.parentRecord(record.enclave, record.parent);
  }
  return false;
}
