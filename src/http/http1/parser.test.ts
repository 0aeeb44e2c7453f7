// The parser on its own: any split of the input parses alike, the fast path for whole heads and
// the state machine agree on every input, the error each ambiguity gets, Node's rules for
// repeated headers, limits, and stopping after a message.

import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import { Http1Parser, http1FastPath } from './parser.ts';
import type { RequestHead } from './parser.ts';

interface Parsed {
  heads: RequestHead[];
  bodies: string[];
  trailers: (IncomingHttpHeaders | null)[];
  error: string | null;
  status: number | null;
}

const LIMITS = { maxHeaderSize: 16384, maxHeadersCount: 1000 };

/** Parses `parts` in turn; `fast` false runs the state machine alone (no fast path). */
function parse(parts: readonly Buffer[], limits = LIMITS, fast = true): Parsed {
  const before = http1FastPath.enabled;
  http1FastPath.enabled = fast;
  try {
    return parseWith(parts, limits);
  } finally {
    http1FastPath.enabled = before;
  }
}

function parseWith(parts: readonly Buffer[], limits: typeof LIMITS): Parsed {
  const out: Parsed = { heads: [], bodies: [], trailers: [], error: null, status: null };
  let body = '';
  const parser = new Http1Parser(limits, {
    onMessageBegin: () => undefined,
    onHead: (head) => {
      out.heads.push(head);
      body = '';
    },
    onBody: (chunk) => {
      body += chunk.toString('latin1');
    },
    onMessageComplete: (trailers) => {
      out.bodies.push(body);
      out.trailers.push(trailers);
      return true;
    },
  });
  for (const part of parts) {
    parser.execute(part);
    if (parser.error) break;
  }
  out.error = parser.error?.code ?? null;
  out.status = parser.error?.status ?? null;
  return out;
}

const one = (text: string): Parsed => parse([Buffer.from(text, 'latin1')]);

const VALID = [
  'GET /a?b=c HTTP/1.1\r\nHost: k\r\nAccept: x\r\nAccept: y\r\n\r\n',
  'POST /v1/kms HTTP/1.1\r\nHost: k\r\nContent-Length: 5\r\nContent-Type: a\r\nContent-Type: b\r\n\r\nhello',
  'PUT / HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3;x="a\\"b"\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: 1\r\nT: 2\r\n\r\n',
  '\r\n\r\nGET * HTTP/1.0\r\nCookie: a=1\r\nCookie: b=2\r\nSet-Cookie: x\r\nSet-Cookie: y\r\n\r\n',
  'DELETE http://h:1/p?q#f HTTP/1.1\r\nHost:\r\nX:  v \t\r\n\r\n',
];

test('every split of valid input parses exactly as the whole', () => {
  const all = Buffer.from(VALID.join(''), 'latin1');
  const whole = parse([all]);
  assert.equal(whole.error, null);
  assert.equal(whole.heads.length, VALID.length);
  for (let cut = 1; cut < all.length; cut++) {
    assert.deepEqual(
      parse([all.subarray(0, cut), all.subarray(cut)]),
      whole,
      `cut at ${String(cut)}`,
    );
  }
  assert.deepEqual(parse([...all].map((b) => Buffer.of(b))), whole, 'one byte at a time');
});

test('an HTTP/1.0 keep-alive followed by a tab is not taken, as llhttp does not take it', () => {
  const keepAlive = (value: string, version = '1.0'): boolean | undefined =>
    one(`GET / HTTP/${version}\r\nConnection: ${value}\r\n\r\n`).heads[0]?.keepAlive;
  assert.equal(keepAlive('keep-alive'), true);
  assert.equal(keepAlive('keep-alive '), true);
  assert.equal(keepAlive('\tkeep-alive'), true);
  assert.equal(keepAlive('x,\tkeep-alive'), true);
  assert.equal(keepAlive('keep-alive\t'), false);
  assert.equal(keepAlive('keep-alive \t'), false);
  assert.equal(keepAlive('keep-alive\t, x'), false);
  // A close is taken with a tab after it too: the connection reads no more.
  assert.equal(keepAlive('close\t', '1.1'), false);
  assert.equal(keepAlive('close', '1.1'), false);
  assert.equal(keepAlive('x', '1.1'), true);
});

test("repeated headers are combined as Node's IncomingMessage does", () => {
  const heads = parse([Buffer.from(VALID.join(''), 'latin1')]).heads;
  const [get, post, put, old, del] = [0, 1, 2, 3, 4].map((i) => heads.at(i));
  assert.equal(get?.headers.accept, 'x, y');
  assert.equal(post?.headers['content-type'], 'a');
  assert.equal(post.bodyLength, 5);
  assert.equal(put?.bodyLength, -1);
  assert.equal(old?.headers.cookie, 'a=1; b=2');
  assert.deepEqual(old.headers['set-cookie'], ['x', 'y']);
  assert.equal(old.keepAlive, false);
  assert.equal(old.url, '*');
  assert.equal(del?.headers.host, '');
  assert.equal(del.headers.x, 'v', 'leading and trailing OWS are not part of the value');
  assert.equal(del.url, 'http://h:1/p?q#f');
  const parsed = one(VALID[2]!);
  assert.equal(parsed.bodies[0], 'abc0123456789');
  assert.deepEqual(parsed.trailers[0], { t: '1, 2' });
});

const POST_HEAD = 'POST / HTTP/1.1\r\nHost: k\r\n';
/** Inputs each parser refuses, with the llhttp code and status they get. */
const ERRORS: [string, string, number][] = [
  [
    `${POST_HEAD}Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`,
    'HPE_INVALID_TRANSFER_ENCODING',
    400,
  ],
  [
    `${POST_HEAD}Transfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n`,
    'HPE_INVALID_CONTENT_LENGTH',
    400,
  ],
  [
    `${POST_HEAD}Content-Length: 1\r\nContent-Length: 1\r\n\r\n`,
    'HPE_UNEXPECTED_CONTENT_LENGTH',
    400,
  ],
  [`${POST_HEAD}Content-Length: 1 1\r\n\r\n`, 'HPE_INVALID_CONTENT_LENGTH', 400],
  [`${POST_HEAD}Content-Length: 9007199254740992\r\n\r\n`, 'HPE_INVALID_CONTENT_LENGTH', 400],
  [
    `${POST_HEAD}Transfer-Encoding: chunked, identity\r\n\r\n`,
    'HPE_INVALID_TRANSFER_ENCODING',
    400,
  ],
  [`${POST_HEAD}Transfer-Encoding: identity\r\n\r\n`, 'HPE_INVALID_TRANSFER_ENCODING', 400],
  [
    `${POST_HEAD}Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n`,
    'HPE_INVALID_TRANSFER_ENCODING',
    400,
  ],
  [`${POST_HEAD}Transfer-Encoding : chunked\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN', 400],
  [`${POST_HEAD}X: a\r\n b\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN', 400],
  [`${POST_HEAD}X: a\nY: b\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN', 400],
  [`${POST_HEAD}X: a\rY: b\r\n\r\n`, 'HPE_STRICT', 400],
  [`${POST_HEAD}X: \x01\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN', 400],
  [
    `${POST_HEAD}Transfer-Encoding: chunked\r\n\r\n1 \r\na\r\n0\r\n\r\n`,
    'HPE_INVALID_CHUNK_SIZE',
    400,
  ],
  [`${POST_HEAD}Transfer-Encoding: chunked\r\n\r\n1\r\naX`, 'HPE_STRICT', 400],
  [`${POST_HEAD}Transfer-Encoding: chunked\r\n\r\n1; a\r\na\r\n0\r\n\r\n`, 'HPE_STRICT', 400],
  [
    `${POST_HEAD}Transfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 1\r\n\r\n`,
    'HPE_INVALID_CONTENT_LENGTH',
    400,
  ],
  [
    `${POST_HEAD}Transfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(16385)}\r\n`,
    'HPE_CHUNK_EXTENSIONS_OVERFLOW',
    413,
  ],
  ['GET /\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['GET / HTTP/2.0\r\n\r\n', 'HPE_INVALID_VERSION', 400],
  ['GET / RTSP/1.0\r\n\r\n', 'HPE_INVALID_CONSTANT', 400],
  ['GET http://a@b@c/ HTTP/1.1\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['GET /\x80 HTTP/1.1\r\n\r\n', 'HPE_INVALID_URL', 400],
  ['CONNECT h:1 HTTP/1.1\r\n\r\n', 'HPE_INVALID_METHOD', 400],
  ['GX', 'HPE_INVALID_METHOD', 400],
  [`GET /${'a'.repeat(16383)}`, 'HPE_HEADER_OVERFLOW', 431],
];

test('each ambiguity gets its error', () => {
  for (const [input, code, status] of ERRORS) {
    const parsed = one(input);
    assert.equal(parsed.error, code, JSON.stringify(input.slice(0, 80)));
    assert.equal(parsed.status, status);
  }
});

test('incomplete input waits; headers beyond maxHeadersCount are left out', () => {
  assert.equal(one('GET / HTTP/1.1\r\nHost: k\r\n').error, null);
  assert.equal(one('GE').error, null);
  const many = `GET / HTTP/1.1\r\n${'X: 1\r\n'.repeat(5)}Y: 2\r\n\r\n`;
  const parsed = parse([Buffer.from(many)], { maxHeaderSize: 16384, maxHeadersCount: 3 });
  assert.deepEqual(parsed.heads[0]?.headers, { x: '1, 1, 1' });
});

test('a handler can stop the parser after a message; the rest is left unread', () => {
  const input = Buffer.from('GET /1 HTTP/1.1\r\nHost: k\r\n\r\nGET /2 HTTP/1.1\r\n');
  const parser = new Http1Parser(
    { maxHeaderSize: 16384, maxHeadersCount: 1000 },
    {
      onMessageBegin: () => undefined,
      onHead: () => undefined,
      onBody: () => undefined,
      onMessageComplete: () => false,
    },
  );
  assert.equal(parser.execute(input), input.indexOf('GET /2'));
  assert.equal(parser.inMessage, false);
});

/** Inputs at the edges of the fast path: what it reads itself and what it leaves alone. */
const EDGES = [
  'GET / HTTP/1.1\r\nHost: k\r\n\r\n',
  'GET /a?b#c?d#e HTTP/1.1\r\nHost: k\r\n\r\n',
  'HEAD /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  'HEAD /x HTTP/1.0\r\n\r\n',
  'DELETE /x HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n',
  'GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n',
  'GET / HTTP/1.1\r\nPROXY-CONNECTION: Close\r\n\r\n',
  'GET / HTTP/1.1\r\nConnection: Keep-Alive, Close\r\n\r\n',
  'GET / HTTP/1.0\r\nConnection: x,\t keep-alive \r\n\r\n',
  'PUT /a HTTP/1.1\r\nHOST: k\r\nCONTENT-LENGTH: 3  \r\n\r\nabc',
  'POST / HTTP/1.1\r\ncontent-length: 0003\r\n\r\nabc',
  'POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n',
  'POST / HTTP/1.1\r\nContent-Length: 3\t\r\n\r\nabc',
  'POST / HTTP/1.1\r\nContent-Length: 3 \t\r\n\r\nabc',
  'POST / HTTP/1.1\r\nContent-Length: 123456789012345\r\n\r\nab',
  'POST / HTTP/1.1\r\nContent-Length: 1234567890123456\r\n\r\nab',
  'POST / HTTP/1.1\r\nContent-Length: 9007199254740991\r\n\r\nab',
  'POST / HTTP/1.1\r\nContent-Length: \r\n\r\n',
  'POST / HTTP/1.1\r\nContent-Length:\t \r\n\r\n',
  'POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\na',
  'POST / HTTP/1.1\r\nContent-Length: 1,1\r\n\r\na',
  'POST / HTTP/1.1\r\ncontent-length: 1\r\nContent-Length: 2\r\n\r\nab',
  'POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: \r\n\r\nab',
  'POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\ntransfer-encoding: CHUNKED\r\n\r\n0\r\n\r\n',
  'GET / HTTP/1.1\r\nContent_Length: 5\r\nContent-Lengthx: 5\r\nXontent-Length: 5\r\n\r\n',
  'GET / HTTP/1.1\r\nConnectionx: close\r\nXonnection: close\r\nTransfer-Encodinx: chunked\r\n\r\n',
  'GET / HTTP/1.1\nHost: k\n\n',
  'GET / HTTP/1.1\r\nHost: k\n\r\n',
  'GET / HTTP/1.1\r\nHost: k\r\n\n',
  'GET / HTTP/1.1\r\nHost: k\r\n\r',
  'GET / HTTP/1.1\r\r\n\r\n',
  'GET  / HTTP/1.1\r\n\r\n',
  'GET /a  HTTP/1.1\r\n\r\n',
  'GET /a HTTP/1.1 \r\n\r\n',
  'GET /a HTTP/1.2\r\n\r\n',
  'GET /a HTTP/1.1x\r\n\r\n',
  'GET /a\tb HTTP/1.1\r\n\r\n',
  'GET /\x7f HTTP/1.1\r\n\r\n',
  'GET /\x00 HTTP/1.1\r\n\r\n',
  'GET * HTTP/1.1\r\n\r\n',
  'GET http://h/ HTTP/1.1\r\n\r\n',
  'GET a HTTP/1.1\r\n\r\n',
  'get / HTTP/1.1\r\n\r\n',
  'GETS / HTTP/1.1\r\n\r\n',
  'GE / HTTP/1.1\r\n\r\n',
  'PU / HTTP/1.1\r\n\r\n',
  'POS / HTTP/1.1\r\n\r\n',
  'POSTX / HTTP/1.1\r\n\r\n',
  'DELETEX / HTTP/1.1\r\n\r\n',
  'DELET / HTTP/1.1\r\n\r\n',
  'HEADER / HTTP/1.1\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\n\r\n',
  'PATCH /x HTTP/1.1\r\nContent-Length: 1\r\n\r\nz',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  'GET / HTTP/1.1\r\nX:\r\nY: \t \r\nZ:a\x80\xff \r\n\r\n',
  'GET / HTTP/1.1\r\n: v\r\n\r\n',
  'GET / HTTP/1.1\r\nX : v\r\n\r\n',
  'GET / HTTP/1.1\r\nX\x00: v\r\n\r\n',
  'GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n',
  'GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n',
  'GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n',
  'GET / HTTP/1.1\r\n X: a\r\n\r\n',
  'GET / HTTP/1.1\r\nSet-Cookie: a\r\nset-cookie: b\r\nCookie: c\r\nCOOKIE: d\r\n\r\n',
  'GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\nHost: x\r\nHost: y\r\nX: 1\r\nx: 2\r\n\r\n',
  'GET / HTTP/1.1\r\nUser-Agent: Go-http-client/1.1\r\nUSER-AGENT: b\r\nKeyhold-Request-Id: r\r\nACCEPT-encoding: gzip\r\n\r\n',
  'GET / HTTP/1.1\r\nExpect: 100-continue\r\nDate: x\r\nTraceparent: t\r\nX-Amz-Date: d\r\n\r\n',
  'GET / HTTP/1.1\r\n__proto__: x\r\nconstructor: y\r\ntoString: z\r\n\r\n',
  '\r\n\r\nGET / HTTP/1.1\r\nHost: k\r\n\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi',
  `POST /v1/kms/default HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 4\r\nAccept: application/*\r\nContent-Type: application/octet-stream\r\nAccept-Encoding: gzip\r\n\r\nbody`,
];

/** Every input of this file short enough to be split at every byte. */
const ALL = [...VALID, ...ERRORS.map(([input]) => input), ...EDGES];
const SHORT = ALL.filter((input) => input.length <= 512);

test('the fast path and the state machine agree on every input, whole and at every split', () => {
  for (const input of ALL) {
    const bytes = Buffer.from(input, 'latin1');
    const slow = parse([bytes], LIMITS, false);
    assert.deepEqual(parse([bytes]), slow, JSON.stringify(input.slice(0, 80)));
    if (input.length > 512) continue;
    for (let cut = 1; cut < bytes.length; cut++) {
      assert.deepEqual(
        parse([bytes.subarray(0, cut), bytes.subarray(cut)]),
        slow,
        `${JSON.stringify(input)} cut at ${String(cut)}`,
      );
    }
  }
});

test('the fast path and the state machine agree at the size and count limits', () => {
  for (const input of SHORT) {
    const bytes = Buffer.from(input, 'latin1');
    const limits = [];
    for (let maxHeaderSize = 1; maxHeaderSize <= 200; maxHeaderSize++) {
      limits.push({ maxHeaderSize, maxHeadersCount: 1000 });
    }
    for (let maxHeadersCount = 0; maxHeadersCount <= 6; maxHeadersCount++) {
      limits.push({ maxHeaderSize: 16384, maxHeadersCount });
    }
    for (const limit of limits) {
      assert.deepEqual(
        parse([bytes], limit),
        parse([bytes], limit, false),
        `${JSON.stringify(input)} ${JSON.stringify(limit)}`,
      );
    }
  }
});

test('the fast path reads the common request shapes itself', () => {
  const common = [
    EDGES.at(-1)!,
    'GET /v1/status HTTP/1.1\r\nHost: k\r\n\r\n',
    'PUT /a HTTP/1.1\r\nHOST: k\r\nCONTENT-LENGTH: 3  \r\n\r\nabc',
    'DELETE /x HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n',
    'HEAD /x HTTP/1.0\r\nConnection: keep-alive\r\nX: a\x80\xff \r\n\r\n',
  ];
  for (const input of common) {
    const before = http1FastPath.taken;
    const parsed = one(input);
    assert.equal(parsed.error, null);
    assert.equal(http1FastPath.taken, before + 1, JSON.stringify(input));
  }
  // And leaves alone what it is not sure of (the state machine reads these).
  for (const input of [
    'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'GET * HTTP/1.1\r\n\r\n',
    'OPTIONS / HTTP/1.1\r\n\r\n',
    'POST / HTTP/1.1\r\nContent-Length: 1234567890123456\r\n\r\n',
  ]) {
    const before = http1FastPath.taken;
    assert.equal(one(input).error, null);
    assert.equal(http1FastPath.taken, before, JSON.stringify(input));
  }
  const parsed = one(EDGES.at(-1)!);
  assert.deepEqual(parsed.heads[0], {
    method: 'POST',
    url: '/v1/kms/default',
    versionMinor: 1,
    headers: {
      host: '127.0.0.1',
      'user-agent': 'Go-http-client/1.1',
      'content-length': '4',
      accept: 'application/*',
      'content-type': 'application/octet-stream',
      'accept-encoding': 'gzip',
    },
    keepAlive: true,
    bodyLength: 4,
  });
  assert.deepEqual(parsed.bodies, ['body']);
});

test("the fast path's remembered target, names and values are guesses only: a next head that differs anywhere parses as the state machine reads it", () => {
  // A head, then a variant of it on the same parser, then the head again: every byte of the
  // head replaced (CTLs, separators, case, obs-text), removed, or doubled. Go's head (all
  // remembered), and one with what is not remembered (a long target and values, Authorization,
  // an uncommon name).
  const heads = [
    EDGES.at(-1)!,
    `GET /v1/key/list/${'k'.repeat(60)} HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer t\r\n` +
      `X-Other: o\r\nContent-Type: ${'t'.repeat(70)}\r\n\r\n`,
  ];
  const bytes = [
    0x00, 0x09, 0x0a, 0x0d, 0x20, 0x2c, 0x2d, 0x2f, 0x3a, 0x41, 0x61, 0x7f, 0x80, 0xff,
  ];
  let variants = 0;
  const before = http1FastPath.taken;
  for (const text of heads) {
    const head = Buffer.from(text, 'latin1');
    const headEnd = head.indexOf('\r\n\r\n') + 4;
    for (let at = 0; at < headEnd; at++) {
      const b = head[at]!;
      const changed: Buffer[] = [];
      for (const r of [...bytes, b ^ 0x20]) {
        if (r === b) continue;
        const v = Buffer.from(head);
        v[at] = r;
        changed.push(v);
      }
      changed.push(Buffer.concat([head.subarray(0, at), head.subarray(at + 1)]));
      changed.push(Buffer.concat([head.subarray(0, at + 1), head.subarray(at)]));
      for (const variant of changed) {
        const parts = [head, variant, head];
        assert.deepEqual(
          parse(parts),
          parse(parts, LIMITS, false),
          JSON.stringify(variant.toString('latin1')),
        );
        variants++;
      }
    }
  }
  // The unchanged heads at least were the fast path's, read from what it remembered.
  assert.ok(http1FastPath.taken - before >= variants);
});
