// Tests SPKI extraction and the CA flag against certificates made by the real openssl binary:
// the identity must equal `openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum`.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createCertificate } from './certificate.ts';
import { DerError, derSequence } from './der.ts';
import { identityOfSpki } from './identity.ts';
import {
  certificateKeyInfo,
  identityOfCertificate,
  isCaCertificate,
  spkiOfCertificate,
} from './spki.ts';
import { openssl, opensslIdentityHex, skipWithoutOpenssl, tempDir } from './test-support.ts';

const derOf = (path: string): Buffer => new X509Certificate(readFileSync(path)).raw;

describe('spkiOfCertificate against openssl', { skip: skipWithoutOpenssl }, () => {
  const keyTypes = [
    ['rsa', ['-newkey', 'rsa:2048']],
    ['p256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
    ['ed25519', ['-newkey', 'ed25519']],
  ] as const;

  for (const [name, keyArgs] of keyTypes) {
    test(`${name}: same identity as the openssl pipeline; SPKI is the certificate's own bytes`, (t) => {
      const dir = tempDir(t);
      openssl(
        dir,
        'req',
        '-x509',
        ...keyArgs,
        '-nodes',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
        '-subj',
        `/CN=${name}`,
        '-days',
        '2',
      );
      const der = derOf(join(dir, 'cert.pem'));
      const expected = opensslIdentityHex(join(dir, 'cert.pem'));
      assert.match(expected, /^[0-9a-f]{64}$/);
      assert.equal(identityOfCertificate(der).toHex(), expected);
      const spki = spkiOfCertificate(der);
      assert.equal(identityOfSpki(spki).toHex(), expected);
      assert.ok(der.includes(spki), 'SPKI is a slice of the certificate');
      assert.equal(spki.buffer, der.buffer, 'no copy');
      // openssl req -x509 marks its certificates CA:TRUE by default (v3_ca).
      assert.equal(isCaCertificate(der), true);
    });
  }

  test('v1 certificate (no [0] version field) and a CA-issued leaf', (t) => {
    const dir = tempDir(t);
    const run = openssl.bind(undefined, dir);
    run(
      'req',
      '-newkey',
      'ed25519',
      '-nodes',
      '-keyout',
      'v1.key',
      '-out',
      'v1.csr',
      '-subj',
      '/CN=v1',
    );
    run('x509', '-req', '-in', 'v1.csr', '-signkey', 'v1.key', '-out', 'v1.pem', '-days', '2');
    const v1 = derOf(join(dir, 'v1.pem'));
    assert.equal(new X509Certificate(v1).toString().length > 0, true);
    assert.match(run('x509', '-in', 'v1.pem', '-noout', '-text'), /Version: 1 \(0x0\)/);
    assert.equal(identityOfCertificate(v1).toHex(), opensslIdentityHex(join(dir, 'v1.pem')));
    assert.equal(isCaCertificate(v1), false);

    run(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-subj',
      '/CN=ca',
      '-days',
      '2',
    );
    run(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'leaf.key',
      '-out',
      'leaf.csr',
      '-subj',
      '/CN=leaf',
    );
    writeFileSync(
      join(dir, 'ext.cnf'),
      'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:leaf\n',
    );
    run(
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'leaf.pem',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    );
    const leaf = derOf(join(dir, 'leaf.pem'));
    assert.equal(identityOfCertificate(leaf).toHex(), opensslIdentityHex(join(dir, 'leaf.pem')));
    assert.equal(isCaCertificate(leaf), false);
    assert.equal(isCaCertificate(derOf(join(dir, 'ca.pem'))), true);
  });

  test('CA:FALSE self-signed and CA:TRUE with pathlen', (t) => {
    const dir = tempDir(t);
    const run = openssl.bind(undefined, dir);
    run(
      'req',
      '-x509',
      '-newkey',
      'ed25519',
      '-nodes',
      '-keyout',
      'a.key',
      '-out',
      'a.pem',
      '-subj',
      '/CN=a',
      '-days',
      '2',
      '-addext',
      'basicConstraints=critical,CA:FALSE',
    );
    assert.equal(isCaCertificate(derOf(join(dir, 'a.pem'))), false);
    run(
      'req',
      '-x509',
      '-newkey',
      'ed25519',
      '-nodes',
      '-keyout',
      'b.key',
      '-out',
      'b.pem',
      '-subj',
      '/CN=b',
      '-days',
      '2',
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
    );
    assert.deepEqual(certificateKeyInfo(derOf(join(dir, 'b.pem'))).isCa, true);
  });

  test('a compressed EC point is hashed as written, not as re-exported', (t) => {
    const dir = tempDir(t);
    const run = openssl.bind(undefined, dir);
    run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ec.key');
    run('ec', '-in', 'ec.key', '-conv_form', 'compressed', '-out', 'ecc.key');
    run(
      'req',
      '-x509',
      '-key',
      'ecc.key',
      '-out',
      'cert.pem',
      '-subj',
      '/CN=compressed',
      '-days',
      '2',
    );
    const der = derOf(join(dir, 'cert.pem'));
    const spki = spkiOfCertificate(der);
    // Compressed: 2 + (2 + 19) AlgorithmIdentifier + (2 + 1 + 33) BIT STRING = 59 bytes.
    const text = run('asn1parse', '-in', 'cert.pem', '-i');
    if (spki.length !== 59) {
      t.skip(`this openssl wrote an uncompressed point (${spki.length}-byte SPKI)`);
      return;
    }
    assert.match(text, /BIT STRING/);
    // The same key re-encoded with an uncompressed point hashes differently: only the
    // certificate's own bytes give the identity Go (RawSubjectPublicKeyInfo) computes.
    const jwk = new X509Certificate(der).publicKey.export({ format: 'jwk' });
    const uncompressed = createPublicKey({ key: jwk, format: 'jwk' }).export({
      type: 'spki',
      format: 'der',
    });
    assert.equal(uncompressed.length, 91);
    assert.notEqual(identityOfSpki(uncompressed).toHex(), identityOfCertificate(der).toHex());
    // Hash of the bytes actually in the certificate, cut out by openssl itself.
    const offset = /^\s*(\d+):d=2\s+hl=2\s+l=\s*57 cons: +SEQUENCE/m.exec(text)?.[1];
    assert.ok(offset !== undefined, text);
    run('asn1parse', '-in', 'cert.pem', '-strparse', offset, '-noout', '-out', 'spki.der');
    assert.deepEqual(readFileSync(join(dir, 'spki.der')), spki);
  });
});

describe('malformed certificates', () => {
  test('garbage, truncation and trailing bytes give DerError', () => {
    const cert = derSequence(
      derSequence(Buffer.from('020101', 'hex')),
      derSequence(),
      Buffer.from('030100', 'hex'),
    );
    for (const input of [
      Buffer.alloc(0),
      Buffer.from('hello'),
      Buffer.from('3003020101', 'hex'),
      cert,
      cert.subarray(0, cert.length - 1),
      Buffer.concat([cert, Buffer.of(0)]),
    ]) {
      assert.throws(() => spkiOfCertificate(input), DerError, input.toString('hex'));
      assert.throws(() => isCaCertificate(input), DerError);
    }
  });

  test('every truncation and every single-byte change of a certificate is handled', () => {
    const der = createCertificate({ commonName: 't', validFor: 60_000, dnsNames: ['a'] }).certDer;
    for (let length = 0; length < der.length; length++) {
      assert.throws(
        () => certificateKeyInfo(der.subarray(0, length)),
        DerError,
        `length ${length}`,
      );
    }
    // A changed byte may still parse (e.g. inside a string); it must never throw anything else.
    for (let at = 0; at < der.length; at++) {
      for (const delta of [1, 0x40, 0x80]) {
        const mutated = Buffer.from(der);
        mutated[at] = (mutated[at]! + delta) & 0xff;
        try {
          certificateKeyInfo(mutated);
        } catch (error) {
          assert.ok(error instanceof DerError, `offset ${at}: ${String(error)}`);
        }
      }
    }
    assert.equal(certificateKeyInfo(der).spki.length, 44);
    assert.equal(certificateKeyInfo(der).isCa, false);
  });
});
