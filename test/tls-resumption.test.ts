// Cheap reconnects: a client that comes back with its TLS session ticket resumes the session on
// whichever worker takes the connection (the workers share ticket keys), and the resumed
// connection is still the same identity to the authorization layer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:tls';
import { clientCertificateForApiKey, parseApiKey } from '../src/identity/index.ts';
import { decodeKmsResponse, encodeKmsRequest } from '../src/protocol/kms/index.ts';
import { startServer, type ServerProcess } from './helpers/server-process.ts';

interface Exchange {
  readonly reused: boolean;
  readonly session: Buffer | undefined;
  readonly status: number;
  readonly body: Buffer;
}

/** One connection, one request (`Connection: close`), optionally resuming `session`. */
function exchange(
  server: ServerProcess,
  apiKey: string,
  body: Buffer,
  session?: Buffer,
): Promise<Exchange> {
  const { cert, key } = clientCertificateForApiKey(parseApiKey(apiKey));
  const port = Number(server.endpoint.split(':')[1]);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      cert,
      key,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      ...(session ? { session } : {}),
    });
    let reused = false;
    let ticket: Buffer | undefined;
    const chunks: Buffer[] = [];
    socket.on('session', (s: Buffer) => (ticket = s));
    socket.on('secureConnect', () => {
      reused = socket.isSessionReused();
      socket.write(
        `POST /v1/kms/default HTTP/1.1\r\nHost: keyhold\r\nContent-Type: application/octet-stream\r\n` +
          `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      );
      socket.write(body);
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw.toString('latin1'))?.[1] ?? 0);
      resolve({ reused, session: ticket, status, body: raw.subarray(split + 4) });
    });
  });
}

describe('TLS session resumption across workers', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer({ args: ['--workers', '2'] });
  });
  after(async () => {
    await server.stop();
  });

  it('resumes every reconnect with a ticket, and the identity stays authorized', async () => {
    const create = encodeKmsRequest('KEY:CREATE', [{ name: 'k', type: '', addVersion: false }]);
    const first = await exchange(server, server.rootApiKey, create);
    assert.equal(first.status, 200);
    assert.equal(first.reused, false);
    assert.ok(first.session, 'the server issued a session ticket');

    const generate = encodeKmsRequest('KEY:GENERATE', [
      { name: 'k', version: 0, associatedData: Buffer.alloc(0), length: 32 },
    ]);
    let session = first.session;
    // Several reconnects: the pool's round robin hands them to both workers.
    for (let i = 0; i < 8; i++) {
      const next = await exchange(server, server.rootApiKey, generate, session);
      assert.equal(next.reused, true, `reconnect ${i} resumed its session`);
      assert.equal(next.status, 200, `reconnect ${i}: ${next.body.toString()}`);
      const [dek] = decodeKmsResponse('KEY:GENERATE', next.body, 1);
      assert.equal(dek!.plaintext.length, 32);
      session = next.session ?? session;
    }
  });

  it('keeps a resumed identity to its own permissions (an unknown key is still refused)', async () => {
    // A fresh API key the server does not know: full handshake and resumption both get 403.
    const stranger = 'k1:' + Buffer.alloc(32, 7).toString('base64url');
    const status = encodeKmsRequest('KEY:STATUS', [{ name: 'k', version: 0 }]);
    const first = await exchange(server, stranger, status);
    assert.equal(first.status, 403);
    const resumed = await exchange(server, stranger, status, first.session);
    assert.equal(resumed.reused, true);
    assert.equal(resumed.status, 403);
  });
});
