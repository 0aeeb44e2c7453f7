// Error catalogue (kms-go's exact pairs) and the error body codec in its three Content-Types.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CONTENT_TYPE_JSON,
  CONTENT_TYPE_PROTOBUF,
  CONTENT_TYPE_TEXT,
  KMS_API_ERRORS,
  KmsApiError,
  MAX_ERROR_BODY_BYTES,
  decodeErrorBody,
  encodeErrorBody,
  errorFromResponse,
} from './errors.ts';

test('the catalogue holds kms-go’s exact (status, message) pairs', () => {
  assert.deepEqual(KMS_API_ERRORS, {
    permission: { status: 403, message: 'access denied: insufficient permissions' },
    enclaveExists: { status: 409, message: 'enclave already exists' },
    enclaveNotFound: { status: 404, message: 'enclave does not exist' },
    keyExists: { status: 409, message: 'key already exists' },
    keyNotFound: { status: 404, message: 'key does not exist' },
    policyNotFound: { status: 404, message: 'policy does not exist' },
    identityNotFound: { status: 404, message: 'identity does not exist' },
    decrypt: { status: 400, message: 'invalid ciphertext' },
  });
});

test('protobuf body: ErrResponse field 1, byte-exact', () => {
  const { contentType, body } = encodeErrorBody('key does not exist');
  assert.equal(contentType, 'application/octet-stream');
  assert.equal(body.toString('hex'), '0a12' + Buffer.from('key does not exist').toString('hex'));
  assert.equal(decodeErrorBody(contentType, body), 'key does not exist');
  assert.equal(encodeErrorBody('').body.length, 0);
  assert.equal(decodeErrorBody(CONTENT_TYPE_PROTOBUF, Buffer.alloc(0)), '');
});

test('JSON body is protojson {"message": ...}', () => {
  const { contentType, body } = encodeErrorBody('invalid ciphertext', CONTENT_TYPE_JSON);
  assert.equal(contentType, 'application/json');
  assert.equal(body.toString(), '{"message":"invalid ciphertext"}');
  assert.equal(decodeErrorBody(contentType, body), 'invalid ciphertext');
  assert.equal(decodeErrorBody('Application/JSON; charset=utf-8', body), 'invalid ciphertext');
  assert.equal(decodeErrorBody(CONTENT_TYPE_JSON, Buffer.from('{"Message":"m","x":1}')), 'm');
  assert.equal(decodeErrorBody(CONTENT_TYPE_JSON, Buffer.from('{}')), '');
  assert.match(decodeErrorBody(CONTENT_TYPE_JSON, Buffer.from('{"message":')), /^malformed JSON/);
  assert.match(decodeErrorBody(CONTENT_TYPE_JSON, Buffer.from('[1]')), /not a JSON object/);
  assert.match(decodeErrorBody(CONTENT_TYPE_JSON, Buffer.from('{"message":5}')), /not a string/);
});

test('text body, and unknown or missing Content-Type read as text', () => {
  const { contentType, body } = encodeErrorBody('enclave does not exist', CONTENT_TYPE_TEXT);
  assert.equal(contentType, 'text/plain; charset=utf-8');
  assert.equal(decodeErrorBody(contentType, body), 'enclave does not exist');
  assert.equal(decodeErrorBody(undefined, Buffer.from('plain')), 'plain');
  assert.equal(decodeErrorBody('text/html', Buffer.from('<b>x</b>')), '<b>x</b>');
});

test('garbage protobuf yields the parse error as message; bodies are cut at 5 KiB', () => {
  assert.match(
    decodeErrorBody(CONTENT_TYPE_PROTOBUF, Buffer.from('0a05', 'hex')),
    /malformed ErrResponse/,
  );
  const long = 'x'.repeat(MAX_ERROR_BODY_BYTES + 100);
  assert.equal(decodeErrorBody('text/plain', Buffer.from(long)).length, MAX_ERROR_BODY_BYTES);
});

test('KmsApiError.is compares status and message like Go’s errors.Is', () => {
  const { body } = encodeErrorBody(KMS_API_ERRORS.keyNotFound.message);
  const error = errorFromResponse(404, CONTENT_TYPE_PROTOBUF, body);
  assert.ok(error instanceof KmsApiError);
  assert.equal(error.status, 404);
  assert.ok(error.is(KMS_API_ERRORS.keyNotFound));
  assert.ok(!error.is(KMS_API_ERRORS.enclaveNotFound));
  assert.ok(!new KmsApiError(400, 'key does not exist').is(KMS_API_ERRORS.keyNotFound));
});
