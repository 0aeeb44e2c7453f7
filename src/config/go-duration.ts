// Go duration strings (`time.ParseDuration`), as KES config files write timeouts and cache
// expiry: `5m`, `30s`, `1h30m`, `1.5s`, `300ms`; a bare `0` is zero. The CLI also accepts days.

const UNITS: Readonly<Record<string, number>> = {
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
 * Parses a Go duration into milliseconds; undefined if it is not one. `days` also accepts `d`
 * (24h), which Go does not but the kes CLI's flags do.
 */
export function parseGoDuration(text: string, days = false): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/.exec(rest);
    if (!m || (m[2] === 'd' && !days)) return undefined;
    total += Number(m[1]) * UNITS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}
