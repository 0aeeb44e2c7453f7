// JSON as KES's Go server reads and writes it (docs/protocol/kes.md): request fields matched
// case-insensitively, `[]byte` as padded standard base64, only the first JSON value read;
// responses HTML-escaped (`<` → `\u003c`) with a trailing newline, times in Go's RFC 3339.

import {
  decodeStdBase64,
  decodeStdBase64Bytes,
  encodeStdBase64Into,
  stdBase64Length,
} from '../../crypto/index.ts';

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

/** A spec's fields with their names' bytes, derived once per spec object. */
const FLAT_FIELDS = new WeakMap<object, readonly FlatField[]>();

interface FlatField {
  readonly name: string;
  readonly kind: FieldKind;
  readonly bytes: Buffer;
}

function flatFields(spec: Record<string, FieldKind>): readonly FlatField[] {
  let fields = FLAT_FIELDS.get(spec);
  if (fields === undefined) {
    fields = Object.entries(spec).map(([name, kind]) => ({
      name,
      kind,
      bytes: Buffer.from(name, 'latin1'),
    }));
    FLAT_FIELDS.set(spec, fields);
  }
  return fields;
}

/** The field of `fields` whose name is exactly `body[start, end)`, if any. */
function fieldAt(
  fields: readonly FlatField[],
  body: Buffer,
  start: number,
  end: number,
): FlatField | undefined {
  next: for (const field of fields) {
    const name = field.bytes;
    if (name.length !== end - start) continue;
    for (let i = 0; i < name.length; i++) if (name[i] !== body[start + i]) continue next;
    return field;
  }
  return undefined;
}

/**
 * `decodeStruct(parseFirstJsonValue(body), spec)` for the body every client sends, read
 * straight from the bytes: one object of exactly named fields with plain string values (printable
 * ASCII, no escapes; standard base64 for `bytes`), no whitespace inside, only whitespace after.
 * Undefined for anything else (other spacing, case-folded or unknown names, escapes, `null`,
 * bad base64), which the general path then decodes or refuses with the same answer
 * (go-json.test.ts holds the two to it). Parsing the text and checking the base64 with a regular
 * expression cost ~0.9 µs per KES generate and ~1.7 µs per decrypt.
 */
export function decodeFlatStruct<S extends Record<string, FieldKind>>(
  body: Buffer,
  spec: S,
): Decoded<S> | undefined {
  const n = body.length;
  if (n < 2 || body[0] !== 0x7b) return undefined;
  const fields = flatFields(spec);
  const out: Record<string, unknown> = {};
  let i = 1;
  if (body[i] === 0x7d) i++;
  else {
    for (;;) {
      // "name":
      if (body[i] !== 0x22) return undefined;
      const nameStart = ++i;
      while (i < n && body[i] !== 0x22) i++;
      if (i >= n) return undefined;
      const field = fieldAt(fields, body, nameStart, i);
      if (field === undefined || body[++i] !== 0x3a || body[++i] !== 0x22) return undefined;
      // "value"
      const valueStart = ++i;
      let value: unknown;
      if (field.kind === 'bytes') {
        // Only the closing quote is looked for (indexOf: memchr, ~5x a byte loop over a
        // ciphertext's base64): the base64 decoder refuses every byte the loop below refuses
        // (controls, non-ASCII, `\`), as none is a base64 digit.
        i = body.indexOf(0x22, i);
        if (i === -1) return undefined;
        value = decodeStdBase64Bytes(body, valueStart, i);
        if (value === undefined) return undefined;
      } else {
        for (; i < n; i++) {
          const c = body[i]!;
          if (c === 0x22) break;
          if (c < 0x20 || c > 0x7e || c === 0x5c) return undefined;
        }
        if (i >= n || field.kind === 'strings') return undefined;
        value = body.toString('latin1', valueStart, i);
      }
      out[field.name] = value;
      const c = body[++i];
      i++;
      if (c === 0x7d) break;
      if (c !== 0x2c) return undefined;
    }
  }
  for (; i < n; i++) {
    const c = body[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return undefined;
  }
  return out as Decoded<S>;
}

/** Writes the ASCII text `text` at `at`; returns the offset after it. */
function putAscii(out: Buffer, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i);
  return at;
}

/**
 * What {@link encodeGoJson} writes for `{[a]: x}` or `{[a]: x, [b]: y}` with bytes values (Go's
 * `[]byte`: standard base64, nothing to escape) and plain ASCII names, as bytes written in one
 * buffer: the answers of the hot KES routes, without `toString('base64')`, the JSON text and its
 * encoding, and without the data key's base64 ever being a string.
 */
export function base64Object(a: string, x: Uint8Array, b?: string, y?: Uint8Array): Buffer {
  // {"a":"…"} plus ,"b":"…" and the newline.
  let size = a.length + stdBase64Length(x.length) + 8;
  if (b !== undefined && y !== undefined) size += b.length + stdBase64Length(y.length) + 6;
  const out = Buffer.allocUnsafe(size);
  let at = putAscii(out, 0, '{"');
  at = putAscii(out, at, a);
  at = putAscii(out, at, '":"');
  at = encodeStdBase64Into(x, out, at);
  if (b !== undefined && y !== undefined) {
    at = putAscii(out, at, '","');
    at = putAscii(out, at, b);
    at = putAscii(out, at, '":"');
    at = encodeStdBase64Into(y, out, at);
  }
  putAscii(out, at, '"}\n');
  return out;
}
