// GET /version bodies: protobuf on request, protojson with kms-go's JSON names otherwise.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VersionResponse } from './messages.ts';
import { acceptsProtobuf, decodeVersionBody, encodeVersionBody } from './version.ts';
import { KmsWireError } from './wire-error.ts';

const VERSION = VersionResponse.create({
  version: '2024-03-26T17-52-38Z',
  commit: 'abc123',
  apiVersion: 'v1',
  host: '10.1.2.3:7373',
  fips140: false,
});

test('Accept selects protobuf only when application/octet-stream is named', () => {
  assert.equal(acceptsProtobuf('application/octet-stream'), true);
  assert.equal(acceptsProtobuf('text/plain, Application/Octet-Stream;q=0.9'), true);
  assert.equal(acceptsProtobuf('application/*'), false); // what kms-go sends
  assert.equal(acceptsProtobuf('*/*'), false);
  assert.equal(acceptsProtobuf(undefined), false);
});

test('JSON form carries all five members with kms-go’s names', () => {
  const { contentType, body } = encodeVersionBody(VERSION, false);
  assert.equal(contentType, 'application/json');
  assert.equal(
    body.toString(),
    '{"version":"2024-03-26T17-52-38Z","commit":"abc123","api_version":"v1",' +
      '"host":"10.1.2.3:7373","fips140":false}',
  );
  assert.deepEqual(decodeVersionBody(contentType, body), VERSION);
  assert.deepEqual(
    decodeVersionBody('application/json', Buffer.from('{"api_version":"v1","fips140":true,"x":1}')),
    VersionResponse.create({ apiVersion: 'v1', fips140: true }),
  );
});

test('protobuf form round-trips and matches the field numbers', () => {
  const { contentType, body } = encodeVersionBody({ ...VERSION, fips140: true }, true);
  assert.equal(contentType, 'application/octet-stream');
  assert.equal(body.subarray(0, 2).toString('hex'), '0a14'); // field 1, 20 bytes
  assert.equal(body.subarray(-2).toString('hex'), '2801'); // field 5 varint true
  assert.deepEqual(decodeVersionBody(contentType, body), { ...VERSION, fips140: true });
});

test('malformed bodies throw BAD_MESSAGE', () => {
  for (const [type, bytes] of [
    ['application/json', '{'],
    ['application/json', '"v1"'],
    ['application/octet-stream', '\x0a\x05'],
  ] as const) {
    assert.throws(
      () => decodeVersionBody(type, Buffer.from(bytes, 'latin1')),
      (e: unknown) => e instanceof KmsWireError && e.code === 'BAD_MESSAGE',
    );
  }
});
