// Tests TLS peer identification over real handshakes on 127.0.0.1: the leaf (minkms) rule,
// the KES rule (the leaf, not a CA, the only non-CA), forged chains, caching, and resumed
// sessions.
import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Agent, get } from 'node:https';
import { connect as connectHttp2, createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ApiKey } from './api-key.ts';
import { clientCertificateForApiKey, createCertificate } from './certificate.ts';
import {
  type PeerIdentity,
  identityOfTlsSocket,
  kesIdentityOfTlsSocket,
  peerIdentityOfTlsSocket,
} from './peer-identity.ts';
import { identityOfSpki } from './identity.ts';
import { identityOfCertificate } from './spki.ts';
import {
  hostileCertificate,
  openssl,
  skipWithoutOpenssl,
  spkiOf,
  tempDir,
  withTlsServer,
} from './test-support.ts';

const DAY = 24 * 60 * 60 * 1000;
const serverCert = createCertificate({
  keyType: 'p256',
  commonName: 'srv',
  ips: ['127.0.0.1'],
  validFor: DAY,
});
const serverOptions = {
  cert: serverCert.cert,
  key: serverCert.key,
  requestCert: true,
  rejectUnauthorized: false,
} as const;

interface Observed {
  readonly peer: PeerIdentity;
  readonly sameObject: boolean;
  readonly nodeCalls: number;
}

/** Identifies the socket twice, counting how often Node's peer-certificate API is reached. */
function observe(socket: TLSSocket): Observed {
  let nodeCalls = 0;
  const original = socket.getPeerX509Certificate.bind(socket);
  socket.getPeerX509Certificate = () => {
    nodeCalls++;
    return original();
  };
  const peer = peerIdentityOfTlsSocket(socket);
  const again = peerIdentityOfTlsSocket(socket);
  assert.equal(identityOfTlsSocket(socket), peer.leaf);
  assert.equal(kesIdentityOfTlsSocket(socket), peer.kes);
  return { peer, sameObject: peer === again, nodeCalls };
}

describe('peer identity over TLS', () => {
  test('no client certificate: no identity, and the answer is cached', async () => {
    await withTlsServer(serverOptions, observe, async (connect) => {
      const { server } = await connect({ ca: serverCert.cert });
      assert.equal(server.peer.leaf, undefined);
      assert.deepEqual(server.peer.kes, { problem: 'no-certificate' });
      assert.equal(server.sameObject, true);
      assert.equal(server.nodeCalls, 1);
    });
  });

  test('API-key certificate: both rules give the key identity, computed once', async () => {
    const apiKey = ApiKey.generate();
    await withTlsServer(serverOptions, observe, async (connect) => {
      const { server } = await connect({
        ...clientCertificateForApiKey(apiKey),
        ca: serverCert.cert,
      });
      assert.ok(server.peer.leaf?.equals(apiKey.identity));
      assert.equal(server.peer.kes.identity, server.peer.leaf);
      assert.equal(server.sameObject, true);
      assert.equal(server.nodeCalls, 1);
    });
  });

  test('two unrelated non-CA certificates: KES refuses, the leaf rule takes the first', async () => {
    const first = clientCertificateForApiKey(ApiKey.generate());
    const second = createCertificate({ commonName: 'other', validFor: DAY });
    await withTlsServer(serverOptions, observe, async (connect) => {
      const { server } = await connect({
        cert: first.cert + second.cert,
        key: first.key,
        ca: serverCert.cert,
      });
      assert.ok(server.peer.leaf?.equals(first.identity));
      assert.deepEqual(server.peer.kes, { problem: 'multiple-certificates' });
    });
  });

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    test(`${version}: a resumed session still yields the identity`, async () => {
      const apiKey = ApiKey.generate();
      const client = {
        ...clientCertificateForApiKey(apiKey),
        ca: serverCert.cert,
        maxVersion: version,
      };
      await withTlsServer(serverOptions, observe, async (connect) => {
        const full = await connect(client);
        assert.equal(full.reused, false);
        assert.ok(full.session, 'the client received a session');
        const resumed = await connect({ ...client, session: full.session });
        assert.equal(resumed.protocol, version);
        assert.equal(resumed.reused, true);
        assert.ok(resumed.server.peer.leaf?.equals(apiKey.identity));
        assert.ok(resumed.server.peer.kes.identity?.equals(apiKey.identity));
      });
    });
  }
});

describe('cache survives the HTTP layers', () => {
  for (const alpn of ['h2', 'http/1.1'] as const) {
    test(`${alpn}: computed at secureConnection, found again through req.socket`, async () => {
      const apiKey = ApiKey.generate();
      const client = clientCertificateForApiKey(apiKey);
      let atHandshake: PeerIdentity | undefined;
      let nodeCalls = 0;
      const server = createSecureServer({ ...serverOptions, allowHTTP1: true });
      server.on('secureConnection', (socket: TLSSocket) => {
        const original = socket.getPeerX509Certificate.bind(socket);
        socket.getPeerX509Certificate = () => {
          nodeCalls++;
          return original();
        };
        atHandshake = peerIdentityOfTlsSocket(socket);
      });
      const inRequest: PeerIdentity[] = [];
      server.on('request', (req, res) => {
        // Under HTTP/2 each req.socket is a new Proxy of the TLS socket.
        inRequest.push(peerIdentityOfTlsSocket(req.socket as TLSSocket));
        res.end('ok');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      try {
        if (alpn === 'h2') {
          const session = connectHttp2(`https://127.0.0.1:${port}`, {
            ...client,
            ca: serverCert.cert,
          });
          for (let i = 0; i < 3; i++) {
            await new Promise<void>((resolve, reject) => {
              const stream = session.request({ ':path': '/' });
              stream.on('error', reject).resume().on('end', resolve);
            });
          }
          session.close();
        } else {
          const agent = new Agent({ keepAlive: true, ...client, ca: serverCert.cert });
          for (let i = 0; i < 3; i++) {
            await new Promise<void>((resolve, reject) => {
              get({ host: '127.0.0.1', port, agent, path: '/' }, (res) =>
                res.resume().on('end', resolve),
              ).on('error', reject);
            });
          }
          agent.destroy();
        }
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      assert.ok(atHandshake?.leaf?.equals(apiKey.identity));
      assert.equal(inRequest.length, 3);
      for (const peer of inRequest) assert.equal(peer, atHandshake);
      assert.equal(nodeCalls, 1);
    });
  }
});

describe('KES rule with openssl-made CA chains', { skip: skipWithoutOpenssl }, () => {
  test('a CA after the leaf is skipped; a CA leaf has no KES identity', async (t) => {
    const dir = tempDir(t);
    const run = openssl.bind(undefined, dir);
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
      'ed25519',
      '-nodes',
      '-keyout',
      'leaf.key',
      '-out',
      'leaf.csr',
      '-subj',
      '/CN=leaf',
    );
    writeFileSync(
      join(dir, 'leaf.cnf'),
      'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n',
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
      'leaf.cnf',
    );
    const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
    const leafIdentity = identityOfCertificate(new X509Certificate(read('leaf.pem')).raw);
    const caIdentity = identityOfCertificate(new X509Certificate(read('ca.pem')).raw);

    await withTlsServer(serverOptions, observe, async (connect) => {
      // Leaf followed by its CA: the CA is skipped, the leaf is the KES identity.
      const chained = await connect({
        cert: read('leaf.pem') + read('ca.pem'),
        key: read('leaf.key'),
        ca: serverCert.cert,
      });
      assert.ok(chained.server.peer.leaf?.equals(leafIdentity));
      assert.ok(chained.server.peer.kes.identity?.equals(leafIdentity));

      // A self-signed CA:TRUE certificate (openssl req -x509's default) as the client cert:
      // the leaf rule identifies it, KES answers "client certificate is required".
      const caOnly = await connect({
        cert: read('ca.pem'),
        key: read('ca.key'),
        ca: serverCert.cert,
      });
      assert.ok(caOnly.server.peer.leaf?.equals(caIdentity));
      assert.deepEqual(caOnly.server.peer.kes, { problem: 'no-certificate' });

      // CA first, then a leaf: only the CA's key was proven, and KES never skips a CA leaf.
      const caFirst = await connect({
        cert: read('ca.pem') + read('leaf.pem'),
        key: read('ca.key'),
        ca: serverCert.cert,
      });
      assert.ok(caFirst.server.peer.leaf?.equals(caIdentity));
      assert.deepEqual(caFirst.server.peer.kes, { problem: 'no-certificate' });
    });
  });
});

describe('forged certificates after the proven one name no one', () => {
  const attacker = generateKeyPairSync('ed25519').privateKey;
  const victim = ApiKey.generate();
  const forged = hostileCertificate({ spki: spkiOf(victim.privateKey), signer: attacker });
  const attackerKey = attacker.export({ type: 'pkcs8', format: 'pem' }) as string;
  const own = (options: { isCa?: boolean; nonMinimalLength?: boolean }): string =>
    hostileCertificate({ spki: spkiOf(attacker), signer: attacker, ...options });

  test('a CA:TRUE first certificate: the leaf rule names its key, KES refuses', async () => {
    await withTlsServer(serverOptions, observe, async (connect) => {
      const { server } = await connect({
        cert: own({ isCa: true }) + forged,
        key: attackerKey,
        ca: serverCert.cert,
      });
      assert.ok(server.peer.leaf?.equals(identityOfSpki(spkiOf(attacker))));
      assert.deepEqual(server.peer.kes, { problem: 'no-certificate' });
    });
  });

  test('a first certificate the DER reader refuses: no identity under either rule', async () => {
    await withTlsServer(serverOptions, observe, async (connect) => {
      const { server } = await connect({
        cert: own({ nonMinimalLength: true }) + forged,
        key: attackerKey,
        ca: serverCert.cert,
      });
      assert.equal(server.peer.leaf, undefined);
      assert.deepEqual(server.peer.kes, { problem: 'no-certificate' });
    });
  });

  test('a non-CA first certificate: KES refuses the second non-CA one', async () => {
    await withTlsServer(serverOptions, observe, async (connect) => {
      const { server } = await connect({
        cert: own({}) + forged,
        key: attackerKey,
        ca: serverCert.cert,
      });
      assert.ok(server.peer.leaf?.equals(identityOfSpki(spkiOf(attacker))));
      assert.deepEqual(server.peer.kes, { problem: 'multiple-certificates' });
    });
  });
});
