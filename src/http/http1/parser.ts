// Incremental, strict HTTP/1.1 request parser for the lean server. It accepts and rejects what
// Node's own parser (llhttp, non-lenient) does, byte for byte, except where docs/http1.md lists a
// deliberate difference; each rule names the ambiguity or smuggling vector it closes.

import { METHODS } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { latin1Slice } from './latin1.ts';

/** A request that cannot be parsed; the connection answers `status` once and closes. */
export class ParseError extends Error {
  /** llhttp-style code, e.g. `HPE_INVALID_HEADER_TOKEN`. */
  readonly code: string;
  readonly status: 400 | 413 | 431;

  constructor(code: string, message: string, status: 400 | 413 | 431 = 400) {
    super(message);
    this.name = 'ParseError';
    this.code = code;
    this.status = status;
  }
}

/** The request line and header section of one request. */
export interface RequestHead {
  readonly method: string;
  /** The request-target exactly as received (latin1). */
  readonly url: string;
  readonly versionMinor: 0 | 1;
  /** Lower-case names; repeated headers combined as Node's IncomingMessage does. */
  readonly headers: IncomingHttpHeaders;
  /** llhttp's keep-alive decision for this message. */
  readonly keepAlive: boolean;
  /** Declared body: -1 chunked, otherwise the Content-Length (0 without a body). */
  readonly bodyLength: number;
}

export interface ParserHandler {
  /** The first byte of a message arrived (starts the headers timeout). */
  onMessageBegin(): void;
  onHead(head: RequestHead): void;
  /** A slice of the body (a view into the input; chunk framing removed). */
  onBody(chunk: Buffer): void;
  /** The message is complete; return false to stop parsing after it. */
  onMessageComplete(trailers: IncomingHttpHeaders | null): boolean;
}

export interface ParserLimits {
  /** Node's `maxHeaderSize`: request-target + header names + values, 16 KiB by default. */
  readonly maxHeaderSize: number;
  /** Headers beyond this many are parsed and checked but left out of `headers` (as Node). */
  readonly maxHeadersCount: number;
}

/** Node's limit on the chunk extension bytes of one chunk (CVE-2024-22019). */
const MAX_CHUNK_EXTENSIONS = 16 * 1024;
/**
 * Content-Length and chunk sizes above this are refused: a JavaScript number counts exactly
 * only up to 2^53 - 1 (llhttp goes to 2^64 - 1, which no Keyhold body approaches).
 */
const MAX_LENGTH = Number.MAX_SAFE_INTEGER;
/**
 * Bytes decoded to text at once when a header section starts: fields are then substrings of
 * it (pure JavaScript) rather than one native decode call each, the main cost of small heads.
 */
const TEXT_WINDOW = 4096;

// Parser states.
const IDLE = 0;
const METHOD = 1;
const BEFORE_URL = 2;
const URL_SCHEMA = 3;
const URL_SLASH1 = 4;
const URL_SLASH2 = 5;
const URL_SERVER = 6;
const URL_SERVER_AT = 7;
const URL_PATH = 8;
const URL_QUERY = 9;
const URL_FRAGMENT = 10;
const BEFORE_VERSION = 11;
const VERSION = 12;
const LINE_LF = 13;
const HEADERS_START = 14;
const FIELD_START = 15;
const FIELD = 16;
const VALUE_WS = 17;
const VALUE = 18;
const VALUE_LF = 19;
const VALUE_FOLD = 20;
const HEADERS_LF = 21;
const BODY = 22;
const CHUNK_SIZE_START = 23;
const CHUNK_SIZE = 24;
const CHUNK_EXT_START = 25;
const CHUNK_EXT_NAME = 26;
const CHUNK_EXT_VALUE = 27;
const CHUNK_EXT_QUOTED = 28;
const CHUNK_EXT_PAIR = 29;
const CHUNK_EXT_QUOTED_DONE = 30;
const CHUNK_SIZE_LF = 31;
const CHUNK_DATA = 32;
const CHUNK_DATA_CR = 33;
const CHUNK_DATA_LF = 34;
const DEAD = 35;

// Message flags.
const F_CONTENT_LENGTH = 1;
const F_TRANSFER_ENCODING = 2;
const F_CHUNKED = 4;
const F_CLOSE = 8;
const F_KEEP_ALIVE = 16;
const F_TRAILING = 32;

// The kind of header whose value is being read.
const H_OTHER = 0;
const H_CONTENT_LENGTH = 1;
const H_TRANSFER_ENCODING = 2;
const H_CONNECTION = 3;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;

function table(chars: string, ranges: readonly (readonly [number, number])[] = []): Uint8Array {
  const t = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  for (const [from, to] of ranges) t.fill(1, from, to + 1);
  return t;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ALPHA = table(ALNUM.slice(0, 52));
/** Bytes that can occur in the methods Node knows. */
const METHOD_CHAR = table('ABCDEFGHIJKLMNOPQRSTUVWXYZ-');
/** RFC 9110 tchar: header names and chunk extension names/values. */
const TOKEN = table("!#$%&'*+-.^_`|~" + ALNUM);
/**
 * Request-target bytes (llhttp's strict URL set): visible ASCII but space, '#' and '?', which
 * the states handle. No CTL, DEL, tab or byte >= 0x80: a target that different parsers would
 * split or decode differently never reaches a handler.
 */
const URL_CHAR = table('!"$%&\'()*+,-./:;<=>@[\\]^_`{|}~' + ALNUM);
/** Bytes after the first '/' of an origin-form target, up to the space: URL_CHAR, '?' and '#'. */
const TARGET_CHAR = URL_CHAR.slice();
TARGET_CHAR[0x3f] = 1;
TARGET_CHAR[0x23] = 1;
/** Authority bytes of an absolute-form target (userinfo, host, port, IP literal). */
const SERVER_CHAR = table("-_.!~*'()%;:&=+$,[]" + ALNUM);
/** Field value bytes: HTAB, visible ASCII, space, obs-text. CR, LF, NUL and other CTLs never. */
const VALUE_CHAR = table('\t', [
  [0x20, 0x7e],
  [0x80, 0xff],
]);
/** qdtext of a quoted chunk extension value. */
const QDTEXT = table('\t !', [
  [0x23, 0x5b],
  [0x5d, 0x7e],
  [0x80, 0xff],
]);
/** The byte after a backslash in a quoted string. */
const QUOTED_PAIR = table('\t ', [
  [0x21, 0x7e],
  [0x80, 0xff],
]);
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX['0123456789abcdef'.charCodeAt(i)] = i;
  HEX['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/**
 * Methods Node's parser accepts over HTTP/1.x. CONNECT is parsed (so a tunnel request is
 * answered 400, not misread as a path) but refused; PRI (the HTTP/2 preface) likewise.
 */
const KNOWN_METHODS = new Set([...METHODS, 'PRI']);
const METHOD_PREFIXES = new Set<string>();
for (const m of KNOWN_METHODS)
  for (let i = 1; i <= m.length; i++) METHOD_PREFIXES.add(m.slice(0, i));
const LONGEST_METHOD = Math.max(...[...KNOWN_METHODS].map((m) => m.length));

/**
 * How Node combines a repeated header (IncomingMessage's matchKnownFields): these keep the
 * first value; `set-cookie` collects an array; `cookie` joins with '; '; all others with ', '.
 */
const KEEP_FIRST = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/**
 * Header names requests commonly carry, as the lower-case constants the fast path hands out
 * instead of a new lower-cased slice per field: a constant is an internalized string, which
 * the header object's keyed store takes without first looking it up in V8's string table.
 */
const COMMON_NAMES = [
  'host',
  'user-agent',
  'content-length',
  'content-type',
  'accept',
  'accept-encoding',
  'authorization',
  'connection',
  'expect',
  'date',
  'keyhold-request-id',
  'x-forwarded-for',
  'x-real-ip',
  'x-amz-date',
  'traceparent',
];
// The fast path notes which common names it has seen in a 32-bit mask; and a first `set-cookie`
// would not be a plain store (it collects an array).
if (COMMON_NAMES.length > 31 || COMMON_NAMES.includes('set-cookie')) {
  throw new Error('COMMON_NAMES: at most 31, and never set-cookie');
}

/** Indexes into COMMON_NAMES by name length, and the names' bytes. */
const INDEXES_BY_LENGTH: number[][] = [];
const BYTES_BY_LENGTH: Uint8Array[][] = [];
COMMON_NAMES.forEach((name, index) => {
  (INDEXES_BY_LENGTH[name.length] ??= []).push(index);
  (BYTES_BY_LENGTH[name.length] ??= []).push(Buffer.from(name, 'latin1'));
});

/** COMMON_NAMES' bytes in lower and in upper case, for the fast path's guessed-name match. */
const LOWER_NAMES = COMMON_NAMES.map((name) => Buffer.from(name, 'latin1'));
const UPPER_NAMES = COMMON_NAMES.map((name) => Buffer.from(name.toUpperCase(), 'latin1'));
/**
 * The one common name whose value the fast path does not remember: a credential is kept no
 * longer than the request that carries it.
 */
const AUTHORIZATION = COMMON_NAMES.indexOf('authorization');
/** Fields of a head whose names the fast path remembers for the next head. */
const REMEMBERED_FIELDS = 16;
/** Longest request-target and header value (raw bytes) the fast path remembers. */
const REMEMBERED_BYTES = 64;

/**
 * The index of the COMMON_NAMES entry that buf[start, start + length) spells in any case, or -1.
 * Only for bytes already checked to be tchar: for those, `b | 0x20` equals a lower-case letter
 * exactly when b is that letter in either case, and equals '-' only for '-' (0x0d, the other
 * byte it would match, is not a tchar).
 */
function commonName(buf: Buffer, start: number, length: number): number {
  const candidates = BYTES_BY_LENGTH[length];
  if (candidates === undefined) return -1;
  const first = buf[start]! | 0x20;
  for (let c = 0; c < candidates.length; c++) {
    const bytes = candidates[c]!;
    if (bytes[0] !== first) continue;
    let k = 1;
    while (k < length && (buf[start + k]! | 0x20) === bytes[k]) k++;
    if (k === length) return INDEXES_BY_LENGTH[length]![c]!;
  }
  return -1;
}

/**
 * Whether the parser tries its fast path on a header section that arrived whole (see
 * `Http1Parser#fastHead`), and how many heads it has read. Tests switch it off for a while to
 * run the same inputs through the state machine alone and compare, and check that it was taken.
 */
export const http1FastPath = { enabled: true, taken: 0 };

function addHeader(dest: IncomingHttpHeaders, name: string, value: string): void {
  const headers = dest as Record<string, string | string[] | undefined>;
  const current = headers[name];
  if (name === 'set-cookie') {
    if (current === undefined) headers[name] = [value];
    else (current as string[]).push(value);
  } else if (current === undefined) {
    headers[name] = value;
  } else if (!KEEP_FIRST.has(name)) {
    headers[name] = `${current as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
}

/**
 * Whether a Transfer-Encoding value ends in `chunked`, as llhttp reads it: codings separated by
 * ',' (OWS after the comma), `chunked` matched case-insensitively, trailing spaces allowed.
 * Returns 'error' when `chunked` is followed by another coding: in a request nothing may follow
 * chunked (RFC 9112 §6.1), and a body length two parsers could disagree on is the classic
 * request-smuggling vector.
 */
function transferEncodingIsChunked(buf: Buffer, start: number, end: number): boolean | 'error' {
  let i = start;
  for (;;) {
    // At the start of a coding.
    if (end - i >= 7 && latin1Slice(buf, i, i + 7).toLowerCase() === 'chunked') {
      i += 7;
      while (i < end && buf[i] === SP) i++;
      if (i === end) return true;
      if (buf[i] === 0x2c) return 'error';
    }
    // Inside some other coding: anything but ',' (a non-token byte ends the parse: not chunked).
    while (i < end && buf[i] !== 0x2c) {
      if (!VALUE_CHAR[buf[i]!]) return false;
      i++;
    }
    if (i === end) return false;
    i++;
    while (i < end && (buf[i] === SP || buf[i] === HT)) i++;
  }
}

/**
 * Feeds bytes in as they arrive (any split), calls the handler per message, and stops at the
 * first error (`error` is then set and nothing more is parsed).
 */
export class Http1Parser {
  /** The error that stopped the parser, if any. */
  error: ParseError | null = null;

  readonly #handler: ParserHandler;
  readonly #maxHeaderSize: number;
  readonly #maxHeadersCount: number;

  #state = IDLE;
  /** Unfinished line from the previous input (request line or header field). */
  #carry: Buffer | null = null;
  // Marks inside the current line (target start, name end, value start/end, version start),
  // relative to the line's start while it is carried.
  #mark1 = 0;
  #mark2 = 0;
  #mark3 = 0;

  /** Node's header byte count (target, names, values), compared with maxHeaderSize. */
  #counted = 0;
  /** Raw bytes of the header section so far (bounds what we buffer). */
  #raw = 0;

  #method = '';
  #url = '';
  #versionMinor: 0 | 1 = 1;
  #version = 0;
  #headers: IncomingHttpHeaders = {};
  #trailers: IncomingHttpHeaders | null = null;
  #headerCount = 0;
  #flags = 0;
  #kind = H_OTHER;
  #contentLength = 0;
  #remaining = 0;
  #extensionBytes = 0;
  /** latin1 text of #textBuf[#textStart, #textEnd), from which fields are sliced. */
  #text = '';
  #textBuf: Buffer | null = null;
  #textStart = 0;
  #textEnd = 0;
  #inMessage = false;
  #headersDone = false;

  // What the fast path remembers of this connection's last heads: a client sends the same
  // fields in the same order, most with the same values, request after request. Each is only a
  // guess, compared byte for byte with the input before it is used (see #fastHead).
  /** COMMON_NAMES index of the last head's field at each position, -1 for another name. */
  #guessNames: Int8Array | null = null;
  /** Per COMMON_NAMES index: the raw bytes of its last value (REMEMBERED_BYTES each). */
  #valueBytes: Uint8Array | null = null;
  /** Per COMMON_NAMES index: how many bytes of #valueBytes are its value, -1 for none. */
  #valueLengths: Int8Array | null = null;
  /** Per COMMON_NAMES index: the value string of those bytes (trailing OWS trimmed). */
  #valueStrings: string[] = [];
  /** The last request-target: its bytes, their count (-1 for none), and its string. */
  #urlBytes: Uint8Array | null = null;
  #urlLength = -1;
  #urlString = '';

  constructor(limits: ParserLimits, handler: ParserHandler) {
    this.#handler = handler;
    this.#maxHeaderSize = limits.maxHeaderSize;
    this.#maxHeadersCount = limits.maxHeadersCount;
  }

  /** True between the first byte of a message and its end. */
  get inMessage(): boolean {
    return this.#inMessage;
  }

  /** True once the current message's header section is complete. */
  get headersDone(): boolean {
    return this.#headersDone;
  }

  /**
   * Parses `data`; returns how many of its bytes were used: all of them, unless the handler
   * stopped after a message (the rest belongs to later messages) or an error occurred.
   */
  execute(data: Buffer): number {
    if (this.#state === DEAD) return 0;
    let buf = data;
    let offset = 0;
    if (this.#carry) {
      offset = this.#carry.length;
      buf = Buffer.concat([this.#carry, data]);
      this.#carry = null;
    }
    const stop = this.#run(buf, offset);
    return this.#state === DEAD ? data.length : stop - offset;
  }

  /** Stops parsing for good (the connection is closing). */
  abort(): void {
    this.#state = DEAD;
    this.#carry = null;
  }

  #fail(code: string, message: string, status: 400 | 413 | 431 = 400): number {
    this.error = new ParseError(code, message, status);
    this.#state = DEAD;
    this.#carry = null;
    return -1;
  }

  /** Counts header bytes like Node and fails with 431 once they reach the limit. */
  #count(n: number): boolean {
    this.#counted += n;
    if (this.#counted >= this.#maxHeaderSize) {
      this.#fail('HPE_HEADER_OVERFLOW', 'Header overflow', 431);
      return false;
    }
    return true;
  }

  #beginMessage(): void {
    this.#inMessage = true;
    this.#headersDone = false;
    this.#counted = 0;
    this.#raw = 0;
    this.#headers = {};
    this.#trailers = null;
    this.#headerCount = 0;
    this.#flags = 0;
    this.#contentLength = 0;
    this.#handler.onMessageBegin();
  }

  /** Runs the state machine over buf[i..]; returns where it stopped. */
  #run(buf: Buffer, start: number): number {
    const end = buf.length;
    let i = start;
    // Where the line being read started (its bytes are carried over if the input ends in it).
    let line = 0;
    if (this.#state >= METHOD && this.#state <= HEADERS_LF) this.#decode(buf, 0, end);
    while (i < end) {
      const state = this.#state;
      switch (state) {
        case IDLE: {
          // llhttp skips CR and LF between messages (RFC 9112 §2.2 robustness).
          while (i < end && (buf[i] === CR || buf[i] === LF)) i++;
          if (i === end) break;
          this.#beginMessage();
          line = i;
          const next = http1FastPath.enabled ? this.#fastHead(buf, i) : -1;
          if (next < 0) {
            this.#decode(buf, i, end);
            this.#state = METHOD;
            break;
          }
          // The whole head was read by the fast path; what follows is as after HEADERS_LF.
          i = next;
          line = i;
          if (this.#state === IDLE && !this.#complete()) return i;
          break;
        }
        case METHOD: {
          // Only the methods Node knows, in upper case, then exactly one space (no tabs).
          while (i < end && METHOD_CHAR[buf[i]!] && i - line < LONGEST_METHOD) i++;
          if (i === end) break;
          const c = buf[i]!;
          if (c === SP) {
            const method = this.#slice(buf, line, i);
            if (!KNOWN_METHODS.has(method)) {
              return this.#fail('HPE_INVALID_METHOD', 'Invalid method encountered');
            }
            if (method === 'CONNECT' || method === 'PRI') {
              // Tunnels and the HTTP/2 preface are not HTTP/1.1 requests Keyhold serves.
              return this.#fail('HPE_INVALID_METHOD', `${method} is not supported`);
            }
            this.#method = method;
            this.#state = BEFORE_URL;
            i++;
          } else {
            return this.#fail('HPE_INVALID_METHOD', 'Invalid method encountered');
          }
          break;
        }
        case BEFORE_URL: {
          while (i < end && buf[i] === SP) i++;
          if (i === end) break;
          const c = buf[i]!;
          this.#mark1 = i;
          if (c === 0x2f || c === 0x2a) {
            // origin-form or asterisk-form
            this.#state = URL_PATH;
            i++;
          } else if (ALPHA[c]) {
            // absolute-form: scheme "://" authority [path]
            this.#state = URL_SCHEMA;
            i++;
          } else {
            return this.#fail('HPE_INVALID_URL', 'Unexpected start char in url');
          }
          break;
        }
        case URL_SCHEMA: {
          const c = buf[i]!;
          if (ALPHA[c]) i++;
          else if (c === 0x3a) {
            this.#state = URL_SLASH1;
            i++;
          } else return this.#fail('HPE_INVALID_URL', 'Unexpected char in url schema');
          break;
        }
        case URL_SLASH1:
        case URL_SLASH2: {
          if (buf[i] !== 0x2f)
            return this.#fail('HPE_INVALID_URL', 'Unexpected char in url schema');
          this.#state = state === URL_SLASH1 ? URL_SLASH2 : URL_SERVER;
          i++;
          break;
        }
        case URL_SERVER:
        case URL_SERVER_AT: {
          const c = buf[i]!;
          if (SERVER_CHAR[c]) i++;
          else if (c === 0x40) {
            // Two '@' make the authority ambiguous (which part is the host?).
            if (state === URL_SERVER_AT) return this.#fail('HPE_INVALID_URL', 'Double @ in url');
            this.#state = URL_SERVER_AT;
            i++;
          } else if (c === 0x2f) {
            this.#state = URL_PATH;
            i++;
          } else if (c === 0x3f) {
            this.#state = URL_QUERY;
            i++;
          } else if (c === SP) {
            if (!this.#endUrl(buf, i)) return -1;
            i++;
          } else return this.#urlEndError(c);
          break;
        }
        case URL_PATH:
        case URL_QUERY:
        case URL_FRAGMENT: {
          while (i < end && URL_CHAR[buf[i]!]) i++;
          if (i === end) break;
          const c = buf[i]!;
          if (c === 0x3f) {
            if (state === URL_PATH) this.#state = URL_QUERY;
            i++;
          } else if (c === 0x23) {
            this.#state = URL_FRAGMENT;
            i++;
          } else if (c === SP) {
            if (!this.#endUrl(buf, i)) return -1;
            i++;
          } else return this.#urlEndError(c);
          break;
        }
        case BEFORE_VERSION: {
          while (i < end && buf[i] === SP) i++;
          if (i === end) break;
          this.#state = VERSION;
          this.#version = 0;
          this.#mark2 = i;
          if (
            end - i > 8 &&
            buf[i] === 0x48 &&
            buf[i + 1] === 0x54 &&
            buf[i + 2] === 0x54 &&
            buf[i + 3] === 0x50 &&
            buf[i + 4] === 0x2f &&
            buf[i + 5] === 0x31 &&
            buf[i + 6] === 0x2e &&
            (buf[i + 7] === 0x31 || buf[i + 7] === 0x30)
          ) {
            // Fast path for "HTTP/1.1" and "HTTP/1.0"; the CRLF is checked below.
            this.#version = buf[i + 7] === 0x31 ? 11 : 10;
            i += 8;
          }
          break;
        }
        case VERSION: {
          // Exactly "HTTP/1.0" or "HTTP/1.1", then CRLF.
          const k = i - this.#mark2;
          const c = buf[i]!;
          if (k < 5) {
            if (c !== 'HTTP/'.charCodeAt(k)) {
              return this.#fail('HPE_INVALID_CONSTANT', 'Expected HTTP/');
            }
          } else if (k === 5 || k === 7) {
            if (c < 0x30 || c > 0x39) return this.#fail('HPE_INVALID_VERSION', 'Invalid version');
            this.#version = this.#version * 10 + (c - 0x30);
          } else if (k === 6) {
            if (c !== 0x2e) return this.#fail('HPE_INVALID_VERSION', 'Expected dot');
          } else if (c !== CR) {
            return this.#fail('HPE_INVALID_VERSION', 'Expected CRLF after version');
          } else {
            // 1.0 and 1.1 only. llhttp also takes 0.9 and 2.0, which no HTTP/1.1 client sends
            // and which carry different framing rules.
            if (this.#version !== 10 && this.#version !== 11) {
              return this.#fail('HPE_INVALID_VERSION', 'Invalid HTTP version');
            }
            this.#versionMinor = this.#version === 11 ? 1 : 0;
            this.#state = LINE_LF;
          }
          i++;
          break;
        }
        case LINE_LF:
        case HEADERS_LF:
        case VALUE_LF: {
          // A bare CR (or bare LF, rejected elsewhere) ends lines differently for different
          // parsers: the split header that results is a smuggling primitive. CRLF only.
          if (buf[i] !== LF) return this.#fail('HPE_STRICT', 'Expected LF after CR');
          i++;
          this.#raw += i - line;
          if (state === LINE_LF) this.#state = HEADERS_START;
          else if (state === VALUE_LF) {
            if (!this.#endHeader(buf, line)) return -1;
            this.#state = VALUE_FOLD;
          } else {
            if (!this.#endHeaders()) return -1;
            if (this.#state === IDLE && !this.#complete()) return i;
          }
          line = i;
          break;
        }
        case HEADERS_START:
        case VALUE_FOLD: {
          // Leading whitespace on a header line is obs-fold (or a continuation of the start
          // line): parsers that unfold and parsers that don't see different headers.
          const c = buf[i]!;
          if (c === SP || c === HT) {
            return this.#fail('HPE_INVALID_HEADER_TOKEN', 'Unexpected whitespace (obs-fold)');
          }
          this.#state = FIELD_START;
          break;
        }
        case FIELD_START: {
          const c = buf[i]!;
          line = i;
          if (c === CR) {
            this.#state = HEADERS_LF;
            i++;
          } else if (TOKEN[c]) {
            this.#state = FIELD;
            i++;
          } else if (c === LF) {
            return this.#fail('HPE_INVALID_HEADER_TOKEN', 'Bare LF after header');
          } else return this.#fail('HPE_INVALID_HEADER_TOKEN', 'Invalid header token');
          break;
        }
        case FIELD: {
          while (i < end && TOKEN[buf[i]!]) i++;
          if (i === end) break;
          // Only ':' may end a name: 'Name :' or a control byte in a name would be read as a
          // different header by a lenient peer (RFC 9112 §5.1).
          if (buf[i] !== 0x3a)
            return this.#fail('HPE_INVALID_HEADER_TOKEN', 'Invalid header token');
          if (!this.#count(i - line)) return -1;
          this.#mark1 = i;
          if (!this.#startField(buf, line, i)) return -1;
          this.#state = VALUE_WS;
          i++;
          break;
        }
        case VALUE_WS: {
          while (i < end && (buf[i] === SP || buf[i] === HT)) i++;
          if (i === end) break;
          const c = buf[i]!;
          this.#mark2 = i;
          if (c === CR) {
            this.#mark3 = i;
            this.#state = VALUE_LF;
            i++;
            break;
          }
          if (c === LF) return this.#fail('HPE_INVALID_HEADER_TOKEN', 'Bare LF in header value');
          if (!this.#startValue()) return -1;
          this.#state = VALUE;
          break;
        }
        case VALUE: {
          while (i < end && VALUE_CHAR[buf[i]!]) i++;
          if (i === end) break;
          if (buf[i] !== CR) {
            // NUL, other CTLs, DEL, or a bare LF: invalid in a field value (RFC 9110 §5.5).
            return this.#fail('HPE_INVALID_HEADER_TOKEN', 'Invalid header value char');
          }
          if (!this.#count(i - this.#mark2)) return -1;
          this.#mark3 = i;
          this.#state = VALUE_LF;
          i++;
          break;
        }
        case BODY: {
          const n = Math.min(this.#remaining, end - i);
          this.#remaining -= n;
          this.#handler.onBody(buf.subarray(i, i + n));
          i += n;
          if (this.#remaining === 0) {
            this.#state = IDLE;
            if (!this.#complete()) return i;
          }
          break;
        }
        case CHUNK_SIZE_START:
        case CHUNK_SIZE: {
          const c = buf[i]!;
          const digit = HEX[c]!;
          if (digit >= 0) {
            this.#remaining = this.#remaining * 16 + digit;
            if (this.#remaining > MAX_LENGTH) {
              return this.#fail('HPE_INVALID_CHUNK_SIZE', 'Chunk size overflow');
            }
            this.#state = CHUNK_SIZE;
          } else if (state === CHUNK_SIZE_START) {
            return this.#fail('HPE_INVALID_CHUNK_SIZE', 'Invalid character in chunk size');
          } else if (c === CR) {
            this.#state = CHUNK_SIZE_LF;
          } else if (c === 0x3b) {
            this.#state = CHUNK_EXT_START;
            this.#extensionBytes = 0;
          } else {
            // No whitespace after the size: '5 \r\n' vs '5\r\n' is read differently by lenient
            // parsers (a known chunk-size smuggling variant).
            return this.#fail('HPE_INVALID_CHUNK_SIZE', 'Invalid character in chunk size');
          }
          i++;
          break;
        }
        case CHUNK_EXT_START:
        case CHUNK_EXT_NAME:
        case CHUNK_EXT_VALUE:
        case CHUNK_EXT_QUOTED:
        case CHUNK_EXT_PAIR:
        case CHUNK_EXT_QUOTED_DONE: {
          if (!this.#chunkExtension(buf[i]!)) return -1;
          i++;
          break;
        }
        case CHUNK_SIZE_LF: {
          if (buf[i] !== LF) return this.#fail('HPE_STRICT', 'Expected LF after chunk size');
          i++;
          if (this.#remaining === 0) {
            // Last chunk: a trailer section follows, parsed like headers.
            this.#flags |= F_TRAILING;
            this.#counted = 0;
            this.#raw = 0;
            this.#decode(buf, i, end);
            line = i;
            this.#state = FIELD_START;
          } else {
            this.#state = CHUNK_DATA;
          }
          break;
        }
        case CHUNK_DATA: {
          const n = Math.min(this.#remaining, end - i);
          this.#remaining -= n;
          this.#handler.onBody(buf.subarray(i, i + n));
          i += n;
          if (this.#remaining === 0) this.#state = CHUNK_DATA_CR;
          break;
        }
        case CHUNK_DATA_CR:
        case CHUNK_DATA_LF: {
          // Chunk data must be followed by exactly CRLF, or the next chunk-size is ambiguous.
          if (buf[i] !== (state === CHUNK_DATA_CR ? CR : LF)) {
            return this.#fail('HPE_STRICT', 'Expected CRLF after chunk data');
          }
          this.#state = state === CHUNK_DATA_CR ? CHUNK_DATA_LF : CHUNK_SIZE_START;
          i++;
          break;
        }
        default:
          return i;
      }
      if (this.#state === DEAD) return i;
    }
    this.#textBuf = null;
    this.#text = '';
    return this.#suspend(buf, line, end);
  }

  /**
   * The common case in one pass: a request line `GET|HEAD|POST|PUT|DELETE /target HTTP/1.x`
   * and a header section that are complete inside the decoded text window, with nothing
   * unusual in them. Returns the index after the head, having done what the state machine
   * does at its end (`#endHeaders`), or -1 having changed nothing the state machine reads, for
   * the state machine to parse the message from its first byte. It never fails a request
   * itself: every input it is not sure of (any error, a split head, absolute-form or `*`
   * targets, several spaces, obs-fold, Transfer-Encoding, a second or unusual Content-Length,
   * the size and count limits) is left to the state machine, which gives the error.
   * parser.test.ts runs every input both ways and at every split.
   */
  #fastHead(buf: Buffer, start: number): number {
    const stop = Math.min(buf.length, start + TEXT_WINDOW);
    // The head's text is decoded only if a field or the target is not one remembered.
    let text: string | null = null;
    const base = start;
    const guessNames = (this.#guessNames ??= new Int8Array(REMEMBERED_FIELDS).fill(-1));
    const valueBytes = (this.#valueBytes ??= new Uint8Array(
      COMMON_NAMES.length * REMEMBERED_BYTES,
    ));
    const valueLengths = (this.#valueLengths ??= new Int8Array(COMMON_NAMES.length).fill(-1));
    const valueStrings = this.#valueStrings;
    let i = start;
    let method: string;
    // Method and its one space, compared byte by byte (upper case only, as KNOWN_METHODS).
    switch (buf[i]) {
      case 0x47: // GET
        if (buf[i + 1] !== 0x45 || buf[i + 2] !== 0x54 || buf[i + 3] !== SP) return -1;
        method = 'GET';
        i += 4;
        break;
      case 0x50: // POST, PUT
        if (buf[i + 1] === 0x4f) {
          if (buf[i + 2] !== 0x53 || buf[i + 3] !== 0x54 || buf[i + 4] !== SP) return -1;
          method = 'POST';
          i += 5;
        } else {
          if (buf[i + 1] !== 0x55 || buf[i + 2] !== 0x54 || buf[i + 3] !== SP) return -1;
          method = 'PUT';
          i += 4;
        }
        break;
      case 0x44: // DELETE
        if (
          buf[i + 1] !== 0x45 ||
          buf[i + 2] !== 0x4c ||
          buf[i + 3] !== 0x45 ||
          buf[i + 4] !== 0x54 ||
          buf[i + 5] !== 0x45 ||
          buf[i + 6] !== SP
        ) {
          return -1;
        }
        method = 'DELETE';
        i += 7;
        break;
      case 0x48: // HEAD
        if (buf[i + 1] !== 0x45 || buf[i + 2] !== 0x41 || buf[i + 3] !== 0x44 || buf[i + 4] !== SP)
          return -1;
        method = 'HEAD';
        i += 5;
        break;
      default:
        return -1;
    }
    // origin-form target, one space, "HTTP/1.1" or "HTTP/1.0", CRLF.
    if (i >= stop || buf[i] !== 0x2f) return -1;
    const targetStart = i;
    // The last target again? Bytes equal to ones found valid are valid; the space after it
    // ends the scan below exactly there too.
    let url: string | null = null;
    const urlLength = this.#urlLength;
    if (urlLength > 0 && stop - i > urlLength) {
      const urlBytes = this.#urlBytes!;
      let k = 0;
      while (k < urlLength && buf[i + k] === urlBytes[k]) k++;
      if (k === urlLength && buf[i + k] === SP) {
        url = this.#urlString;
        i += urlLength;
      }
    }
    if (url === null) {
      i++;
      while (i < stop && TARGET_CHAR[buf[i]!]) i++;
    }
    const targetEnd = i;
    if (
      stop - i < 11 ||
      buf[i] !== SP ||
      buf[i + 1] !== 0x48 ||
      buf[i + 2] !== 0x54 ||
      buf[i + 3] !== 0x54 ||
      buf[i + 4] !== 0x50 ||
      buf[i + 5] !== 0x2f ||
      buf[i + 6] !== 0x31 ||
      buf[i + 7] !== 0x2e ||
      (buf[i + 8] !== 0x31 && buf[i + 8] !== 0x30) ||
      buf[i + 9] !== CR ||
      buf[i + 10] !== LF
    ) {
      return -1;
    }
    const versionMinor = buf[i + 8] === 0x31 ? 1 : 0;
    i += 11;
    // Node's byte count: target, names, values (leading OWS excluded, trailing included).
    let counted = targetEnd - targetStart;
    const headers = this.#headers;
    const maxCount = this.#maxHeadersCount;
    let count = 0;
    let contentLength = 0;
    /** Bit i: COMMON_NAMES[i] is in `headers`. */
    let seen = 0;
    for (;;) {
      if (i >= stop) return this.#fastBail(count);
      if (buf[i] === CR) {
        if (i + 1 >= stop || buf[i + 1] !== LF) return this.#fastBail(count);
        i += 2;
        break;
      }
      // name ':' OWS value CRLF; a line starting with SP/HT (obs-fold) is no tchar: bail.
      const nameStart = i;
      // The name the last head had here? Matched in one pass: each byte is the name's letter in
      // lower or upper case or its '-' (all tchar, and exactly what commonName accepts), and
      // the ':' must follow.
      let common = -1;
      const guess = count < REMEMBERED_FIELDS ? guessNames[count]! : -1;
      if (guess >= 0) {
        const lower = LOWER_NAMES[guess]!;
        const upper = UPPER_NAMES[guess]!;
        const n = lower.length;
        if (stop - i > n) {
          let k = 0;
          for (; k < n; k++) {
            const b = buf[i + k];
            if (b !== lower[k] && b !== upper[k]) break;
          }
          if (k === n && buf[i + n] === 0x3a) {
            common = guess;
            i += n;
          }
        }
      }
      if (common < 0) {
        while (i < stop && TOKEN[buf[i]!]) i++;
        if (i === nameStart || i >= stop || buf[i] !== 0x3a) return this.#fastBail(count);
        common = commonName(buf, nameStart, i - nameStart);
        if (count < REMEMBERED_FIELDS) guessNames[count] = common;
      }
      const nameEnd = i;
      i++;
      while (i < stop && (buf[i] === SP || buf[i] === HT)) i++;
      const valueStart = i;
      // This name's last value again? As for the target: bytes equal to ones found valid, and
      // the CR after them is where the scan below stops too.
      let value: string | null = null;
      const known = common >= 0 ? valueLengths[common]! : -1;
      if (known >= 0 && stop - i > known) {
        const offset = common * REMEMBERED_BYTES;
        let k = 0;
        while (k < known && buf[i + k] === valueBytes[offset + k]) k++;
        if (k === known && buf[i + k] === CR) {
          value = valueStrings[common]!;
          i += known;
        }
      }
      if (value === null) while (i < stop && VALUE_CHAR[buf[i]!]) i++;
      const valueEnd = i;
      if (i + 1 >= stop || buf[i] !== CR || buf[i + 1] !== LF) return this.#fastBail(count);
      i += 2;
      if (count >= maxCount) return this.#fastBail(count);
      counted += nameEnd - nameStart + (valueEnd - valueStart);
      const nameLength = nameEnd - nameStart;
      if (common < 0) text ??= latin1Slice(buf, start, stop);
      const name =
        common >= 0
          ? COMMON_NAMES[common]!
          : text!.slice(nameStart - base, nameEnd - base).toLowerCase();
      // The names whose values frame the message (what #startField picks out), by length
      // first: a common name is a constant, so these compare by identity.
      if (nameLength === 14 && name === 'content-length') {
        // Exactly one, digits then spaces; anything else is the state machine's to refuse.
        if (this.#flags & F_CONTENT_LENGTH || valueEnd === valueStart) {
          return this.#fastBail(count);
        }
        let k = valueStart;
        let n = 0;
        while (k < valueEnd && k - valueStart < 15 && buf[k]! >= 0x30 && buf[k]! <= 0x39) {
          n = n * 10 + (buf[k]! - 0x30);
          k++;
        }
        if (k === valueStart) return this.#fastBail(count);
        while (k < valueEnd && buf[k] === SP) k++;
        if (k !== valueEnd) return this.#fastBail(count);
        this.#flags |= F_CONTENT_LENGTH;
        contentLength = n;
      } else if (nameLength === 17 && name === 'transfer-encoding') {
        return this.#fastBail(count);
      } else if (
        (nameLength === 10 && name === 'connection') ||
        (nameLength === 16 && name === 'proxy-connection')
      ) {
        this.#connectionValue(buf, valueStart, valueEnd);
      }
      if (value === null) {
        // Node trims trailing OWS from values.
        let trimmed = valueEnd;
        while (trimmed > valueStart && (buf[trimmed - 1] === SP || buf[trimmed - 1] === HT)) {
          trimmed--;
        }
        if (common >= 0 && common !== AUTHORIZATION && valueEnd - valueStart <= REMEMBERED_BYTES) {
          // A string of its own: a slice of the head's text would keep all of it (the body's
          // first bytes too) alive with the connection.
          value = latin1Slice(buf, valueStart, trimmed);
          const offset = common * REMEMBERED_BYTES;
          for (let k = valueStart; k < valueEnd; k++) valueBytes[offset + k - valueStart] = buf[k]!;
          valueLengths[common] = valueEnd - valueStart;
          valueStrings[common] = value;
        } else {
          text ??= latin1Slice(buf, start, stop);
          value = trimmed > valueStart ? text.slice(valueStart - base, trimmed - base) : '';
        }
      }
      if (common >= 0 && (seen & (1 << common)) === 0) {
        // The first field of a common name: nothing to combine it with, a plain store.
        seen |= 1 << common;
        (headers as Record<string, string>)[name] = value;
      } else {
        addHeader(headers, name, value);
      }
      count++;
    }
    // The count only grows, so a total under the limit means no step of it reached the limit.
    if (counted >= this.#maxHeaderSize) return this.#fastBail(count);
    if (url === null) {
      if (targetEnd - targetStart > REMEMBERED_BYTES) {
        text ??= latin1Slice(buf, start, stop);
        url = text.slice(targetStart - base, targetEnd - base);
      } else {
        // A string of its own, as for remembered values.
        url = latin1Slice(buf, targetStart, targetEnd);
        const urlBytes = (this.#urlBytes ??= new Uint8Array(REMEMBERED_BYTES));
        for (let k = targetStart; k < targetEnd; k++) urlBytes[k - targetStart] = buf[k]!;
        this.#urlLength = targetEnd - targetStart;
        this.#urlString = url;
      }
    }
    // The text (if decoded) is not the state machine's: it decodes its own when it runs.
    this.#textBuf = null;
    this.#method = method;
    this.#url = url;
    this.#versionMinor = versionMinor;
    this.#counted = counted;
    this.#headerCount = count;
    this.#contentLength = contentLength;
    http1FastPath.taken++;
    this.#endHeaders();
    return i;
  }

  /** Undoes what #fastHead changed (the state machine starts the message afresh): -1. */
  #fastBail(added: number): number {
    this.#flags = 0;
    if (added > 0) this.#headers = {};
    return -1;
  }

  /** Decodes the start of a header section at once (see TEXT_WINDOW). */
  #decode(buf: Buffer, start: number, end: number): void {
    const stop = Math.min(end, start + TEXT_WINDOW);
    this.#text = latin1Slice(buf, start, stop);
    this.#textBuf = buf;
    this.#textStart = start;
    this.#textEnd = stop;
  }

  /** The latin1 text of buf[start, end). */
  #slice(buf: Buffer, start: number, end: number): string {
    if (buf === this.#textBuf && start >= this.#textStart && end <= this.#textEnd) {
      return this.#text.slice(start - this.#textStart, end - this.#textStart);
    }
    return latin1Slice(buf, start, end);
  }

  /** Keeps an unfinished line for the next input, after checking the limits on it. */
  #suspend(buf: Buffer, line: number, end: number): number {
    const state = this.#state;
    if (state >= METHOD && state <= HEADERS_LF) {
      // Node counts a partial target, name or value too, so an endless header fails at once.
      let partial = 0;
      if (state >= URL_SCHEMA && state <= URL_FRAGMENT) partial = end - this.#mark1;
      else if (state === FIELD) partial = end - line;
      else if (state === VALUE) partial = end - this.#mark2;
      if (this.#counted + partial >= this.#maxHeaderSize) {
        this.#fail('HPE_HEADER_OVERFLOW', 'Header overflow', 431);
        return end;
      }
      // Whitespace Node does not count is still bounded: never buffer an unbounded head.
      if (this.#raw + (end - line) > 2 * this.#maxHeaderSize) {
        this.#fail('HPE_HEADER_OVERFLOW', 'Header section too large', 431);
        return end;
      }
      if (state === METHOD && !METHOD_PREFIXES.has(latin1Slice(buf, line, end))) {
        this.#fail('HPE_INVALID_METHOD', 'Invalid method encountered');
        return end;
      }
      if (end > line) {
        this.#carry = Buffer.from(buf.subarray(line, end));
        this.#mark1 -= line;
        this.#mark2 -= line;
        this.#mark3 -= line;
      }
    }
    return end;
  }

  #urlEndError(c: number): number {
    // CR or LF right after the target is an HTTP/0.9 request line (llhttp accepts it; we do
    // not: 0.9 has no headers, so anything after it would be read as a new request).
    if (c === CR || c === LF) return this.#fail('HPE_INVALID_VERSION', 'HTTP/0.9 is not supported');
    return this.#fail('HPE_INVALID_URL', 'Invalid characters in url');
  }

  #endUrl(buf: Buffer, i: number): boolean {
    if (!this.#count(i - this.#mark1)) return false;
    this.#url = this.#slice(buf, this.#mark1, i);
    this.#state = BEFORE_VERSION;
    return true;
  }

  /** Checks a header name at its ':' (the smuggling rules llhttp applies there). */
  #startField(buf: Buffer, start: number, end: number): boolean {
    const length = end - start;
    this.#kind = H_OTHER;
    if (length !== 10 && length !== 14 && length !== 16 && length !== 17) return true;
    const name = this.#slice(buf, start, end).toLowerCase();
    if (name === 'content-length') {
      // Both framings in one request: front end and back end may pick different ones
      // (CL.TE / TE.CL smuggling). RFC 9112 §6.3 allows rejecting; llhttp 9 does.
      if (this.#flags & F_TRANSFER_ENCODING) {
        this.#fail(
          'HPE_INVALID_CONTENT_LENGTH',
          "Content-Length can't be present with Transfer-Encoding",
        );
        return false;
      }
      this.#kind = H_CONTENT_LENGTH;
    } else if (name === 'transfer-encoding') {
      if (this.#flags & F_CONTENT_LENGTH) {
        this.#fail(
          'HPE_INVALID_TRANSFER_ENCODING',
          "Transfer-Encoding can't be present with Content-Length",
        );
        return false;
      }
      this.#kind = H_TRANSFER_ENCODING;
    } else if (name === 'connection' || name === 'proxy-connection') {
      this.#kind = H_CONNECTION;
    }
    return true;
  }

  /** At the first byte of a non-empty value. */
  #startValue(): boolean {
    if (this.#kind === H_CONTENT_LENGTH && this.#flags & F_CONTENT_LENGTH) {
      // Two Content-Length fields, even equal ones: which one a peer honours is unknowable.
      this.#fail('HPE_UNEXPECTED_CONTENT_LENGTH', 'Duplicate Content-Length');
      return false;
    }
    if (this.#kind === H_TRANSFER_ENCODING) {
      if (this.#flags & F_CHUNKED) {
        // A coding after chunked (here in a second field) leaves the length undeterminable.
        this.#fail('HPE_INVALID_TRANSFER_ENCODING', 'Invalid `Transfer-Encoding` header value');
        return false;
      }
      this.#flags |= F_TRANSFER_ENCODING;
    }
    return true;
  }

  /** A complete field line from `line`: name up to mark1, value from mark2 to mark3. */
  #endHeader(buf: Buffer, line: number): boolean {
    const valueStart = this.#mark2;
    let valueEnd = this.#mark3;
    const kind = this.#kind;
    if (kind === H_CONTENT_LENGTH) {
      if (!this.#contentLengthValue(buf, valueStart, valueEnd)) return false;
    } else if (kind === H_TRANSFER_ENCODING) {
      if (valueEnd > valueStart) {
        const chunked = transferEncodingIsChunked(buf, valueStart, valueEnd);
        if (chunked === 'error') {
          this.#fail('HPE_INVALID_TRANSFER_ENCODING', 'Invalid `Transfer-Encoding` header value');
          return false;
        }
        if (chunked) this.#flags |= F_CHUNKED;
      }
    } else if (kind === H_CONNECTION) {
      this.#connectionValue(buf, valueStart, valueEnd);
    }
    if (this.#headerCount++ >= this.#maxHeadersCount) return true;
    // Node trims trailing OWS from values (leading OWS was never part of the value).
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HT)) {
      valueEnd--;
    }
    const name = this.#slice(buf, line, this.#mark1).toLowerCase();
    const value = valueEnd > valueStart ? this.#slice(buf, valueStart, valueEnd) : '';
    if (this.#flags & F_TRAILING) {
      this.#trailers ??= {};
      addHeader(this.#trailers, name, value);
    } else {
      addHeader(this.#headers, name, value);
    }
    return true;
  }

  /**
   * 1*DIGIT then optional OWS; no sign, no list ('3, 3'), no second number: anything a peer
   * could read as another length is refused.
   */
  #contentLengthValue(buf: Buffer, start: number, end: number): boolean {
    if (start === end) {
      this.#fail('HPE_INVALID_CONTENT_LENGTH', 'Empty Content-Length');
      return false;
    }
    let n = 0;
    let i = start;
    while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
      n = n * 10 + (buf[i]! - 0x30);
      if (n > MAX_LENGTH) {
        this.#fail('HPE_INVALID_CONTENT_LENGTH', 'Content-Length overflow');
        return false;
      }
      i++;
    }
    // llhttp allows trailing spaces only (a tab here is an error, as in llhttp).
    while (i < end && buf[i] === SP) i++;
    if (i !== end || i === start) {
      this.#fail('HPE_INVALID_CONTENT_LENGTH', 'Invalid character in Content-Length');
      return false;
    }
    this.#flags |= F_CONTENT_LENGTH;
    this.#contentLength = n;
    return true;
  }

  /**
   * Connection tokens (comma-separated, OWS trimmed, case-insensitive): close, keep-alive. A
   * keep-alive followed by a tab is not taken, as llhttp does not take it: an HTTP/1.0
   * connection is kept open only where Node's parser would keep it open too, so that the two
   * never read a different number of requests from the same bytes. (A close is taken either way:
   * closing reads fewer.)
   */
  #connectionValue(buf: Buffer, start: number, end: number): void {
    let s = start;
    while (s <= end) {
      let e = s;
      while (e < end && buf[e] !== 0x2c) e++;
      let a = s;
      let b = e;
      let tabAfter = false;
      while (a < b && (buf[a] === SP || buf[a] === HT)) a++;
      while (b > a && (buf[b - 1] === SP || buf[b - 1] === HT)) {
        if (buf[b - 1] === HT) tabAfter = true;
        b--;
      }
      if (b - a === 5 || b - a === 10) {
        const token = this.#slice(buf, a, b).toLowerCase();
        if (token === 'close') this.#flags |= F_CLOSE;
        else if (token === 'keep-alive' && !tabAfter) this.#flags |= F_KEEP_ALIVE;
      }
      s = e + 1;
    }
  }

  /** The empty line after the header or trailer section. */
  #endHeaders(): boolean {
    if (this.#flags & F_TRAILING) {
      this.#state = IDLE;
      return true;
    }
    const flags = this.#flags;
    let bodyLength = 0;
    if (flags & F_CHUNKED) {
      bodyLength = -1;
      this.#state = CHUNK_SIZE_START;
      this.#remaining = 0;
    } else if (flags & F_TRANSFER_ENCODING) {
      // A request whose final coding is not chunked has no determinable length: 400
      // (RFC 9112 §6.3 rule 4); reading to EOF would swallow the next request.
      this.#fail('HPE_INVALID_TRANSFER_ENCODING', 'Request has invalid `Transfer-Encoding`');
      return false;
    } else if (this.#contentLength > 0) {
      bodyLength = this.#contentLength;
      this.#remaining = bodyLength;
      this.#state = BODY;
    } else {
      this.#state = IDLE;
    }
    this.#headersDone = true;
    // llhttp_should_keep_alive: HTTP/1.1 unless "close"; HTTP/1.0 only with "keep-alive".
    const keepAlive =
      this.#versionMinor === 1 ? (flags & F_CLOSE) === 0 : (flags & F_KEEP_ALIVE) !== 0;
    this.#handler.onHead({
      method: this.#method,
      url: this.#url,
      versionMinor: this.#versionMinor,
      headers: this.#headers,
      keepAlive,
      bodyLength,
    });
    return true;
  }

  /** Ends the current message; false when the handler asked to stop. */
  #complete(): boolean {
    this.#inMessage = false;
    this.#headersDone = false;
    const trailers = this.#trailers;
    this.#trailers = null;
    if (this.#handler.onMessageComplete(trailers)) return true;
    return false;
  }

  /** One byte of a chunk extension (`;name[=token|"quoted"]`), as llhttp's grammar. */
  #chunkExtension(c: number): boolean {
    let state = this.#state;
    if (state === CHUNK_EXT_QUOTED) {
      if (c === 0x22) this.#state = CHUNK_EXT_QUOTED_DONE;
      else if (c === 0x5c) this.#state = CHUNK_EXT_PAIR;
      else if (!QDTEXT[c]) return this.#badExtension();
      return this.#countExtension();
    }
    if (state === CHUNK_EXT_PAIR) {
      if (!QUOTED_PAIR[c]) return this.#badExtension();
      this.#state = CHUNK_EXT_QUOTED;
      return this.#countExtension();
    }
    if (state === CHUNK_EXT_START) {
      if (c === SP || c === CR) return this.#badExtension();
      state = CHUNK_EXT_NAME;
      this.#state = state;
    }
    if (c === CR) {
      this.#state = CHUNK_SIZE_LF;
      return true;
    }
    if (c === 0x3b) {
      this.#state = CHUNK_EXT_START;
      return true;
    }
    if (state === CHUNK_EXT_QUOTED_DONE) return this.#badExtension();
    if (state === CHUNK_EXT_NAME) {
      if (c === 0x3d) {
        this.#state = CHUNK_EXT_VALUE;
        return true;
      }
      if (!TOKEN[c]) return this.#badExtension();
      return this.#countExtension();
    }
    // CHUNK_EXT_VALUE: a token, into which a quoted string may open.
    if (c === 0x22) this.#state = CHUNK_EXT_QUOTED;
    else if (!TOKEN[c]) return this.#badExtension();
    return this.#countExtension();
  }

  /** Extensions are never used but must be read: bounded like Node (413 past 16 KiB). */
  #countExtension(): boolean {
    if (++this.#extensionBytes <= MAX_CHUNK_EXTENSIONS) return true;
    this.#fail('HPE_CHUNK_EXTENSIONS_OVERFLOW', 'Chunk extensions overflow', 413);
    return false;
  }

  #badExtension(): boolean {
    this.#fail('HPE_STRICT', 'Invalid character in chunk extensions');
    return false;
  }
}
