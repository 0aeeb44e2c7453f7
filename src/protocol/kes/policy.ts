// The shape of a KES policy (docs/protocol/kes.md): allow and deny patterns over request paths, in
// the current era's prefix dialect or the legacy runtime API's Go `path.Match` globs. How the
// patterns are matched is the core's business (src/core/kes-path.ts).

/** How a pattern is matched: current KES (`prefix`) or legacy KES `path.Match` (`glob`). */
export type KesPatternDialect = 'prefix' | 'glob';

/** A KES path policy: from the config file (prefix dialect) or derived from a stored policy. */
export interface KesPathPolicy {
  readonly name: string;
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly dialect: KesPatternDialect;
}
