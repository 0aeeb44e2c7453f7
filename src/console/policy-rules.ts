// Reads and checks the rules of a policy edited in the console before they reach the core:
// every command a KMS policy can name, KES path rules, and patterns a name could match
// (docs/console.md#policies). The same check answers the editor's live validation.

import { KMS_COMMANDS } from '../protocol/kms/index.ts';
import { isValidGlob } from '../core/kes-path.ts';
import { badRequest } from '../model/errors.ts';
import type { RuleMap } from '../state/entities.ts';

/** Commands a stored policy can grant: those that act inside an enclave. */
export const POLICY_COMMANDS: readonly string[] = KMS_COMMANDS.filter(
  (c) => !c.isCluster && c.supported,
).map((c) => c.name);

/** The KES path rules a policy may hold (prefix and Go-glob dialects). */
const KES_KEYS = ['kes:path', 'kes:glob'] as const;
const PATTERN = /^[0-9A-Za-z_:*?-]{1,256}$/;

/** One problem found in a rule set. */
export interface RuleProblem {
  readonly list: 'allow' | 'deny';
  readonly command: string;
  readonly pattern: string;
  readonly message: string;
}

/**
 * Parses `{ COMMAND: [pattern, …] }` into a RuleMap and lists every problem (empty when fine).
 * Throws BAD_REQUEST only for values of the wrong shape.
 */
export function parseRules(
  list: 'allow' | 'deny',
  value: unknown,
): { rules: RuleMap; problems: RuleProblem[] } {
  const rules: RuleMap = {};
  const problems: RuleProblem[] = [];
  if (value === undefined || value === null) return { rules, problems };
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw badRequest(`'${list}' must be an object of command → list of patterns`);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > 64) throw badRequest(`'${list}' has more than 64 commands`);
  for (const [rawCommand, patterns] of entries) {
    const command = rawCommand.trim().toUpperCase().startsWith('KES:')
      ? rawCommand.trim().toLowerCase()
      : rawCommand.trim().toUpperCase();
    if (!Array.isArray(patterns) || patterns.some((p) => typeof p !== 'string')) {
      throw badRequest(`'${list}.${rawCommand.slice(0, 40)}' must be a list of strings`);
    }
    if (patterns.length > 256) throw badRequest(`'${list}.${command}' has more than 256 patterns`);
    const kes = (KES_KEYS as readonly string[]).includes(command);
    if (!kes && !POLICY_COMMANDS.includes(command)) {
      problems.push({
        list,
        command: rawCommand.slice(0, 80),
        pattern: '',
        message: `unknown command '${rawCommand.slice(0, 80)}': expected one of ${POLICY_COMMANDS.join(', ')}, kes:path or kes:glob`,
      });
      continue;
    }
    const kept: string[] = [];
    for (const pattern of patterns as string[]) {
      const problem = checkPattern(command, pattern);
      if (problem)
        problems.push({ list, command, pattern: pattern.slice(0, 80), message: problem });
      else if (!kept.includes(pattern)) kept.push(pattern);
    }
    if (kept.length > 0) rules[command] = kept.sort();
  }
  return { rules, problems };
}

function checkPattern(command: string, pattern: string): string | null {
  if (pattern === '') return 'an empty pattern matches nothing';
  if (command === 'kes:glob') {
    return pattern.startsWith('/') && pattern.length <= 1024 && isValidGlob(pattern)
      ? null
      : 'not a well-formed KES path glob (Go path.Match syntax, starting with /)';
  }
  if (command === 'kes:path') {
    return pattern.startsWith('/') && pattern.length <= 1024 && !/\s/.test(pattern)
      ? null
      : 'a KES path rule starts with / and has no spaces';
  }
  return PATTERN.test(pattern)
    ? null
    : 'a pattern is 1–256 of A-Z a-z 0-9 _ - : and the wildcards * (any run) and ? (one character)';
}
