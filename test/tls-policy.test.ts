// The server's TLS policy against real servers (an ECDSA and an RSA certificate): TLS 1.2 only
// with ECDHE and AES-GCM or ChaCha20-Poly1305 (no CBC, no CCM, no static RSA, no DHE), TLS 1.3
// with its AEAD suites, and the same after a SIGHUP reload swaps the certificate.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:tls';
import type { SecureVersion } from 'node:tls';
import { skipWithoutOpenssl } from '../src/identity/test-support.ts';
import { apiKeyCert, startKesServer, tempDir } from './kes-server-support.ts';
import type { KesServer } from './kes-server-support.ts';

interface Probe {
  readonly maxVersion?: SecureVersion;
  readonly minVersion?: SecureVersion;
  readonly ciphers: string;
}

/** The suite the server picked, or the handshake error's message. */
function handshake(endpoint: string, probe: Probe): Promise<{ cipher?: string; error?: string }> {
  const i = endpoint.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = connect({
      host: endpoint.slice(0, i),
      port: Number(endpoint.slice(i + 1)),
      rejectUnauthorized: false,
      minVersion: probe.minVersion ?? 'TLSv1.2',
      maxVersion: probe.maxVersion ?? 'TLSv1.2',
      ciphers: probe.ciphers,
    });
    socket.once('secureConnect', () => {
      resolve({ cipher: socket.getCipher().standardName });
      socket.destroy();
    });
    socket.once('error', (error: Error) => resolve({ error: error.message }));
  });
}

async function assertRefused(endpoint: string, ciphers: string): Promise<void> {
  const result = await handshake(endpoint, { ciphers });
  assert.equal(result.cipher, undefined, `${ciphers} was accepted as ${String(result.cipher)}`);
  assert.match(result.error ?? '', /handshake failure|no shared cipher|no cipher/i);
}

async function assertAccepted(endpoint: string, probe: Probe, standardName: string): Promise<void> {
  const result = await handshake(endpoint, probe);
  assert.equal(result.cipher, standardName, result.error);
}

describe('TLS policy with an ECDSA certificate', () => {
  let server: KesServer;
  before(async () => {
    server = await startKesServer();
  });
  after(async () => {
    await server.stop();
  });

  for (const ciphers of [
    'ECDHE-ECDSA-AES128-SHA256',
    'ECDHE-ECDSA-AES256-SHA384',
    'ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA',
    'ECDHE-ECDSA-AES128-CCM8:ECDHE-ECDSA-AES256-CCM8',
    'ECDHE-ECDSA-AES128-CCM:ECDHE-ECDSA-AES256-CCM',
  ]) {
    it(`TLS 1.2 refuses ${ciphers}`, async () => {
      await assertRefused(server.endpoint, ciphers);
    });
  }

  for (const [ciphers, standardName] of [
    ['ECDHE-ECDSA-AES128-GCM-SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
    ['ECDHE-ECDSA-AES256-GCM-SHA384', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
    ['ECDHE-ECDSA-CHACHA20-POLY1305', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
  ] as const) {
    it(`TLS 1.2 accepts ${ciphers}`, async () => {
      await assertAccepted(server.endpoint, { ciphers }, standardName);
    });
  }

  for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384']) {
    it(`TLS 1.3 accepts ${suite}`, async () => {
      const probe = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: suite } as const;
      await assertAccepted(server.endpoint, probe, suite);
    });
  }
  it('TLS 1.3 accepts TLS_CHACHA20_POLY1305_SHA256', async () => {
    const suite = 'TLS_CHACHA20_POLY1305_SHA256';
    const probe = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: suite } as const;
    await assertAccepted(server.endpoint, probe, suite);
  });
});

describe('TLS policy with an RSA certificate', { skip: skipWithoutOpenssl }, () => {
  let server: KesServer;
  let dir: string;
  const config =
    `admin:\n  identity: ${apiKeyCert().identity}\n` +
    'tls:\n  key: ./server.key\n  cert: ./server.crt\n';
  /** A self-signed RSA certificate for 127.0.0.1, written to DIR/server.{key,crt}. */
  const rsaCertificate = (): void => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'server.key',
        '-out',
        'server.crt',
        '-days',
        '1',
        '-subj',
        '/CN=keyhold-rsa',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { cwd: dir, stdio: 'ignore' },
    );
  };
  before(async () => {
    dir = tempDir();
    rsaCertificate();
    server = await startKesServer({ dir, config });
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const refused = [
    'AES128-GCM-SHA256:AES256-GCM-SHA384', // static RSA key exchange: no forward secrecy
    'AES128-SHA:AES256-SHA256',
    'DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA',
  ];
  for (const ciphers of refused) {
    it(`TLS 1.2 refuses ${ciphers}`, async () => {
      await assertRefused(server.endpoint, ciphers);
    });
  }

  for (const [ciphers, standardName] of [
    ['ECDHE-RSA-AES128-GCM-SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
    ['ECDHE-RSA-AES256-GCM-SHA384', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
    ['ECDHE-RSA-CHACHA20-POLY1305', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  ] as const) {
    it(`TLS 1.2 accepts ${ciphers}`, async () => {
      await assertAccepted(server.endpoint, { ciphers }, standardName);
    });
  }

  it('a SIGHUP reload keeps the policy', async () => {
    const before = readFileSync(join(dir, 'server.crt'), 'utf8');
    rsaCertificate();
    assert.notEqual(readFileSync(join(dir, 'server.crt'), 'utf8'), before);
    writeFileSync(join(dir, 'config.yml'), config + '# reloaded\n');
    server.child.kill('SIGHUP');
    await server.waitForOutput(/configuration reloaded/);
    for (const ciphers of refused) await assertRefused(server.endpoint, ciphers);
    await assertAccepted(
      server.endpoint,
      { ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' },
      'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
    );
    const tls13 = await handshake(server.endpoint, {
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ciphers: 'TLS_AES_128_GCM_SHA256',
    });
    assert.equal(tls13.cipher, 'TLS_AES_128_GCM_SHA256', tls13.error);
  });
});
