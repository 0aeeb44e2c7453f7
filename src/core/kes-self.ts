// KES `/v1/identity/self/describe`: what the caller itself may do. Needs no permission (every
// identity may learn its own rights), so it is answered from the state here, not by a core
// operation that authorizes first.

import type { IdentityRecord, PolicyRecord } from '../state/entities.ts';
import type { State } from '../state/state.ts';
import type { Caller } from './caller.ts';
import { effectiveRecord } from './caller.ts';

/** The caller's standing: root or admin (all rights), or its stored record and policy, or unknown. */
export type SelfDescription =
  | { readonly kind: 'admin'; readonly record?: IdentityRecord }
  | { readonly kind: 'user'; readonly record: IdentityRecord; readonly policy?: PolicyRecord }
  | { readonly kind: 'unknown' };

/**
 * Describes the caller: `admin` for the root identity and for SysAdmin/Admin identities (and
 * service accounts whose chain ends at one of them), `user` for a User with its policy (if the
 * policy still exists), `unknown` otherwise.
 */
export function describeSelf(state: State, caller: Caller, enclave: string): SelfDescription {
  if (caller.root) return { kind: 'admin' };
  if (caller.identity === '') return { kind: 'unknown' };
  const own = state.identities.get(enclave, caller.identity);
  const effective = effectiveRecord(state, caller.identity, caller.rootIdentity, enclave);
  if (effective === 'root') return own ? { kind: 'admin', record: own } : { kind: 'admin' };
  if (!effective) return { kind: 'unknown' };
  // A SysAdmin registered in another enclave is an admin here too.
  if (effective.privilege !== 'User') return { kind: 'admin', record: own ?? effective };
  if (!own) return { kind: 'unknown' };
  const policy = state.enclaves.get(effective.enclave)?.policies.get(effective.policy);
  return policy ? { kind: 'user', record: own, policy } : { kind: 'user', record: own };
}
