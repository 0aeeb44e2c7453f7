// Endpoint lists as MinIO and kms-go accept them: `host[:port]` with an optional `https://`,
// comma-separated, with MinIO's ellipsis ranges (`kms{1...3}.example.net`) expanded.
import { KeyholdError } from '../model/errors.ts';

/** Port of a KMS server when an endpoint names none (minkms's default). */
export const DEFAULT_KMS_PORT = 7373;

/** An endpoint that cannot be used. Code INVALID_ARGUMENT. */
export class InvalidEndpointError extends KeyholdError {
  override readonly name = 'InvalidEndpointError';

  constructor(message: string, options?: ErrorOptions) {
    super('INVALID_ARGUMENT', message, options);
  }
}

const ELLIPSIS = /\{(\d+)\.\.\.(\d+)\}/;
const MAX_EXPANDED = 1024;

/**
 * Normalizes one endpoint to `host:port` (IPv6 as `[addr]:port`): strips `https://` (kms-go always
 * speaks HTTPS, so `http://` is refused rather than silently upgraded), a trailing `/`, and adds
 * port 7373 when none is given. Throws InvalidEndpointError for anything with a path, user
 * info, query or a bad port.
 */
export function normalizeEndpoint(text: string): string {
  let rest = text.trim();
  if (/^http:\/\//i.test(rest)) {
    throw new InvalidEndpointError(`endpoint '${text}': KMS servers are only reachable over https`);
  }
  rest = rest.replace(/^https:\/\//i, '').replace(/\/$/, '');
  if (rest === '' || /[/?#@\s]/.test(rest)) {
    throw new InvalidEndpointError(`endpoint '${text}' is not HOST[:PORT]`);
  }
  let host: string;
  let port: string | undefined;
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(rest);
  if (v6) {
    host = `[${v6[1]!}]`;
    port = v6[2];
  } else {
    const m = /^([^:[\]]+)(?::(\d+))?$/.exec(rest);
    if (!m) throw new InvalidEndpointError(`endpoint '${text}' is not HOST[:PORT]`);
    host = m[1]!;
    port = m[2];
  }
  const number = port === undefined ? DEFAULT_KMS_PORT : Number(port);
  if (!Number.isInteger(number) || number < 1 || number > 65535) {
    throw new InvalidEndpointError(`endpoint '${text}': port out of range`);
  }
  return `${host}:${number}`;
}

/**
 * Expands MinIO's ellipsis notation: `kms{1...3}:7373` → `kms1:7373`, `kms2:7373`, `kms3:7373`.
 * Zero-padded bounds keep their width (`{01...10}`). Several ranges multiply. Text without a
 * range is returned as is.
 */
export function expandEllipses(text: string): string[] {
  const m = ELLIPSIS.exec(text);
  if (!m) return [text];
  const [whole, fromText, toText] = m as unknown as [string, string, string];
  const from = Number(fromText);
  const to = Number(toText);
  if (from > to) throw new InvalidEndpointError(`endpoint '${text}': range ${whole} is empty`);
  if (to - from + 1 > MAX_EXPANDED) {
    throw new InvalidEndpointError(`endpoint '${text}': range ${whole} is too large`);
  }
  const width = fromText.length > 1 && fromText.startsWith('0') ? fromText.length : 0;
  const head = text.slice(0, m.index);
  const tail = text.slice(m.index + whole.length);
  const out: string[] = [];
  for (let n = from; n <= to; n++) {
    for (const rest of expandEllipses(tail)) {
      out.push(head + String(n).padStart(width, '0') + rest);
      if (out.length > MAX_EXPANDED) {
        throw new InvalidEndpointError(`endpoint '${text}' expands to too many hosts`);
      }
    }
  }
  return out;
}

/**
 * Parses an endpoint list such as `MINIO_KMS_SERVER`: comma-separated, ellipses expanded, each
 * normalized, duplicates dropped (first occurrence kept). Throws InvalidEndpointError on an
 * empty list or a bad entry.
 */
export function parseEndpoints(text: string | readonly string[]): string[] {
  const parts = (typeof text === 'string' ? text.split(',') : text.flatMap((t) => t.split(',')))
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw new InvalidEndpointError('no KMS server endpoint given');
  const out = new Set<string>();
  for (const part of parts) {
    for (const expanded of expandEllipses(part)) out.add(normalizeEndpoint(expanded));
  }
  return [...out];
}
