// The /v1/debug/log stream: length-prefixed LogRecords, the 4096-byte limit, and incremental
// decoding across arbitrary chunk boundaries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  LOG_LENGTH_PREFIX_SIZE,
  LogStreamDecoder,
  MAX_LOG_RECORD_BYTES,
  decodeLogRequest,
  encodeLogRecord,
  encodeLogRequest,
} from './log-stream.ts';
import { LogRecord, LogRequest } from './messages.ts';
import { KmsWireError } from './wire-error.ts';

const record = (message: string, trace = 0): LogRecord =>
  LogRecord.create({
    level: 8,
    time: new Date('2025-01-02T03:04:05.678Z'),
    message,
    trace: Array.from({ length: trace }, (_, i) => ({ function: `f${i}`, file: 'x.ts', line: i })),
  });

test('a record is a big-endian uint32 length followed by the LogRecord', () => {
  const encoded = encodeLogRecord(record('hello', 1));
  const payload = LogRecord.encode(record('hello', 1)).finish();
  assert.equal(encoded.readUInt32BE(0), payload.length);
  assert.deepEqual(encoded.subarray(LOG_LENGTH_PREFIX_SIZE), Buffer.from(payload));
  assert.equal(encoded.subarray(4, 6).toString('hex'), '0810'); // level sint32 zigzag(8) = 16
});

test('LogRequest is a bare protobuf body', () => {
  const request = LogRequest.create({
    level: -4,
    message: 'key',
    since: new Date(0),
    traceLevel: 8,
  });
  const body = encodeLogRequest(request);
  assert.equal(body.subarray(0, 2).toString('hex'), '0807'); // zigzag(-4) = 7
  assert.deepEqual(decodeLogRequest(body), request);
  assert.throws(() => decodeLogRequest(Buffer.from('0a', 'hex')), KmsWireError);
});

test('oversized records are shortened to fit 4096 bytes: trace first, then message', () => {
  const withTrace = encodeLogRecord(record('short', 400));
  assert.ok(withTrace.length - 4 <= MAX_LOG_RECORD_BYTES);
  const [kept] = new LogStreamDecoder().push(withTrace);
  assert.deepEqual(kept!.trace, []);
  assert.equal(kept!.message, 'short');

  const long = encodeLogRecord(record('é'.repeat(5000), 10));
  assert.ok(long.length - 4 <= MAX_LOG_RECORD_BYTES && long.length - 4 > MAX_LOG_RECORD_BYTES - 8);
  const [cut] = new LogStreamDecoder().push(long);
  assert.match(cut!.message, /^é+$/); // cut on a character boundary
  assert.equal(cut!.level, 8);

  const exact = encodeLogRecord(record('a'.repeat(4000)));
  assert.equal(new LogStreamDecoder().push(exact)[0]!.message.length, 4000);
});

test('incremental decoding across every chunk split, and end()', () => {
  const records = [record('one'), record('two', 2), record(''), record('four')];
  const stream = Buffer.concat(records.map((r) => encodeLogRecord(r)));
  for (let split = 0; split <= stream.length; split++) {
    const decoder = new LogStreamDecoder();
    const out = [
      ...decoder.push(stream.subarray(0, split)),
      ...decoder.push(stream.subarray(split)),
    ];
    assert.deepEqual(out, records);
    decoder.end();
  }
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1 }), (sizes) => {
      const decoder = new LogStreamDecoder();
      const out: LogRecord[] = [];
      let pos = 0;
      for (let i = 0; pos < stream.length; i++) {
        const size = sizes[i % sizes.length]!;
        out.push(...decoder.push(stream.subarray(pos, pos + size)));
        pos += size;
      }
      assert.deepEqual(out, records);
      assert.equal(decoder.pendingBytes, 0);
    }),
    { numRuns: 200 },
  );
  const partial = new LogStreamDecoder();
  partial.push(stream.subarray(0, 7));
  assert.equal(partial.pendingBytes, 7);
  assert.throws(
    () => partial.end(),
    (e: unknown) => e instanceof KmsWireError && e.code === 'TRUNCATED_STREAM',
  );
});

test('a length above 4096 fails at once, and the decoder stays failed', () => {
  const decoder = new LogStreamDecoder();
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(MAX_LOG_RECORD_BYTES + 1);
  const isTooLarge = (e: unknown) =>
    e instanceof KmsWireError &&
    e.code === 'RECORD_TOO_LARGE' &&
    /log record too large: 4097 bytes/.test(e.message);
  assert.throws(() => decoder.push(prefix), isTooLarge);
  assert.throws(() => decoder.push(encodeLogRecord(record('ok'))), isTooLarge);
  assert.throws(() => decoder.end(), isTooLarge);
});

test('a malformed record throws BAD_MESSAGE; random streams never throw anything else', () => {
  assert.throws(
    () => new LogStreamDecoder().push(Buffer.from('00000002 0a05'.replace(' ', ''), 'hex')),
    (e: unknown) => e instanceof KmsWireError && e.code === 'BAD_MESSAGE',
  );
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), (chunks) => {
      const decoder = new LogStreamDecoder();
      try {
        for (const chunk of chunks) decoder.push(chunk);
      } catch (error) {
        if (!(error instanceof KmsWireError)) throw error;
      }
    }),
    { numRuns: 2000 },
  );
});
