// KMS policy patterns: the automaton matcher decides exactly as the regular expressions it
// replaced, and a pattern built to make a backtracking matcher explode is decided at once.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compilePattern } from './pattern.ts';

/** The matcher this module used before: a backtracking regular expression (the oracle). */
function regexMatcher(pattern: string): (name: string) => boolean {
  if (pattern === '') return () => false;
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  const regex = new RegExp(`^${source}$`, 's');
  return (name) => regex.test(name);
}

const char = (alphabet: string[]) => fc.constantFrom(...alphabet);
const text = (alphabet: string[], maxLength: number) =>
  fc.array(char(alphabet), { maxLength }).map((chars) => chars.join(''));

describe('KMS policy patterns', () => {
  it('match exactly as the regular expressions did (random small patterns and names)', () => {
    const names = ['a', 'b', '-', '.', '\n', '\ud83d', '\ude00'];
    fc.assert(
      fc.property(
        text([...names, '*', '?', '[', '\\', '$'], 8),
        text([...names, '*', '?'], 10),
        (pattern, name) => {
          assert.equal(compilePattern(pattern)(name), regexMatcher(pattern)(name));
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('documented shapes', () => {
    const cases: [string, string, boolean][] = [
      ['*', '', true],
      ['', '', false],
      ['my-key*', 'my-key-1', true],
      ['my-key*', 'my-ke', false],
      ['app-*-key-*-v1', 'app-x-key-y-v1', true],
      ['app-*-key-*-v1', 'app-x-key-y-v2', false],
      ['a?c', 'abc', true],
      ['a?c', 'ac', false],
      ['*a*', 'xxax', true],
      ['**', 'anything', true],
    ];
    for (const [pattern, name, expected] of cases) {
      assert.equal(compilePattern(pattern)(name), expected, `${pattern} ~ ${name}`);
    }
  });

  it('a pattern that makes a backtracking matcher explode is decided without backtracking', () => {
    // Many stars against a long name that almost matches: the regular expression tries every
    // way of placing the stars (about n^9/9! of them: ~10^11 for 80 characters); the automaton
    // walks each character once per pattern position.
    const pattern = '*a*a*a*a*a*a*a*a*a*b';
    const match = compilePattern(pattern);
    assert.equal(match('a'.repeat(80)), false);
    assert.equal(match('a'.repeat(80) + 'b'), true);
    assert.equal(match('a'.repeat(250_000)), false);
    assert.equal(compilePattern('app-*-key-*-v1')('app-' + '-key-'.repeat(50_000) + 'v2'), false);
  });
});
