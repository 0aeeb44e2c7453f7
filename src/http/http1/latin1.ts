// Latin-1 string <-> bytes for header text on the hot path: Buffer's own codec methods, without
// toString()/write()'s argument normalisation, which costs more than the copy for short fields.

interface Latin1Codec {
  latin1Slice(start: number, end: number): string;
  latin1Write(text: string, offset: number): number;
}

const native =
  typeof (Buffer.prototype as unknown as Partial<Latin1Codec>).latin1Slice === 'function';

/** The bytes buf[start, end) as a string, one character per byte. */
export function latin1Slice(buf: Buffer, start: number, end: number): string {
  return native
    ? (buf as unknown as Latin1Codec).latin1Slice(start, end)
    : buf.toString('latin1', start, end);
}

/** Writes `text` (characters <= U+00FF) into buf at `offset`, one byte per character. */
export function latin1Write(buf: Buffer, text: string, offset: number): number {
  return native
    ? (buf as unknown as Latin1Codec).latin1Write(text, offset)
    : buf.write(text, offset, 'latin1');
}
