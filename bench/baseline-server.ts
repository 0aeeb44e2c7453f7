// The benchmark baseline: a bare single-process node:https server with Keyhold's TLS settings
// (client certificate requested, not verified) answering every request with a constant 100-byte
// JSON body. Run as a child process by the benchmark; prints its port.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';

const [certFile, keyFile] = process.argv.slice(2);
if (!certFile || !keyFile) {
  process.stderr.write('usage: baseline-server CERT KEY\n');
  process.exit(2);
}
const body = Buffer.from(JSON.stringify({ message: 'x'.repeat(86) }));
if (body.length !== 100) throw new Error(`baseline body is ${body.length} bytes`);

const server = createServer(
  {
    cert: readFileSync(certFile),
    key: readFileSync(keyFile),
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
    ALPNProtocols: ['http/1.1'],
    keepAliveTimeout: 120_000,
  },
  (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
      res.end(body);
    });
  },
);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`port ${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
