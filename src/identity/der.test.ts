// Tests for the DER reader/writer: known encodings, round trips, the RFC 5280 time rule,
// and that malformed input of any shape yields DerError and never reads out of bounds.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  DerError,
  DerReader,
  DerTag,
  contextTag,
  decodeBitString,
  decodeBoolean,
  decodeInteger,
  decodeOid,
  decodeTime,
  derBitString,
  derBoolean,
  derExplicit,
  derGeneralizedTime,
  derIa5String,
  derImplicit,
  derInteger,
  derNull,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTime,
  derTlv,
  derUnsignedInteger,
  derUtcTime,
  derUtf8String,
  enterSingle,
} from './der.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const h = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex');

describe('DER writer', () => {
  test('INTEGER: minimal two’s complement', () => {
    const cases: [bigint | number, string][] = [
      [0, '020100'],
      [1, '020101'],
      [127, '02017f'],
      [128, '02020080'],
      [255, '020200ff'],
      [256, '02020100'],
      [-1, '0201ff'],
      [-128, '020180'],
      [-129, '0202ff7f'],
      [2n ** 64n, '0209010000000000000000'],
    ];
    for (const [value, expected] of cases) {
      assert.equal(hex(derInteger(value)), expected, `derInteger(${value})`);
      const reader = new DerReader(h(expected));
      assert.equal(decodeInteger(reader.value(reader.next())), BigInt(value));
    }
    assert.throws(() => derInteger(2 ** 60), DerError);
  });

  test('unsigned INTEGER from magnitude bytes', () => {
    assert.equal(hex(derUnsignedInteger(h('00 00 7f'))), '02017f');
    assert.equal(hex(derUnsignedInteger(h('80 01'))), '0203008001');
    assert.equal(hex(derUnsignedInteger(h('00'))), '020100');
    assert.equal(hex(derUnsignedInteger(new Uint8Array(0))), '020100');
    const serial = h('ff'.repeat(16));
    const reader = new DerReader(derUnsignedInteger(serial));
    assert.equal(decodeInteger(reader.value(reader.next())), 2n ** 128n - 1n);
  });

  test('OBJECT IDENTIFIER', () => {
    const cases: [string, string][] = [
      ['1.3.101.112', '06032b6570'],
      ['1.2.840.10045.2.1', '06072a8648ce3d0201'],
      ['1.2.840.113549.1.1.11', '06092a864886f70d01010b'],
      ['2.5.29.19', '0603551d13'],
      ['2.999.3', '0603883703'],
      ['0.0', '060100'],
    ];
    for (const [dotted, expected] of cases) {
      assert.equal(hex(derOid(dotted)), expected, dotted);
      const reader = new DerReader(h(expected));
      assert.equal(decodeOid(reader.value(reader.next())), dotted);
    }
    for (const bad of ['', '1', '3.1', '1.40', '1.2.', '1..2', '1.02', 'a.b']) {
      assert.throws(() => derOid(bad), DerError, bad);
    }
    assert.throws(() => decodeOid(h('8001')), /leading 0x80/);
    assert.throws(() => decodeOid(h('2b86')), /ends inside an arc/);
    assert.throws(() => decodeOid(new Uint8Array(0)), DerError);
  });

  test('lengths: short form, 0x81 and 0x82 long forms', () => {
    assert.equal(hex(derOctetString(Buffer.alloc(127))).slice(0, 4), '047f');
    assert.equal(hex(derOctetString(Buffer.alloc(128))).slice(0, 6), '048180');
    assert.equal(hex(derOctetString(Buffer.alloc(255))).slice(0, 6), '0481ff');
    assert.equal(hex(derOctetString(Buffer.alloc(256))).slice(0, 8), '04820100');
    assert.equal(hex(derOctetString(Buffer.alloc(70000))).slice(0, 10), '0483011170');
    for (const size of [0, 1, 127, 128, 255, 256, 65535, 65536]) {
      const encoded = derOctetString(Buffer.alloc(size, 7));
      const reader = new DerReader(encoded);
      const element = reader.next();
      assert.equal(reader.value(element).length, size);
      assert.ok(reader.atEnd);
    }
  });

  test('other types', () => {
    assert.equal(hex(derBoolean(true)), '0101ff');
    assert.equal(hex(derBoolean(false)), '010100');
    assert.equal(hex(derNull()), '0500');
    assert.equal(hex(derBitString(h('80'), 7)), '03020780');
    assert.equal(hex(derBitString(h('0102'))), '0303000102');
    assert.throws(() => derBitString(h('81'), 7), /unused bits/);
    assert.throws(() => derBitString(new Uint8Array(0), 1), /unused bits/);
    assert.throws(() => derBitString(h('00'), 8), DerError);
    assert.equal(hex(derUtf8String('h1:é')), '0c0568313ac3a9');
    assert.throws(() => derUtf8String('\ud800'), /lone surrogate/);
    assert.equal(hex(derIa5String('a.b')), '1603612e62');
    assert.throws(() => derIa5String('é'), /ASCII/);
    assert.equal(hex(derSequence()), '3000');
    assert.equal(hex(derExplicit(0, derInteger(2))), 'a003020102');
    assert.equal(hex(derExplicit(3, derSequence())), 'a3023000');
    assert.equal(hex(derImplicit(7, h('7f000001'))), '87047f000001');
    assert.equal(contextTag(2, false), 0x82);
    assert.throws(() => contextTag(31, true), DerError);
    assert.throws(() => derTlv(0x1f), DerError);
  });

  test('SET OF sorts its elements by encoding', () => {
    assert.equal(
      hex(derSet(derInteger(2), derInteger(1), derNull())),
      '3108' + '020101' + '020102' + '0500',
    );
  });

  test('SPKI built with the writer equals what node exports', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const exported = publicKey.export({ type: 'spki', format: 'der' });
    const raw = exported.subarray(12);
    assert.deepEqual(derSequence(derSequence(derOid('1.3.101.112')), derBitString(raw)), exported);
  });
});

describe('DER times', () => {
  test('RFC 5280: UTCTime for 1950..2049, GeneralizedTime otherwise', () => {
    const at = (iso: string): Buffer => derTime(new Date(iso));
    assert.equal(at('2049-12-31T23:59:59.999Z').toString('latin1'), '\x17\x0d491231235959Z');
    assert.equal(at('2050-01-01T00:00:00Z').toString('latin1'), '\x18\x0f20500101000000Z');
    assert.equal(at('1950-01-01T00:00:00Z').toString('latin1'), '\x17\x0d500101000000Z');
    assert.equal(at('1949-12-31T23:59:59Z').toString('latin1'), '\x18\x0f19491231235959Z');
    assert.throws(() => derUtcTime(new Date('2050-01-01T00:00:00Z')), /year 2050/);
    assert.throws(() => derGeneralizedTime(new Date('+010000-01-01T00:00:00Z')), DerError);
    assert.throws(() => derTime(new Date(NaN)), /invalid Date/);
  });

  test('round trip through decodeTime', () => {
    for (const iso of [
      '1950-01-01T00:00:00.000Z',
      '1999-02-28T12:34:56.000Z',
      '2024-02-29T23:59:59.000Z',
      '2049-12-31T23:59:59.000Z',
      '2050-01-01T00:00:00.000Z',
      '9999-12-31T23:59:59.000Z',
      '0005-03-01T00:00:00.000Z',
    ]) {
      const reader = new DerReader(derTime(new Date(iso)));
      const element = reader.next();
      assert.equal(decodeTime(element.tag, reader.value(element)).toISOString(), iso);
    }
  });

  test('invalid times are rejected', () => {
    const bad: [number, string][] = [
      [DerTag.UtcTime, '230230000000Z'],
      [DerTag.UtcTime, '2301010000Z'],
      [DerTag.UtcTime, '230101000000+0100'],
      [DerTag.GeneralizedTime, '20230101000000.5Z'],
      [DerTag.GeneralizedTime, '20231301000000Z'],
      [DerTag.GeneralizedTime, '20230101250000Z'],
      [DerTag.Integer, '20230101000000Z'],
    ];
    for (const [tag, text] of bad) {
      assert.throws(() => decodeTime(tag, Buffer.from(text, 'latin1')), DerError, text);
    }
  });
});

describe('DER reader', () => {
  test('walks nested structures and optional fields', () => {
    const encoded = derSequence(derExplicit(0, derInteger(2)), derInteger(5), derBoolean(true));
    const outer = enterSingle(encoded, DerTag.Sequence, 'outer');
    assert.equal(outer.nextIf(DerTag.Null), undefined);
    const version = outer.nextIf(contextTag(0, true));
    assert.ok(version);
    assert.equal(decodeInteger(outer.value(outer.expect(DerTag.Integer, 'n'))), 5n);
    assert.equal(decodeBoolean(outer.value(outer.expect(DerTag.Boolean, 'b'))), true);
    assert.ok(outer.atEnd);
    assert.equal(outer.peekTag(), undefined);
    outer.finish('outer');
  });

  test('clear errors for malformed input', () => {
    const cases: [string, RegExp][] = [
      ['', /unexpected end of data|missing/],
      ['30', /no length/],
      ['3005 0101ff', /truncated element .* needs 5 content bytes, 3 available/],
      ['3080 0000', /indefinite length/],
      ['3081 05 0000000000', /non-minimal length/],
      ['3082 0005 0000000000', /non-minimal length/],
      ['3085 0000000001 00', /too large/],
      ['3082 01', /truncated length/],
      ['3000 00', /thing: 1 unexpected trailing bytes/],
      ['0400', /expected tag 0x30, found 0x04/],
    ];
    for (const [input, message] of cases) {
      assert.throws(() => enterSingle(h(input), DerTag.Sequence, 'thing'), message, input);
    }
  });

  test('high-tag-number form is refused', () => {
    assert.throws(() => new DerReader(h('1f01 00')).next(), /high-tag-number form at offset 0/);
  });

  test('an element may not extend past its parent even if the buffer continues', () => {
    // The SEQUENCE holds 3 bytes, its OCTET STRING claims 5: bytes exist after, but outside.
    const encoded = h('3003 0405 00 ff ff ff ff');
    const reader = new DerReader(encoded, 0, 5);
    const inner = reader.enter(DerTag.Sequence, 'outer');
    assert.throws(() => inner.next(), /needs 5 content bytes, 1 available/);
  });

  test('window checks', () => {
    assert.throws(() => new DerReader(h('0500'), 0, 3), /exceeds/);
    assert.throws(() => new DerReader(h('0500'), 2, 1), /invalid window/);
    const reader = new DerReader(h('ff 0500 ff'), 1, 3);
    assert.deepEqual(reader.next(), { tag: 5, start: 1, valueStart: 3, end: 3 });
    assert.ok(reader.atEnd);
  });

  test('decoders reject non-DER contents', () => {
    assert.throws(() => decodeBoolean(h('01')), /0x00 or 0xff/);
    assert.throws(() => decodeBoolean(h('ffff')), DerError);
    assert.throws(() => decodeInteger(h('0001')), /minimally/);
    assert.throws(() => decodeInteger(h('ff80')), /minimally/);
    assert.throws(() => decodeInteger(new Uint8Array(0)), /no content/);
    assert.equal(decodeInteger(h('00ff')), 255n);
    assert.equal(decodeInteger(h('ff7f')), -129n);
    assert.throws(() => decodeBitString(new Uint8Array(0)), /no content/);
    assert.throws(() => decodeBitString(h('08ff')), /unused-bit count/);
    assert.throws(() => decodeBitString(h('01')), /unused-bit count/);
    assert.throws(() => decodeBitString(h('0181')), /not zero/);
    assert.deepEqual(decodeBitString(h('0780')), { unusedBits: 7, bytes: h('80') });
  });

  test('random input only ever yields DerError (property)', () => {
    // Recursively walk anything that parses; every failure must be a DerError.
    const walk = (reader: DerReader, depth: number): void => {
      while (!reader.atEnd) {
        const element = reader.next();
        const value = reader.value(element);
        assert.ok(element.end <= value.buffer.byteLength);
        if ((element.tag & 0x20) !== 0 && depth < 8) {
          walk(
            new DerReader(reader.encoded(element), element.valueStart - element.start),
            depth + 1,
          );
        }
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => {
        try {
          walk(new DerReader(bytes), 0);
        } catch (error) {
          if (!(error instanceof DerError)) throw error;
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('mutated valid encodings only ever yield DerError (property)', () => {
    const valid = derSequence(
      derExplicit(0, derInteger(2)),
      derUnsignedInteger(h('80'.repeat(16))),
      derSequence(derOid('1.3.101.112')),
      derSet(derSequence(derOid('2.5.4.3'), derUtf8String('x'.repeat(130)))),
      derBitString(Buffer.alloc(40, 1)),
    );
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), (at, byte) => {
        const mutated = Buffer.from(valid);
        mutated[at] = byte;
        try {
          const outer = enterSingle(mutated, DerTag.Sequence, 'mutated');
          while (!outer.atEnd) outer.next();
        } catch (error) {
          if (!(error instanceof DerError)) throw error;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
