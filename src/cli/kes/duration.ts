// Go's time.ParseDuration syntax for CLI flags (`720h`, `1h30m`, `500ms`), as the kes CLI reads
// `--expiry` and `--rate`; `d` (24h) is accepted as well.

import { parseGoDuration } from '../../config/go-duration.ts';
import { UsageError } from '../command.ts';

/**
 * Parses a positive duration into milliseconds: one or more `<number><unit>` terms (units ns,
 * us, ms, s, m, h, d; decimals allowed), e.g. `1h30m`. Throws UsageError naming `what`.
 */
export function parseDuration(text: string, what: string): number {
  // Flags take no sign and no unitless zero (Go's parser accepts both).
  const total = /^[+-]/.test(text) || text === '0' ? undefined : parseGoDuration(text, true);
  if (total === undefined) {
    throw new UsageError(`${what}: invalid duration '${text}' (examples: 720h, 90m, 30s)`);
  }
  if (!(total > 0) || !Number.isFinite(total)) {
    throw new UsageError(`${what}: the duration must be positive`);
  }
  return total;
}
