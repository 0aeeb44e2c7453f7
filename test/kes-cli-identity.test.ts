// End-to-end tests of `keyhold identity new|of` (and `keyhold kes identity new|of`): what they
// print, the files they write (modes, PEM kinds, certificate contents checked with openssl),
// and that identities agree with openssl's SPKI hash and with the API key.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseApiKey } from '../src/identity/index.ts';
import { tempDir } from './helpers/server-process.ts';
import { runCli } from './kes-cli-run.ts';

const tmp = tempDir('keyhold-identity-');
after(() => tmp.remove());

function openssl(args: string[], input?: Buffer): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** SHA-256 of the certificate's SubjectPublicKeyInfo as openssl extracts it. */
function opensslIdentity(certFile: string): string {
  const pub = openssl(['x509', '-in', certFile, '-noout', '-pubkey']);
  const der = openssl(['pkey', '-pubin', '-outform', 'DER'], pub);
  return createHash('sha256').update(der).digest('hex');
}

describe('keyhold identity new', () => {
  it('without files prints a new kes:v1: API key and its hex identity', async () => {
    const r = await runCli(['identity', 'new']);
    assert.equal(r.code, 0, r.stderr);
    const key = /API Key:\s+(kes:v1:\S+)/.exec(r.stdout)?.[1];
    const identity = /Identity:\s+([0-9a-f]{64})/.exec(r.stdout)?.[1];
    assert.ok(key && identity, r.stdout);
    assert.equal(parseApiKey(key).identity.toHex(), identity);

    const j = await runCli(['identity', 'new', '--json']);
    const parsed = JSON.parse(j.stdout) as { api_key: string; identity: string };
    assert.match(parsed.api_key, /^kes:v1:[A-Za-z0-9+/]{44}$/);
    assert.equal(parseApiKey(parsed.api_key).identity.toHex(), parsed.identity);
    assert.notEqual(parsed.api_key, key, 'every call makes a new key');
  });

  it('with --key/--cert writes a 0600 PKCS#8 Ed25519 key and a 0644 certificate KES would write', async () => {
    const key = join(tmp.dir, 'client.key');
    const cert = join(tmp.dir, 'client.crt');
    const r = await runCli([
      'identity',
      'new',
      '--key',
      key,
      '--cert',
      cert,
      '--ip',
      '127.0.0.1',
      '--ip',
      '::1',
      '--dns',
      'localhost',
      '--dns',
      'kes.example.com',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      api_key: string;
      identity: string;
      private_key: string;
      certificate: string;
    };
    assert.deepEqual([out.private_key, out.certificate], [key, cert]);

    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.equal(statSync(cert).mode & 0o777, 0o644);
    const keyPem = readFileSync(key, 'utf8');
    assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.equal(createPrivateKey(keyPem).asymmetricKeyType, 'ed25519');
    // The API key printed is the same Ed25519 key as the key file.
    const fromFile = await runCli(['identity', key, '--json']);
    assert.equal((JSON.parse(fromFile.stdout) as { api_key: string }).api_key, out.api_key);

    const text = openssl(['x509', '-in', cert, '-noout', '-text']).toString();
    assert.match(text, /Public Key Algorithm: ED25519/);
    assert.match(text, /Signature Algorithm: ED25519/);
    assert.match(text, new RegExp(`Subject: CN ?= ?${out.identity}`));
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(
      text,
      /DNS:localhost, DNS:kes\.example\.com, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/,
    );
    const x509 = new X509Certificate(readFileSync(cert));
    const lifetime = Date.parse(x509.validTo) - Date.parse(x509.validFrom);
    assert.equal(lifetime, 720 * 3_600_000, 'default expiry 720h');
    // The certificate verifies with its own key (self-signed).
    assert.ok(x509.verify(x509.publicKey));

    assert.equal(opensslIdentity(cert), out.identity);
    const of = await runCli(['identity', 'of', cert]);
    assert.equal(of.code, 0, of.stderr);
    assert.equal(of.stdout.trim(), out.identity);
    assert.equal((await runCli(['identity', 'of', out.api_key])).stdout.trim(), out.identity);
  });

  it('takes NAME as the common name and --expiry in Go duration syntax', async () => {
    const key = join(tmp.dir, 'server.key');
    const cert = join(tmp.dir, 'server.crt');
    const r = await runCli([
      'kes',
      'identity',
      'new',
      '--key',
      key,
      '--cert',
      cert,
      '--expiry',
      '8760h',
      'my-server',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const x509 = new X509Certificate(readFileSync(cert));
    assert.equal(x509.subject, 'CN=my-server');
    assert.equal(Date.parse(x509.validTo) - Date.parse(x509.validFrom), 8760 * 3_600_000);
    assert.equal(
      (await runCli(['kes', 'identity', 'of', cert])).stdout.trim(),
      opensslIdentity(cert),
    );
  });

  it('refuses to overwrite files without --force, and replaces them with the right modes with it', async () => {
    const key = join(tmp.dir, 'f.key');
    const cert = join(tmp.dir, 'f.crt');
    writeFileSync(key, 'old', { mode: 0o644 });
    const refused = await runCli(['identity', 'new', '--key', key, '--cert', cert]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^keyhold: private key file '.*f\.key' already exists \(use --force to overwrite it\)\n$/,
    );
    assert.equal(readFileSync(key, 'utf8'), 'old');

    const forced = await runCli(['identity', 'new', '--key', key, '--cert', cert, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(
      statSync(key).mode & 0o777,
      0o600,
      'a replaced key file is not left world-readable',
    );
    assert.match(readFileSync(key, 'utf8'), /BEGIN PRIVATE KEY/);
  });

  it('answers usage errors with exit code 2 and a pointer to --help', async () => {
    const noFiles = await runCli(['identity', 'new', '--ip', '10.0.0.1']);
    assert.equal(noFiles.code, 2);
    assert.match(noFiles.stderr, /add --key and --cert\. See 'keyhold identity --help'/);
    const half = await runCli(['kes', 'identity', 'new', '--key', join(tmp.dir, 'x.key')]);
    assert.equal(half.code, 2);
    assert.match(
      half.stderr,
      /--key and --cert go together\. See 'keyhold kes identity new --help'/,
    );
    const badExpiry = await runCli([
      'identity',
      'new',
      '--key',
      'a',
      '--cert',
      'b',
      '--expiry',
      '1y',
    ]);
    assert.equal(badExpiry.code, 2);
    assert.match(badExpiry.stderr, /--expiry: invalid duration '1y'/);
    const badIp = await runCli([
      'identity',
      'new',
      '--key',
      join(tmp.dir, 'i.key'),
      '--cert',
      join(tmp.dir, 'i.crt'),
      '--ip',
      'nope',
    ]);
    assert.equal(badIp.code, 2);
    assert.match(badIp.stderr, /invalid IP address "nope"/);
    const help = await runCli(['kes', 'identity', 'new', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: keyhold kes identity new/);
  });
});

describe('keyhold identity of', () => {
  it('agrees with openssl for a certificate it did not make, in PEM and DER', async () => {
    const key = join(tmp.dir, 'ec.key');
    const cert = join(tmp.dir, 'ec.crt');
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-subj',
      '/CN=ec',
      '-days',
      '1',
    ]);
    const expected = opensslIdentity(cert);
    assert.equal((await runCli(['identity', 'of', cert])).stdout.trim(), expected);
    const der = join(tmp.dir, 'ec.der');
    writeFileSync(der, openssl(['x509', '-in', cert, '-outform', 'DER']));
    assert.equal((await runCli(['identity', 'of', der])).stdout.trim(), expected);
    // The private key's public half has the same identity; a non-Ed25519 key has no API key.
    assert.equal((await runCli(['identity', 'of', key])).stdout.trim(), expected);
    assert.equal((await runCli(['identity', key])).stdout.trim(), expected);
  });

  it('keeps the KMS behaviour for k1: keys and HSM keys', async () => {
    const created = JSON.parse((await runCli(['identity', '--json'])).stdout) as {
      api_key: string;
      identity: string;
    };
    assert.match(created.api_key, /^k1:/);
    assert.match(created.identity, /^h1:/);
    assert.equal((await runCli(['identity', created.api_key])).stdout.trim(), created.identity);
    assert.equal(
      (await runCli(['identity', 'of', created.api_key])).stdout.trim(),
      created.identity,
    );
    const hsm = 'hsm:aes256:' + Buffer.alloc(32, 7).toString('base64');
    const root = await runCli(['identity', hsm]);
    assert.match(root.stdout, /^API Key:\s+k1:\S+\nIdentity:\s+h1:\S+\n$/);
  });

  it('reports what is wrong with bad input', async () => {
    const missing = await runCli(['identity', 'of', join(tmp.dir, 'nope.pem')]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /is neither an API key nor a readable file \(no such file or directory\)/,
    );
    const junk = join(tmp.dir, 'junk.pem');
    writeFileSync(junk, 'hello');
    const notCert = await runCli(['identity', 'of', junk]);
    assert.equal(notCert.code, 1);
    assert.match(notCert.stderr, /holds no readable certificate or private key/);
    const badKey = await runCli(['identity', 'of', 'kes:v1:AAAA']);
    assert.equal(badKey.code, 1);
    assert.match(badKey.stderr, /kes: invalid API key: invalid length/);
    const identity = await runCli(['identity', 'of', 'a'.repeat(64)]);
    assert.match(identity.stderr, /this is an identity, not an API key/);
  });
});
