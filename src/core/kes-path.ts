// The KES policy dialect (docs/protocol/kes.md): allow/deny patterns over request paths, deny wins.
// Current-era patterns are prefixes (`*` only as the last character); policies written through
// the legacy runtime API keep their era's Go `path.Match` globs.

import { parseIdentity } from '../identity/index.ts';
import { Glob } from '../model/glob.ts';
import type { GlobStep } from '../model/glob.ts';
import { KES_PATHS } from '../protocol/kes/index.ts';
import type { KesPathPolicy, KesPatternDialect } from '../protocol/kes/index.ts';
import type { RuleMap } from '../state/entities.ts';

export type { KesPathPolicy, KesPatternDialect } from '../protocol/kes/index.ts';

/**
 * RuleMap keys under which a stored policy keeps KES path patterns, next to its KMS command
 * rules, so that one policy record serves both faces.
 */
export const KES_RULE_KEYS: Readonly<Record<KesPatternDialect, string>> = {
  prefix: 'kes:path',
  glob: 'kes:glob',
};

/** What the KES face adds to a caller (src/core/caller.ts): the request and the config's say. */
export interface KesCallerContext {
  /** URL path of the request, decoded, without the query (what KES policies match). */
  readonly path: string;
  /** The route has `skip_auth: true` in the config file: the operator opened it to everyone. */
  readonly skipAuth: boolean;
  /** The config-file policy the caller's identity is listed in, if any. */
  readonly staticPolicy: KesPathPolicy | undefined;
  /** The enclave config-file policies govern (the KES default enclave). */
  readonly staticEnclave: string;
}

/**
 * KMS API command → the KES path prefix of the same operation. Lets a KMS command rule grant
 * the KES request, and a KES path rule grant the KMS command, on the same name.
 */
export const KES_COMMAND_PATHS: Readonly<Record<string, string>> = {
  'KEY:CREATE': KES_PATHS.keyCreate,
  'KEY:IMPORT': KES_PATHS.keyImport,
  'KEY:STATUS': KES_PATHS.keyDescribe,
  'KEY:LIST': KES_PATHS.keyList,
  'KEY:DELETE': KES_PATHS.keyDelete,
  'KEY:GENERATE': KES_PATHS.keyGenerate,
  'KEY:ENCRYPT': KES_PATHS.keyEncrypt,
  'KEY:DECRYPT': KES_PATHS.keyDecrypt,
  'KEY:MAC': KES_PATHS.keyHmac,
  'POLICY:STATUS': KES_PATHS.policyDescribe,
  'POLICY:GET': KES_PATHS.policyRead,
  'POLICY:LIST': KES_PATHS.policyList,
  'IDENTITY:STATUS': KES_PATHS.identityDescribe,
  'IDENTITY:LIST': KES_PATHS.identityList,
};

/** The KES request path of a KMS command on `target`, or undefined if KES has no such route. */
export function kesPathOfCommand(command: string, target: string): string | undefined {
  const prefix = KES_COMMAND_PATHS[command];
  if (prefix === undefined) return undefined;
  if (command.startsWith('IDENTITY:') && target !== '') {
    try {
      return prefix + parseIdentity(target).toHex();
    } catch {
      return prefix + target;
    }
  }
  return prefix + target;
}

/** True if `pattern` matches `path` in `dialect`. The empty pattern never matches. */
export function kesPathMatches(pattern: string, path: string, dialect: KesPatternDialect): boolean {
  if (pattern === '') return false;
  if (dialect === 'glob') return globMatcher(pattern)(path);
  return pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : path === pattern;
}

/** KES's decision: no deny pattern matches and some allow pattern does. */
export function kesPolicyAllows(policy: KesPathPolicy, path: string): boolean {
  const match = (p: string): boolean => kesPathMatches(p, path, policy.dialect);
  return !policy.deny.some(match) && policy.allow.some(match);
}

/** Whether the KES rules stored in `rules` (either dialect) match `path`. */
export function kesRulesMatch(rules: RuleMap, path: string | undefined): boolean {
  if (path === undefined) return false;
  for (const dialect of ['prefix', 'glob'] as const) {
    const patterns = rules[KES_RULE_KEYS[dialect]];
    if (patterns?.some((p) => kesPathMatches(p, path, dialect))) return true;
  }
  return false;
}

/** True when `pattern` is a well-formed Go `path.Match` pattern. */
export function isValidGlob(pattern: string): boolean {
  return compileGlob(pattern) !== null;
}

/** Go `path.Match(pattern, name)`; a malformed pattern matches nothing (as upstream KES). */
export function goPathMatch(pattern: string, name: string): boolean {
  return globMatcher(pattern)(name);
}

const globCache = new Map<string, (name: string) => boolean>();

function globMatcher(pattern: string): (name: string) => boolean {
  let matcher = globCache.get(pattern);
  if (matcher) return matcher;
  const steps = compileGlob(pattern);
  if (steps) {
    const glob = new Glob(steps);
    // Code points, as Go's matcher walks runes.
    matcher = (name) => glob.matches(Array.from(name));
  } else {
    matcher = () => false;
  }
  if (globCache.size > 10_000) globCache.clear();
  globCache.set(pattern, matcher);
  return matcher;
}

const NOT_SLASH_RUN: GlobStep = { repeat: true, accepts: (c) => c !== '/' };
const NOT_SLASH: GlobStep = { repeat: false, accepts: (c) => c !== '/' };

/**
 * Compiles Go `path.Match` syntax to glob steps: `*` = any run of non-`/` characters, `?` = one
 * non-`/` character, `[...]`/`[^...]` = a non-empty class of characters and `lo-hi` ranges, `\`
 * escapes the next character. Null if malformed. A match is decided as a regular expression
 * would (every way of placing the stars is considered), in O(name × pattern) steps.
 */
function compileGlob(pattern: string): GlobStep[] | null {
  // Code points, as Go's matcher walks runes.
  const chars = Array.from(pattern);
  const out: GlobStep[] = [];
  let i = 0;
  const literal = (char: string): GlobStep => ({ repeat: false, accepts: (c) => c === char });
  while (i < chars.length) {
    const c = chars[i]!;
    if (c === '*') {
      if (out.at(-1) !== NOT_SLASH_RUN) out.push(NOT_SLASH_RUN); // `**` is `*`
      i++;
    } else if (c === '?') {
      out.push(NOT_SLASH);
      i++;
    } else if (c === '\\') {
      const next = chars[i + 1];
      if (next === undefined) return null;
      out.push(literal(next));
      i += 2;
    } else if (c === '[') {
      i++;
      let negated = false;
      if (chars[i] === '^') {
        negated = true;
        i++;
      }
      const ranges: [number, number][] = [];
      for (let first = true; ; first = false) {
        if (chars[i] === ']' && !first) {
          i++;
          break;
        }
        const lo = classChar(chars, i);
        if (!lo) return null;
        i = lo.next;
        let hi = lo;
        if (chars[i] === '-') {
          const upper = classChar(chars, i + 1);
          if (!upper) return null;
          hi = upper;
          i = upper.next;
        }
        // Go compares code points; an inverted range is legal and simply matches nothing.
        ranges.push([lo.char.codePointAt(0)!, hi.char.codePointAt(0)!]);
      }
      out.push({
        repeat: false,
        accepts: (char) => {
          const code = char.codePointAt(0)!;
          return ranges.some(([from, to]) => from <= code && code <= to) !== negated;
        },
      });
    } else {
      out.push(literal(c));
      i++;
    }
  }
  return out;
}

/** One character of a class at `i` (with `\` escapes); null where Go reports ErrBadPattern. */
function classChar(chars: string[], i: number): { char: string; next: number } | null {
  const c = chars[i];
  if (c === undefined || c === '-' || c === ']') return null;
  if (c === '\\') {
    const next = chars[i + 1];
    return next === undefined ? null : { char: next, next: i + 2 };
  }
  return { char: c, next: i + 1 };
}
