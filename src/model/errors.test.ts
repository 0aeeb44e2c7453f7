// The catalogue's KMS pairs are the ones the SDK compares against (src/protocol/kms/errors.ts):
// the server and the client must never drift apart on a status or a word.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KES_API_ERRORS } from '../protocol/kes/index.ts';
import { KMS_API_ERRORS } from '../protocol/kms/index.ts';
import { CATALOGUE, KeyholdError } from './errors.ts';

describe('error catalogue', () => {
  it('answers the KMS API with exactly the pairs kms-go compares', () => {
    const pairs: [keyof typeof CATALOGUE, keyof typeof KMS_API_ERRORS][] = [
      ['PERMISSION', 'permission'],
      ['ENCLAVE_EXISTS', 'enclaveExists'],
      ['ENCLAVE_NOT_FOUND', 'enclaveNotFound'],
      ['KEY_EXISTS', 'keyExists'],
      ['KEY_NOT_FOUND', 'keyNotFound'],
      ['POLICY_NOT_FOUND', 'policyNotFound'],
      ['IDENTITY_NOT_FOUND', 'identityNotFound'],
      ['DECRYPT', 'decrypt'],
    ];
    for (const [code, name] of pairs) {
      assert.deepEqual(new KeyholdError(code).wire('kms'), KMS_API_ERRORS[name], code);
    }
  });

  it('answers the KES API with exactly the pairs kms-go/kes compares', () => {
    const pairs: [keyof typeof CATALOGUE, keyof typeof KES_API_ERRORS][] = [
      ['PERMISSION', 'notAllowed'],
      ['ENCLAVE_EXISTS', 'enclaveExists'],
      ['ENCLAVE_NOT_FOUND', 'enclaveNotFound'],
      ['KEY_EXISTS', 'keyExists'],
      ['KEY_NOT_FOUND', 'keyNotFound'],
      ['POLICY_NOT_FOUND', 'policyNotFound'],
      ['IDENTITY_NOT_FOUND', 'identityNotFound'],
      ['IDENTITY_EXISTS', 'identityExists'],
      ['DECRYPT', 'decrypt'],
    ];
    for (const [code, name] of pairs) {
      assert.deepEqual(new KeyholdError(code).wire('kes'), KES_API_ERRORS[name], code);
    }
  });

  it('keeps its own message and status for request errors', () => {
    assert.deepEqual(new KeyholdError('BAD_REQUEST', 'bad thing').wire('kms'), {
      status: 400,
      message: 'bad thing',
    });
    assert.equal(new KeyholdError('TOO_LARGE', 'big').wire('kes').status, 413);
    assert.equal(new KeyholdError('NOT_ACCEPTABLE', 'no').wire('kms').status, 406);
  });
});
