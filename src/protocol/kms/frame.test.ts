// Frame codec: the computed vector of docs/protocol/kms.md bodies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeKmsRequest } from './command-codec.ts';
import {
  DEFAULT_MAX_FRAMES,
  FRAME_HEADER_SIZE,
  decodeFrames,
  decodeSingleFrame,
  encodeFrames,
} from './frame.ts';
import { GenerateKeyRequest } from './messages.ts';
import { KmsWireError, type WireErrorCode } from './wire-error.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const VECTOR = hex('00cf 00000019 0a116d696e696f2d64656661756c742d6b6579 1a027b7d 2020');

function throwsWire(fn: () => unknown, code: WireErrorCode, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof KmsWireError, `expected KmsWireError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.status, 400);
    if (message) assert.match(error.message, message);
    return true;
  });
}

test('KEY:GENERATE vector of minkms.md §4.2 encodes byte-exactly', () => {
  const request = GenerateKeyRequest.create({
    name: 'minio-default-key',
    associatedData: Buffer.from('{}'),
    length: 32,
  });
  assert.deepEqual(encodeKmsRequest('KEY:GENERATE', [request]), VECTOR);
  const payload = GenerateKeyRequest.encode(request).finish();
  assert.deepEqual(encodeFrames(207, [payload]), VECTOR);
});

test('the vector decodes to one frame whose payload is a view of the body', () => {
  const frames = decodeFrames(VECTOR);
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.cmd, 0xcf);
  assert.equal(frames[0]!.payload.length, 0x19);
  assert.equal(frames[0]!.payload.buffer, VECTOR.buffer);
  assert.deepEqual(decodeSingleFrame(VECTOR, 207).payload, VECTOR.subarray(FRAME_HEADER_SIZE));
});

test('encodeFrames writes headers big-endian, zero-length payloads and batches', () => {
  assert.equal(encodeFrames(3, [new Uint8Array(0)]).toString('hex'), '000300000000');
  const batch = encodeFrames(0x1234, [hex('aa'), new Uint8Array(0), hex('bbcc')]);
  assert.equal(batch.toString('hex'), '123400000001aa' + '123400000000' + '123400000002bbcc');
  assert.deepEqual(
    decodeFrames(batch).map((f) => [f.cmd, f.payload.toString('hex')]),
    [
      [0x1234, 'aa'],
      [0x1234, ''],
      [0x1234, 'bbcc'],
    ],
  );
  assert.equal(encodeFrames(1, []).length, 0);
  assert.throws(() => encodeFrames(0x10000, [hex('00')]), RangeError);
  assert.throws(() => encodeFrames(-1, [hex('00')]), RangeError);
  assert.throws(() => encodeFrames(1.5, [hex('00')]), RangeError);
});

test('an empty body is refused unless allowed', () => {
  throwsWire(() => decodeFrames(Buffer.alloc(0)), 'EMPTY_BODY');
  assert.deepEqual(decodeFrames(Buffer.alloc(0), { allowEmpty: true }), []);
  throwsWire(() => decodeSingleFrame(Buffer.alloc(0)), 'EMPTY_BODY');
});

test('truncated headers are named with frame index, offset and byte count', () => {
  for (let n = 1; n < FRAME_HEADER_SIZE; n++) {
    throwsWire(() => decodeFrames(VECTOR.subarray(0, n)), 'TRUNCATED_HEADER', /frame 0 at byte 0/);
  }
  const tail = Buffer.concat([VECTOR, hex('00cf00')]);
  throwsWire(
    () => decodeFrames(tail),
    'TRUNCATED_HEADER',
    new RegExp(`frame 1 at byte ${VECTOR.length}: truncated header \\(3 of 6 bytes\\)`),
  );
});

test('a payload length past the end is refused, including uint32 max', () => {
  throwsWire(
    () => decodeFrames(VECTOR.subarray(0, VECTOR.length - 1)),
    'LENGTH_PAST_END',
    /payload length 25 exceeds the 24 bytes left/,
  );
  throwsWire(() => decodeFrames(hex('00cf ffffffff 00')), 'LENGTH_PAST_END');
  throwsWire(() => decodeFrames(hex('00cf 00000001')), 'LENGTH_PAST_END');
  throwsWire(() => decodeSingleFrame(hex('00cf 00000002 00')), 'LENGTH_PAST_END');
});

test('mixed command codes in one body are refused', () => {
  const mixed = Buffer.concat([encodeFrames(205, [hex('0a00')]), encodeFrames(201, [hex('')])]);
  throwsWire(
    () => decodeFrames(mixed),
    'MIXED_COMMANDS',
    /frame 1 carries command 201 but frame 0 carries command 205/,
  );
});

test('expectCommand refuses a reply for another command', () => {
  throwsWire(() => decodeFrames(VECTOR, { expectCommand: 205 }), 'UNEXPECTED_COMMAND');
  throwsWire(() => decodeSingleFrame(VECTOR, 205), 'UNEXPECTED_COMMAND');
  assert.equal(decodeFrames(VECTOR, { expectCommand: 207 }).length, 1);
});

test('frame count limit: exactly max passes, one more fails before the rest is parsed', () => {
  const three = encodeFrames(207, [hex('00'), hex('00'), hex('00')]);
  assert.equal(decodeFrames(three, { maxFrames: 3 }).length, 3);
  throwsWire(() => decodeFrames(three, { maxFrames: 2 }), 'TOO_MANY_FRAMES', /more than 2 frames/);
  // A huge count of empty frames stops at the limit (bounded work), even with a broken tail.
  const many = Buffer.concat([
    encodeFrames(
      207,
      Array.from({ length: DEFAULT_MAX_FRAMES + 5 }, () => new Uint8Array(0)),
    ),
    hex('ff'),
  ]);
  throwsWire(() => decodeFrames(many), 'TOO_MANY_FRAMES');
});

test('decodeSingleFrame refuses trailing bytes', () => {
  throwsWire(
    () => decodeSingleFrame(Buffer.concat([VECTOR, hex('00')])),
    'TRAILING_BYTES',
    /1 trailing bytes after the single frame/,
  );
  throwsWire(() => decodeSingleFrame(Buffer.concat([VECTOR, VECTOR])), 'TRAILING_BYTES');
});

test('property: decodeFrames returns what encodeFrames framed, for any command and payloads', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffff }),
      fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 20 }),
      (cmd, payloads) => {
        const frames = decodeFrames(encodeFrames(cmd, payloads));
        assert.deepEqual(
          frames.map((f) => [f.cmd, Buffer.from(f.payload)]),
          payloads.map((p) => [cmd, Buffer.from(p)]),
        );
      },
    ),
  );
});
