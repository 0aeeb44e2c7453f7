// Tests the NDJSON reader used for log streams and legacy listings.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { KesResponseError } from './errors.ts';
import { KesLogStream, MAX_NDJSON_LINE, ndjsonObjects } from './ndjson.ts';

async function all(chunks: string[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const o of ndjsonObjects(chunks)) out.push(o);
  return out;
}

describe('ndjsonObjects', () => {
  it('joins lines split across chunks, tolerates CRLF and blank lines, reads a last unterminated line', async () => {
    assert.deepEqual(await all(['{"a":', '1}\r\n\n{"b"', ':2}\n{"c":3}']), [
      { a: 1 },
      { b: 2 },
      { c: 3 },
    ]);
  });

  it('rejects a line that is not a JSON object', async () => {
    await assert.rejects(all(['{"a":1}\n[1]\n']), KesResponseError);
    await assert.rejects(all(['{"a":1\n']), /invalid NDJSON line/);
  });

  it('rejects an endless line', async () => {
    await assert.rejects(all(['{"a":"' + 'x'.repeat(MAX_NDJSON_LINE)]), /longer than/);
  });
});

describe('KesLogStream', () => {
  it('yields events as they are written and ends quietly on close()', async () => {
    const source = new PassThrough();
    const stream = new KesLogStream(source, (o) => o.n);
    const seen: unknown[] = [];
    const done = (async () => {
      for await (const n of stream) {
        seen.push(n);
        if (seen.length === 2) stream.close();
      }
    })();
    source.write('{"n":1}\n');
    source.write('{"n":2}\n');
    await done;
    assert.deepEqual(seen, [1, 2]);
    assert.ok(source.destroyed);
  });

  it('surfaces a broken stream as an error', async () => {
    const source = new PassThrough();
    const stream = new KesLogStream(source, (o) => o);
    const done = (async () => {
      for await (const _ of stream) {
        // Consume until the stream fails.
      }
    })();
    source.write('nope\n');
    await assert.rejects(done, KesResponseError);
  });
});
