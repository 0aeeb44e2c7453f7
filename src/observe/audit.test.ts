// The audit log's file side: lines are exactly what JSON.stringify makes of a record, every
// record becomes one line in order, and lines gathered for the batched write reach the file
// within the flush interval, at once on a large burst, and on close.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AuditLog, type AuditRecord, FLUSH_INTERVAL_MS, formatAuditLine } from './audit.ts';

/** A sink that remembers each write it was given. */
function memorySink(): { sink: Writable; writes: string[] } {
  const writes: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(chunk.toString());
      done();
    },
  });
  return { sink, writes };
}

function record(i: number): AuditRecord {
  return {
    time: new Date(Date.UTC(2026, 10, 22, 12, 0, 0, i % 1000)),
    identity: 'h1:Rvxa7nj8zkL48CeDkN6LhpX-K7KK6uhIhpBOcTHNhWw',
    ip: '127.0.0.1',
    method: 'POST',
    path: `/v1/kms/default/${i}`,
    status: 200,
    duration: 0.000123,
  };
}

const lines = (writes: string[]): string[] => writes.join('').split('\n').filter(Boolean);

describe('audit log', () => {
  it('formats a line exactly as JSON.stringify formats the record', () => {
    fc.assert(
      fc.property(
        fc.record({
          ms: fc.integer({ min: 0, max: 4_102_444_800_000 }),
          identity: fc.string(),
          ip: fc.string(),
          method: fc.string(),
          path: fc.string({ unit: 'binary' }),
          status: fc.integer({ min: 100, max: 599 }),
          duration: fc.double({ min: 0, max: 1e4, noNaN: true }),
        }),
        (r) => {
          const time = new Date(r.ms);
          const expected =
            JSON.stringify({
              time: time.toISOString(),
              request: { ip: r.ip, path: r.path, method: r.method, identity: r.identity },
              response: { code: r.status, time: Math.round(r.duration * 1e9) },
            }) + '\n';
          assert.equal(formatAuditLine({ ...r, time }), expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('writes every record once, in order, within the flush interval', async () => {
    const { sink, writes } = memorySink();
    const log = new AuditLog(sink);
    for (let i = 0; i < 100; i++) log.record(record(i));
    assert.equal(log.count, 100);
    assert.deepEqual(writes, [], 'gathered, not yet written');
    await new Promise((r) => setTimeout(r, FLUSH_INTERVAL_MS * 5));
    assert.equal(writes.length, 1, 'one write for the batch');
    assert.deepEqual(
      lines(writes),
      Array.from({ length: 100 }, (_, i) => formatAuditLine(record(i)).trimEnd()),
    );
    await log.close();
  });

  it('writes at once when a burst fills the buffer, and flushes the rest on close', async () => {
    const { sink, writes } = memorySink();
    const log = new AuditLog(sink);
    const n = 2000; // ~400 KB of lines: several full buffers
    for (let i = 0; i < n; i++) log.record(record(i));
    assert.ok(writes.length >= 2, `wrote ${writes.length} times during the burst`);
    await log.close();
    const written = lines(writes);
    assert.equal(written.length, n);
    assert.equal(written[n - 1], formatAuditLine(record(n - 1)).trimEnd());
  });

  it('still publishes to live subscribers without a file', () => {
    const log = new AuditLog(null);
    const seen: string[] = [];
    const unsubscribe = log.subscribe((r) => seen.push(r.path));
    log.record(record(1));
    unsubscribe();
    log.record(record(2));
    assert.deepEqual(seen, ['/v1/kms/default/1']);
    assert.equal(log.count, 2);
  });
});
