// The scale benchmark: create N keys through the KMS API, then measure resident memory, restart
// time to ready, listing every key, and generate throughput against the large enclave beside a
// 10-key one. Everything over mTLS against a real server process.

import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { clientCertificateForApiKey, parseApiKey } from '../src/identity/index.ts';
import { decodeKmsResponse, encodeKmsRequest } from '../src/protocol/kms/index.ts';
import { startServer, tempDir } from '../test/helpers/server-process.ts';
import type { LoadSpec } from './load.ts';
import { goLoad, nodeLoad, treeRssBytes } from './load.ts';

export interface ScaleResult {
  readonly keys: number;
  readonly createSeconds: number;
  readonly rssBytes: number;
  readonly restartSeconds: number;
  readonly restartRssBytes: number;
  readonly listSeconds: number;
  readonly listed: number;
  readonly generateLarge: number;
  readonly generateSmall: number;
}

const CONCURRENCY = 128;

export async function runScale(
  keys: number,
  goBinary: string | null,
  work: string,
): Promise<ScaleResult> {
  const { dir, remove } = tempDir('keyhold-scale-');
  try {
    let server = await startServer({ dir, timeout: 60_000 });
    const call = client(server.endpoint, server.rootApiKey);
    await call('/v1/kms', encodeKmsRequest('ENCLAVE:CREATE', [{ name: 'small' }]));
    for (let i = 0; i < 10; i++) {
      await call(
        '/v1/kms/small',
        encodeKmsRequest('KEY:CREATE', [{ name: `s${i}`, type: '', addVersion: false }]),
      );
    }

    const started = performance.now();
    let next = 0;
    let done = 0;
    const progressEvery = Math.max(1, Math.floor(keys / 10));
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < keys; i = next++) {
          const status = await call(
            '/v1/kms/default',
            encodeKmsRequest('KEY:CREATE', [{ name: keyName(i), type: '', addVersion: false }]),
            true,
          );
          if (status !== 200) throw new Error(`creating key ${i} answered ${String(status)}`);
          if (++done % progressEvery === 0)
            process.stderr.write(`scale: ${done} of ${keys} keys created\n`);
        }
      }),
    );
    const createSeconds = (performance.now() - started) / 1000;
    const rssBytes = treeRssBytes(server.child.pid!);
    await server.stop();

    const restartStarted = performance.now();
    server = await startServer({ dir, timeout: 120_000 });
    const restartSeconds = (performance.now() - restartStarted) / 1000;
    const restartRssBytes = treeRssBytes(server.child.pid!);

    const list = client(server.endpoint, server.rootApiKey);
    const listStarted = performance.now();
    let listed = 0;
    let continueAt = '';
    do {
      const body = await list(
        '/v1/kms/default',
        encodeKmsRequest('KEY:LIST', [{ prefix: '', continueAt, limit: 1024 }]),
      );
      const [page] = decodeKmsResponse('KEY:LIST', body as Buffer);
      listed += page!.keys.length;
      continueAt = page!.continueAt;
    } while (continueAt !== '');
    const listSeconds = (performance.now() - listStarted) / 1000;

    const generate = async (enclave: string, name: string): Promise<number> => {
      const body = encodeKmsRequest('KEY:GENERATE', [
        { name, version: 0, associatedData: Buffer.from('{}'), length: 32 },
      ]);
      const spec: LoadSpec = {
        url: `https://${server.endpoint}/v1/kms/${enclave}`,
        method: 'POST',
        body,
        apiKey: server.rootApiKey,
        connections: 32,
        warmupMs: 1000,
        durationMs: 3000,
      };
      const file = join(work, 'scale-body.bin');
      writeFileSync(file, body);
      return (goBinary ? await goLoad(goBinary, spec, file) : await nodeLoad(spec)).rps;
    };
    const generateLarge = await generate('default', keyName(Math.floor(keys / 2)));
    const generateSmall = await generate('small', 's5');
    await server.stop();
    return {
      keys,
      createSeconds,
      rssBytes,
      restartSeconds,
      restartRssBytes,
      listSeconds,
      listed,
      generateLarge,
      generateSmall,
    };
  } finally {
    remove();
  }
}

function keyName(i: number): string {
  return `key-${String(i).padStart(8, '0')}`;
}

/** A keep-alive KMS caller; resolves with the status (statusOnly) or the body of a 200. */
function client(
  endpoint: string,
  apiKey: string,
): (path: string, body: Buffer, statusOnly?: boolean) => Promise<number | Buffer> {
  const cert = clientCertificateForApiKey(parseApiKey(apiKey));
  const agent = new Agent({
    keepAlive: true,
    maxSockets: CONCURRENCY,
    cert: cert.cert,
    key: cert.key,
    rejectUnauthorized: false,
  });
  const [host, port] = [
    endpoint.slice(0, endpoint.lastIndexOf(':')),
    endpoint.slice(endpoint.lastIndexOf(':') + 1),
  ];
  return (path, body, statusOnly = false) =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host,
          port,
          path,
          method: 'POST',
          agent,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (statusOnly) resolve(res.statusCode ?? 0);
            else if (res.statusCode !== 200)
              reject(new Error(`${path} answered ${String(res.statusCode)}`));
            else resolve(Buffer.concat(chunks));
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}
