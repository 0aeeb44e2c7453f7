// Tests of the minkms policy document: the three RuleSet forms (object, array, string), command
// names case-insensitively, kms-go's pattern order, and clear errors for anything else.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InvalidPolicyError,
  formatPolicyDocument,
  parsePolicyDocument,
} from './policy-document.ts';

describe('parsePolicyDocument', () => {
  it('accepts a RuleSet as an object, an array or a string', () => {
    const policy = parsePolicyDocument(
      JSON.stringify({
        allow: {
          'KEY:GENERATE': { 'minio-*': {}, 'a*': {} },
          'key:decrypt': ['minio-*', '', 'b', 'minio-*'],
          'KEY:STATUS': '*',
        },
        deny: { 'KEY:DECRYPT': 'minio-secret' },
      }),
    );
    assert.deepEqual(policy, {
      allow: {
        'KEY:GENERATE': ['a*', 'minio-*'],
        'KEY:DECRYPT': ['b', 'minio-*'],
        'KEY:STATUS': ['*'],
      },
      deny: { 'KEY:DECRYPT': ['minio-secret'] },
    });
  });

  it('reads the documented example and treats missing members as empty', () => {
    const policy = parsePolicyDocument(
      '{"allow":{"KEY:STATUS":["*"],"KEY:LIST":["*"],"KEY:LISTVERSIONS":["*"],"KEY:ENCRYPT":["*"],"KEY:DECRYPT":["*"]},"deny":{}}',
    );
    assert.equal(Object.keys(policy.allow).length, 5);
    assert.deepEqual(parsePolicyDocument('{}'), { allow: {}, deny: {} });
  });

  it('merges command names that differ only in case', () => {
    const policy = parsePolicyDocument({ allow: { 'key:list': 'x', 'KEY:LIST': ['y'] } });
    assert.deepEqual(policy.allow, { 'KEY:LIST': ['x', 'y'] });
  });

  it('refuses what it cannot read, naming the member', () => {
    const cases: [unknown, RegExp][] = [
      ['{', /not valid JSON/],
      ['[]', /must be a JSON object/],
      [{ allow: [] }, /"allow" must be an object/],
      [{ allow: { 'KEY:FROB': '*' } }, /unknown command 'KEY:FROB'/],
      [{ allow: { 'KEY:LIST': 7 } }, /"allow"."KEY:LIST" must be a string, an array or an object/],
      [{ allow: { 'KEY:LIST': [7] } }, /"allow"."KEY:LIST"\[0\] is not a string/],
      [{ allow: { 'KEY:LIST': { x: 1 } } }, /\["x"\] is not an object/],
      [{ allow: {}, alow: {} }, /unknown policy member "alow"/],
    ];
    for (const [input, message] of cases) {
      assert.throws(() => parsePolicyDocument(input), InvalidPolicyError);
      assert.throws(() => parsePolicyDocument(input), message);
    }
  });
});

describe('formatPolicyDocument', () => {
  it('writes one pattern as a string and several as a sorted array', () => {
    assert.deepEqual(
      formatPolicyDocument({
        allow: { 'KEY:LIST': ['*'], 'KEY:GENERATE': ['minio-*', 'b', 'a*'] },
        deny: {},
      }),
      { allow: { 'KEY:GENERATE': ['b', 'a*', 'minio-*'], 'KEY:LIST': '*' }, deny: {} },
    );
  });

  it('round-trips through parsePolicyDocument', () => {
    const policy = { allow: { 'KEY:GENERATE': ['x', 'y*'] }, deny: { 'KEY:GENERATE': ['y1'] } };
    assert.deepEqual(parsePolicyDocument(JSON.stringify(formatPolicyDocument(policy))), policy);
  });
});
