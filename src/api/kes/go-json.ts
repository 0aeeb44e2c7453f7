// JSON as KES's Go server reads and writes it (docs/protocol/kes.md): request fields matched
// case-insensitively, `[]byte` as padded standard base64, only the first JSON value read;
// responses HTML-escaped (`<` → `\u003c`) with a trailing newline, times in Go's RFC 3339.

import { decodeStdBase64 } from '../../crypto/index.ts';

/** A request body Go's `encoding/json` would refuse; the face answers 400. */
export class InvalidBodyError extends Error {
  override readonly name = 'InvalidBodyError';
}

const HTML_UNSAFE = /[<>&\u2028\u2029]/g;

function escapeHtml(json: string): string {
  return json.replace(HTML_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A JSON string literal as Go writes it (HTML-safe escaping). */
export function goJsonString(text: string): string {
  return escapeHtml(JSON.stringify(text));
}

/** `json.Encoder.Encode(value)`: HTML-safe JSON plus a newline. */
export function encodeGoJson(value: unknown): string {
  // `<`, `>`, `&`, U+2028 and U+2029 only ever occur inside string literals of JSON text.
  return escapeHtml(JSON.stringify(value)) + '\n';
}

/**
 * A time as Go's RFC 3339 with fractional seconds: trailing zeros of the fraction trimmed,
 * e.g. `2024-01-12T10:39:20.88Z`, and `2024-01-12T10:39:20Z` on a whole second.
 */
export function goTime(date: Date): string {
  const iso = date.toISOString();
  const dot = iso.indexOf('.');
  const fraction = iso.slice(dot + 1, -1).replace(/0+$/, '');
  return iso.slice(0, dot) + (fraction === '' ? '' : `.${fraction}`) + 'Z';
}

/**
 * Go's encoding/json refuses values nested deeper than this ("exceeded max depth"). V8's
 * JSON.parse has no limit and spends microseconds on each level, so without it a 1 MB body of
 * `[` cost seconds of CPU (docs/testing-security.md#bounded-cost).
 */
const MAX_DEPTH = 10_000;

/**
 * Parses the first JSON value of `body`, as `json.Decoder.Decode` does (what follows it is not
 * read). Throws InvalidBodyError for empty or malformed input, or nesting deeper than Go allows.
 */
export function parseFirstJsonValue(body: Buffer): unknown {
  const text = body.toString('utf8');
  // A text of at most MAX_DEPTH characters cannot nest deeper than that: it goes to JSON.parse
  // at once, and is scanned for the end of its first value only when that fails. A longer one
  // is scanned first, which refuses deep nesting before JSON.parse can spend time on it.
  const short = text.length <= MAX_DEPTH;
  const end = short ? 0 : endOfFirstValue(text);
  try {
    return JSON.parse(text);
  } catch {
    // Fall through: maybe a valid value followed by more data.
  }
  const first = short ? endOfFirstValue(text) : end;
  if (first === -1) throw new InvalidBodyError('malformed JSON');
  try {
    return JSON.parse(text.slice(0, first));
  } catch {
    throw new InvalidBodyError('malformed JSON');
  }
}

/**
 * Index just past the first complete JSON value in `text`, or -1. Throws InvalidBodyError when
 * that value nests deeper than MAX_DEPTH.
 */
function endOfFirstValue(text: string): number {
  let i = 0;
  while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  const first = text[i];
  if (first === undefined) return -1;
  if (first !== '{' && first !== '[' && first !== '"') {
    const m = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    return m ? i + m[0].length : -1;
  }
  let depth = 0;
  let inString = false;
  for (; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') {
        inString = false;
        if (depth === 0) return i + 1;
      }
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (++depth > MAX_DEPTH) throw new InvalidBodyError('exceeded max depth');
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** Field kinds of the request structs KES decodes. */
export type FieldKind = 'bytes' | 'string' | 'strings' | 'ignore';

type FieldValue<K extends FieldKind> = K extends 'bytes'
  ? Buffer
  : K extends 'string'
    ? string
    : K extends 'strings'
      ? string[]
      : unknown;

/** A decoded struct: each declared field, or undefined when the JSON did not carry it. */
export type Decoded<S extends Record<string, FieldKind>> = {
  [K in keyof S]: FieldValue<S[K]> | undefined;
};

/**
 * Decodes a JSON value into the struct described by `spec` with Go's rules: keys match field
 * names case-insensitively (later keys win), unknown keys are ignored, `null` leaves a field at
 * its zero value, `[]byte` is padded standard base64 (CR/LF inside ignored). A `null` document is
 * an empty struct. Anything else that does not fit throws InvalidBodyError.
 */
export function decodeStruct<S extends Record<string, FieldKind>>(
  value: unknown,
  spec: S,
): Decoded<S> {
  const out: Record<string, unknown> = {};
  if (value === null) return out as Decoded<S>;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidBodyError('expected a JSON object');
  }
  const byLower = lowerNames(spec);
  const fields = value as Record<string, unknown>;
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    // Exact names (what every client sends) skip the case folding.
    const field = Object.hasOwn(spec, key) ? key : byLower.get(key.toLowerCase());
    if (field === undefined) continue;
    out[field] = decodeField(spec[field]!, fields[key]);
  }
  return out as Decoded<S>;
}

/** Each spec's field names by their lower case, derived once per spec object. */
const LOWER_NAMES = new WeakMap<object, ReadonlyMap<string, string>>();

function lowerNames(spec: Record<string, FieldKind>): ReadonlyMap<string, string> {
  let names = LOWER_NAMES.get(spec);
  if (names === undefined) {
    const map = new Map<string, string>();
    for (const field of Object.keys(spec)) map.set(field.toLowerCase(), field);
    names = map;
    LOWER_NAMES.set(spec, names);
  }
  return names;
}

function decodeField(kind: FieldKind, raw: unknown): unknown {
  switch (kind) {
    case 'ignore':
      return raw;
    case 'bytes': {
      if (raw === null) return Buffer.alloc(0);
      if (typeof raw !== 'string') throw new InvalidBodyError('expected a base64 string');
      const text = raw.includes('\r') || raw.includes('\n') ? raw.replace(/[\r\n]/g, '') : raw;
      const bytes = decodeStdBase64(text);
      if (!bytes) throw new InvalidBodyError('invalid base64');
      return bytes;
    }
    case 'string':
      if (raw === null) return '';
      if (typeof raw !== 'string') throw new InvalidBodyError('expected a string');
      return raw;
    case 'strings':
      if (raw === null) return [];
      if (!Array.isArray(raw)) throw new InvalidBodyError('expected an array of strings');
      return raw.map((item: unknown) => {
        if (item === null) return '';
        if (typeof item !== 'string') throw new InvalidBodyError('expected an array of strings');
        return item;
      });
  }
}
