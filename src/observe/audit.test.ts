// The audit log's file side: lines are exactly what JSON.stringify makes of a record, every
// record becomes one line in order, and lines gathered for the batched write reach the file
// within the flush interval, at once on a large burst, and on close.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AuditLog, type AuditRecord, FLUSH_INTERVAL_MS } from './audit.ts';

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

/** The line of `r`: what JSON.stringify makes of it, the shape of KES's audit log. */
function expectedLine(r: AuditRecord): string {
  return JSON.stringify({
    time: r.time.toISOString(),
    request: { ip: r.ip, path: r.path, method: r.method, identity: r.identity },
    response: { code: r.status, time: Math.round(r.duration * 1e9) },
  });
}

describe('audit log', () => {
  it('writes each line exactly as JSON.stringify formats the record, repeated parts or not', async () => {
    // Few distinct values per field, so that lines share their time and request part (the
    // writer reuses both) as often as they differ from the line before.
    const pick = <T>(values: fc.Arbitrary<T>): fc.Arbitrary<T> =>
      fc.oneof(fc.constantFrom<T>(...fc.sample(values, 3)), values);
    const arbitraryRecord: fc.Arbitrary<AuditRecord> = fc
      .record({
        ms: pick(fc.integer({ min: 0, max: 4_102_444_800_000 })),
        identity: pick(fc.string()),
        ip: pick(fc.string()),
        method: pick(fc.string()),
        path: pick(fc.string({ unit: 'binary' })),
        status: fc.oneof(fc.integer({ min: 100, max: 599 }), fc.integer()),
        duration: fc.oneof(
          fc.double({ min: 0, max: 1e4, noNaN: true }),
          fc.double(),
          fc.constantFrom(0, 1e-9, 9_007_199.254_740_991, 1e7, -1),
        ),
      })
      .map(({ ms, ...r }) => ({ ...r, time: new Date(ms) }));
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbitraryRecord, { minLength: 1, maxLength: 40 }),
        async (records) => {
          const { sink, writes } = memorySink();
          const log = new AuditLog(sink);
          for (const r of records) log.record(r);
          await log.close();
          assert.deepEqual(lines(writes), records.map(expectedLine));
          assert.ok(writes.join('').endsWith('\n'));
        },
      ),
      { numRuns: 300 },
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
      Array.from({ length: 100 }, (_, i) => expectedLine(record(i))),
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
    assert.equal(written[n - 1], expectedLine(record(n - 1)));
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
