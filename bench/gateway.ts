// `npm run bench:gateway`: KES generate and decrypt through a KES gateway (keys in an `fs` key
// store, warm cache) beside the embedded store, in the same run and on the same machine, and the
// cost of a cache miss (first use of a key: a store read and a parse). Both servers run as one
// process (a gateway always does). Prints a table and one JSON line.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiKey, KesClient } from '../src/sdk/index.ts';
import { createCertificate } from '../src/identity/index.ts';
import { startServer } from '../test/helpers/server-process.ts';
import type { ServerProcess } from '../test/helpers/server-process.ts';
import { nodeLoad, sleep } from './load.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '4000' },
    warmup: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '16' },
    misses: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '3' },
  },
});
const work = mkdtempSync(join(tmpdir(), 'keyhold-bench-gateway-'));

async function main(): Promise<void> {
  const admin = ApiKey.generate('k1');
  const tls = createCertificate({
    keyType: 'p256',
    commonName: 'bench',
    ips: ['127.0.0.1'],
    validFor: 3600_000,
  });
  writeFileSync(join(work, 'server.key'), tls.key);
  writeFileSync(join(work, 'server.cert'), tls.cert);
  const config = join(work, 'gateway.yml');
  writeFileSync(
    config,
    `admin:\n  identity: ${admin.identity.toHex()}\ntls:\n  key: ${join(work, 'server.key')}\n  cert: ${join(work, 'server.cert')}\n` +
      `keystore:\n  fs:\n    path: ${join(work, 'keys')}\n`,
  );
  const embedded = await startServer({ args: ['--workers', '0'], timeout: 30_000 });
  const gateway = await startServer({
    args: ['--workers', '0', '--config', config],
    timeout: 30_000,
  });
  const servers: [string, ServerProcess, string][] = [
    ['embedded', embedded, embedded.rootApiKey],
    ['gateway (fs, warm)', gateway, admin.toK1()],
  ];
  const rows: { scenario: string; server: string; rps: number; p50_us: number; p99_us: number }[] =
    [];
  try {
    const context = Buffer.from('{"bucket":"bucket/object"}').toString('base64');
    const ciphertexts = new Map<string, string>();
    for (const [name, server, apiKey] of servers) {
      const client = new KesClient({ endpoints: server.endpoint, apiKey, insecure: true });
      await client.createKey('bench');
      const dek = await client.generateKey('bench', Buffer.from(context, 'base64'));
      ciphertexts.set(name, dek.ciphertext.toString('base64'));
    }
    // Alternating rounds: the machine is shared, so one pair of runs says little.
    for (let round = 0; round < Number(values.rounds); round++)
      for (const scenario of ['generate', 'decrypt'] as const) {
        for (const [name, server, apiKey] of servers) {
          const body =
            scenario === 'generate' ? { context } : { ciphertext: ciphertexts.get(name), context };
          const result = await nodeLoad({
            url: `https://${server.endpoint}/v1/key/${scenario}/bench`,
            method: 'PUT',
            body: Buffer.from(JSON.stringify(body)),
            contentType: 'application/json',
            apiKey,
            connections: Number(values.connections),
            warmupMs: Number(values.warmup),
            durationMs: Number(values.duration),
          });
          rows.push({
            scenario,
            server: name,
            rps: result.rps,
            p50_us: result.p50_us,
            p99_us: result.p99_us,
          });
          await sleep(200);
        }
      }

    // Cache misses: the first use of each of N keys reads it from the store; the second is a hit.
    const client = new KesClient({
      endpoints: gateway.endpoint,
      apiKey: admin.toK1(),
      insecure: true,
    });
    const n = Number(values.misses);
    for (let i = 0; i < n; i++) await client.createKey(`miss-${i}`);
    const timeAll = async (): Promise<number> => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await client.generateKey(`miss-${i}`);
      return Number(process.hrtime.bigint() - t0) / 1000 / n;
    };
    const missUs = await timeAll();
    const hitUs = await timeAll();

    /** Median over the rounds of gateway / embedded requests per second. */
    const ratio = (scenario: string): number => {
      const of = (server: string) =>
        rows.filter((r) => r.scenario === scenario && r.server === server);
      const embeddedRuns = of('embedded');
      const ratios = of('gateway (fs, warm)')
        .map((r, i) => r.rps / embeddedRuns[i]!.rps)
        .sort((x, y) => x - y);
      return ratios[Math.floor(ratios.length / 2)]!;
    };
    const table = rows
      .map(
        (r) =>
          `${`KES ${r.scenario}`.padEnd(14)} ${r.server.padEnd(20)} ${r.rps.toFixed(0).padStart(8)} req/s  p50 ${r.p50_us.toFixed(0)} µs  p99 ${r.p99_us.toFixed(0)} µs`,
      )
      .join('\n');
    process.stdout.write(
      `${table}\n\ngateway / embedded (median of rounds): generate ${ratio('generate').toFixed(2)}×, decrypt ${ratio('decrypt').toFixed(2)}× (target ≥ 0.9×)\n` +
        `cache miss (fs store, sequential, one connection): ${missUs.toFixed(0)} µs per request vs ${hitUs.toFixed(0)} µs warm: ${(missUs - hitUs).toFixed(0)} µs per miss\n`,
    );
    process.stdout.write(
      JSON.stringify({
        rows,
        ratio: { generate: ratio('generate'), decrypt: ratio('decrypt') },
        cacheMissUs: missUs - hitUs,
      }) + '\n',
    );
  } finally {
    await embedded.stop();
    await gateway.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
