// How policies and identities look through the KES face: config-file policies (static, in the
// default enclave) merged with stored ones, whose KMS command rules are shown as the KES paths
// they grant, so that `kes policy show` tells the whole story.

import { KES_COMMAND_PATHS, KES_RULE_KEYS } from '../../core/kes-path.ts';
import type { KesPathPolicy } from '../../core/kes-path.ts';
import type { PolicyRecord, RuleMap } from '../../state/entities.ts';
import type { KesRequest } from './kes-request.ts';
import type { KesStaticPolicy } from '../../config/kes-settings.ts';

/** A policy as KES shows it: name, allow/deny path patterns, creation. */
export interface KesPolicyView {
  readonly name: string;
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly createdAt: Date;
  /** `h1:` or hex identity, or a label such as `disabled`. */
  readonly createdBy: string;
  /** True for a config-file policy. */
  readonly static: boolean;
}

/** The KES path patterns a stored rule map grants: its KES rules, then its KMS command rules. */
export function kesPatternsOf(rules: RuleMap): string[] {
  const out: string[] = [];
  for (const key of Object.values(KES_RULE_KEYS)) out.push(...(rules[key] ?? []));
  for (const [command, prefix] of Object.entries(KES_COMMAND_PATHS)) {
    for (const pattern of rules[command] ?? []) out.push(prefix + pattern);
  }
  return [...new Set(out)];
}

/** The config-file policy named `name`, if the request's enclave is the one they govern. */
export function staticPolicy(k: KesRequest, name: string): KesStaticPolicy | undefined {
  return k.enclave === k.env.defaultEnclave ? k.settings.policies.get(name) : undefined;
}

/** The config-file policy of a hex identity in the request's enclave, if any. */
export function staticPolicyOfIdentity(k: KesRequest, hex: string): KesStaticPolicy | undefined {
  const name = k.settings.identities.get(hex);
  return name === undefined ? undefined : staticPolicy(k, name);
}

/** The view of a config-file policy. */
export function staticView(k: KesRequest, policy: KesPathPolicy): KesPolicyView {
  return {
    name: policy.name,
    allow: policy.allow,
    deny: policy.deny,
    createdAt: k.env.started,
    createdBy: k.env.adminHex() || k.settings.adminLabel,
    static: true,
  };
}

/** The view of a stored policy. */
export function storedView(policy: PolicyRecord): KesPolicyView {
  return {
    name: policy.name,
    allow: kesPatternsOf(policy.allow),
    deny: kesPatternsOf(policy.deny),
    createdAt: policy.createdAt,
    createdBy: policy.createdBy,
    static: false,
  };
}

/** `{ "<pattern>": {} , … }`: how the current API writes allow/deny sets. */
export function patternObject(patterns: readonly string[]): Record<string, Record<string, never>> {
  // fromEntries defines own properties, so even a pattern named `__proto__` stays a key.
  return Object.fromEntries(patterns.map((p) => [p, {}]));
}
