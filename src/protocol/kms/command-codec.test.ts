// decodeKmsRequest's two ways: the flat path straight from the body (the hot commands) gives
// exactly what the framed path gives, or declines; the framed path decides every error. Random
// bodies of flat and other commands, several frames, mutated bytes and frame limits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeFlatRequest,
  decodeFramedRequest,
  decodeKmsRequest,
  encodeKmsRequest,
} from './command-codec.ts';
import { encodeFrames } from './frame.ts';
import { KmsWireError } from './wire-error.ts';

/** The framed path's answer: the decoded request, or the error code it throws. */
function framed(body: Buffer, maxFrames: number): unknown {
  try {
    return decodeFramedRequest(body, { maxFrames });
  } catch (error) {
    if (error instanceof KmsWireError) return error.code;
    throw error;
  }
}

function whole(body: Buffer, maxFrames: number): unknown {
  try {
    return decodeKmsRequest(body, { maxFrames });
  } catch (error) {
    if (error instanceof KmsWireError) return error.code;
    throw error;
  }
}

const name = fc.oneof(fc.constant('bench'), fc.string({ maxLength: 20 }));
const bytes = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b));
const version = fc.integer({ min: 0, max: 5 });

/** A valid body of a hot command, or of KEY:CREATE (no flat codec), of 1-4 frames. */
const body = fc.oneof(
  fc
    .array(fc.record({ name, version, associatedData: bytes, length: fc.constantFrom(0, 32) }), {
      minLength: 1,
      maxLength: 4,
    })
    .map((m) => encodeKmsRequest('KEY:GENERATE', m)),
  fc
    .array(fc.record({ name, version, ciphertext: bytes, associatedData: bytes }), {
      minLength: 1,
      maxLength: 4,
    })
    .map((m) => encodeKmsRequest('KEY:DECRYPT', m)),
  fc
    .array(fc.record({ name, version, plaintext: bytes, associatedData: bytes }), {
      minLength: 1,
      maxLength: 4,
    })
    .map((m) => encodeKmsRequest('KEY:ENCRYPT', m)),
  fc
    .array(fc.record({ name, version, message: bytes }), { minLength: 1, maxLength: 4 })
    .map((m) => encodeKmsRequest('KEY:MAC', m)),
  name.map((n) => encodeKmsRequest('KEY:CREATE', [{ name: n, type: 'AES256', addVersion: false }])),
);

/** Random edits: flipped bytes (headers too), truncation, appended bytes, a second body. */
const mutated = fc
  .tuple(
    body,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
    fc.option(fc.nat()),
    fc.uint8Array({ maxLength: 8 }),
    fc.option(body),
  )
  .map(([b, flips, cut, tail, more]) => {
    const out = Buffer.from(b);
    for (const [at, value] of flips) out[at % out.length] = value;
    const kept = cut === null ? out : out.subarray(0, cut % (out.length + 1));
    return Buffer.concat([kept, Buffer.from(tail), more ?? Buffer.alloc(0)]);
  });

describe('decodeKmsRequest: the flat path', () => {
  it('gives what the framed path gives, or declines, for valid and mutated bodies', () => {
    let taken = 0;
    fc.assert(
      fc.property(fc.oneof(body, mutated), fc.integer({ min: 1, max: 5 }), (b, maxFrames) => {
        const expected = framed(b, maxFrames);
        const fast = decodeFlatRequest(b, { maxFrames });
        if (fast !== undefined) {
          taken++;
          assert.deepEqual(fast, expected);
        }
        assert.deepEqual(whole(b, maxFrames), expected);
      }),
      { numRuns: 2000 },
    );
    assert.ok(taken > 200, `the flat path took ${taken} bodies`);
  });

  it('takes the hot commands and leaves the rest, and every error, to the framed path', () => {
    const generate = encodeKmsRequest('KEY:GENERATE', [
      { name: 'a', version: 0, associatedData: Buffer.alloc(0), length: 32 },
      { name: 'b', version: 1, associatedData: Buffer.from('x'), length: 0 },
    ]);
    assert.deepEqual(decodeFlatRequest(generate), decodeFramedRequest(generate));
    assert.equal(decodeFlatRequest(generate, { maxFrames: 1 }), undefined);
    assert.throws(() => decodeKmsRequest(generate, { maxFrames: 1 }), { code: 'TOO_MANY_FRAMES' });
    const create = encodeKmsRequest('KEY:CREATE', [
      { name: 'a', type: 'AES256', addVersion: false },
    ]);
    assert.equal(decodeFlatRequest(create), undefined);
    assert.equal(decodeKmsRequest(create).name, 'KEY:CREATE');
    assert.equal(decodeFlatRequest(Buffer.alloc(0)), undefined);
    assert.equal(decodeFlatRequest(generate.subarray(0, generate.length - 1)), undefined);
    assert.throws(() => decodeKmsRequest(generate.subarray(0, generate.length - 1)), {
      code: 'LENGTH_PAST_END',
    });
    // KEY:DECRYPT frames after KEY:GENERATE ones: mixed commands.
    const mixed = Buffer.concat([
      generate,
      encodeFrames(generate.readUInt16BE(0) + 1, [Buffer.alloc(0)]),
    ]);
    assert.equal(decodeFlatRequest(mixed), undefined);
  });
});
