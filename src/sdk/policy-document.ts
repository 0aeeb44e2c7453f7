// The JSON policy document of `minkms add-policy NAME FILE` (docs/protocol/kms.md): `allow` and
// `deny` map command names to RuleSets, and a RuleSet may be an object, an array or a string.
import { KeyholdError } from '../model/errors.ts';
import { parseCommandName } from '../protocol/kms/index.ts';
import { sortPatterns } from './types.ts';
import type { Policy, PolicyRules } from './types.ts';

/** A policy document that cannot be used; the message names the member at fault. Code INVALID_ARGUMENT. */
export class InvalidPolicyError extends KeyholdError {
  override readonly name = 'InvalidPolicyError';

  constructor(message: string, options?: ErrorOptions) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/** The rules of a policy document. */
export interface PolicyDocument {
  readonly allow: PolicyRules;
  readonly deny: PolicyRules;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads one RuleSet in any of its three JSON forms: `{"my-key*": {}}`, `["my-key*"]` or
 * `"my-key*"`. Empty patterns are dropped; the result is in kms-go's order (length, then lexical).
 */
function parseRuleSet(value: unknown, where: string): string[] {
  let patterns: string[];
  if (typeof value === 'string') patterns = [value];
  else if (Array.isArray(value)) {
    patterns = value.map((p, i) => {
      if (typeof p !== 'string') throw new InvalidPolicyError(`${where}[${i}] is not a string`);
      return p;
    });
  } else if (isRecord(value)) {
    patterns = Object.entries(value).map(([p, rule]) => {
      if (!isRecord(rule)) throw new InvalidPolicyError(`${where}["${p}"] is not an object`);
      return p;
    });
  } else {
    throw new InvalidPolicyError(`${where} must be a string, an array or an object of patterns`);
  }
  return sortPatterns(new Set(patterns.filter((p) => p !== '')));
}

function parseRules(value: unknown, member: string): PolicyRules {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new InvalidPolicyError(`"${member}" must be an object`);
  const rules: PolicyRules = {};
  for (const [name, set] of Object.entries(value)) {
    const command = parseCommandName(name);
    if (command === undefined) {
      throw new InvalidPolicyError(`"${member}" names the unknown command '${name}'`);
    }
    const patterns = parseRuleSet(set, `"${member}"."${name}"`);
    rules[command.name] = sortPatterns(new Set([...(rules[command.name] ?? []), ...patterns]));
  }
  return rules;
}

/**
 * Parses a policy document (JSON text or an already parsed value): an object with optional
 * `allow` and `deny` members. Command names are matched case-insensitively and returned in upper
 * case; unknown commands and unknown top-level members are errors (a typo must not silently
 * grant or withhold access). Throws InvalidPolicyError.
 */
export function parsePolicyDocument(input: unknown): PolicyDocument {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new InvalidPolicyError(`policy is not valid JSON: ${(error as Error).message}`);
    }
  }
  if (!isRecord(value)) throw new InvalidPolicyError('policy must be a JSON object');
  for (const member of Object.keys(value)) {
    if (member !== 'allow' && member !== 'deny') {
      throw new InvalidPolicyError(`unknown policy member "${member}" (expected "allow", "deny")`);
    }
  }
  return { allow: parseRules(value['allow'], 'allow'), deny: parseRules(value['deny'], 'deny') };
}

/**
 * The JSON form kms-go writes: each RuleSet as a string when it has one pattern, else as an
 * array; commands in sorted order.
 */
export function formatPolicyDocument(policy: PolicyDocument | Policy): {
  allow: Record<string, string | string[]>;
  deny: Record<string, string | string[]>;
} {
  const format = (rules: PolicyRules): Record<string, string | string[]> => {
    const out: Record<string, string | string[]> = {};
    for (const command of Object.keys(rules).sort()) {
      const patterns = sortPatterns(rules[command]!);
      out[command] = patterns.length === 1 ? patterns[0]! : patterns;
    }
    return out;
  };
  return { allow: format(policy.allow), deny: format(policy.deny) };
}
