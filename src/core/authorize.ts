// The one authorization decision: may this caller run this command on this name in this
// enclave? SysAdmin: everything; Admin: everything inside its enclave; User: what its policy
// allows (an allow match and no deny match). Deny by default. KMS policies name commands, KES
// policies name request paths (kes-path.ts); both are evaluated here, against one identity model.

import { KeyholdError } from '../model/errors.ts';
import { compilePattern } from '../model/pattern.ts';
import type { PolicyRecord, RuleMap } from '../state/entities.ts';
import type { State } from '../state/state.ts';
import type { Caller } from './caller.ts';
import { effectiveRecord } from './caller.ts';
import { kesPathOfCommand, kesPolicyAllows, kesRulesMatch } from './kes-path.ts';
import type { KesPathPolicy } from './kes-path.ts';

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
  const granted = caller.granted;
  if (
    granted !== undefined &&
    granted.target === target &&
    granted.command === command &&
    granted.enclave === enclave
  ) {
    return; // decided for this request already: one check per key and request
  }
  if (!isAllowed(state, caller, command, enclave, target)) throw new KeyholdError('PERMISSION');
  if (!caller.root) caller.granted = { command, enclave, target };
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
  const kes = caller.kes;
  if (kes?.skipAuth) return true;
  if (caller.identity === '') return false;
  const last = lastAllowed;
  if (
    last !== undefined &&
    last.changes === state.changes &&
    last.target === target &&
    last.identity === caller.identity &&
    last.command === command &&
    last.enclave === enclave &&
    last.rootIdentity === caller.rootIdentity &&
    last.path === kes?.path &&
    last.staticPolicy === kes?.staticPolicy &&
    last.staticEnclave === kes?.staticEnclave
  ) {
    return true;
  }
  if (!decide(state, caller, command, enclave, target)) return false;
  lastAllowed = {
    changes: state.changes,
    identity: caller.identity,
    rootIdentity: caller.rootIdentity,
    command,
    enclave,
    target,
    path: kes?.path,
    staticPolicy: kes?.staticPolicy,
    staticEnclave: kes?.staticEnclave,
  };
  return true;
}

/**
 * The last decision that allowed a User (or an identity that is not root by the caller's flag):
 * everything it depended on, so that the same request again (a client's next data key) is allowed
 * without walking identities and policies. Any change of the state (`State.changes`: a policy,
 * identity, enclave or key change, a restore) or of the KES config-file policy (a reload makes
 * new policy objects) makes it miss; only allows are kept, so a denial is always decided afresh.
 */
let lastAllowed: LastAllowed | undefined;

interface LastAllowed {
  /** `State.changes` then: unique to one state as it was, so the state itself is not kept. */
  readonly changes: number;
  readonly identity: string;
  readonly rootIdentity: string;
  readonly command: string;
  readonly enclave: string | null;
  readonly target: string;
  readonly path: string | undefined;
  readonly staticPolicy: KesPathPolicy | undefined;
  readonly staticEnclave: string | undefined;
}

/** isAllowed's decision for a caller with an identity, neither root nor on a skip_auth route. */
function decide(
  state: State,
  caller: Caller,
  command: string,
  enclave: string | null,
  target: string,
): boolean {
  const kes = caller.kes;
  const record = effectiveRecord(state, caller.identity, caller.rootIdentity, enclave);
  if (record === 'root') return true;
  if (record) {
    if (record.privilege === 'SysAdmin') return true;
    if (enclave !== null && record.enclave === enclave) {
      if (record.privilege === 'Admin') return true;
      const policy = state.enclaves.get(enclave)?.policies.get(record.policy);
      if (policy && policyAllows(policy, command, target, kes?.path)) return true;
    }
  }
  // A KES config-file policy governs its enclave and KES's cluster-level paths (logs, metrics);
  // a stored User policy never reaches cluster level, so an enclave Admin cannot grant it.
  if (kes?.staticPolicy && (enclave === null || enclave === kes.staticEnclave)) {
    return kesPolicyAllows(kes.staticPolicy, kes.path);
  }
  return false;
}

/**
 * Throws PERMISSION unless some command in `enclave` (null: at cluster level) could be allowed to
 * the caller: the necessary condition of `isAllowed` that needs no command, so a request is
 * refused before its body is read. Root, a SysAdmin and an identity of that enclave pass (its
 * policy decides per command later); an unknown identity and a caller without a certificate
 * never do.
 */
export function authorizeScope(state: State, caller: Caller, enclave: string | null): void {
  if (caller.root || caller.kes?.skipAuth) return;
  if (caller.identity !== '') {
    const record = effectiveRecord(state, caller.identity, caller.rootIdentity, enclave);
    if (record === 'root' || record?.privilege === 'SysAdmin') return;
    if (record && enclave !== null && record.enclave === enclave) return;
    const kes = caller.kes;
    if (kes?.staticPolicy && (enclave === null || enclave === kes.staticEnclave)) return;
  }
  throw new KeyholdError('PERMISSION');
}

/**
 * A policy allows a command on a name iff some allow rule matches and no deny rule does. Rules
 * are KMS command patterns on the name, or KES path patterns on `kesPath` (by default the KES
 * path of the same operation), so a policy written through either face governs both.
 */
export function policyAllows(
  policy: PolicyRecord,
  command: string,
  target: string,
  kesPath: string | undefined = kesPathOfCommand(command, target),
): boolean {
  if (matches(policy.deny, command, target) || kesRulesMatch(policy.deny, kesPath)) return false;
  return matches(policy.allow, command, target) || kesRulesMatch(policy.allow, kesPath);
}

/**
 * Authorizes a KES request that has no core operation (status, metrics, API listing, log
 * streams): only KES path rules can grant it. `enclave` null marks a cluster-level path.
 */
export function authorizeKesPath(state: State, caller: Caller, enclave: string | null): void {
  authorize(state, caller, '', enclave, '');
}

function matches(rules: RuleMap, command: string, target: string): boolean {
  if (command === '') return false;
  const patterns = rules[command];
  if (!patterns) return false;
  for (const pattern of patterns) if (compilePattern(pattern)(target)) return true;
  return false;
}
