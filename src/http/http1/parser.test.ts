// The parser on its own: any split of the input parses alike, the error each ambiguity gets,
// Node's rules for repeated headers, limits, and stopping after a message.

import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import { Http1Parser } from './parser.ts';
import type { RequestHead } from './parser.ts';

interface Parsed {
  heads: RequestHead[];
  bodies: string[];
  trailers: (IncomingHttpHeaders | null)[];
  error: string | null;
  status: number | null;
}

function parse(
  parts: readonly Buffer[],
  limits = { maxHeaderSize: 16384, maxHeadersCount: 1000 },
): Parsed {
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

test('each ambiguity gets its error', () => {
  const post = 'POST / HTTP/1.1\r\nHost: k\r\n';
  const cases: [string, string, number][] = [
    [
      `${post}Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`,
      'HPE_INVALID_TRANSFER_ENCODING',
      400,
    ],
    [
      `${post}Transfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n`,
      'HPE_INVALID_CONTENT_LENGTH',
      400,
    ],
    [`${post}Content-Length: 1\r\nContent-Length: 1\r\n\r\n`, 'HPE_UNEXPECTED_CONTENT_LENGTH', 400],
    [`${post}Content-Length: 1 1\r\n\r\n`, 'HPE_INVALID_CONTENT_LENGTH', 400],
    [`${post}Content-Length: 9007199254740992\r\n\r\n`, 'HPE_INVALID_CONTENT_LENGTH', 400],
    [`${post}Transfer-Encoding: chunked, identity\r\n\r\n`, 'HPE_INVALID_TRANSFER_ENCODING', 400],
    [`${post}Transfer-Encoding: identity\r\n\r\n`, 'HPE_INVALID_TRANSFER_ENCODING', 400],
    [
      `${post}Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n`,
      'HPE_INVALID_TRANSFER_ENCODING',
      400,
    ],
    [`${post}Transfer-Encoding : chunked\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN', 400],
    [`${post}X: a\r\n b\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN', 400],
    [`${post}X: a\nY: b\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN', 400],
    [`${post}X: a\rY: b\r\n\r\n`, 'HPE_STRICT', 400],
    [`${post}X: \x01\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN', 400],
    [
      `${post}Transfer-Encoding: chunked\r\n\r\n1 \r\na\r\n0\r\n\r\n`,
      'HPE_INVALID_CHUNK_SIZE',
      400,
    ],
    [`${post}Transfer-Encoding: chunked\r\n\r\n1\r\naX`, 'HPE_STRICT', 400],
    [`${post}Transfer-Encoding: chunked\r\n\r\n1; a\r\na\r\n0\r\n\r\n`, 'HPE_STRICT', 400],
    [
      `${post}Transfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 1\r\n\r\n`,
      'HPE_INVALID_CONTENT_LENGTH',
      400,
    ],
    [
      `${post}Transfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(16385)}\r\n`,
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
  for (const [input, code, status] of cases) {
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
