// Tests KES error parsing against the byte-exact bodies of current, legacy and non-KES servers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KES_ERRORS, KesConnectionError, KesError, parseKesErrorResponse } from './errors.ts';

const parse = (status: number, type: string | undefined, body: string): KesError =>
  parseKesErrorResponse(status, type, Buffer.from(body));

describe('parseKesErrorResponse', () => {
  it('reads the current server body, newline before the closing brace included', () => {
    const err = parse(404, 'application/json', '{"message":"key does not exist"\n}');
    assert.ok(err.is(KES_ERRORS.keyNotFound));
    assert.equal(err.status, 404);
    assert.equal(err.message, 'key does not exist');
  });

  it('prefers a non-empty "error" field over "message"', () => {
    assert.equal(parse(400, 'application/json', '{"error":"e","message":"m"}').message, 'e');
    assert.equal(parse(400, 'application/json', '{"error":"","message":"m"}').message, 'm');
  });

  it('accepts the legacy content type with a charset', () => {
    const err = parse(
      403,
      'application/json; charset=utf-8',
      '{"message":"not authorized: insufficient permissions"}',
    );
    assert.ok(err.is(KES_ERRORS.notAllowed));
  });

  it('rewrites the legacy messages kms-go rewrites', () => {
    assert.ok(
      parse(400, 'application/json', '{"message":"key does already exist"}').is(
        KES_ERRORS.keyExists,
      ),
    );
    assert.ok(parse(403, 'text/plain', 'prohibited by policy').is(KES_ERRORS.notAllowed));
    // Only with the matching status.
    assert.equal(parse(500, 'text/plain', 'prohibited by policy').message, 'prohibited by policy');
  });

  it('uses the raw body of non-JSON answers, minus one trailing newline', () => {
    const err = parse(404, 'text/plain; charset=utf-8', '404 page not found\n');
    assert.equal(err.message, '404 page not found');
    assert.equal(parse(501, undefined, 'not implemented').message, 'not implemented');
  });

  it('falls back to the raw body when a JSON body does not parse, and to the status when empty', () => {
    assert.equal(parse(502, 'application/json', 'oops').message, 'oops');
    assert.equal(parse(502, 'text/plain', '').message, 'HTTP 502');
  });

  it('compares by status and exact message only', () => {
    const a = new KesError(404, 'key does not exist');
    assert.ok(a.is(KES_ERRORS.keyNotFound));
    assert.ok(KesError.matches(a, KES_ERRORS.keyNotFound));
    assert.ok(!new KesError(400, 'key does not exist').is(KES_ERRORS.keyNotFound));
    assert.ok(!new KesError(404, 'Key does not exist').is(KES_ERRORS.keyNotFound));
    assert.ok(!KesError.matches(new Error('key does not exist'), KES_ERRORS.keyNotFound));
  });

  it('brands instances so instanceof tells the two error kinds apart', () => {
    const conn = new KesConnectionError(['https://a'], new Error('connect ECONNREFUSED'));
    assert.ok(conn instanceof KesConnectionError);
    assert.ok(!(conn instanceof KesError));
    assert.ok(KES_ERRORS.decrypt instanceof KesError);
    assert.equal(conn.message, 'kes: connection error: connect ECONNREFUSED');
    assert.ok(!(new Error('x') instanceof KesError));
  });
});
