// The console's session table on its own clock: single-use, address-bound, expiring challenges;
// sessions that end when idle, at their maximum age and at sign-out; new ids at every sign-in.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHALLENGE_TTL_MS, SESSION_MAX_MS, SessionTable, sameToken } from './session-table.ts';

describe('session table', () => {
  it('takes a challenge once, from the address it was issued to, before it expires', () => {
    let now = 1_000;
    const table = new SessionTable(60_000, () => now);
    const a = table.challenge('10.0.0.1');
    assert.equal(table.takeChallenge(a.challenge, '10.0.0.2'), false);
    assert.equal(table.takeChallenge(a.challenge, '10.0.0.1'), false, 'spent by the failed try');
    const b = table.challenge('10.0.0.1');
    assert.equal(table.takeChallenge(b.challenge, '10.0.0.1'), true);
    assert.equal(table.takeChallenge(b.challenge, '10.0.0.1'), false);
    const c = table.challenge('10.0.0.1');
    now += CHALLENGE_TTL_MS;
    assert.equal(table.takeChallenge(c.challenge, '10.0.0.1'), false);
  });

  it('ends sessions when idle, at their maximum age, and at sign-out', () => {
    let now = 0;
    const table = new SessionTable(1_000, () => now);
    const s = table.create('h1:a', '');
    now = 900;
    assert.equal(table.get(s.sid)?.identity, 'h1:a');
    now = 1_800; // 900 ms after the last use
    assert.ok(table.get(s.sid));
    now = 2_900;
    assert.equal(table.get(s.sid), null);

    const busy = new SessionTable(SESSION_MAX_MS, () => now);
    const t = busy.create('h1:b', '');
    now += SESSION_MAX_MS - 1;
    assert.ok(busy.get(t.sid));
    now += 1;
    assert.equal(busy.get(t.sid), null, 'however busy, a session ends at its maximum age');

    const u = busy.create('h1:c', '');
    busy.end(u.sid);
    assert.equal(busy.get(u.sid), null);
  });

  it('gives a new id and token at every sign-in and ends the session it replaces', () => {
    const table = new SessionTable();
    const first = table.create('h1:a', '');
    const second = table.create('h1:a', first.sid);
    assert.notEqual(second.sid, first.sid);
    assert.notEqual(second.csrf, first.csrf);
    assert.equal(table.get(first.sid), null);
    assert.ok(table.get(second.sid));
    assert.equal(table.size, 1);
  });

  it('compares tokens exactly', () => {
    assert.equal(sameToken('abc', 'abc'), true);
    assert.equal(sameToken('abc', 'abd'), false);
    assert.equal(sameToken('abc', 'abcd'), false);
  });
});
