// The audit log's hash chain (docs/audit.md): every line carries a sequence number and an
// HMAC-SHA256, under a key derived from the HSM key, over the previous line's MAC and its own
// bytes, so that editing, removing, reordering or inserting a line breaks the chain at that line.
// The writer (audit-file.ts) and `keyhold audit verify` share this file so that both agree on
// the bytes that are MACed.

import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import { auditChainNative } from '../crypto/index.ts';
import type { ChainLines } from '../crypto/index.ts';

/** Length of a MAC in bytes (HMAC-SHA256). */
export const MAC_LENGTH = 32;
/** The `prev` of a chain's very first record. */
export const GENESIS = Buffer.alloc(MAC_LENGTH);

/** Where a chain stands: the last line's MAC and the next line's sequence number. */
export interface ChainHead {
  readonly mac: Buffer;
  readonly seq: number;
}

/**
 * What a line ends with: `,"seq":N,"mac":"<64 hex>"}`. The MAC covers `prev || line up to (not
 * including) ,"mac"` — raw bytes, so the verifier needs no canonical JSON.
 */
/** SHA-256's block size: the length of HMAC's padded key. */
const BLOCK = 64;
/** Where a line starts in the inner hash's input: after the padded key and the previous MAC. */
const PADDED = BLOCK + MAC_LENGTH;
/** Bytes a line grows by at most: `,"seq":N` (15 digits), `,"mac":"<64 hex>"}` and a newline. */
const TAIL_BYTES = 104;
/** Size of the scratch buffer kept between batches (the AuditLog flushes at 64 Ki characters). */
const SCRATCH_KEEP = 256 * 1024;

const TAIL = /,"seq":(\d{1,15}),"mac":"([0-9a-f]{64})"\}$/;

/**
 * Appends `seq` and `mac` to NDJSON lines, one HMAC per line. Lines must be JSON objects without
 * a trailing newline; the existing fields stay as they are for consumers.
 */
export class AuditChain {
  readonly #key: Buffer;
  #head: ChainHead;
  /** Where {@link nextLines} encodes a batch. */
  #scratch: Buffer = Buffer.allocUnsafe(SCRATCH_KEEP);
  /** key ⊕ ipad (one SHA-256 block), then the previous MAC and the line being MACed. */
  #inner: Buffer;
  /** key ⊕ opad, then the inner hash. */
  readonly #outer = Buffer.alloc(BLOCK + MAC_LENGTH);

  constructor(key: Buffer, head: ChainHead) {
    this.#key = key;
    this.#head = head;
    this.#inner = Buffer.alloc(PADDED + 4096);
    const k = key.length > BLOCK ? hash('sha256', key, 'buffer') : key;
    for (let i = 0; i < BLOCK; i++) {
      this.#inner[i] = (k[i] ?? 0) ^ 0x36;
      this.#outer[i] = (k[i] ?? 0) ^ 0x5c;
    }
  }

  get head(): ChainHead {
    return this.#head;
  }

  /** `object` (a JSON object text, `{…}`) as the next line of the chain, with its newline. */
  next(object: string): string {
    const body = `${object.slice(0, -1)},"seq":${this.#head.seq}`;
    const mac = lineMac(this.#key, this.#head.mac, body);
    this.#head = { mac, seq: this.#head.seq + 1 };
    return `${body},"mac":"${mac.toString('hex')}"}\n`;
  }

  /**
   * Like {@link next} for every line of `batch` (the UTF-8 bytes of newline-separated JSON
   * object texts; empty lines are skipped), as the UTF-8 bytes to append. Each line is encoded
   * once, right behind the key's inner pad, and its HMAC taken as two one-shot SHA-256 hashes over the padded key
   * blocks (RFC 2104's definition): a fresh `createHmac` with its updates per line cost more, and
   * the old path encoded every line twice (once for the MAC, once for the file).
   */
  nextLines(batch: Buffer): Buffer {
    const native = auditChainNative.chainLines;
    if (native !== null) return this.#nativeLines(native, batch);
    const lines = batch.toString('utf8');
    let inner = this.#inner;
    let out = this.#scratch;
    let at = 0;
    let from = 0;
    while (from < lines.length) {
      let nl = lines.indexOf('\n', from);
      if (nl === -1) nl = lines.length;
      if (nl > from) {
        // UTF-8 takes at most 3 bytes per UTF-16 unit; the tail at most TAIL_BYTES.
        const most = 3 * (nl - from) + TAIL_BYTES;
        if (PADDED + most > inner.length) {
          inner = this.#inner = grow(inner, Math.max(PADDED + most, 2 * inner.length), PADDED);
        }
        if (at + most > out.length) out = grow(out, Math.max(at + most, 2 * out.length), at);
        const head = this.#head;
        head.mac.copy(inner, BLOCK);
        let end = PADDED + inner.write(lines.slice(from, nl - 1), PADDED, 'utf8');
        end += inner.write(`,"seq":${head.seq}`, end, 'latin1');
        hash('sha256', inner.subarray(0, end), 'buffer').copy(this.#outer, BLOCK);
        const mac = hash('sha256', this.#outer, 'buffer');
        this.#head = { mac, seq: head.seq + 1 };
        at += inner.copy(out, at, PADDED, end);
        at += out.write(',"mac":"', at, 'latin1');
        at += out.write(mac.toString('hex'), at, 'latin1');
        at += out.write('"}\n', at, 'latin1');
      }
      from = nl + 1;
    }
    // Kept for the next batch only while it stays of ordinary size.
    if (out.length <= SCRATCH_KEEP) this.#scratch = out;
    if (inner.length > SCRATCH_KEEP) this.#inner = grow(inner, SCRATCH_KEEP, PADDED);
    return Buffer.from(out.subarray(0, at));
  }

  /**
   * {@link nextLines} in one call of the native addon (docs/performance.md): the batch encoded
   * once, every line MACed and written out in C, the same bytes as the loop above.
   */
  #nativeLines(chainLines: ChainLines, bytes: Buffer): Buffer {
    let count = 0;
    for (let from = 0; from < bytes.length;) {
      let nl = bytes.indexOf(0x0a, from);
      if (nl === -1) nl = bytes.length;
      if (nl > from) count++;
      from = nl + 1;
    }
    // Room for the longest line (at most the whole batch) behind the pad and the previous MAC.
    if (PADDED + bytes.length + TAIL_BYTES > this.#inner.length) {
      this.#inner = grow(this.#inner, PADDED + bytes.length + TAIL_BYTES, BLOCK);
    }
    const most = bytes.length + count * TAIL_BYTES;
    if (most > this.#scratch.length) this.#scratch = grow(this.#scratch, most, 0);
    const prev = Buffer.from(this.#head.mac);
    const written = chainLines(
      bytes,
      this.#inner,
      this.#outer,
      prev,
      this.#head.seq,
      this.#scratch,
    );
    this.#head = { mac: prev, seq: this.#head.seq + count };
    const out = Buffer.from(this.#scratch.subarray(0, written));
    if (this.#scratch.length > SCRATCH_KEEP) this.#scratch = Buffer.allocUnsafe(SCRATCH_KEEP);
    if (this.#inner.length > SCRATCH_KEEP) this.#inner = grow(this.#inner, SCRATCH_KEEP, BLOCK);
    return out;
  }

  /**
   * The record that begins a file or a run: it names the MAC it continues from, so that a
   * rotated file verifies on its own and together with the one before it.
   */
  start(time: Date): string {
    return this.next(
      `{"time":"${time.toISOString()}","audit":"start","prev":"${this.#head.mac.toString('hex')}"}`,
    );
  }

  /** The record that ends a file or a run cleanly: without it, the end may have been cut off. */
  seal(time: Date, reason: 'close' | 'rotate'): string {
    return this.next(`{"time":"${time.toISOString()}","audit":"seal","reason":"${reason}"}`);
  }
}

/** A buffer of `size` bytes holding the first `keep` bytes of `buffer`. */
function grow(buffer: Buffer, size: number, keep: number): Buffer {
  const bigger = Buffer.alloc(size);
  buffer.copy(bigger, 0, 0, keep);
  return bigger;
}

function lineMac(key: Buffer, prev: Buffer, body: string): Buffer {
  return createHmac('sha256', key).update(prev).update(body).digest();
}

/**
 * Where the chain of an existing file stands, from its last complete line: the head to continue
 * from, or null when that line is not a chained record (an empty file, or lines from before
 * chaining). Trusts the line: only a verifier with the whole chain can judge it.
 */
export function headOf(lastLine: string): ChainHead | null {
  const m = TAIL.exec(lastLine);
  if (!m) return null;
  return { mac: Buffer.from(m[2]!, 'hex'), seq: Number(m[1]) + 1 };
}

/** One file to verify: its name (for messages) and contents. */
export interface AuditFileText {
  readonly name: string;
  readonly text: string;
}

export type VerifyResult =
  | {
      readonly valid: true;
      readonly records: number;
      /** Sequence numbers of the first and last line checked. */
      readonly firstSeq: number;
      readonly lastSeq: number;
      /** The first line is the chain's first record ever (prev = zero): nothing before it. */
      readonly fromGenesis: boolean;
      /** The MAC the first line continues from (zero at genesis). */
      readonly anchor: string;
      /** The last line's MAC: record it elsewhere to detect a cut at the end later. */
      readonly lastMac: string;
      /** The last line is a seal record. */
      readonly sealed: boolean;
    }
  | ChainBreak;

export interface VerifyOptions {
  /**
   * Accept runs that end without a seal record: the live file of a running server, or a run that
   * crashed. Without it, a missing seal is reported, since cutting lines off the end looks alike.
   */
  readonly allowUnsealed?: boolean;
}

/** A bad line: where, and why. */
export interface ChainBreak {
  readonly valid: false;
  readonly file: string;
  readonly line: number;
  readonly reason: string;
}

/**
 * Checks, line by line and file by file (so that files of any size stream through), that the
 * lines form one unbroken chain under `key`; the first bad line stops it. Every file must begin
 * with a start record; the first file's start record is trusted as the anchor (it may continue a
 * file not given).
 */
export class ChainVerifier {
  readonly #key: Buffer;
  readonly #options: VerifyOptions;
  #prev: Buffer | null = null;
  #seq = 0;
  #firstSeq = 0;
  #anchor = '';
  #records = 0;
  #lastKind = '';
  #lastFile = '';
  #lastLine = 0;
  #file = '';
  #line = 0;
  #broken: ChainBreak | null = null;

  constructor(key: Buffer, options: VerifyOptions = {}) {
    this.#key = key;
    this.#options = options;
  }

  /** The first bad line, once found. */
  get broken(): ChainBreak | null {
    return this.#broken;
  }

  beginFile(name: string): void {
    this.#file = name;
    this.#line = 0;
  }

  /** The next complete line of the current file, without its newline. False once broken. */
  line(line: string): boolean {
    if (this.#broken) return false;
    const number = ++this.#line;
    const m = TAIL.exec(line);
    let record: Record<string, unknown> | null = null;
    if (m) {
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
          record = parsed as Record<string, unknown>;
        }
      } catch {
        record = null;
      }
    }
    if (!m || !record) {
      return this.#fail(number, line === '' ? 'empty line' : 'not a chained audit record');
    }
    const lineSeq = Number(m[1]);
    const kind = typeof record.audit === 'string' ? record.audit : 'request';
    if (number === 1 && kind !== 'start') {
      return this.#fail(
        number,
        'the file does not begin with a start record: lines before this one were removed',
      );
    }
    let linePrev: Buffer;
    if (kind === 'start') {
      const p = typeof record.prev === 'string' ? record.prev : '';
      if (!/^[0-9a-f]{64}$/.test(p)) return this.#fail(number, 'start record without a valid prev');
      linePrev = Buffer.from(p, 'hex');
      if (this.#prev === null) {
        this.#anchor = p;
        this.#seq = this.#firstSeq = lineSeq;
      } else {
        if (!timingSafeEqual(linePrev, this.#prev)) {
          return this.#fail(
            number,
            'start record does not continue the line before it (prev differs): lines were removed or the files are out of order',
          );
        }
        if (this.#lastKind !== 'seal' && this.#options.allowUnsealed !== true) {
          return this.#fail(
            number,
            'the run before this start record ended without a seal record: the server crashed, or lines were removed at its end (--allow-unsealed accepts crashes)',
          );
        }
      }
    } else {
      if (this.#prev === null) return this.#fail(number, 'expected a start record');
      linePrev = this.#prev;
    }
    if (lineSeq !== this.#seq) {
      return this.#fail(
        number,
        `seq ${lineSeq} where ${this.#seq} was expected: a line was removed, inserted, moved or edited here`,
      );
    }
    const body = line.slice(0, line.length - m[0].length + `,"seq":${m[1]}`.length);
    const expected = lineMac(this.#key, linePrev, body);
    if (!timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'))) {
      return this.#fail(
        number,
        'MAC does not match: the line was edited or inserted, or the HSM key is not the one that wrote it',
      );
    }
    this.#prev = expected;
    this.#seq = lineSeq + 1;
    this.#records++;
    this.#lastKind = kind;
    this.#lastFile = this.#file;
    this.#lastLine = number;
    return true;
  }

  /** The current file ended; `rest` is what followed its last newline ('' for a whole file). */
  endFile(rest: string): boolean {
    if (this.#broken) return false;
    if (rest !== '') {
      return this.#fail(this.#line + 1, 'incomplete last line (the file was cut mid-line)');
    }
    if (this.#line === 0) return this.#fail(1, 'empty file: expected a start record');
    return true;
  }

  /** The verdict once every file went through. */
  finish(): VerifyResult {
    if (this.#broken) return this.#broken;
    if (this.#prev === null) return { valid: false, file: '', line: 0, reason: 'no audit records' };
    if (this.#lastKind !== 'seal' && this.#options.allowUnsealed !== true) {
      this.#file = this.#lastFile;
      this.#fail(
        this.#lastLine + 1,
        'the log ends without a seal record: the server is still running or crashed, or lines were removed at the end (--allow-unsealed accepts a live or crashed run)',
      );
      return this.#broken!;
    }
    return {
      valid: true,
      records: this.#records,
      firstSeq: this.#firstSeq,
      lastSeq: this.#seq - 1,
      fromGenesis: this.#anchor === GENESIS.toString('hex') && this.#firstSeq === 0,
      anchor: this.#anchor,
      lastMac: this.#prev.toString('hex'),
      sealed: this.#lastKind === 'seal',
    };
  }

  #fail(line: number, reason: string): false {
    this.#broken = { valid: false, file: this.#file, line, reason };
    return false;
  }
}

/** `files`, each whole in memory, through a ChainVerifier (tests; the CLI streams). */
export function verifyAuditChain(
  key: Buffer,
  files: readonly AuditFileText[],
  options: VerifyOptions = {},
): VerifyResult {
  const verifier = new ChainVerifier(key, options);
  for (const { name, text } of files) {
    verifier.beginFile(name);
    const lines = text.split('\n');
    const rest = lines.pop()!;
    for (const line of lines) if (!verifier.line(line)) break;
    verifier.endFile(rest);
  }
  return verifier.finish();
}
