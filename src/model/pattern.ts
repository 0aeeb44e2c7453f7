// Glob patterns of KMS-API policies: `*` matches any run of characters, `?` exactly one.
// Upstream's dialect is undocumented (docs/protocol/kms.md); this is the documented superset
// of its examples (`"*"`, `"my-key*"`). Matching never backtracks (glob.ts).

import { Glob } from './glob.ts';
import type { GlobStep } from './glob.ts';

/** A compiled name pattern. */
export type NamePattern = (name: string) => boolean;

const cache = new Map<string, NamePattern>();

const ANY_RUN: GlobStep = { repeat: true, accepts: () => true };
const ANY_ONE: GlobStep = { repeat: false, accepts: () => true };

/**
 * Compiles (and caches) a glob pattern into a matcher. The empty pattern matches nothing.
 * Characters are UTF-16 code units. A match costs at most O(name length × pattern length).
 */
export function compilePattern(pattern: string): NamePattern {
  let matcher = cache.get(pattern);
  if (matcher) return matcher;
  if (pattern === '') matcher = () => false;
  else if (pattern === '*') matcher = () => true;
  else if (!/[*?]/.test(pattern)) matcher = (name) => name === pattern;
  else if (pattern.endsWith('*') && !/[*?]/.test(pattern.slice(0, -1))) {
    const prefix = pattern.slice(0, -1);
    matcher = (name) => name.startsWith(prefix);
  } else {
    const glob = new Glob(steps(pattern));
    matcher = (name) => glob.matches(name);
  }
  if (cache.size > 10_000) cache.clear();
  cache.set(pattern, matcher);
  return matcher;
}

function steps(pattern: string): GlobStep[] {
  const out: GlobStep[] = [];
  for (const char of pattern.split('')) {
    if (char === '*') {
      if (out.at(-1) !== ANY_RUN) out.push(ANY_RUN); // `**` is `*`
    } else if (char === '?') {
      out.push(ANY_ONE);
    } else {
      out.push({ repeat: false, accepts: (c) => c === char });
    }
  }
  return out;
}
