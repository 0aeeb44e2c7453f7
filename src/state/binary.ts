// Little-endian, length-prefixed binary encoding shared by the snapshot and command codecs: a
// writer that fills fixed-size chunks (no giant intermediate string) and a bounds-checked reader
// whose errors name the offset, so a truncated or damaged payload gets a clear message.

const CHUNK_BYTES = 1 << 20;

/** Thrown for a payload that is truncated, damaged or not in the expected format. */
export class FormatError extends Error {
  override readonly name = 'FormatError';
}

export class ChunkWriter {
  readonly #chunks: Buffer[] = [];
  readonly #chunkBytes: number;
  #chunk: Buffer;
  #pos = 0;

  /**
   * @param firstChunkBytes size of the first chunk: an estimate of the whole output makes it the
   *   only one (one large allocation, which the allocator maps and unmaps by itself, instead of
   *   many 1 MiB ones that can stay resident after use).
   */
  constructor(firstChunkBytes = CHUNK_BYTES, chunkBytes = CHUNK_BYTES) {
    this.#chunkBytes = chunkBytes;
    this.#chunk = Buffer.allocUnsafe(firstChunkBytes);
  }

  /** Makes room for `n` contiguous bytes and returns [chunk, offset] to write them at. */
  reserve(n: number): [Buffer, number] {
    if (this.#pos + n > this.#chunk.length) {
      this.#chunks.push(this.#chunk.subarray(0, this.#pos));
      this.#chunk = Buffer.allocUnsafe(Math.max(this.#chunkBytes, n));
      this.#pos = 0;
    }
    const at = this.#pos;
    this.#pos += n;
    return [this.#chunk, at];
  }

  u8(value: number): void {
    const [b, at] = this.reserve(1);
    b[at] = value;
  }

  u16(value: number): void {
    const [b, at] = this.reserve(2);
    b.writeUInt16LE(value, at);
  }

  u32(value: number): void {
    const [b, at] = this.reserve(4);
    b.writeUInt32LE(value, at);
  }

  f64(value: number): void {
    const [b, at] = this.reserve(8);
    b.writeDoubleLE(value, at);
  }

  bytes(value: Uint8Array): void {
    const [b, at] = this.reserve(value.length);
    b.set(value, at);
  }

  /** A UTF-8 string of at most 65535 bytes, after its u16 length. */
  str(value: string): void {
    const [b, at] = this.reserve(2 + value.length * 3);
    const n = value.length <= 32 ? writeShort(b, at + 2, value) : b.write(value, at + 2, 'utf8');
    if (n > 0xffff) throw new RangeError('string too long to encode');
    b.writeUInt16LE(n, at);
    this.#pos = at + 2 + n;
  }

  /** A UTF-8 string of any length, after its u32 length. */
  longStr(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.u32(bytes.length);
    this.bytes(bytes);
  }

  /** Bytes written so far. */
  get length(): number {
    let n = this.#pos;
    for (const chunk of this.#chunks) n += chunk.length;
    return n;
  }

  /** The chunks written (the last one trimmed); the writer must not be used afterwards. */
  chunks(): Buffer[] {
    return [...this.#chunks, this.#chunk.subarray(0, this.#pos)];
  }
}

/** Writes a short string: a JS loop for ASCII (no native call per name), else Buffer#write. */
function writeShort(b: Buffer, at: number, value: string): number {
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80) return b.write(value, at, 'utf8');
    b[at + i] = c;
  }
  return n;
}

export class ByteReader {
  readonly #buf: Buffer;
  readonly #what: string;
  readonly #end: number;
  #pos: number;

  /** Reads `buf` from `start` to `end`; errors say "<what> truncated at byte N" etc. */
  constructor(buf: Buffer, what: string, start = 0, end = buf.length) {
    this.#buf = buf;
    this.#what = what;
    this.#pos = start;
    this.#end = end;
  }

  get offset(): number {
    return this.#pos;
  }

  get remaining(): number {
    return this.#end - this.#pos;
  }

  /** The error to throw for a damaged field at the current offset. */
  error(message: string, at = this.#pos): FormatError {
    return new FormatError(`${this.#what}: ${message} (at byte ${at})`);
  }

  /** Checks that `n` more bytes exist and returns the offset where they start. */
  take(n: number): number {
    if (n > this.#end - this.#pos) {
      throw new FormatError(
        `${this.#what} truncated at byte ${this.#pos} (${n} more bytes needed, ${this.#end - this.#pos} left)`,
      );
    }
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  u8(): number {
    return this.#buf[this.take(1)]!;
  }

  u16(): number {
    return this.#buf.readUInt16LE(this.take(2));
  }

  u32(): number {
    return this.#buf.readUInt32LE(this.take(4));
  }

  f64(): number {
    return this.#buf.readDoubleLE(this.take(8));
  }

  /** A copy of the next `n` bytes. */
  bytes(n: number): Buffer {
    const at = this.take(n);
    return Buffer.from(this.#buf.subarray(at, at + n));
  }

  str(): string {
    const n = this.u16();
    const at = this.take(n);
    return this.#buf.toString('utf8', at, at + n);
  }

  longStr(): string {
    const n = this.u32();
    const at = this.take(n);
    return this.#buf.toString('utf8', at, at + n);
  }

  /** Throws unless every byte was read. */
  end(): void {
    if (this.#pos !== this.#end) {
      throw this.error(`${this.#end - this.#pos} unexpected bytes after the end`);
    }
  }
}
