// The audit chain on its own: lines it writes verify, every one-byte change to any line is found
// at that line, and a chain continued from an existing file's last line (headOf) verifies across
// both files.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { auditChainNative } from '../crypto/index.ts';
import { AuditChain, GENESIS, headOf, verifyAuditChain } from './audit-chain.ts';

const KEY = Buffer.alloc(32, 7);

function requestLine(i: number, path: string): string {
  return `{"time":"2026-12-04T00:00:00.000Z","request":{"ip":"127.0.0.1","path":${JSON.stringify(path)},"method":"GET","identity":""},"response":{"code":200,"time":${i}}}`;
}

/** A sealed file of `paths.length` request lines. */
function chainFile(paths: readonly string[]): string {
  const chain = new AuditChain(KEY, { mac: GENESIS, seq: 0 });
  const time = new Date(0);
  return (
    chain.start(time) +
    paths.map((p, i) => chain.next(requestLine(i, p))).join('') +
    chain.seal(time, 'close')
  );
}

const nativeChain = auditChainNative.chainLines;

/** Runs `fn` with nextLines MACing on `mac` (the native addon only where it loaded). */
function macWith(mac: 'native addon' | 'node:crypto', fn: () => void): void {
  auditChainNative.chainLines = mac === 'native addon' ? nativeChain : null;
  try {
    fn();
  } finally {
    auditChainNative.chainLines = nativeChain;
  }
}

describe('audit chain', () => {
  // nextLines MACs with the native addon when it loaded, else node:crypto; next() always with
  // createHmac, as the verifier does: both paths must write the same bytes.
  for (const mac of ['native addon', 'node:crypto'] as const) {
    it(`chains a batch of lines (nextLines) to exactly the bytes of next() line by line (${mac})`, () => {
      macWith(mac, () => {
        fc.assert(
          fc.property(
            fc.array(fc.string({ unit: 'binary' }), { maxLength: 30 }),
            fc.boolean(),
            (paths, trailingNewline) => {
              const lines = paths.map((p, i) => requestLine(i, p));
              const one = new AuditChain(KEY, { mac: GENESIS, seq: 5 });
              const batch = new AuditChain(KEY, { mac: GENESIS, seq: 5 });
              const expected = lines.map((l) => one.next(l)).join('');
              const text = lines.join('\n') + (trailingNewline && lines.length > 0 ? '\n' : '');
              assert.equal(batch.nextLines(Buffer.from(text)).toString('utf8'), expected);
              assert.deepEqual(batch.head, one.head);
            },
          ),
        );
      });
    });

    it(`chains a batch larger than its scratch buffer (${mac})`, () => {
      macWith(mac, () => {
        const lines = Array.from({ length: 3000 }, (_, i) => requestLine(i, '/ä'.repeat(40)));
        const one = new AuditChain(KEY, { mac: GENESIS, seq: 0 });
        const batch = new AuditChain(KEY, { mac: GENESIS, seq: 0 });
        const expected = lines.map((l) => one.next(l)).join('');
        assert.equal(
          batch.nextLines(Buffer.from(lines.join('\n') + '\n')).toString('utf8'),
          expected,
        );
        assert.deepEqual(batch.head, one.head);
      });
    });
  }

  it('verifies what it writes, keeping the request fields as they were', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 20 }), (paths) => {
        const text = chainFile(paths);
        const result = verifyAuditChain(KEY, [{ name: 'f', text }]);
        assert.equal(result.valid, true);
        const lines = text.split('\n').slice(1, -2);
        lines.forEach((line, i) => {
          const r = JSON.parse(line) as { request: { path: string }; seq: number };
          assert.equal(r.request.path, paths[i]);
          assert.equal(r.seq, i + 1);
        });
      }),
    );
  });

  it('finds any changed byte at its line', () => {
    const text = chainFile(['/a', '/b', '/c', '/d']);
    fc.assert(
      fc.property(fc.nat(text.length - 1), fc.integer({ min: 1, max: 255 }), (offset, delta) => {
        // Changing a newline merges or splits lines: those are caught too, at that line.
        const bytes = Buffer.from(text);
        bytes[offset] = (bytes[offset]! + delta) & 0xff;
        const result = verifyAuditChain(KEY, [{ name: 'f', text: bytes.toString('latin1') }]);
        assert.equal(result.valid, false);
        const line = text.slice(0, offset).split('\n').length;
        assert.equal((result as { line: number }).line, line);
      }),
    );
  });

  it('continues from the last line of an existing file', () => {
    const first = chainFile(['/a']);
    const lines = first.split('\n');
    const head = headOf(lines[lines.length - 2]!);
    assert.ok(head);
    assert.equal(head.seq, 3);
    const chain = new AuditChain(KEY, head);
    const second = chain.start(new Date(0)) + chain.seal(new Date(0), 'close');
    const both = verifyAuditChain(KEY, [
      { name: 'one', text: first },
      { name: 'two', text: second },
    ]);
    assert.equal(both.valid, true);
    assert.equal(headOf('{"time":"x"}'), null);
  });
});
