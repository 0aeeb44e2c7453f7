// Tests generated certificates: Node's X509Certificate parses and verifies them, openssl
// accepts them for the right purposes, and they work in real mTLS handshakes (TLS 1.2 and 1.3)
// where the server-side SPKI identity equals the API key's identity.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ApiKey, parseApiKey } from './api-key.ts';
import {
  API_KEY_CERTIFICATE_VALIDITY_MS,
  type GeneratedCertificate,
  clientCertificateForApiKey,
  createCertificate,
  encodePem,
  ipBytes,
} from './certificate.ts';
import { DerTag, decodeInteger, decodeTime, enterSingle } from './der.ts';
import { identityOfTlsSocket } from './peer-identity.ts';
import { isCaCertificate, spkiOfCertificate } from './spki.ts';
import { identityOfSpki } from './identity.ts';
import {
  openssl,
  opensslIdentityHex,
  skipWithoutOpenssl,
  tempDir,
  withTlsServer,
} from './test-support.ts';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const DAY = 24 * 60 * 60 * 1000;

/** Serial number and validity read back with the DER reader. */
function tbsFields(der: Buffer): { serial: bigint; notBefore: Date; notAfter: Date } {
  const certificate = enterSingle(der, DerTag.Sequence, 'certificate');
  const tbs = certificate.enter(DerTag.Sequence, 'tbs');
  tbs.next(); // version
  const serial = decodeInteger(tbs.value(tbs.expect(DerTag.Integer, 'serial')));
  tbs.next();
  tbs.next();
  const validity = tbs.enter(DerTag.Sequence, 'validity');
  const times = [validity.next(), validity.next()].map((e) => decodeTime(e.tag, validity.value(e)));
  return { serial, notBefore: times[0]!, notAfter: times[1]! };
}

function checkParsesAndVerifies(generated: GeneratedCertificate): X509Certificate {
  const x509 = new X509Certificate(generated.cert);
  assert.deepEqual(x509.raw, generated.certDer);
  assert.ok(x509.verify(x509.publicKey), 'self-signature verifies');
  assert.ok(x509.checkPrivateKey(generated.privateKey));
  assert.equal(x509.ca, false);
  assert.equal(isCaCertificate(generated.certDer), false);
  assert.ok(identityOfSpki(spkiOfCertificate(generated.certDer)).equals(generated.identity));
  return x509;
}

describe('clientCertificateForApiKey', () => {
  test('shape matches the upstream SDKs', () => {
    const key = parseApiKey('k1:xZnpcYtPdVMNLBBRaUO5HPEoK_jVrcc3MWR8BshkjJw');
    const now = new Date('2026-03-04T05:06:07.890Z');
    const generated = clientCertificateForApiKey(key, { now });
    const x509 = checkParsesAndVerifies(generated);
    assert.ok(generated.identity.equals(key.identity));
    assert.equal(x509.subject, 'CN=h1:l4AoVm6xKAVGsfo8J_ttCOC6Odgq3GJLHg5NtAdOAr0');
    assert.equal(x509.issuer, x509.subject);
    assert.deepEqual(x509.keyUsage, [CLIENT_AUTH]);
    assert.equal(x509.subjectAltName, undefined);
    assert.equal(x509.publicKey.asymmetricKeyType, 'ed25519');
    const { serial, notBefore, notAfter } = tbsFields(generated.certDer);
    assert.ok(serial > 0n && serial < 2n ** 128n);
    assert.equal(notBefore.toISOString(), '2026-03-04T05:06:07.000Z');
    assert.equal(notAfter.getTime() - notBefore.getTime(), API_KEY_CERTIFICATE_VALIDITY_MS);
    assert.equal(API_KEY_CERTIFICATE_VALIDITY_MS, 90 * DAY);
    assert.match(generated.key, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(
      generated.cert,
      /^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END CERTIFICATE-----\n$/,
    );
  });

  test('CN encoding follows the key form, or the subject option', () => {
    const kes = ApiKey.generate('kes');
    assert.equal(
      new X509Certificate(clientCertificateForApiKey(kes).cert).subject,
      `CN=${kes.identity.toHex()}`,
    );
    assert.equal(
      new X509Certificate(clientCertificateForApiKey(kes, { subject: 'h1' }).cert).subject,
      `CN=${kes.identity.toH1()}`,
    );
  });

  test('serials are random', () => {
    const key = ApiKey.generate();
    const serials = new Set<bigint>();
    for (let i = 0; i < 20; i++)
      serials.add(tbsFields(clientCertificateForApiKey(key).certDer).serial);
    assert.equal(serials.size, 20);
  });
});

describe('clientCertificateForApiKey with k2: (ECDSA) keys', () => {
  test('each curve signs with the hash Go picks; the certificate identity is the key identity', (t) => {
    for (const [curve, length, oid, name] of [
      ['prime256v1', 32, '06082a8648ce3d040302', 'ecdsa-with-SHA256'],
      ['secp384r1', 48, '06082a8648ce3d040303', 'ecdsa-with-SHA384'],
      ['secp521r1', 66, '06082a8648ce3d040304', 'ecdsa-with-SHA512'],
    ] as const) {
      const scalar = Buffer.alloc(length, 0);
      scalar[length - 1] = 7;
      const apiKey = ApiKey.fromEcdsaScalar(scalar);
      const generated = clientCertificateForApiKey(apiKey);
      const x509 = checkParsesAndVerifies(generated);
      assert.equal(x509.publicKey.asymmetricKeyDetails?.namedCurve, curve);
      assert.ok(generated.identity.equals(apiKey.identity), curve);
      assert.equal(x509.subject, `CN=${apiKey.identity.toH1()}`);
      assert.deepEqual(x509.keyUsage, [CLIENT_AUTH]);
      assert.ok(generated.certDer.includes(Buffer.from(oid, 'hex')), `${curve} signs with ${name}`);
      if (skipWithoutOpenssl === false) {
        const dir = tempDir(t);
        writeFileSync(join(dir, 'cert.pem'), generated.cert);
        const text = openssl(dir, 'x509', '-noout', '-text', '-in', 'cert.pem');
        assert.match(text, new RegExp(`Signature Algorithm: ${name}`));
        assert.equal(opensslIdentityHex(join(dir, 'cert.pem')), apiKey.identity.toHex());
      }
    }
  });
});

describe('createCertificate', () => {
  test('P-256 server certificate with SANs and both EKUs by default', () => {
    const generated = createCertificate({
      keyType: 'p256',
      commonName: 'keyhold',
      ips: ['127.0.0.1', '::1', '2001:db8::ffff:1.2.3.4'],
      dnsNames: ['localhost', '*.example.com'],
      validFor: 365 * DAY,
    });
    const x509 = checkParsesAndVerifies(generated);
    assert.equal(x509.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.deepEqual(x509.keyUsage, [SERVER_AUTH, CLIENT_AUTH]);
    assert.equal(
      x509.subjectAltName,
      'DNS:localhost, DNS:*.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, ' +
        'IP Address:2001:DB8:0:0:0:FFFF:102:304',
    );
    assert.equal(x509.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(x509.checkHost('localhost'), 'localhost');
    assert.equal(x509.checkHost('a.example.com'), '*.example.com');
    assert.equal(x509.checkHost('example.org'), undefined);
  });

  test('Ed25519 with a given key, one EKU, dates past 2050 as GeneralizedTime', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const notBefore = new Date('2049-12-31T00:00:00Z');
    const generated = createCertificate({
      privateKey,
      commonName: 'ed',
      validFor: 3 * DAY,
      notBefore,
      clientAuth: false,
    });
    const x509 = checkParsesAndVerifies(generated);
    assert.equal(generated.privateKey, privateKey);
    assert.deepEqual(x509.keyUsage, [SERVER_AUTH]);
    assert.equal(new Date(x509.validTo).toISOString(), '2050-01-03T00:00:00.000Z');
    const { notAfter } = tbsFields(generated.certDer);
    assert.equal(notAfter.toISOString(), '2050-01-03T00:00:00.000Z');
    assert.ok(generated.certDer.includes(Buffer.from('20500103000000Z', 'latin1')));
    assert.ok(generated.certDer.includes(Buffer.from('491231000000Z', 'latin1')));
  });

  test('no EKU extension when neither purpose is asked for', () => {
    const generated = createCertificate({
      commonName: 'x',
      validFor: DAY,
      serverAuth: false,
      clientAuth: false,
    });
    assert.equal(checkParsesAndVerifies(generated).keyUsage, undefined);
  });

  test('bad options are refused with clear errors', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const k256 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
    const ed = generateKeyPairSync('ed25519');
    const cases: [Parameters<typeof createCertificate>[0], RegExp][] = [
      [{ commonName: '', validFor: DAY }, /commonName must be a non-empty string/],
      [{ commonName: 'x', validFor: 0 }, /validFor must be at least 1000 ms/],
      [{ commonName: 'x', validFor: Number.NaN }, /validFor/],
      [{ commonName: 'x', validFor: 10_000 * 365 * DAY }, /after the year 9999/],
      [{ commonName: 'x', validFor: DAY, notBefore: new Date(Number.NaN) }, /invalid Date/],
      [
        { commonName: 'x', validFor: DAY, privateKey: rsa },
        /unsupported key type rsa: use Ed25519 or ECDSA P-256/,
      ],
      [
        { commonName: 'x', validFor: DAY, privateKey: k256 },
        /unsupported key type ec \(secp256k1\)/,
      ],
      [{ commonName: 'x', validFor: DAY, privateKey: ed.publicKey }, /must be a private key/],
      [
        { commonName: 'x', validFor: DAY, privateKey: ed.privateKey, keyType: 'p256' },
        /privateKey is ed25519, but keyType is p256/,
      ],
      [{ commonName: 'x', validFor: DAY, ips: ['1.2.3'] }, /invalid IP address "1.2.3"/],
      [{ commonName: 'x', validFor: DAY, ips: ['fe80::1%eth0'] }, /zone ids/],
      [{ commonName: 'x', validFor: DAY, dnsNames: ['bücher.example'] }, /punycode/],
      [{ commonName: 'x', validFor: DAY, dnsNames: ['a b'] }, /no spaces/],
    ];
    for (const [options, message] of cases)
      assert.throws(() => createCertificate(options), message);
  });

  test('ipBytes', () => {
    const cases: [string, string][] = [
      ['10.0.0.255', '0a0000ff'],
      ['::', '0'.repeat(32)],
      ['::1', '0'.repeat(31) + '1'],
      ['fe80::', 'fe80' + '0'.repeat(28)],
      ['2001:db8:0:1:2:3:4:5', '20010db8000000010002000300040005'],
      ['2001:DB8::ffff:10.0.0.1', '20010db8000000000000ffff0a000001'],
      ['::ffff:127.0.0.1', '00000000000000000000ffff7f000001'],
      ['1:2:3:4:5:6::8', '00010002000300040005000600000008'],
    ];
    for (const [text, expected] of cases)
      assert.equal(ipBytes(text).toString('hex'), expected, text);
  });

  test('encodePem wraps at 64 columns', () => {
    assert.equal(encodePem('X', Buffer.alloc(0)), '-----BEGIN X-----\n\n-----END X-----\n');
    const pem = encodePem('CERTIFICATE', Buffer.alloc(100, 0xab));
    const lines = pem.trim().split('\n');
    assert.equal(lines[1]!.length, 64);
    assert.equal(Buffer.from(lines.slice(1, -1).join(''), 'base64').length, 100);
  });
});

describe('openssl accepts the certificates', { skip: skipWithoutOpenssl }, () => {
  test('x509 -text and verify -purpose', (t) => {
    const dir = tempDir(t);
    const client = clientCertificateForApiKey(ApiKey.generate());
    const server = createCertificate({
      keyType: 'p256',
      commonName: 'srv',
      ips: ['127.0.0.1'],
      dnsNames: ['localhost'],
      validFor: DAY,
    });
    const edServer = createCertificate({ commonName: 'ed', validFor: DAY, dnsNames: ['x.test'] });
    for (const [name, generated] of [
      ['client', client],
      ['server', server],
      ['ed', edServer],
    ] as const) {
      writeFileSync(join(dir, `${name}.pem`), generated.cert);
      assert.equal(opensslIdentityHex(join(dir, `${name}.pem`)), generated.identity.toHex());
    }
    const clientText = openssl(dir, 'x509', '-in', 'client.pem', '-noout', '-text');
    assert.match(clientText, /Version: 3 \(0x2\)/);
    assert.match(clientText, /Signature Algorithm: ED25519/);
    assert.match(clientText, /X509v3 Key Usage: critical\s+Digital Signature/);
    assert.match(clientText, /X509v3 Extended Key Usage: \s*TLS Web Client Authentication\n/);
    assert.match(clientText, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    const serverText = openssl(dir, 'x509', '-in', 'server.pem', '-noout', '-text');
    assert.match(serverText, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(serverText, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(serverText, /DNS:localhost, IP Address:127.0.0.1/);

    const verify = (cert: string, purpose: string): string =>
      openssl(dir, 'verify', '-CAfile', cert, '-purpose', purpose, cert).trim();
    assert.equal(verify('client.pem', 'sslclient'), 'client.pem: OK');
    assert.equal(verify('server.pem', 'sslserver'), 'server.pem: OK');
    assert.equal(verify('server.pem', 'sslclient'), 'server.pem: OK');
    assert.equal(verify('ed.pem', 'sslserver'), 'ed.pem: OK');
    // The API-key certificate is for clients only.
    assert.throws(() => verify('client.pem', 'sslserver'), /unsuitable certificate purpose/);
  });
});

describe('mTLS with generated certificates', () => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    test(`${version}: server sees the API key's identity; client verifies the server SANs`, async () => {
      const apiKey = ApiKey.generate();
      const clientCert = clientCertificateForApiKey(apiKey);
      const serverCert = createCertificate({
        keyType: 'p256',
        commonName: 'keyhold',
        ips: ['127.0.0.1'],
        validFor: DAY,
        clientAuth: false,
      });
      await withTlsServer(
        {
          cert: serverCert.cert,
          key: serverCert.key,
          requestCert: true,
          rejectUnauthorized: false,
          minVersion: version,
          maxVersion: version,
        },
        (socket) => {
          const raw = socket.getPeerX509Certificate()?.raw;
          return {
            fromRaw: raw && identityOfSpki(spkiOfCertificate(raw)),
            cached: identityOfTlsSocket(socket),
          };
        },
        async (connect) => {
          const connection = await connect({ ...clientCert, ca: serverCert.cert });
          assert.equal(connection.protocol, version);
          assert.ok(connection.server.fromRaw?.equals(apiKey.identity));
          assert.ok(connection.server.cached?.equals(apiKey.identity));
          // Without a client certificate there is no identity.
          const anonymous = await connect({ ca: serverCert.cert });
          assert.equal(anonymous.server.fromRaw, undefined);
          assert.equal(anonymous.server.cached, undefined);
          // The client checks the server certificate's IP SAN: a wrong name fails.
          await assert.rejects(
            connect({ ...clientCert, ca: serverCert.cert, servername: 'example.com' }),
            /Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID/,
          );
        },
      );
    });

    test(`${version}: a server that CA-verifies clients accepts the API-key certificate`, async () => {
      const apiKey = ApiKey.generate('kes');
      const clientCert = clientCertificateForApiKey(apiKey);
      const serverCert = createCertificate({
        commonName: 'ed-server',
        ips: ['127.0.0.1'],
        validFor: DAY,
      });
      await withTlsServer(
        {
          cert: serverCert.cert,
          key: serverCert.key,
          ca: clientCert.cert,
          requestCert: true,
          rejectUnauthorized: true,
          minVersion: version,
          maxVersion: version,
        },
        (socket) => ({ authorized: socket.authorized, identity: identityOfTlsSocket(socket) }),
        async (connect) => {
          const connection = await connect({ ...clientCert, ca: serverCert.cert });
          assert.equal(connection.protocol, version);
          assert.equal(connection.server.authorized, true);
          assert.equal(connection.server.identity?.toHex(), apiKey.identity.toHex());
        },
      );
    });
  }
});
