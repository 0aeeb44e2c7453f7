// The one authorization decision: may this caller run this command on this name in this
// enclave? SysAdmin: everything; Admin: everything inside its enclave; User: what its policy
// allows (an allow match and no deny match). Deny by default.

import { KeyholdError } from '../model/errors.ts';
import { compilePattern } from '../model/pattern.ts';
import type { PolicyRecord, RuleMap } from '../state/entities.ts';
import type { State } from '../state/state.ts';
import type { Caller } from './caller.ts';
import { effectiveRecord } from './caller.ts';

/**
 * Throws PERMISSION unless `caller` may run `command` (its text name, e.g. `KEY:GENERATE`) on
 * `target` inside `enclave`. `enclave` is null for cluster-level commands (SysAdmin only).
 */
export function authorize(
  state: State,
  caller: Caller,
  command: string,
  enclave: string | null,
  target: string,
): void {
  if (!isAllowed(state, caller, command, enclave, target)) throw new KeyholdError('PERMISSION');
}

/** The decision without throwing. */
export function isAllowed(
  state: State,
  caller: Caller,
  command: string,
  enclave: string | null,
  target: string,
): boolean {
  if (caller.root) return true;
  if (caller.identity === '') return false;
  const record = effectiveRecord(state, caller.identity, caller.rootIdentity);
  if (record === 'root') return true;
  if (!record) return false;
  if (record.privilege === 'SysAdmin') return true;
  if (enclave === null || record.enclave !== enclave) return false;
  if (record.privilege === 'Admin') return true;
  const policy = state.enclaves.get(enclave)?.policies.get(record.policy);
  return policy !== undefined && policyAllows(policy, command, target);
}

/** A policy allows a command on a name iff some allow pattern matches and no deny pattern does. */
export function policyAllows(policy: PolicyRecord, command: string, target: string): boolean {
  return !matches(policy.deny, command, target) && matches(policy.allow, command, target);
}

function matches(rules: RuleMap, command: string, target: string): boolean {
  const patterns = rules[command];
  if (!patterns) return false;
  for (const pattern of patterns) if (compilePattern(pattern)(target)) return true;
  return false;
}
