// Glob patterns of KMS-API policies: `*` matches any run of characters, `?` exactly one.
// Upstream's dialect is undocumented (research/minkms.md §4.7); this is the documented superset
// of its examples (`"*"`, `"my-key*"`).

/** A compiled name pattern. */
export type NamePattern = (name: string) => boolean;

const cache = new Map<string, NamePattern>();

/** Compiles (and caches) a glob pattern into a matcher. The empty pattern matches nothing. */
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
    const source = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    const regex = new RegExp(`^${source}$`, 's');
    matcher = (name) => regex.test(name);
  }
  if (cache.size > 10_000) cache.clear();
  cache.set(pattern, matcher);
  return matcher;
}
