// The policy editor's rule check: known commands, KES path rules, pattern characters.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRules } from './policy-rules.ts';

describe('policy rules', () => {
  it('accepts commands in any case, sorts and de-duplicates patterns', () => {
    const { rules, problems } = parseRules('allow', {
      'key:generate': ['b-*', 'a-*', 'a-*'],
      'kes:path': ['/v1/key/generate/a-*'],
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(rules, {
      'KEY:GENERATE': ['a-*', 'b-*'],
      'kes:path': ['/v1/key/generate/a-*'],
    });
  });

  it('names unknown commands, cluster commands and bad patterns', () => {
    const { rules, problems } = parseRules('deny', {
      'KEY:FROB': ['*'],
      'ENCLAVE:CREATE': ['*'],
      'KEY:DECRYPT': ['', 'ok', 'spa ce'],
      'kes:glob': ['/v1/key/[', 'relative'],
    });
    assert.deepEqual(rules, { 'KEY:DECRYPT': ['ok'] });
    assert.deepEqual(
      problems.map((p) => [p.command, p.pattern]),
      [
        ['KEY:FROB', ''],
        ['ENCLAVE:CREATE', ''],
        ['KEY:DECRYPT', ''],
        ['KEY:DECRYPT', 'spa ce'],
        ['kes:glob', '/v1/key/['],
        ['kes:glob', 'relative'],
      ],
    );
  });

  it('refuses values of the wrong shape', () => {
    assert.throws(() => parseRules('allow', []), /must be an object/);
    assert.throws(() => parseRules('allow', { 'KEY:LIST': 'x' }), /list of strings/);
  });
});
