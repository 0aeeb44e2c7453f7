// KES log levels (`log.error`, `log.audit`): Go slog levels by name, case-insensitive, with an
// optional offset (`INFO+2`), a plain integer, or `on` (INFO) / `off` (above ERROR).

const NAMES: Readonly<Record<string, number>> = { DEBUG: -4, INFO: 0, WARN: 4, ERROR: 8 };

/** The slog level of a config value ('' = INFO); undefined if it is not one. */
export function parseSlogLevel(text: string): number | undefined {
  const upper = text.trim().toUpperCase();
  if (upper === '' || upper === 'ON') return NAMES.INFO;
  if (upper === 'OFF') return NAMES.ERROR! + 1;
  if (/^[+-]?\d+$/.test(upper)) return Number(upper);
  const m = /^(DEBUG|INFO|WARN|ERROR)(?:([+-])(\d+))?$/.exec(upper);
  if (!m) return undefined;
  const offset = m[3] === undefined ? 0 : Number(m[3]) * (m[2] === '-' ? -1 : 1);
  return NAMES[m[1]!]! + offset;
}
