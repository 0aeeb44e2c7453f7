// Minimal DER (X.690 distinguished encoding) reader and writer: just enough ASN.1 for
// X.509 certificates. The reader is strict (definite, minimal lengths; bounds-checked)
// and never reads outside the element it was given; the writer emits canonical DER.
import { Buffer } from 'node:buffer';

/** Universal tags (class universal, with the constructed bit where the type requires it). */
export const DerTag = {
  Boolean: 0x01,
  Integer: 0x02,
  BitString: 0x03,
  OctetString: 0x04,
  Null: 0x05,
  Oid: 0x06,
  Utf8String: 0x0c,
  PrintableString: 0x13,
  Ia5String: 0x16,
  UtcTime: 0x17,
  GeneralizedTime: 0x18,
  Sequence: 0x30,
  Set: 0x31,
} as const;

/** Malformed DER input, or a value the writer cannot encode. */
export class DerError extends Error {
  override readonly name = 'DerError';
}

/** The tag byte of a context-specific tag `[n]` (n < 31); `constructed` for EXPLICIT tags. */
export function contextTag(tagNumber: number, constructed: boolean): number {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30) {
    throw new DerError(`context tag number must be 0..30, got ${tagNumber}`);
  }
  return (constructed ? 0xa0 : 0x80) | tagNumber;
}

/** One element found by {@link DerReader}: offsets into the reader's buffer. */
export interface DerElement {
  /** The identifier octet (single-byte tags only). */
  readonly tag: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly valueStart: number;
  /** Offset one past the last content octet. */
  readonly end: number;
}

/**
 * Sequential reader over the elements between `start` and `end` of a buffer. Every read
 * checks that the element fits inside that window, so malformed input yields a DerError,
 * never an out-of-bounds read. Slices returned are views (no copy) of the input.
 */
export class DerReader {
  readonly #bytes: Buffer;
  readonly #end: number;
  #pos: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end)) {
      throw new DerError(`invalid window ${start}..${end}`);
    }
    if (end > bytes.length) throw new DerError(`window end ${end} exceeds ${bytes.length} bytes`);
    this.#bytes = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#pos = start;
    this.#end = end;
  }

  /** True when every element in the window has been read. */
  get atEnd(): boolean {
    return this.#pos >= this.#end;
  }

  /** The tag of the next element, or undefined at the end of the window. */
  peekTag(): number | undefined {
    return this.#pos < this.#end ? this.#bytes[this.#pos] : undefined;
  }

  /** Reads the next element (any tag). */
  next(): DerElement {
    const bytes = this.#bytes;
    const end = this.#end;
    const start = this.#pos;
    if (start >= end) throw new DerError('unexpected end of data: expected another element');
    const tag = bytes[start]!;
    if ((tag & 0x1f) === 0x1f) {
      throw new DerError(`unsupported high-tag-number form at offset ${start}`);
    }
    if (start + 1 >= end) throw new DerError(`truncated element at offset ${start}: no length`);
    const first = bytes[start + 1]!;
    let valueStart = start + 2;
    let length = first;
    if (first === 0x80) {
      throw new DerError(`indefinite length at offset ${start} (not allowed in DER)`);
    }
    if (first > 0x80) {
      const count = first & 0x7f;
      if (count > 4) throw new DerError(`length of element at offset ${start} is too large`);
      if (valueStart + count > end) {
        throw new DerError(`truncated length of element at offset ${start}`);
      }
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + bytes[valueStart + i]!;
      if (bytes[valueStart] === 0 || length < 0x80) {
        throw new DerError(`non-minimal length encoding at offset ${start}`);
      }
      valueStart += count;
    }
    const elementEnd = valueStart + length;
    if (elementEnd > end) {
      throw new DerError(
        `truncated element at offset ${start}: needs ${length} content bytes, ${end - valueStart} available`,
      );
    }
    this.#pos = elementEnd;
    return { tag, start, valueStart, end: elementEnd };
  }

  /** Reads the next element if it has `tag` (for OPTIONAL fields), else reads nothing. */
  nextIf(tag: number): DerElement | undefined {
    return this.peekTag() === tag ? this.next() : undefined;
  }

  /** Reads the next element and checks its tag; `what` names the field in the error. */
  expect(tag: number, what: string): DerElement {
    const found = this.peekTag();
    if (found === undefined) throw new DerError(`${what}: missing (end of data)`);
    if (found !== tag) {
      throw new DerError(`${what}: expected tag 0x${hex2(tag)}, found 0x${hex2(found)}`);
    }
    return this.next();
  }

  /** Reads a constructed element with `tag` and returns a reader over its contents. */
  enter(tag: number, what: string): DerReader {
    const element = this.expect(tag, what);
    return new DerReader(this.#bytes, element.valueStart, element.end);
  }

  /** Throws if elements remain in the window; `what` names the enclosing structure. */
  finish(what: string): void {
    if (this.#pos < this.#end) {
      throw new DerError(`${what}: ${this.#end - this.#pos} unexpected trailing bytes`);
    }
  }

  /** The whole encoding (tag, length and contents) of an element, as a view. */
  encoded(element: DerElement): Buffer {
    return this.#bytes.subarray(element.start, element.end);
  }

  /** True if the element's contents equal `expected` (compares in place, no slice). */
  valueEquals(element: DerElement, expected: Uint8Array): boolean {
    const length = element.end - element.valueStart;
    if (length !== expected.length) return false;
    for (let i = 0; i < length; i++) {
      if (this.#bytes[element.valueStart + i] !== expected[i]) return false;
    }
    return true;
  }

  /** The contents of an element, as a view. */
  value(element: DerElement): Buffer {
    return this.#bytes.subarray(element.valueStart, element.end);
  }
}

/**
 * Reads exactly one element with `tag` spanning all of `bytes` (trailing bytes are an
 * error) and returns a reader over its contents.
 */
export function enterSingle(bytes: Uint8Array, tag: number, what: string): DerReader {
  const outer = new DerReader(bytes);
  const inner = outer.enter(tag, what);
  outer.finish(what);
  return inner;
}

/** Decodes BOOLEAN contents (DER: exactly 0x00 or 0xff). */
export function decodeBoolean(value: Uint8Array): boolean {
  if (value.length !== 1 || (value[0] !== 0x00 && value[0] !== 0xff)) {
    throw new DerError('BOOLEAN must be one byte, 0x00 or 0xff');
  }
  return value[0] === 0xff;
}

/** Decodes INTEGER contents (two's complement, minimal) to a bigint. */
export function decodeInteger(value: Uint8Array): bigint {
  if (value.length === 0) throw new DerError('INTEGER has no content');
  if (
    value.length > 1 &&
    ((value[0] === 0x00 && (value[1]! & 0x80) === 0) ||
      (value[0] === 0xff && (value[1]! & 0x80) !== 0))
  ) {
    throw new DerError('INTEGER is not minimally encoded');
  }
  let result = 0n;
  for (const byte of value) result = (result << 8n) | BigInt(byte);
  if ((value[0]! & 0x80) !== 0) result -= 1n << BigInt(value.length * 8);
  return result;
}

/** Decodes OBJECT IDENTIFIER contents to dotted form (`1.2.840.10045.2.1`). */
export function decodeOid(value: Uint8Array): string {
  if (value.length === 0) throw new DerError('OBJECT IDENTIFIER has no content');
  const arcs: bigint[] = [];
  let arc = 0n;
  let started = false;
  for (const byte of value) {
    if (!started && byte === 0x80) throw new DerError('OBJECT IDENTIFIER arc has a leading 0x80');
    started = true;
    arc = (arc << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(arc);
      arc = 0n;
      started = false;
    }
  }
  if (started) throw new DerError('OBJECT IDENTIFIER ends inside an arc');
  const first = arcs[0]!;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}

/** Decodes BIT STRING contents into the unused-bit count and the bytes (a view). */
export function decodeBitString(value: Uint8Array): { unusedBits: number; bytes: Uint8Array } {
  const unusedBits = value[0];
  if (unusedBits === undefined) throw new DerError('BIT STRING has no content');
  if (unusedBits > 7 || (value.length === 1 && unusedBits !== 0)) {
    throw new DerError(`BIT STRING has an invalid unused-bit count ${unusedBits}`);
  }
  if (unusedBits > 0 && (value[value.length - 1]! & ((1 << unusedBits) - 1)) !== 0) {
    throw new DerError('BIT STRING unused bits are not zero');
  }
  return { unusedBits, bytes: value.subarray(1) };
}

/** Decodes UTCTime or GeneralizedTime contents (the RFC 5280 `YY…Z` / `YYYY…Z` forms). */
export function decodeTime(tag: number, value: Uint8Array): Date {
  const text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
  let match: RegExpExecArray | null;
  let year: number;
  if (tag === DerTag.UtcTime) {
    match = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
    if (match === null) throw new DerError('UTCTime is not in the form YYMMDDHHMMSSZ');
    const yy = Number(match[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy; // RFC 5280 §4.1.2.5.1
  } else if (tag === DerTag.GeneralizedTime) {
    match = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
    if (match === null) throw new DerError('GeneralizedTime is not in the form YYYYMMDDHHMMSSZ');
    year = Number(match[1]);
  } else {
    throw new DerError(`tag 0x${hex2(tag)} is not a time`);
  }
  const [month, day, hour, minute, second] = match.slice(2).map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // not Date.UTC: it maps years 0..99 to 19xx
  date.setUTCHours(hour, minute, second, 0);
  if (
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    throw new DerError(`invalid date ${text}`);
  }
  return date;
}

// ---------------------------------------------------------------------------------------
// Writer

/** Encodes one element: identifier octet, definite minimal length, contents. */
export function derTlv(tag: number, ...contents: readonly Uint8Array[]): Buffer {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff || (tag & 0x1f) === 0x1f) {
    throw new DerError(`unsupported tag ${tag}`);
  }
  let length = 0;
  for (const part of contents) length += part.length;
  let header: Buffer;
  if (length < 0x80) {
    header = Buffer.from([tag, length]);
  } else {
    const lengthBytes: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256))
      lengthBytes.unshift(rest % 256);
    if (lengthBytes.length > 4) throw new DerError(`content of ${length} bytes is too long`);
    header = Buffer.from([tag, 0x80 | lengthBytes.length, ...lengthBytes]);
  }
  return Buffer.concat([header, ...contents], header.length + length);
}

/** SEQUENCE of already-encoded elements, in order. */
export function derSequence(...elements: readonly Uint8Array[]): Buffer {
  return derTlv(DerTag.Sequence, ...elements);
}

/** SET OF already-encoded elements; DER orders them by their encodings (X.690 §11.6). */
export function derSet(...elements: readonly Uint8Array[]): Buffer {
  const sorted = [...elements].sort((a, b) => Buffer.compare(a, b));
  return derTlv(DerTag.Set, ...sorted);
}

/** INTEGER from a bigint or a safe integer (two's complement, minimal). */
export function derInteger(value: bigint | number): Buffer {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new DerError(`INTEGER value ${value} is not a safe integer`);
  }
  let rest = BigInt(value);
  const bytes: number[] = [];
  for (;;) {
    const byte = Number(rest & 0xffn);
    bytes.unshift(byte);
    rest >>= 8n; // arithmetic shift: ends at 0 or -1
    if ((rest === 0n && (byte & 0x80) === 0) || (rest === -1n && (byte & 0x80) !== 0)) break;
  }
  return derTlv(DerTag.Integer, Buffer.from(bytes));
}

/** INTEGER from unsigned big-endian magnitude bytes (e.g. a random serial number). */
export function derUnsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  if (trimmed.length === 0) return derTlv(DerTag.Integer, Buffer.from([0]));
  const pad = (trimmed[0]! & 0x80) !== 0 ? Buffer.from([0]) : Buffer.alloc(0);
  return derTlv(DerTag.Integer, pad, trimmed);
}

/** BOOLEAN (DER TRUE is 0xff). */
export function derBoolean(value: boolean): Buffer {
  return derTlv(DerTag.Boolean, Buffer.from([value ? 0xff : 0x00]));
}

/** NULL. */
export function derNull(): Buffer {
  return derTlv(DerTag.Null);
}

/** OBJECT IDENTIFIER from dotted form. */
export function derOid(dotted: string): Buffer {
  if (!/^[0-2](\.(0|[1-9]\d*))+$/.test(dotted)) {
    throw new DerError(`invalid OBJECT IDENTIFIER '${dotted}'`);
  }
  const arcs = dotted.split('.').map((arc) => BigInt(arc));
  const [first, second] = arcs as [bigint, bigint];
  if (first < 2n && second >= 40n) {
    throw new DerError(`invalid OBJECT IDENTIFIER '${dotted}': second arc must be < 40`);
  }
  const out: number[] = [];
  for (const arc of [first * 40n + second, ...arcs.slice(2)]) {
    const group: number[] = [Number(arc & 0x7fn)];
    for (let rest = arc >> 7n; rest > 0n; rest >>= 7n) group.unshift(Number(rest & 0x7fn) | 0x80);
    out.push(...group);
  }
  return derTlv(DerTag.Oid, Buffer.from(out));
}

/** BIT STRING; `unusedBits` low bits of the last byte must be zero. */
export function derBitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7) {
    throw new DerError(`BIT STRING unused-bit count must be 0..7, got ${unusedBits}`);
  }
  if (unusedBits > 0) {
    const last = bytes[bytes.length - 1];
    if (last === undefined || (last & ((1 << unusedBits) - 1)) !== 0) {
      throw new DerError('BIT STRING unused bits must be present and zero');
    }
  }
  return derTlv(DerTag.BitString, Buffer.from([unusedBits]), bytes);
}

/** OCTET STRING. */
export function derOctetString(bytes: Uint8Array): Buffer {
  return derTlv(DerTag.OctetString, bytes);
}

/** UTF8String. */
export function derUtf8String(text: string): Buffer {
  if (LONE_SURROGATE.test(text)) throw new DerError('UTF8String contains a lone surrogate');
  return derTlv(DerTag.Utf8String, Buffer.from(text, 'utf8'));
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** IA5String (7-bit ASCII only). */
export function derIa5String(text: string): Buffer {
  return derTlv(DerTag.Ia5String, ia5Bytes(text));
}

/** The bytes of an IA5String value; throws on non-ASCII text. */
export function ia5Bytes(text: string): Buffer {
  // eslint-disable-next-line no-control-regex -- the IA5 range is exactly U+0000..U+007F
  if (!/^[\x00-\x7f]*$/.test(text)) throw new DerError('IA5String must be 7-bit ASCII');
  return Buffer.from(text, 'latin1');
}

/** UTCTime `YYMMDDHHMMSSZ` (years 1950..2049); sub-second precision is dropped. */
export function derUtcTime(date: Date): Buffer {
  const year = checkedYear(date);
  if (year < 1950 || year > 2049) throw new DerError(`UTCTime cannot hold year ${year}`);
  return derTlv(DerTag.UtcTime, Buffer.from(timeDigits(date).slice(2) + 'Z', 'latin1'));
}

/** GeneralizedTime `YYYYMMDDHHMMSSZ` (years 0..9999); sub-second precision is dropped. */
export function derGeneralizedTime(date: Date): Buffer {
  const year = checkedYear(date);
  if (year < 0 || year > 9999) throw new DerError(`GeneralizedTime cannot hold year ${year}`);
  return derTlv(DerTag.GeneralizedTime, Buffer.from(timeDigits(date) + 'Z', 'latin1'));
}

/** An X.509 Time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
export function derTime(date: Date): Buffer {
  const year = checkedYear(date);
  return year >= 1950 && year <= 2049 ? derUtcTime(date) : derGeneralizedTime(date);
}

/** EXPLICIT context tag `[n]` wrapping one already-encoded element. */
export function derExplicit(tagNumber: number, element: Uint8Array): Buffer {
  return derTlv(contextTag(tagNumber, true), element);
}

/** IMPLICIT primitive context tag `[n]` with the given contents (e.g. a GeneralName). */
export function derImplicit(tagNumber: number, contents: Uint8Array): Buffer {
  return derTlv(contextTag(tagNumber, false), contents);
}

function checkedYear(date: Date): number {
  const time = date.getTime();
  if (Number.isNaN(time)) throw new DerError('invalid Date');
  return date.getUTCFullYear();
}

function timeDigits(date: Date): string {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return (
    pad(date.getUTCFullYear(), 4) +
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds())
  );
}

function hex2(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
