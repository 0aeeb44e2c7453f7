// answerBound is an upper bound of the encoded answer for any requests of the commands it
// covers (checked against the real encoder on random batches), and 0 for the others.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CIPHERTEXT_OVERHEAD } from '../../crypto/index.ts';
import { decodeKmsRequest, encodeKmsRequest, encodeKmsResponse } from '../../protocol/kms/index.ts';
import { answerBound } from './answer-size.ts';

const version = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b));

describe('answerBound', () => {
  it('bounds KEY:GENERATE answers from the requested lengths', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ length: fc.integer({ min: 0, max: 1024 }), version }), {
          minLength: 1,
          maxLength: 40,
        }),
        (items) => {
          const body = encodeKmsRequest(
            'KEY:GENERATE',
            items.map((i) => ({
              name: 'k',
              version: 0,
              associatedData: Buffer.alloc(0),
              length: i.length,
            })),
          );
          const answer = encodeKmsResponse(
            'KEY:GENERATE',
            items.map((i) => {
              const n = i.length === 0 ? 32 : i.length;
              return {
                version: i.version,
                plaintext: Buffer.alloc(n),
                ciphertext: Buffer.alloc(n + CIPHERTEXT_OVERHEAD),
              };
            }),
          );
          assert.ok(answerBound(decodeKmsRequest(body)) >= answer.length);
        },
      ),
    );
  });

  it('bounds KEY:ENCRYPT, KEY:DECRYPT and KEY:MAC answers', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(bytes(300), version), { minLength: 1, maxLength: 20 }),
        (items) => {
          const encrypt = encodeKmsRequest(
            'KEY:ENCRYPT',
            items.map(([plaintext]) => ({
              name: 'k',
              version: 0,
              plaintext,
              associatedData: Buffer.alloc(0),
            })),
          );
          const sealed = encodeKmsResponse(
            'KEY:ENCRYPT',
            items.map(([p, v]) => ({
              version: v,
              ciphertext: Buffer.alloc(p.length + CIPHERTEXT_OVERHEAD),
            })),
          );
          assert.ok(answerBound(decodeKmsRequest(encrypt)) >= sealed.length);
          const decrypt = encodeKmsRequest(
            'KEY:DECRYPT',
            items.map(([p]) => ({
              name: 'k',
              version: 0,
              ciphertext: Buffer.alloc(p.length + CIPHERTEXT_OVERHEAD),
              associatedData: Buffer.alloc(0),
            })),
          );
          const opened = encodeKmsResponse(
            'KEY:DECRYPT',
            items.map(([plaintext]) => ({ plaintext })),
          );
          assert.ok(answerBound(decodeKmsRequest(decrypt)) >= opened.length);
          const mac = encodeKmsRequest(
            'KEY:MAC',
            items.map(([message]) => ({ name: 'k', version: 0, message })),
          );
          const macs = encodeKmsResponse(
            'KEY:MAC',
            items.map(([, v]) => ({ version: v, mac: Buffer.alloc(32) })),
          );
          assert.ok(answerBound(decodeKmsRequest(mac)) >= macs.length);
        },
      ),
    );
  });

  it('counts an out-of-range key length as the longest allowed (the core refuses it)', () => {
    const body = encodeKmsRequest('KEY:GENERATE', [
      { name: 'k', version: 0, associatedData: Buffer.alloc(0), length: 1_000_000 },
    ]);
    assert.ok(answerBound(decodeKmsRequest(body)) < 4096);
  });

  it('leaves other commands to the encoder', () => {
    const body = encodeKmsRequest('KEY:STATUS', [{ name: 'k', version: 0 }]);
    assert.equal(answerBound(decodeKmsRequest(body)), 0);
  });
});
