// Small formatting helpers shared by the `keyhold kes` verbs: sizes, durations, base64 input.

import { decodeStdBase64 } from '../../crypto/index.ts';
import { UsageError } from '../command.ts';

/** `1536` → `1.5 KiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]!}`;
}

/** Seconds → `3d4h5m6s` (whole seconds; `0s` for zero). */
export function formatSeconds(total: number): string {
  let s = Math.floor(total);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts = [
    d ? `${d}d` : '',
    h ? `${h}h` : '',
    m ? `${m}m` : '',
    s || total < 1 ? `${s}s` : '',
  ];
  return parts.join('');
}

/** Nanoseconds → `850ns`, `12.7µs`, `3.2ms`, `1.5s`. */
export function formatNanoseconds(ns: number): string {
  if (ns < 1e3) return `${Math.round(ns)}ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)}µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(1)}ms`;
  return `${(ns / 1e9).toFixed(1)}s`;
}

/** Decodes a standard-base64 command-line argument, or fails with a usage error naming it. */
export function base64Arg(text: string, what: string): Buffer {
  const bytes = decodeStdBase64(text.trim());
  if (bytes === undefined) throw new UsageError(`${what} is not valid standard base64`);
  return bytes;
}
