// The KES policy dialect: prefix patterns (kms-go policy_test vectors, docs/protocol/kes.md),
// legacy path.Match globs, and how KES rules and KMS rules combine in one stored policy.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ApiKey } from '../identity/index.ts';
import { State } from '../state/state.ts';
import { authorizeKesPath, isAllowed, policyAllows } from './authorize.ts';
import type { Caller } from './caller.ts';
import {
  KES_RULE_KEYS,
  goPathMatch,
  isValidGlob,
  kesPathMatches,
  kesPathOfCommand,
  kesPolicyAllows,
} from './kes-path.ts';
import type { KesCallerContext, KesPathPolicy } from './kes-path.ts';

const policy = (allow: string[], deny: string[] = []): KesPathPolicy => ({
  name: 'p',
  allow,
  deny,
  dialect: 'prefix',
});

describe('KES prefix patterns (kms-go policy vectors)', () => {
  it('an empty policy denies everything', () => {
    for (const path of ['/v1/status', '/v1/key/create/my-key', '/v1/identity/list/a']) {
      assert.equal(kesPolicyAllows(policy([]), path), false, path);
    }
  });

  it('an exact pattern allows only its path', () => {
    const p = policy(['/v1/status']);
    assert.equal(kesPolicyAllows(p, '/v1/status'), true);
    assert.equal(kesPolicyAllows(p, '/v1/key/create/my-key'), false);
    assert.equal(kesPolicyAllows(p, '/v1/identity/list/a'), false);
    assert.equal(kesPolicyAllows(p, '/v1/status/'), false);
  });

  it('a trailing * is a prefix', () => {
    const p = policy(['/v1/key/create/my*', '/v1/key/create/your*']);
    assert.equal(kesPolicyAllows(p, '/v1/key/create/my-key'), true);
    assert.equal(kesPolicyAllows(p, '/v1/key/create/your-key'), true);
    assert.equal(kesPolicyAllows(p, '/v1/identity/list/somekey'), false);
  });

  it('deny wins over allow', () => {
    const p = policy(['/v1/key/create/my*', '/v1/key/create/your*'], ['/v1/key/create/my-key*']);
    assert.equal(kesPolicyAllows(p, '/v1/key/create/my-key'), false);
    assert.equal(kesPolicyAllows(p, '/v1/key/create/my-key1'), false);
    assert.equal(kesPolicyAllows(p, '/v1/key/create/my-minio-key'), true);
    assert.equal(kesPolicyAllows(p, '/v1/key/create/your-minio-key'), true);
  });

  it('a * before the end is a literal character (upstream issue #510)', () => {
    assert.equal(
      kesPathMatches('/v1/key/*/bucket1-key', '/v1/key/create/bucket1-key', 'prefix'),
      false,
    );
    assert.equal(kesPathMatches('/v1/key/*/bucket1-key', '/v1/key/*/bucket1-key', 'prefix'), true);
    assert.equal(kesPathMatches('', '', 'prefix'), false);
    // The prefix crosses '/', unlike a glob.
    assert.equal(kesPathMatches('/v1/key/*', '/v1/key/create/a', 'prefix'), true);
    // A bare /v1/key/list pattern does not grant listing (minio#17813).
    assert.equal(kesPathMatches('/v1/key/list', '/v1/key/list/', 'prefix'), false);
  });
});

describe('legacy path.Match globs', () => {
  const cases: [string, string, boolean][] = [
    ['/v1/key/*/my-key', '/v1/key/create/my-key', true],
    ['/v1/key/*', '/v1/key/create/my-key', false],
    ['/v1/key/create/*', '/v1/key/create/', true],
    ['/v1/key/create/my-?ey', '/v1/key/create/my-key', true],
    ['/v1/key/create/my-?ey', '/v1/key/create/my-/ey', false],
    ['/v1/key/create/[a-c]x', '/v1/key/create/bx', true],
    ['/v1/key/create/[^a-c]x', '/v1/key/create/bx', false],
    ['/v1/key/create/[^a-c]x', '/v1/key/create/dx', true],
    ['/v1/key/create/\\*', '/v1/key/create/*', true],
    ['/v1/key/create/\\*', '/v1/key/create/a', false],
    ['a.b', 'a.b', true],
    ['a.b', 'axb', false],
    ['[z-a]', 'm', false],
    ['x-y', 'x-y', true],
    ['(a|b)', '(a|b)', true],
  ];
  for (const [pattern, name, want] of cases) {
    it(`${pattern} ${want ? 'matches' : 'does not match'} ${name}`, () => {
      assert.equal(goPathMatch(pattern, name), want);
      assert.equal(kesPathMatches(pattern, name, 'glob'), want);
    });
  }

  it('malformed patterns match nothing', () => {
    for (const bad of ['[', '[]', '[a', 'a\\', '[-a]', '[a-]', '[]a]']) {
      assert.equal(isValidGlob(bad), false, bad);
      assert.equal(goPathMatch(bad, 'a'), false, bad);
    }
    assert.equal(isValidGlob('my-*'), true);
  });
});

describe('legacy globs against the regular expressions they replaced', () => {
  const char = (alphabet: string[]) => fc.constantFrom(...alphabet);
  const text = (alphabet: string[], maxLength: number) =>
    fc.array(char(alphabet), { maxLength }).map((chars) => chars.join(''));
  const nameChars = ['a', 'b', 'z', '/', '-', '.', '\n', '\u{1f600}', '\ud83d'];

  it('decide exactly as before (random small patterns and names)', () => {
    fc.assert(
      fc.property(
        text([...nameChars, '*', '?', '[', ']', '^', '\\', 'a-z'], 10),
        text(nameChars, 10),
        (pattern, name) => {
          const regex = legacyGlobRegex(pattern);
          assert.equal(isValidGlob(pattern), regex !== null, pattern);
          assert.equal(goPathMatch(pattern, name), regex ? regex.test(name) : false);
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('a pattern that makes a backtracking matcher explode is decided without backtracking', () => {
    const pattern = '/v1/key/generate/*a*a*a*a*a*a*a*a*a*b';
    assert.equal(goPathMatch(pattern, `/v1/key/generate/${'a'.repeat(80)}`), false);
    assert.equal(goPathMatch(pattern, `/v1/key/generate/${'a'.repeat(100_000)}`), false);
    assert.equal(goPathMatch(pattern, `/v1/key/generate/${'a'.repeat(80)}b`), true);
  });
});

/**
 * The translation of Go `path.Match` syntax to a regular expression this module used before
 * (the oracle of the property test above).
 */
function legacyGlobRegex(pattern: string): RegExp | null {
  // Code points, as Go's matcher walks runes.
  const chars = Array.from(pattern);
  let out = '';
  let i = 0;
  const escapeChar = (c: string): string => (/[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c);
  const escapeClassChar = (c: string): string => (c === '-' ? '\\-' : escapeChar(c));
  while (i < chars.length) {
    const c = chars[i]!;
    if (c === '*') {
      out += '[^/]*';
      i++;
    } else if (c === '?') {
      out += '[^/]';
      i++;
    } else if (c === '\\') {
      const next = chars[i + 1];
      if (next === undefined) return null;
      out += escapeChar(next);
      i += 2;
    } else if (c === '[') {
      i++;
      let negated = false;
      if (chars[i] === '^') {
        negated = true;
        i++;
      }
      const ranges: string[] = [];
      for (;;) {
        if (chars[i] === ']' && ranges.length > 0) {
          i++;
          break;
        }
        const lo = legacyClassChar(chars, i);
        if (!lo) return null;
        i = lo.next;
        let hi = lo;
        if (chars[i] === '-') {
          const upper = legacyClassChar(chars, i + 1);
          if (!upper) return null;
          hi = upper;
          i = upper.next;
        }
        // Go compares code points; an inverted range is legal and simply matches nothing.
        ranges.push(
          lo.char.codePointAt(0)! <= hi.char.codePointAt(0)!
            ? `${escapeClassChar(lo.char)}-${escapeClassChar(hi.char)}`
            : '',
        );
      }
      const body = ranges.join('');
      out += negated ? (body === '' ? '[^]' : `[^${body}]`) : body === '' ? '[]' : `[${body}]`;
    } else {
      out += escapeChar(c);
      i++;
    }
  }
  return new RegExp(`^${out}$`, 'su');
}

function legacyClassChar(chars: string[], i: number): { char: string; next: number } | null {
  const c = chars[i];
  if (c === undefined || c === '-' || c === ']') return null;
  if (c === '\\') {
    const next = chars[i + 1];
    return next === undefined ? null : { char: next, next: i + 2 };
  }
  return { char: c, next: i + 1 };
}

describe('one policy, two faces', () => {
  const root = ApiKey.generate().identity.toH1();
  const user = ApiKey.generate().identity.toH1();
  const state = new State();
  state.apply({ op: 'enclave.create', enclave: 'e', at: 0, by: root });
  state.apply({
    op: 'policy.put',
    enclave: 'e',
    name: 'p',
    allow: { 'KEY:GENERATE': ['app-*'], [KES_RULE_KEYS.prefix]: ['/v1/key/decrypt/app-*'] },
    deny: { [KES_RULE_KEYS.glob]: ['/v1/key/*/app-secret'] },
    at: 0,
    by: root,
  });
  state.apply({
    op: 'identity.put',
    enclave: 'e',
    identity: user,
    privilege: 'User',
    parent: '',
    tags: {},
    at: 0,
    by: root,
  });
  state.apply({ op: 'policy.assign', enclave: 'e', identity: user, policy: 'p' });
  const record = state.enclaves.get('e')!.policies.get('p')!;

  const kes = (path: string, extra: Partial<KesCallerContext> = {}): Caller => ({
    identity: user,
    root: false,
    rootIdentity: root,
    kes: { path, skipAuth: false, staticPolicy: undefined, staticEnclave: 'e', ...extra },
  });

  it('a KMS command rule grants the KES request on the same name', () => {
    assert.equal(
      isAllowed(state, kes('/v1/key/generate/app-1'), 'KEY:GENERATE', 'e', 'app-1'),
      true,
    );
    assert.equal(
      isAllowed(state, kes('/v1/key/generate/db-1'), 'KEY:GENERATE', 'e', 'db-1'),
      false,
    );
  });

  it('a KES path rule grants the KMS command on the same name', () => {
    const kmsCaller: Caller = { identity: user, root: false, rootIdentity: root };
    assert.equal(isAllowed(state, kmsCaller, 'KEY:DECRYPT', 'e', 'app-1'), true);
    assert.equal(isAllowed(state, kmsCaller, 'KEY:DECRYPT', 'e', 'db-1'), false);
    assert.equal(policyAllows(record, 'KEY:ENCRYPT', 'app-1'), false);
  });

  it('a deny glob wins over both kinds of allow', () => {
    assert.equal(policyAllows(record, 'KEY:GENERATE', 'app-secret'), false);
    assert.equal(policyAllows(record, 'KEY:DECRYPT', 'app-secret'), false);
    assert.equal(
      isAllowed(state, kes('/v1/key/decrypt/app-secret'), 'KEY:DECRYPT', 'e', 'app-secret'),
      false,
    );
  });

  it('stored policies never grant cluster-level paths; config-file ones do', () => {
    const allowAll = { ...record, allow: { [KES_RULE_KEYS.prefix]: ['/v1/*'] } };
    state.enclaves.get('e')!.policies.set('p', allowAll);
    assert.throws(() => authorizeKesPath(state, kes('/v1/log/audit'), null));
    authorizeKesPath(state, kes('/v1/status'), 'e');
    state.enclaves.get('e')!.policies.set('p', record);
    const stranger = ApiKey.generate().identity.toH1();
    const configured: Caller = {
      identity: stranger,
      root: false,
      rootIdentity: root,
      kes: {
        path: '/v1/log/audit',
        skipAuth: false,
        staticPolicy: policy(['/v1/log/audit']),
        staticEnclave: 'e',
      },
    };
    authorizeKesPath(state, configured, null);
    // A config-file policy governs the default enclave only.
    assert.equal(
      isAllowed(
        state,
        { ...configured, kes: { ...configured.kes!, path: '/v1/log/audit' } },
        '',
        'other',
        '',
      ),
      false,
    );
  });

  it('skip_auth opens a route to anyone, even without an identity', () => {
    const anonymous: Caller = {
      identity: '',
      root: false,
      rootIdentity: root,
      kes: { path: '/v1/status', skipAuth: true, staticPolicy: undefined, staticEnclave: 'e' },
    };
    authorizeKesPath(state, anonymous, 'e');
  });

  it('maps KMS commands to KES paths, identities in hex', () => {
    assert.equal(kesPathOfCommand('KEY:MAC', 'k'), '/v1/key/hmac/k');
    assert.equal(kesPathOfCommand('ENCLAVE:CREATE', 'k'), undefined);
    const id = ApiKey.generate().identity;
    assert.equal(
      kesPathOfCommand('IDENTITY:STATUS', id.toH1()),
      `/v1/identity/describe/${id.toHex()}`,
    );
  });
});
