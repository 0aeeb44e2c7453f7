// KES stored-key values: the protobuf wire layout from the spec, round trips, legacy JSON forms,
// the legacy key ID, and clear errors that never contain key bytes.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { KeyValueFormatError } from './errors.ts';
import { encodeKesKeyValue, legacyKeyId, parseKesKeyValue } from './kes-key-value.ts';
import { KEY_TYPES } from './key-type.ts';
import { SecretKey } from './secret-key.ts';

const key = Buffer.alloc(32, 0x11);
const hmac = Buffer.alloc(32, 0x22);
const identity = 'a'.repeat(64);

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}

/** The spec's wire example (kes.md §6.1) assembled by hand. */
function specExample(type: number, seconds: number, nanos: number): Buffer {
  const timestamp = Buffer.concat([
    Buffer.of(0x08),
    varint(seconds),
    Buffer.of(0x10),
    varint(nanos),
  ]);
  return Buffer.concat([
    Buffer.of(0x0a, 0x24, 0x0a, 0x20),
    key,
    Buffer.of(0x10, type),
    Buffer.of(0x12, 0x24, 0x0a, 0x20),
    hmac,
    Buffer.of(0x10, 0x01),
    Buffer.of(0x1a, timestamp.length),
    timestamp,
    Buffer.of(0x22, 0x40),
    Buffer.from(identity),
  ]);
}

test('encodes exactly the spec wire layout (fields in number order)', () => {
  const createdAt = new Date(Date.UTC(2024, 2, 1, 12, 30, 45, 123));
  const encoded = encodeKesKeyValue({
    key: new SecretKey('AES256', key),
    hmacKey: hmac,
    createdAt,
    createdBy: identity,
  });
  const seconds = Math.floor(createdAt.getTime() / 1000);
  assert.equal(encoded, specExample(1, seconds, 123_000_000).toString('base64'));
});

test('parses the spec layout for both key types', () => {
  for (const [type, name] of [
    [1, 'AES256'],
    [2, 'ChaCha20'],
  ] as const) {
    const value = parseKesKeyValue(
      specExample(type, 1_700_000_000, 987_654_321).toString('base64'),
    );
    assert.equal(value.key.type, name);
    assert.deepEqual(value.key.exportKeyMaterial(), key);
    assert.deepEqual(value.hmacKey, hmac);
    assert.equal(value.createdAt?.toISOString(), '2023-11-14T22:13:20.987Z');
    assert.equal(value.createdBy, identity);
  }
});

test('skips unknown fields, accepts absent optional fields and bytes input', () => {
  const minimal = Buffer.concat([Buffer.of(0x0a, 0x24, 0x0a, 0x20), key, Buffer.of(0x10, 0x02)]);
  const withUnknown = Buffer.concat([
    minimal,
    Buffer.of(0x28, 0x96, 0x01), // field 5 varint
    Buffer.of(0x31, 1, 2, 3, 4, 5, 6, 7, 8), // field 6 fixed64
    Buffer.of(0x3d, 1, 2, 3, 4), // field 7 fixed32
    Buffer.of(0x42, 0x02, 0xff, 0xff), // field 8 bytes
  ]);
  for (const bytes of [minimal, withUnknown]) {
    const value = parseKesKeyValue(Buffer.from(bytes.toString('base64')));
    assert.equal(value.key.type, 'ChaCha20');
    assert.deepEqual(Object.keys(value), ['key']);
  }
  // Go's base64 decoder skips line breaks.
  const wrapped = minimal.toString('base64').replace(/(.{20})/g, '$1\r\n');
  assert.equal(parseKesKeyValue(wrapped).key.type, 'ChaCha20');
});

test('property: encode then parse round-trips', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...KEY_TYPES),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.option(fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 }), {
        nil: undefined,
      }),
      fc.option(fc.string({ maxLength: 200 }), { nil: undefined }),
      (type, keyBytes, hmacKey, ms, createdBy) => {
        const input = {
          key: new SecretKey(type, keyBytes),
          hmacKey: Buffer.from(hmacKey),
          ...(ms === undefined ? {} : { createdAt: new Date(ms) }),
          ...(createdBy === undefined ? {} : { createdBy }),
        };
        const parsed = parseKesKeyValue(encodeKesKeyValue(input));
        assert.ok(parsed.key.equals(input.key));
        assert.deepEqual(parsed.hmacKey, input.hmacKey);
        assert.equal(parsed.createdAt?.getTime(), ms);
        assert.equal(parsed.createdBy, createdBy === '' ? undefined : createdBy);
      },
    ),
    { numRuns: 300 },
  );
});

test('legacy JSON forms: names, v0.22 version field, bytes only', () => {
  const b64 = key.toString('base64');
  const cases = [
    [{ bytes: b64, algorithm: 'AES256-GCM_SHA256' }, 'AES256'],
    [{ bytes: b64, algorithm: 'XCHACHA20-POLY1305' }, 'ChaCha20'],
    [{ bytes: b64, algorithm: 'AES256' }, 'AES256'],
    [{ bytes: b64, algorithm: 'ChaCha20' }, 'ChaCha20'],
    [{ bytes: b64, algorithm: '' }, 'AES256'],
    [{ bytes: b64 }, 'AES256'],
  ] as const;
  for (const [json, type] of cases) {
    const value = parseKesKeyValue(JSON.stringify(json));
    assert.equal(value.key.type, type);
    assert.deepEqual(value.key.exportKeyMaterial(), key);
    assert.deepEqual(Object.keys(value), ['key']);
  }
  const full = parseKesKeyValue(
    `{"version":"v1","bytes":"${b64}","algorithm":"XCHACHA20-POLY1305",` +
      `"created_at":"2021-06-01T10:20:30.123456789+02:00","created_by":"${identity}"}`,
  );
  assert.equal(full.key.type, 'ChaCha20');
  assert.equal(full.hmacKey, undefined);
  assert.equal(full.createdAt?.toISOString(), '2021-06-01T08:20:30.123Z');
  assert.equal(full.createdBy, identity);
  const zeroTime = parseKesKeyValue(`{"bytes":"${b64}","created_at":"0001-01-01T00:00:00Z"}`);
  assert.equal(zeroTime.createdAt?.getUTCFullYear(), 1);
});

test('legacyKeyId is hex(SHA-256(key)[0:16])', () => {
  assert.equal(legacyKeyId(Buffer.alloc(32)), '66687aadf862bd776c8fc18b8e9f8e20');
  assert.match(legacyKeyId(randomBytes(32)), /^[0-9a-f]{32}$/);
});

test('malformed values give KeyValueFormatError with a reason and no key bytes', () => {
  const b64 = key.toString('base64');
  const proto = (bytes: Buffer): string => bytes.toString('base64');
  const cases: [string, RegExp][] = [
    ['', /neither JSON nor standard base64/],
    ['not base64!', /neither JSON nor standard base64/],
    ['{"bytes":', /not valid JSON/],
    ['[1,2]', /neither JSON/],
    ['{}', /"bytes" is missing/],
    ['{"bytes":"***"}', /not standard base64/],
    [`{"bytes":"${key.subarray(1).toString('base64')}"}`, /32 bytes/],
    [`{"bytes":"${b64}","algorithm":"AES-256-GCM"}`, /not a known algorithm/],
    [`{"bytes":"${b64}","algorithm":1}`, /not a known algorithm/],
    [`{"bytes":"${b64}","created_at":"yesterday"}`, /RFC 3339/],
    [`{"bytes":"${b64}","created_by":5}`, /not a string/],
    [proto(Buffer.of(0x22, 0x01, 0x61)), /secret key is missing/],
    [
      proto(
        Buffer.concat([Buffer.of(0x0a, 0x23, 0x0a, 0x1f), key.subarray(1), Buffer.of(0x10, 1)]),
      ),
      /32 bytes/,
    ],
    [
      proto(Buffer.concat([Buffer.of(0x0a, 0x24, 0x0a, 0x20), key, Buffer.of(0x10, 3)])),
      /unknown secret key type 3/,
    ],
    [proto(Buffer.concat([Buffer.of(0x0a, 0x22, 0x0a, 0x20), key])), /unknown secret key type 0/],
    [proto(Buffer.concat([Buffer.of(0x0a, 0x30, 0x0a, 0x20), key])), /truncated/],
    [proto(Buffer.of(0x0b)), /unsupported wire type/],
    [
      proto(
        Buffer.of(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
      ),
      /overlong/,
    ],
    [
      proto(
        Buffer.concat([
          Buffer.of(0x0a, 0x24, 0x0a, 0x20),
          key,
          Buffer.of(0x10, 1, 0x12, 0x24, 0x0a, 0x20),
          hmac,
          Buffer.of(0x10, 2),
        ]),
      ),
      /unknown HMAC hash 2/,
    ],
    [
      proto(
        Buffer.concat([
          Buffer.of(0x0a, 0x24, 0x0a, 0x20),
          key,
          Buffer.of(0x10, 1, 0x12, 0x02, 0x10, 0x01),
        ]),
      ),
      /HMAC key must be 32 bytes/,
    ],
    [
      proto(
        Buffer.concat([
          Buffer.of(0x0a, 0x24, 0x0a, 0x20),
          key,
          Buffer.of(0x10, 1, 0x22, 0x01, 0xff),
        ]),
      ),
      /UTF-8/,
    ],
    [
      proto(
        Buffer.concat([
          Buffer.of(0x0a, 0x24, 0x0a, 0x20),
          key,
          Buffer.of(0x10, 1, 0x1a, 0x0b, 0x10, ...Buffer.alloc(9, 0xff), 0x01),
        ]),
      ),
      /created-at is invalid/,
    ],
  ];
  for (const [value, reason] of cases) {
    assert.throws(
      () => parseKesKeyValue(value),
      (error: unknown) => {
        assert.ok(error instanceof KeyValueFormatError, `${value}: ${String(error)}`);
        assert.match(error.message, /^invalid key value: /);
        assert.match(error.message, reason, value);
        assert.ok(!error.message.includes(b64) && !error.message.includes(key.toString('hex')));
        return true;
      },
    );
  }
});

test('encoding requires a 32-byte HMAC key and a valid date', () => {
  const secret = new SecretKey('AES256', key);
  assert.throws(() => encodeKesKeyValue({ key: secret }), KeyValueFormatError);
  assert.throws(
    () => encodeKesKeyValue({ key: secret, hmacKey: hmac.subarray(1) }),
    KeyValueFormatError,
  );
  assert.throws(
    () => encodeKesKeyValue({ key: secret, hmacKey: hmac, createdAt: new Date(NaN) }),
    KeyValueFormatError,
  );
});
