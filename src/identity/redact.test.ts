// redactSecrets: every secret form is blanked (plain and percent-encoded), the text around it is
// kept byte for byte, and names and identities are left alone.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { ApiKey } from './api-key.ts';
import { REDACTED, redactIdentityText, redactSecrets } from './redact.ts';

const kesKey = ApiKey.generate('kes').toText();
const k1Key = ApiKey.generate('k1').toK1();
const k2Key = 'k2:' + randomBytes(66).toString('base64url');
const hsmKey = 'hsm:aes256:' + randomBytes(32).toString('base64');
const minioKey = 'my-minio-key:' + randomBytes(32).toString('base64');

describe('redactSecrets', () => {
  test('blanks the secret part and keeps the prefix and the surrounding text', () => {
    for (const [secret, prefix] of [
      [kesKey, 'kes:v1:'],
      [k1Key, 'k1:'],
      [k2Key, 'k2:'],
      [hsmKey, 'hsm:aes256:'],
      [minioKey, 'my-minio-key:'],
    ] as const) {
      assert.equal(
        redactSecrets(`identity '${secret}' is empty, too long or contains invalid characters`),
        `identity '${prefix}${REDACTED}' is empty, too long or contains invalid characters`,
      );
    }
  });

  test('percent-encoded secrets in a raw URL path', () => {
    const encoded = encodeURIComponent(kesKey);
    assert.equal(
      redactSecrets(`/v1/identity/describe/${encoded}`),
      `/v1/identity/describe/kes%3Av1%3A${REDACTED}`,
    );
    assert.equal(
      redactSecrets(`/x/${encodeURIComponent(minioKey)}`),
      `/x/my-minio-key%3A${REDACTED}`,
    );
    assert.equal(redactSecrets(`/x/k1%3a${k1Key.slice(3)}`), `/x/k1%3a${REDACTED}`);
  });

  test('several secrets in one text', () => {
    assert.equal(redactSecrets(`${k1Key} and ${kesKey}`), `k1:${REDACTED} and kes:v1:${REDACTED}`);
  });

  test('leaves names, identities and ordinary messages alone', () => {
    const identity = ApiKey.generate().identity;
    for (const text of [
      '/v1/key/generate/minio-default-key',
      `/v1/identity/describe/${identity.toHex()}`,
      identity.toH1(),
      'tls: client certificate is required',
      "key name 'a:b' is empty, too long or contains invalid characters",
      'tls: failed to verify client certificate: x509: certificate signed by unknown authority',
    ]) {
      assert.equal(redactSecrets(text), text);
    }
  });

  test('where an identity is expected, a bare kes:v1: key is wholly redacted', () => {
    const bare = kesKey.slice('kes:v1:'.length);
    assert.equal(redactSecrets(bare), bare, 'without context it is just text');
    assert.equal(redactIdentityText(bare), REDACTED);
    assert.equal(redactIdentityText(kesKey), `kes:v1:${REDACTED}`);
    assert.equal(redactIdentityText('not an identity!'), 'not an identity!');
    assert.equal(redactIdentityText(''), '');
  });

  test('where an identity is expected, a bare k1: or k2: body is wholly redacted', () => {
    // A body starting with '-' is not a valid name, so the refusal would quote it.
    const k1Body =
      '-' +
      ApiKey.generate('k1')
        .toK1()
        .slice('k1:'.length + 1);
    const k2Body = '-' + randomBytes(48).toString('base64url').slice(1);
    assert.equal(redactIdentityText(k1Body), REDACTED);
    assert.equal(redactIdentityText(k2Body), REDACTED);
    assert.equal(redactIdentityText('-not-a-key'), '-not-a-key');
  });
});
