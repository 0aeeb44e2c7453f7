// The error hierarchy (docs/architecture.md#errors): its stable codes, the catalogue's two wire
// views and the upstream lists drawn from them, the kinds' statuses, and which errors are
// KeyholdErrors. The code list below is a snapshot: renaming or dropping a code must fail here.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CATALOGUE,
  ERROR_CODES,
  KeyholdError,
  MESSAGE_KINDS,
  answerCode,
  reviveError,
  toKeyholdError,
} from '../src/model/errors.ts';
import type { ErrorCode } from '../src/model/errors.ts';
import { KMS_API_ERRORS, errorFromResponse } from '../src/protocol/kms/index.ts';
import { KES_API_ERRORS } from '../src/protocol/kes/index.ts';
import * as sdk from '../src/sdk/index.ts';

/** Every code, in table order. Append new ones; never rename, reuse or remove one. */
const CODES_SNAPSHOT = [
  'PERMISSION',
  'ENCLAVE_EXISTS',
  'ENCLAVE_NOT_FOUND',
  'KEY_EXISTS',
  'KEY_NOT_FOUND',
  'POLICY_EXISTS',
  'POLICY_NOT_FOUND',
  'IDENTITY_NOT_FOUND',
  'SELF_ASSIGN',
  'IDENTITY_EXISTS',
  'DECRYPT',
  'KEY_NO_HMAC',
  'INTERNAL',
  'UNAVAILABLE',
  'PARTIAL_WRITE',
  'BAD_REQUEST',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'NOT_ACCEPTABLE',
  'CONFLICT',
  'TOO_LARGE',
  'NOT_IMPLEMENTED',
  'BAD_GATEWAY',
  'SERVICE_UNAVAILABLE',
  'GATEWAY_TIMEOUT',
  'INVALID_ARGUMENT',
  'CONNECTION_FAILED',
  'INVALID_RESPONSE',
  'HTTP_ERROR',
];

describe('error codes', () => {
  it('are exactly the snapshot, each once', () => {
    assert.deepEqual([...ERROR_CODES], CODES_SNAPSHOT);
    assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
  });

  it('fix the status of every kind that carries its own message', () => {
    assert.deepEqual(MESSAGE_KINDS, {
      BAD_REQUEST: 400,
      UNAUTHENTICATED: 401,
      FORBIDDEN: 403,
      NOT_FOUND: 404,
      METHOD_NOT_ALLOWED: 405,
      NOT_ACCEPTABLE: 406,
      CONFLICT: 409,
      TOO_LARGE: 413,
      NOT_IMPLEMENTED: 501,
      BAD_GATEWAY: 502,
      SERVICE_UNAVAILABLE: 503,
      GATEWAY_TIMEOUT: 504,
    });
    for (const [code, status] of Object.entries(MESSAGE_KINDS)) {
      const error = new KeyholdError(code as ErrorCode, 'why');
      assert.equal(error.status, status, code);
      assert.deepEqual(error.wire('kms'), { status, message: 'why' }, code);
      assert.deepEqual(error.wire('kes'), { status, message: 'why' }, code);
    }
  });
});

describe('the catalogue', () => {
  it('gives every entry a KMS and a KES view with an error status and a message', () => {
    for (const [code, entry] of Object.entries(CATALOGUE)) {
      for (const view of [entry.kms, entry.kes]) {
        assert.ok(Number.isInteger(view.status) && view.status >= 400 && view.status < 600, code);
        assert.ok(view.message.length > 0, code);
      }
      const error = new KeyholdError(code as keyof typeof CATALOGUE);
      assert.equal(error.wire('kms'), entry.kms, code);
      assert.equal(error.wire('kes'), entry.kes, code);
      assert.equal(error.status, entry.kms.status, code);
    }
  });

  it('answers its own pair whatever detail was given where it was thrown', () => {
    const error = new KeyholdError('UNAVAILABLE', 'storage failed: writes are refused');
    assert.equal(error.message, 'storage failed: writes are refused');
    assert.deepEqual(error.wire('kes'), { status: 503, message: 'server is not ready for writes' });
  });

  it('is the only spelling of the upstream lists: each of their values is a catalogue view', () => {
    const kms = new Set(Object.values(CATALOGUE).map((e) => e.kms));
    const kes = new Set(Object.values(CATALOGUE).map((e) => e.kes));
    for (const [name, value] of Object.entries(KMS_API_ERRORS)) assert.ok(kms.has(value), name);
    for (const [name, value] of Object.entries(KES_API_ERRORS)) assert.ok(kes.has(value), name);
  });

  it("keeps kms-go/kes's exact pairs", () => {
    assert.deepEqual(KES_API_ERRORS, {
      notAllowed: { status: 403, message: 'not authorized: insufficient permissions' },
      keyNotFound: { status: 404, message: 'key does not exist' },
      keyExists: { status: 400, message: 'key already exists' },
      decrypt: { status: 400, message: 'decryption failed: ciphertext is not authentic' },
      policyNotFound: { status: 404, message: 'policy does not exist' },
      identityNotFound: { status: 404, message: 'identity does not exist' },
      policyExists: { status: 400, message: 'policy already exists' },
      identityExists: { status: 400, message: 'identity already exists' },
      enclaveExists: { status: 400, message: 'enclave already exists' },
      enclaveNotFound: { status: 404, message: 'enclave does not exist' },
      partialWrite: { status: 503, message: 'change committed but not replicated' },
    });
    assert.deepEqual(CATALOGUE.SELF_ASSIGN, {
      kms: { status: 403, message: 'access denied: insufficient permissions' },
      kes: { status: 403, message: 'identity cannot assign policy to itself' },
    });
    assert.deepEqual(CATALOGUE.KEY_NO_HMAC.kes, {
      status: 409,
      message: 'key does not support HMAC',
    });
    assert.deepEqual(CATALOGUE.INTERNAL.kms, { status: 500, message: 'internal error' });
    assert.deepEqual(CATALOGUE.UNAVAILABLE.kms, {
      status: 503,
      message: 'server is not ready for writes',
    });
  });
});

describe('KeyholdError', () => {
  it('turns anything else into INTERNAL, never sending its text', () => {
    const error = toKeyholdError(new Error('/var/lib/keyhold/log.0: EIO'));
    assert.equal(error.code, 'INTERNAL');
    assert.deepEqual(error.wire('kms'), { status: 500, message: 'internal error' });
  });

  it('never answers a client-side kind: it would be INTERNAL', () => {
    const error = new KeyholdError('CONNECTION_FAILED', 'no endpoint answered');
    assert.equal(error.status, undefined);
    assert.deepEqual(error.wire('kes'), CATALOGUE.INTERNAL.kes);
  });

  it('revives a kind reported by another process; unknown and client-side codes are INTERNAL', () => {
    const revived = reviveError('CONFLICT', 'this node is not a cluster node');
    assert.deepEqual(revived.wire('kms'), {
      status: 409,
      message: 'this node is not a cluster node',
    });
    assert.equal(reviveError('KEY_NOT_FOUND', 'key does not exist').wire('kes').status, 404);
    assert.equal(reviveError('NO_SUCH_CODE', 'x').code, 'INTERNAL');
    assert.equal(reviveError('INVALID_RESPONSE', 'x').code, 'INTERNAL');
  });

  it('is recognized across copies of the module by its brand', () => {
    const foreign: unknown = { [Symbol.for('keyhold.error.KeyholdError')]: true };
    assert.ok(foreign instanceof KeyholdError);
    assert.ok(!(new Error('x') instanceof KeyholdError));
  });
});

describe('SDK errors', () => {
  it('are all KeyholdErrors with a code to switch on', () => {
    const cases: [KeyholdError, string, string][] = [
      [new sdk.KmsApiError(404, 'key does not exist'), 'KmsApiError', 'KEY_NOT_FOUND'],
      [new sdk.KesError(400, 'key already exists'), 'KesError', 'KEY_EXISTS'],
      [new sdk.KmsConnectionError([]), 'KmsConnectionError', 'CONNECTION_FAILED'],
      [
        new sdk.KesConnectionError(['h:7373'], new Error('refused')),
        'KesConnectionError',
        'CONNECTION_FAILED',
      ],
      [new sdk.KmsResponseError('no Content-Length'), 'KmsResponseError', 'INVALID_RESPONSE'],
      [new sdk.KesResponseError('not JSON'), 'KesResponseError', 'INVALID_RESPONSE'],
      [new sdk.InvalidEndpointError('bad port'), 'InvalidEndpointError', 'INVALID_ARGUMENT'],
      [new sdk.InvalidPolicyError('bad rule'), 'InvalidPolicyError', 'INVALID_ARGUMENT'],
    ];
    for (const [error, name, code] of cases) {
      assert.ok(error instanceof Error, name);
      assert.ok(error instanceof sdk.KeyholdError, name);
      assert.equal(error.name, name);
      assert.equal(error.code, code, name);
    }
    assert.equal(sdk.KeyholdError, KeyholdError);
    assert.ok(!(new sdk.KesError(404, 'key does not exist') instanceof sdk.KmsApiError));
    assert.ok(!(new sdk.KmsApiError(404, 'key does not exist') instanceof sdk.KesError));
    assert.ok(!(new KeyholdError('KEY_NOT_FOUND') instanceof sdk.KmsApiError));
    assert.ok(!(new KeyholdError('KEY_NOT_FOUND') instanceof sdk.KesConnectionError));
  });

  it('name an answer by its face: the catalogue pair, else the kind of its status', () => {
    assert.equal(new sdk.KmsApiError(409, 'key already exists').code, 'KEY_EXISTS');
    assert.equal(new sdk.KmsApiError(400, 'key already exists').code, 'BAD_REQUEST');
    assert.equal(new sdk.KmsApiError(403, KMS_API_ERRORS.permission.message).code, 'PERMISSION');
    assert.equal(new sdk.KesError(403, KES_API_ERRORS.notAllowed.message).code, 'PERMISSION');
    assert.equal(
      new sdk.KesError(403, 'identity cannot assign policy to itself').code,
      'SELF_ASSIGN',
    );
    assert.equal(new sdk.KmsApiError(501, 'not yet').code, 'NOT_IMPLEMENTED');
    assert.equal(new sdk.KesError(418, 'teapot').code, 'HTTP_ERROR');
    assert.equal(new sdk.KesError(500, 'disk on fire').code, 'HTTP_ERROR');
    assert.equal(answerCode('kms', 503, 'server is not ready for writes'), 'UNAVAILABLE');
    const parsed = errorFromResponse(404, 'text/plain', Buffer.from('enclave does not exist'));
    assert.equal(parsed.code, 'ENCLAVE_NOT_FOUND');
    assert.equal(parsed.status, 404);
    for (const [name, error] of Object.entries(sdk.KES_ERRORS)) {
      assert.notEqual(error.code, 'HTTP_ERROR', name);
      assert.deepEqual(CATALOGUE[error.code as keyof typeof CATALOGUE].kes, {
        status: error.status,
        message: error.message,
      });
    }
  });
});
