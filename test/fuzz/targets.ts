// The fuzz targets: every parser that sees untrusted bytes, each with the error classes it
// documents for bad input (anything else it throws is a finding), a dictionary of tokens for the
// mutator, and where there is one, an invariant (round trip, or agreement with a reference).

import { createPublicKey, X509Certificate } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';
import { decodeStruct, InvalidBodyError, parseFirstJsonValue } from '../../src/api/kes/go-json.ts';
import { ClusterConfigError } from '../../src/config/cluster-config.ts';
import { ConfigError, parseServerConfig } from '../../src/config/server-config.ts';
import { goPathMatch, kesPathMatches } from '../../src/core/kes-path.ts';
import { parseCiphertext } from '../../src/crypto/ciphertext.ts';
import { KeyValueFormatError, NotAuthenticError } from '../../src/crypto/errors.ts';
import { encodeKesKeyValue, parseKesKeyValue } from '../../src/crypto/kes-key-value.ts';
import { Http1Parser, http1FastPath } from '../../src/http/http1/parser.ts';
import type { RequestHead } from '../../src/http/http1/parser.ts';
import { InvalidApiKeyError, parseApiKey } from '../../src/identity/api-key.ts';
import { DerError } from '../../src/identity/der.ts';
import { InvalidIdentityError, parseIdentity } from '../../src/identity/identity.ts';
import { certificateKeyInfo } from '../../src/identity/spki.ts';
import { KeyholdError } from '../../src/model/errors.ts';
import { compilePattern } from '../../src/model/pattern.ts';
import { decodeKmsRequest, encodeKmsRequest } from '../../src/protocol/kms/command-codec.ts';
import { KmsWireError } from '../../src/protocol/kms/wire-error.ts';
import { BackupReceiver, openBackup } from '../../src/state/backup.ts';
import { decodeSnapshot, encodeSnapshot, SnapshotFormatError } from '../../src/state/snapshot.ts';

/** A broken invariant (a round trip that does not return, a reference that disagrees). */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

type ErrorClass = abstract new (...args: never[]) => Error;

export interface FuzzTarget {
  readonly name: string;
  /** What it parses and what it checks, one line. */
  readonly about: string;
  /** The errors the parser documents for bad input. */
  readonly expected: readonly ErrorClass[];
  /** Tokens the mutator inserts (latin1). */
  readonly dictionary: readonly string[];
  /** Inputs are cut to this many bytes. */
  readonly maxLen: number;
  /** Parses one input: returns, throws an expected error, or throws InvariantError. */
  run(input: Buffer): void;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new InvariantError(what);
}

// ---- HTTP/1.1: the lean parser against llhttp, the parser of node:http ----------------------

// node:http's own binding to llhttp (what `createServer` uses), driven directly: no sockets, so
// thousands of inputs a second. Its callbacks are numbered slots (kOnHeaders…) on the parser.
interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  /** Releases the native parser now (`free` only marks it reusable: ~2.5 KB kept per input). */
  close(): void;
  [slot: number]: unknown;
}
interface LlhttpModule {
  HTTPParser: {
    new (): LlhttpParser;
    REQUEST: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
  };
  methods: readonly string[];
}
const llhttp = createRequire(import.meta.url)('_http_common') as LlhttpModule;

/** One parsed request, as either parser reports it. */
interface ParsedMessage {
  method: string;
  url: string;
  versionMinor: number;
  keepAlive: boolean;
  headers: IncomingHttpHeaders;
  body: string;
  trailers: IncomingHttpHeaders;
}

/** Node's IncomingMessage combines repeated headers; the lean parser must do the same. */
function combined(raw: readonly string[]): IncomingHttpHeaders {
  const message = new IncomingMessage(null as never) as IncomingMessage & {
    _addHeaderLines(headers: readonly string[], n: number): void;
  };
  message._addHeaderLines(raw, raw.length);
  return { ...message.headers };
}

const HTTP_LIMITS = { maxHeaderSize: 16 * 1024, maxHeadersCount: 2000 };

function viaLlhttp(input: Buffer): { messages: ParsedMessage[]; error: boolean; upgrade: boolean } {
  const { HTTPParser } = llhttp;
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {}, HTTP_LIMITS.maxHeaderSize, 0);
  const messages: ParsedMessage[] = [];
  let raw: string[] = [];
  let url = '';
  let current: ParsedMessage | null = null;
  let upgrade = false;
  // Headers beyond 32 (and trailers) arrive through kOnHeaders, before or after the head.
  parser[HTTPParser.kOnHeaders] = (headers: string[], part: string): void => {
    raw.push(...headers);
    url += part;
  };
  parser[HTTPParser.kOnHeadersComplete] = (
    _major: number,
    minor: number,
    headers: string[] | undefined,
    method: number,
    part: string | undefined,
    _status: number,
    _statusMessage: string,
    isUpgrade: boolean,
    keepAlive: boolean,
  ): number => {
    const all = headers ?? raw;
    current = {
      method: llhttp.methods[method] ?? `#${method}`,
      url: part ?? url,
      versionMinor: minor,
      keepAlive,
      headers: combined(all),
      body: '',
      trailers: {},
    };
    raw = [];
    url = '';
    upgrade ||= isUpgrade;
    return 0;
  };
  parser[HTTPParser.kOnBody] = (chunk: Buffer): void => {
    if (current) current.body += chunk.toString('latin1');
  };
  parser[HTTPParser.kOnMessageComplete] = (): void => {
    if (!current) return;
    current.trailers = raw.length > 0 ? combined(raw) : {};
    raw = [];
    // The binding flushes trailers with the message's target again; node:http's
    // parserOnMessageComplete drops it (parser._url = ''), or the next target would start with it.
    url = '';
    messages.push(current);
    current = null;
  };
  const result = parser.execute(input);
  parser.close();
  return { messages, error: result instanceof Error, upgrade };
}

function viaLean(input: Buffer): { messages: ParsedMessage[]; error: string | null } {
  const messages: ParsedMessage[] = [];
  let current: ParsedMessage | null = null;
  const parser = new Http1Parser(HTTP_LIMITS, {
    onMessageBegin: () => undefined,
    onHead: (head: RequestHead) => {
      current = {
        method: head.method,
        url: head.url,
        versionMinor: head.versionMinor,
        keepAlive: head.keepAlive,
        headers: { ...head.headers },
        body: '',
        trailers: {},
      };
    },
    onBody: (chunk) => {
      if (current) current.body += chunk.toString('latin1');
    },
    onMessageComplete: (trailers) => {
      const done = current;
      current = null;
      if (!done) return false;
      messages.push({ ...done, trailers: { ...(trailers ?? {}) } });
      // As the connection does: after a message without keep-alive, nothing more is read
      // (llhttp refuses further bytes there).
      return done.keepAlive;
    },
  });
  parser.execute(input);
  return { messages, error: parser.error?.code ?? null };
}

const http1: FuzzTarget = {
  name: 'http1',
  about:
    'lean HTTP/1.1 parser vs llhttp: whatever the lean parser completes, llhttp completes identically; its fast path agrees with its state machine',
  expected: [],
  dictionary: [
    'GET ',
    'POST ',
    'PUT ',
    'HEAD ',
    'CONNECT ',
    ' HTTP/1.1\r\n',
    ' HTTP/1.0\r\n',
    '\r\n',
    '\n',
    '\r\n\r\n',
    'Host: k\r\n',
    'Content-Length: ',
    'Transfer-Encoding: chunked\r\n',
    'Transfer-Encoding: ',
    'Connection: close\r\n',
    'Connection: keep-alive\r\n',
    'Upgrade: h2c\r\n',
    'Expect: 100-continue\r\n',
    '0\r\n\r\n',
    ';ext=1',
    'chunked',
    ', ',
    ': ',
    '\t',
    ' ',
    '0x',
    'ffffffff',
    '18446744073709551616',
    'Set-Cookie: a\r\n',
    'http://a@b/',
    '*',
    '?',
    '#',
    '%',
  ],
  maxLen: 4096,
  run(input) {
    const lean = viaLean(input);
    // The lean parser's fast path for whole heads against its state machine alone: the same
    // messages and the same error, always.
    http1FastPath.enabled = false;
    let machine: ReturnType<typeof viaLean>;
    try {
      machine = viaLean(input);
    } finally {
      http1FastPath.enabled = true;
    }
    check(
      isDeepStrictEqual(lean, machine),
      `fast path and state machine differ: ${JSON.stringify(lean)} against ${JSON.stringify(machine)}`,
    );
    const node = viaLlhttp(input);
    // Past an upgrade llhttp hands the connection over; compare only the messages before it.
    const count = node.upgrade
      ? Math.min(lean.messages.length, node.messages.length)
      : lean.messages.length;
    // Smuggling direction: the lean parser completing a message llhttp refused or split
    // differently. (The other direction, the lean parser refusing what llhttp accepts, is where
    // docs/http1.md lists its deliberate differences; the TLS differential test checks those.)
    check(
      count <= node.messages.length,
      `lean parser completed ${lean.messages.length} messages, llhttp ${node.messages.length}${node.error ? ' then failed' : ''}`,
    );
    for (let i = 0; i < count; i++) {
      check(
        isDeepStrictEqual(lean.messages[i], node.messages[i]),
        `message ${i} differs: lean ${JSON.stringify(lean.messages[i])} llhttp ${JSON.stringify(node.messages[i])}`,
      );
    }
  },
};

// ---- KMS API: frames and protobuf messages of POST /v1/kms bodies --------------------------

const kmsRequest: FuzzTarget = {
  name: 'kms-request',
  about: 'decodeKmsRequest (frames + protobuf); decode(encode(decode(x))) equals decode(x)',
  expected: [KmsWireError],
  dictionary: [
    '\x00\x01',
    '\x00\x02',
    '\x00\xc9',
    '\x00\xca',
    '\x00\xcb',
    '\x01\x2d',
    '\x00\x00\x00\x00',
    '\x00\x00\x00\x08',
    '\xff\xff\xff\xff',
    '\x0a\x06my-key',
    '\x0a\x00',
    '\x10\x01',
    '\x12\x00',
    '\x1a\x00',
    '\x08\x80\x80\x80\x80\x10',
    '\x0a\x80\x80\x80\x80\x08',
    '\x0b',
    '\x0c',
    '\x00',
  ],
  maxLen: 4096,
  run(input) {
    const decoded = decodeKmsRequest(input, { maxFrames: 1000 });
    const again = decodeKmsRequest(encodeKmsRequest(decoded.name, decoded.requests as never));
    check(
      isDeepStrictEqual(again.requests, decoded.requests),
      `${decoded.name}: re-encoding changed the messages`,
    );
  },
};

// ---- KES API: JSON bodies, decoded with Go's rules -----------------------------------------

const KES_SPECS = [
  { plaintext: 'bytes', context: 'bytes' },
  { ciphertext: 'bytes', context: 'bytes' },
  { context: 'bytes' },
  { message: 'bytes' },
  { key: 'bytes', cipher: 'string', bytes: 'bytes', algorithm: 'string', hmac_key: 'bytes' },
  { identity: 'string' },
  { allow: 'strings', deny: 'strings' },
] as const;

const kesJson: FuzzTarget = {
  name: 'kes-json',
  about: 'parseFirstJsonValue + decodeStruct for every KES body shape (and the bulk-decrypt list)',
  expected: [InvalidBodyError],
  dictionary: [
    '{',
    '}',
    '[',
    ']',
    '"',
    ':',
    ',',
    'null',
    'true',
    '1e999',
    '-0',
    '"plaintext"',
    '"context"',
    '"ciphertext"',
    '"Plaintext"',
    '"PLAINTEXT"',
    '"allow"',
    '"deny"',
    '"identity"',
    '"AAAA"',
    '"aGVsbG8="',
    '\\u0000',
    '\\ud800',
    '\\"',
    '\r\n',
    ' ',
    '[[[[[[[[',
    '{"a":{"a":{"a":',
  ],
  maxLen: 4096,
  run(input) {
    const value = parseFirstJsonValue(input);
    // Whatever JSON.parse accepts whole must be what parseFirstJsonValue returns.
    let whole: unknown;
    let parsed = true;
    try {
      whole = JSON.parse(input.toString('utf8'));
    } catch {
      parsed = false;
    }
    if (parsed)
      check(isDeepStrictEqual(whole, value), 'parseFirstJsonValue differs from JSON.parse');
    for (const spec of KES_SPECS) {
      try {
        decodeStruct(value, spec);
      } catch (error) {
        if (!(error instanceof InvalidBodyError)) throw error;
      }
    }
    if (Array.isArray(value)) {
      for (const item of value) {
        try {
          decodeStruct(item, KES_SPECS[1]);
        } catch (error) {
          if (!(error instanceof InvalidBodyError)) throw error;
        }
      }
    }
  },
};

// ---- Ciphertexts of every era --------------------------------------------------------------

const ciphertext: FuzzTarget = {
  name: 'ciphertext',
  about:
    'parseCiphertext (raw, legacy JSON, legacy MessagePack, v<N>: prefix); every reading well-formed',
  expected: [NotAuthenticError],
  dictionary: [
    '\x95',
    '{"aead":"AES-256-GCM-HMAC-SHA-256"',
    '"ChaCha20Poly1305"',
    '"iv":"',
    '"nonce":"',
    '"bytes":"',
    '"id":"',
    'v1:',
    'v0:',
    'v99999999999:',
    '\xa8',
    '\xd9',
    '\xc4\x10',
    '\xc4\x0c',
    '\xc4',
    '\xda',
    '\xdb',
    '\xc5',
    '\xc6',
    '}',
    '"',
    '=',
    'AAAAAAAAAAAAAAAAAAAAAA==',
  ],
  maxLen: 2048,
  run(input) {
    for (const reading of parseCiphertext(input)) {
      check(reading.iv.length === 16, `${reading.format}: IV of ${reading.iv.length} bytes`);
      check(
        reading.nonce.length === 12,
        `${reading.format}: nonce of ${reading.nonce.length} bytes`,
      );
      check(reading.sealed.length >= 16, `${reading.format}: sealed part shorter than a tag`);
    }
  },
};

// ---- Stored keys: KES key-store values, snapshots and backups ------------------------------

const kesKeyValue: FuzzTarget = {
  name: 'kes-key-value',
  about:
    'parseKesKeyValue (protobuf KeyVersion in base64, legacy JSON); encode∘parse is idempotent',
  expected: [KeyValueFormatError],
  dictionary: [
    '{"bytes":"',
    '"algorithm":"',
    '"AES256"',
    '"ChaCha20"',
    '"created_at":"',
    '"created_by":"',
    '2024-01-02T03:04:05Z',
    '.999999999',
    '+01:00',
    '"',
    '}',
    '=',
    '\r\n',
    'CiAK',
    'Ei',
    'Gg',
  ],
  maxLen: 2048,
  run(input) {
    const value = parseKesKeyValue(input);
    if (value.hmacKey?.length !== 32) return; // only the current format encodes
    const text = encodeKesKeyValue(value);
    check(encodeKesKeyValue(parseKesKeyValue(text)) === text, 'encode(parse(encode(v))) differs');
  },
};

const BACKUP_KEY = Buffer.alloc(32, 7);

const snapshot: FuzzTarget = {
  name: 'snapshot',
  about:
    'backups: BackupReceiver + openBackup, and decodeSnapshot (binary and JSON); encode∘decode is idempotent',
  expected: [SnapshotFormatError, KeyholdError],
  dictionary: [
    'KHSN',
    'KHBK',
    '\x02\x00',
    '\x01\x00',
    '\x00\x00\x00\x00',
    '\xff\xff\xff\xff',
    '{"v":1',
    '"enclaves":[',
    '"keys":[',
    '"versions":[',
    '"identities":[',
    '"policies":[',
    'null',
    '[]',
  ],
  maxLen: 8192,
  run(input) {
    const receiver = new BackupReceiver(1024 * 1024);
    for (let i = 0; i < input.length; i += 1000) receiver.add(input.subarray(i, i + 1000));
    if (input.length > 4) {
      try {
        openBackup(receiver.take(), BACKUP_KEY);
      } catch (error) {
        if (!(error instanceof KeyholdError)) throw error;
      }
    }
    const state = decodeSnapshot(input);
    const encoded = encodeSnapshot(state);
    check(
      encodeSnapshot(decodeSnapshot(encoded)).equals(encoded),
      'encode(decode(encode(s))) differs',
    );
  },
};

// ---- API keys and identities ---------------------------------------------------------------

const apiKey: FuzzTarget = {
  name: 'api-key',
  about: 'parseApiKey (k1:, k2:, kes:v1:) and parseIdentity; parse(toText(k)) equals k',
  expected: [InvalidApiKeyError, InvalidIdentityError],
  dictionary: ['k1:', 'k2:', 'kes:v1:', 'h1:', 'AAAA', '____', '----', '=', '+/', '\n', ' '],
  maxLen: 256,
  run(input) {
    const text = input.toString('latin1');
    try {
      const key = parseApiKey(text);
      check(parseApiKey(key.toText()).equals(key), 'parseApiKey(toText()) differs');
    } finally {
      parseIdentity(text);
    }
  },
};

// ---- Certificates: the DER walk that finds a client's public key ----------------------------

const certificate: FuzzTarget = {
  name: 'certificate',
  about:
    'certificateKeyInfo (DER walk to the SPKI and CA flag); where OpenSSL also parses it, the SPKI and CA flag agree',
  expected: [DerError],
  dictionary: [
    '\x30\x82',
    '\x30\x81',
    '\x30\x80',
    '\xa0\x03\x02\x01\x02',
    '\x02\x01\x00',
    '\x06\x03\x55\x1d\x13',
    '\x01\x01\xff',
    '\x04',
    '\x03',
    '\xa3',
    '\x84\xff\xff\xff\xff',
    '\x00',
    '\x05\x00',
  ],
  maxLen: 4096,
  run(input) {
    const info = certificateKeyInfo(input);
    let x509: X509Certificate;
    let spki: Buffer;
    try {
      x509 = new X509Certificate(input);
      spki = x509.publicKey.export({ type: 'spki', format: 'der' });
    } catch {
      return; // OpenSSL refuses more (signatures, keys): only where both parse can they agree
    }
    // The identity hashes the SPKI verbatim (as KES does with Go's RawSubjectPublicKeyInfo);
    // OpenSSL re-encodes it (e.g. a BIT STRING's unused-bits byte). Both must mean one key.
    let ours: Buffer;
    try {
      ours = createPublicKey({ key: info.spki, format: 'der', type: 'spki' }).export({
        type: 'spki',
        format: 'der',
      });
    } catch {
      throw new InvariantError('OpenSSL reads the certificate, but not the SPKI we extracted');
    }
    check(spki.equals(ours), 'the SPKI we extracted is another key than OpenSSL reads');
    check(x509.ca === info.isCa, `CA flag ${info.isCa}, OpenSSL says ${x509.ca}`);
  },
};

// ---- Config files --------------------------------------------------------------------------

const config: FuzzTarget = {
  name: 'config',
  about: 'parseServerConfig: YAML (failsafe schema) and every section, KES-style and Keyhold-style',
  expected: [ConfigError, ClusterConfigError],
  dictionary: [
    'version: v1\n',
    'address: ',
    'admin:\n  identity: ',
    'tls:\n  key: ',
    '  cert: ',
    'policy:\n',
    '  my-policy:\n    allow:\n    - /v1/key/',
    'keystore:\n  fs:\n    path: ',
    'cache:\n  expiry:\n',
    'log:\n  error: ',
    'api:\n  /v1/status:\n    skip_auth: true\n',
    'cluster:\n',
    '${X}',
    '&a',
    '*a',
    '<<: *a',
    '- ',
    ': ',
    '\n  ',
    '"',
    "'",
    '{',
    '[',
    '!!binary ',
    '---\n',
    '...\n',
    '#',
    '1h',
    '0s',
  ],
  maxLen: 4096,
  run(input) {
    parseServerConfig('fuzz.yml', input.toString('utf8'), {});
  },
};

// ---- Policy patterns -----------------------------------------------------------------------

/** The obvious (backtracking) meaning of a KMS glob, for short patterns only. */
function referenceGlob(pattern: string, name: string): boolean {
  if (pattern === '') return false;
  const source = pattern
    .split('')
    .map((c) =>
      c === '*' ? '[\\s\\S]*' : c === '?' ? '[\\s\\S]' : c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${source}$`).test(name);
}

const policyPattern: FuzzTarget = {
  name: 'policy-pattern',
  about:
    'KMS globs (compilePattern, against a regex reference) and KES path patterns (prefix and path.Match); input is pattern NUL name',
  expected: [],
  dictionary: [
    '*',
    '?',
    '**',
    '[',
    ']',
    '[^',
    '[!',
    '-',
    '\\',
    '/',
    '/v1/key/',
    'a*a*a*a*',
    '\x00',
  ],
  maxLen: 1024,
  run(input) {
    const text = input.toString('latin1');
    const cut = text.indexOf('\x00');
    const pattern = cut === -1 ? text : text.slice(0, cut);
    const name = cut === -1 ? '' : text.slice(cut + 1);
    const kms = compilePattern(pattern)(name);
    // The reference backtracks: only where that is cheap.
    if ((pattern.match(/\*/g)?.length ?? 0) <= 3 && pattern.length + name.length <= 128) {
      check(kms === referenceGlob(pattern, name), `glob '${pattern}' on '${name}': ${kms}`);
    }
    goPathMatch(pattern, name);
    kesPathMatches(pattern, name, 'prefix');
    kesPathMatches(pattern, name, 'glob');
  },
};

/** Every target, in the order `npm run fuzz -- all` runs them. */
export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  http1,
  kmsRequest,
  kesJson,
  ciphertext,
  kesKeyValue,
  snapshot,
  apiKey,
  certificate,
  config,
  policyPattern,
];
