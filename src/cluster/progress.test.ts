import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyholdError } from '../model/errors.ts';
import { Progress, affects } from './progress.ts';

function members(p: Progress, applied: Record<string, number>): void {
  p.setMembers(Object.keys(applied));
  for (const [host, revision] of Object.entries(applied)) {
    const m = p.member(host);
    m.applied = revision;
    m.heardAt = performance.now();
  }
  p.update();
}

describe('the wait rule', () => {
  it('a change affects reads of the object, of anything inside it, and lists around it', () => {
    assert.ok(affects(['enclave/e/key/k'], ['enclave/e/key/k'], false));
    assert.ok(affects(['enclave/e'], ['enclave/e/key/k'], false));
    assert.ok(!affects(['enclave/e/key/k'], ['enclave/e/key/j'], false));
    assert.ok(!affects(['enclave/e/key/k'], ['enclave/e/key/k2'], false));
    assert.ok(!affects(['enclave/e/key/k'], ['enclave/e/key'], false));
    assert.ok(affects(['enclave/e/key/k'], ['enclave/e/key'], true));
    assert.ok(affects(['identity/h1:a'], ['identity/h1:a', 'enclave/e/key/k'], false));
  });

  it('an object stays in flight until every member applied its change', async () => {
    const p = new Progress(5000);
    members(p, { a: 0, b: 0, c: 0 });
    p.applied(5, ['enclave/e/key/k']);
    assert.equal(p.blockingRevision(['enclave/e/key/k'], false), 5);
    assert.equal(p.blockingRevision(['enclave/e/key/other'], false), 0);
    let released = false;
    void p.whenStable(5).then(() => (released = true));
    members(p, { a: 5, b: 5, c: 4 });
    await Promise.resolve();
    assert.equal(released, false);
    assert.equal(p.blockingRevision(['enclave/e/key/k'], false), 5);
    members(p, { a: 5, b: 6, c: 5 });
    await Promise.resolve();
    assert.equal(released, true);
    assert.equal(p.stable, 5);
    assert.equal(p.blockingRevision(['enclave/e/key/k'], false), 0);
  });

  it('a removed member is no longer waited for', () => {
    const p = new Progress(5000);
    members(p, { a: 7, b: 7, c: 2 });
    p.applied(7, ['enclave/e']);
    assert.equal(p.blockingRevision(['enclave/e/key/k'], false), 7);
    p.setMembers(['a', 'b']);
    assert.equal(p.blockingRevision(['enclave/e/key/k'], false), 0);
  });

  it('an acknowledgement fails at once, naming the member, when one that lags is down', async () => {
    const p = new Progress(5000);
    members(p, { a: 3, b: 3 });
    p.member('b').stopped = true;
    await assert.rejects(p.acknowledged(4, 10_000, 'the write'), (error: KeyholdError) => {
      assert.equal(error.wire('kms').status, 503);
      assert.match(error.message, /node b stopped responding/);
      return true;
    });
  });
});
