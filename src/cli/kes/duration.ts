// Go's time.ParseDuration syntax for CLI flags (`720h`, `1h30m`, `500ms`), as the kes CLI reads
// `--expiry` and `--rate`; `d` (24h) is accepted as well.

import { UsageError } from '../command.ts';

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a positive duration into milliseconds: one or more `<number><unit>` terms (units ns,
 * us, ms, s, m, h, d; decimals allowed), e.g. `1h30m`. Throws UsageError naming `what`.
 */
export function parseDuration(text: string, what: string): number {
  const term = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    term.lastIndex = pos;
    const m = term.exec(text);
    if (m === null) break;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = term.lastIndex;
  }
  if (text === '' || pos !== text.length) {
    throw new UsageError(`${what}: invalid duration '${text}' (examples: 720h, 90m, 30s)`);
  }
  if (!(total > 0) || !Number.isFinite(total)) {
    throw new UsageError(`${what}: the duration must be positive`);
  }
  return total;
}
