// Go encoding/json behaviour the KES face reproduces: decoding rules, HTML-safe encoding, times.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeStdBase64, decodeStdBase64Bytes } from '../../crypto/index.ts';
import {
  InvalidBodyError,
  base64Object,
  decodeFlatStruct,
  decodeStruct,
  encodeGoJson,
  goJsonString,
  goTime,
  parseFirstJsonValue,
} from './go-json.ts';
import { kesErrorBody } from './kes-error.ts';
import { goDuration, listingPrefix } from './kes-request.ts';
import { slogLevel, slogText } from './kes-log-stream.ts';

const body = (text: string): Buffer => Buffer.from(text);

describe('decoding request bodies like encoding/json', () => {
  const spec = { context: 'bytes', cipher: 'string', allow: 'strings' } as const;

  it('matches field names case-insensitively, later keys winning', () => {
    const out = decodeStruct(
      parseFirstJsonValue(body('{"Context":"YQ==","CONTEXT":"Yg==","CiPhEr":"AES256"}')),
      spec,
    );
    assert.deepEqual(out.context, Buffer.from('b'));
    assert.equal(out.cipher, 'AES256');
  });

  it('ignores unknown fields and reads only the first JSON value', () => {
    const out = decodeStruct(
      parseFirstJsonValue(body('{"x":1,"context":"YQ=="} trailing {')),
      spec,
    );
    assert.deepEqual(out.context, Buffer.from('a'));
  });

  it('reads null as the zero value, and a null document as an empty struct', () => {
    assert.deepEqual(
      decodeStruct(parseFirstJsonValue(body('{"context":null,"cipher":null,"allow":null}')), spec),
      { context: Buffer.alloc(0), cipher: '', allow: [] },
    );
    assert.deepEqual(decodeStruct(parseFirstJsonValue(body('null')), spec), {});
  });

  it('accepts padded standard base64 with embedded newlines only', () => {
    const read = (b64: string): Buffer | undefined =>
      decodeStruct(parseFirstJsonValue(body(JSON.stringify({ context: b64 }))), spec).context;
    assert.deepEqual(read('YWJj\r\nZA=='), Buffer.from('abcd'));
    for (const bad of ['YWJjZA', '_-8=', 'YW Jj', 'Y===', '!!!!']) {
      assert.throws(() => read(bad), InvalidBodyError, bad);
    }
  });

  it('rejects type mismatches, non-objects and malformed JSON', () => {
    for (const text of [
      '{"context":1}',
      '{"cipher":true}',
      '{"allow":[1]}',
      '[]',
      '"x"',
      '',
      '{',
      '{"a":}',
    ]) {
      assert.throws(
        () => decodeStruct(parseFirstJsonValue(body(text)), spec),
        InvalidBodyError,
        text,
      );
    }
  });
});

describe('nesting depth, bounded as encoding/json bounds it', () => {
  // Go refuses nesting deeper than 10,000 ("exceeded max depth"). V8's JSON.parse has no limit
  // and spends microseconds per level: a 1 MB body of '[' cost seconds of CPU (bounded-cost test).
  it('accepts 10,000 levels and refuses 10,001, wherever the value ends', () => {
    const nested = (depth: number, tail = ''): Buffer =>
      body('['.repeat(depth) + ']'.repeat(depth) + tail);
    let value = parseFirstJsonValue(nested(10_000));
    let depth = 0;
    for (; Array.isArray(value); depth++) value = value[0] as unknown;
    assert.equal(depth, 10_000);
    assert.throws(() => parseFirstJsonValue(nested(10_001)), InvalidBodyError);
    assert.throws(() => parseFirstJsonValue(nested(10_001, ' trailing')), InvalidBodyError);
    assert.throws(() => parseFirstJsonValue(nested(500_000)), InvalidBodyError);
    // Brackets inside strings are text, not nesting.
    const inString = `{"context":"${'['.repeat(20_000)}"}`;
    assert.deepEqual(Object.keys(parseFirstJsonValue(body(inString)) as object), ['context']);
    assert.throws(
      () => parseFirstJsonValue(body('{"a":' + '['.repeat(1_000_000))),
      InvalidBodyError,
    );
  });
});

describe('property: the first JSON value', () => {
  it('is read back whole, whatever follows it', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 6 }),
        fc.constantFrom('', ' ', '\n{"x":1}', ' trailing'),
        (v, tail) => {
          const text = JSON.stringify(v);
          // A bare number followed by more digits would be another number: keep such tails apart.
          const input = typeof v === 'number' && tail !== '' ? `${text} ${tail}` : text + tail;
          assert.deepEqual(parseFirstJsonValue(body(input)), JSON.parse(text));
        },
      ),
    );
  });
});

describe('encoding like json.Encoder', () => {
  it('escapes <, >, & and the JS line separators, and ends with a newline', () => {
    assert.equal(
      encodeGoJson({ m: '<a & b>\u2028' }),
      '{"m":"\\u003ca \\u0026 b\\u003e\\u2028"}\n',
    );
    assert.equal(goJsonString('é"'), '"é\\""');
  });

  it('writes the error body with a newline before the closing brace', () => {
    assert.equal(
      kesErrorBody('key does not exist').toString(),
      '{"message":"key does not exist"\n}',
    );
    assert.equal(kesErrorBody("name '<x>'").toString(), '{"message":"name \'\\u003cx\\u003e\'"\n}');
  });

  it('formats times as RFC 3339 with trimmed fractions', () => {
    assert.equal(goTime(new Date('2024-01-12T10:39:20.880Z')), '2024-01-12T10:39:20.88Z');
    assert.equal(goTime(new Date('2024-01-12T10:39:20.000Z')), '2024-01-12T10:39:20Z');
    assert.equal(goTime(new Date('2024-01-12T10:39:20.007Z')), '2024-01-12T10:39:20.007Z');
  });

  it('formats durations and slog records like Go', () => {
    assert.equal(goDuration(0.001137481), '1.137481ms');
    assert.equal(goDuration(0.0000005), '500ns');
    assert.equal(goDuration(0.0000125), '12.5µs');
    assert.equal(goDuration(2.5), '2.5s');
    assert.equal(slogLevel(0), 'INFO');
    assert.equal(slogLevel(2), 'INFO+2');
    assert.equal(slogLevel(7), 'WARN+3');
    assert.equal(slogLevel(-5), 'DEBUG-1');
    assert.equal(
      slogText({ level: 8, time: new Date('2025-02-26T16:32:45.217Z'), message: 'disk "x" full' }),
      'time=2025-02-26T16:32:45.217Z level=ERROR msg="disk \\"x\\" full"',
    );
    assert.equal(
      slogText({ level: 0, time: new Date('2025-02-26T16:32:45.217Z'), message: 'ready' }),
      'time=2025-02-26T16:32:45.217Z level=INFO msg=ready',
    );
  });
});

describe('listing patterns', () => {
  it('strips one trailing * and rejects anything outside the grammar', () => {
    assert.equal(listingPrefix(''), '');
    assert.equal(listingPrefix('*'), '');
    assert.equal(listingPrefix('my-key*'), 'my-key');
    assert.equal(listingPrefix('my-key'), 'my-key');
    for (const bad of ['my*key', '**', 'a.b', 'a/b', 'x'.repeat(81)]) {
      assert.equal(listingPrefix(bad), undefined, bad);
    }
  });
});

describe('the flat body path (decodeFlatStruct)', () => {
  const spec = { ciphertext: 'bytes', context: 'bytes', cipher: 'string', x: 'ignore' } as const;
  const general = (b: Buffer): unknown => {
    try {
      return decodeStruct(parseFirstJsonValue(b), spec);
    } catch (error) {
      if (error instanceof InvalidBodyError) return 'error';
      throw error;
    }
  };
  const b64 = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64'));
  const text = fc.oneof(
    b64,
    fc.string({ maxLength: 12 }),
    fc.stringMatching(/^[A-Za-z0-9+/=]{0,12}$/),
  );
  const key = fc.constantFrom('ciphertext', 'context', 'cipher', 'x', 'Context', 'other', 'ciphe');
  const value = fc.oneof(
    { weight: 4, arbitrary: text.map((t) => JSON.stringify(t)) },
    fc.constantFrom('null', '1', '[]', '"a\\u0041"', '"YQ=\\n="'),
  );
  const object = fc
    .array(fc.tuple(key, value), { maxLength: 4 })
    .map((pairs) => `{${pairs.map(([k, v]) => `"${k}":${v}`).join(',')}}`);
  const edited = fc
    .tuple(
      object,
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(' ', '\n', ',', '}', '"', '\\', 'é', '{')), {
        maxLength: 2,
      }),
      fc.constantFrom('', '\n', ' \r\n', 'x', '{}', ' {'),
    )
    .map(([o, inserts, tail]) => {
      let t = o;
      for (const [at, c] of inserts) {
        const p = at % (t.length + 1);
        t = t.slice(0, p) + c + t.slice(p);
      }
      return t + tail;
    });

  it('gives what the general path gives, or declines, for canonical and edited bodies', () => {
    let taken = 0;
    fc.assert(
      fc.property(fc.oneof(object, edited), (t) => {
        const b = Buffer.from(t);
        const fast = decodeFlatStruct(b, spec);
        if (fast === undefined) return;
        taken++;
        assert.deepEqual(fast, general(b), t);
      }),
      { numRuns: 3000 },
    );
    // About 540 of the 3,000 random bodies take the flat path (506–569 over 25 runs): the bound
    // only makes sure the comparison above really ran on many of them.
    assert.ok(taken > 300, `the flat path took ${taken} bodies`);
  });

  it('takes what clients send and leaves the rest to the general path', () => {
    const ctx = Buffer.from('{"bucket":"b"}').toString('base64');
    const sent = body(`{"ciphertext":"YWJj","context":"${ctx}"}\n`);
    assert.deepEqual(decodeFlatStruct(sent, spec), {
      ciphertext: Buffer.from('abc'),
      context: Buffer.from('{"bucket":"b"}'),
    });
    assert.deepEqual(decodeFlatStruct(body('{}'), spec), {});
    for (const other of [
      '{"context": "YQ=="}',
      '{"Context":"YQ=="}',
      '{"context":null}',
      '{"context":"YQ="}',
      '{"context":"YQ==\\n"}',
      '{"context":"YQ=="} x',
      ' {"context":"YQ=="}',
      '{"allow":"a"}',
      '{"context":"YQ==",}',
    ]) {
      assert.equal(decodeFlatStruct(body(other), spec), undefined, other);
    }
  });

  it('decodes base64 from bytes exactly as decodeStdBase64 decodes the text', () => {
    const any = fc.oneof(
      fc.uint8Array({ maxLength: 50 }).map((b) => Buffer.from(b).toString('base64')),
      fc.stringMatching(/^[A-Za-z0-9+/=]{0,16}$/),
      fc.string({ maxLength: 16 }),
    );
    fc.assert(
      fc.property(any, fc.nat({ max: 3 }), (t, offset) => {
        // One byte per character: what a body's bytes can hold.
        fc.pre(Buffer.from(t, 'latin1').toString('latin1') === t);
        const bytes = Buffer.concat([Buffer.alloc(offset, 0x41), Buffer.from(t, 'latin1')]);
        assert.deepEqual(decodeStdBase64Bytes(bytes, offset, bytes.length), decodeStdBase64(t), t);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('base64Object', () => {
  it('writes the bytes encodeGoJson writes for one or two base64 fields', () => {
    const bytes = fc.uint8Array({ maxLength: 100 });
    fc.assert(
      fc.property(bytes, bytes, fc.boolean(), (x, y, two) => {
        const bx = Buffer.from(x);
        const by = Buffer.from(y);
        const expected = two
          ? encodeGoJson({ plaintext: bx.toString('base64'), ciphertext: by.toString('base64') })
          : encodeGoJson({ hmac: bx.toString('base64') });
        const got = two
          ? base64Object('plaintext', bx, 'ciphertext', by)
          : base64Object('hmac', bx);
        assert.equal(got.toString('latin1'), expected);
      }),
      { numRuns: 1000 },
    );
  });
});
