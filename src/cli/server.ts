// `keyhold server [DIR]`: runs one Keyhold node until SIGINT/SIGTERM.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HsmKey } from '../crypto/index.ts';
import { KeyholdServer } from '../server/keyhold-server.ts';
import { VERSION } from '../version.ts';
import type { Command, ParsedArgs } from './command.ts';
import { flag, stringOption, UsageError } from './command.ts';
import { print } from './output.ts';

const DEV_HSM_FILE = 'dev-hsm.key';

export const serverCommand: Command = {
  name: 'server',
  summary: 'Start a Keyhold server',
  usage: `Usage: keyhold server [DIR] [options]

Starts a Keyhold node that keeps its sealed state in DIR (default: ./keyhold-data) and serves
the MinIO KMS API over HTTPS. The HSM key comes from KEYHOLD_HSM_KEY (or MINIO_KMS_HSM_KEY);
create one with 'keyhold hsm new'. Without a configured certificate the server creates a
self-signed one in DIR/certs and says where it is.

Options:
  --address HOST:PORT   listen address (default 0.0.0.0:7373; 127.0.0.1:7373 with --dev)
  --host HOST:PORT      public address clients use (reported by /version, put in the certificate)
  --tls-cert FILE       server certificate (PEM)
  --tls-key FILE        server private key (PEM)
  --audit-log FILE      append one NDJSON audit record per request to FILE
  --dev                 development mode: without an HSM key in the environment, keep a
                        generated one in DIR/${DEV_HSM_FILE} (NOT SAFE: anyone who can read DIR
                        can unseal it)
`,
  options: {
    address: { type: 'string' },
    host: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'audit-log': { type: 'string' },
    dev: { type: 'boolean' },
  },
  async run(args) {
    if (args.positionals.length > 1) throw new UsageError('expected at most one state directory');
    const dir = resolve(args.positionals[0] ?? 'keyhold-data');
    const dev = flag(args, 'dev');
    const hsmKey = await loadHsmKey(dir, dev);
    const tlsCert = stringOption(args, 'tls-cert');
    const tlsKey = stringOption(args, 'tls-key');
    if ((tlsCert === undefined) !== (tlsKey === undefined)) {
      throw new UsageError('--tls-cert and --tls-key go together');
    }
    const server = await KeyholdServer.start({
      dir,
      address: stringOption(args, 'address') ?? (dev ? '127.0.0.1:7373' : '0.0.0.0:7373'),
      hsmKey,
      ...optional('publicHost', stringOption(args, 'host')),
      ...optional('auditFile', stringOption(args, 'audit-log')),
      ...(tlsCert && tlsKey ? { tls: { cert: tlsCert, key: tlsKey } } : {}),
    });
    printBanner(server, dir, args);
    await waitForSignal();
    server.log.info('shutting down');
    await server.close();
    return 0;
  },
};

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]: string });
}

async function loadHsmKey(dir: string, dev: boolean): Promise<HsmKey> {
  const text = process.env.KEYHOLD_HSM_KEY ?? process.env.MINIO_KMS_HSM_KEY;
  if (text !== undefined && text !== '') return HsmKey.parse(text);
  if (!dev) {
    throw new Error(
      "no HSM key: set KEYHOLD_HSM_KEY (create one with 'keyhold hsm new'), or use --dev for a throwaway development server",
    );
  }
  const file = join(dir, DEV_HSM_FILE);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(file)) writeFileSync(file, HsmKey.generate().toString() + '\n', { mode: 0o600 });
  process.stderr.write(
    `\nWARNING: development mode. The HSM key is stored in clear beside the data in\n` +
      `         ${file}\n` +
      `         Anyone who can read that directory can unseal every key. Never use --dev in production.\n\n`,
  );
  return HsmKey.parse(readFileSync(file, 'utf8').trim());
}

function printBanner(server: KeyholdServer, dir: string, args: ParsedArgs): void {
  const endpoint = `https://${stringOption(args, 'host') ?? displayAddress(server.address)}`;
  const lines = [
    `Keyhold ${VERSION}`,
    `Endpoint:    ${endpoint}`,
    `State:       ${dir}`,
    `Certificate: ${server.certificateFiles.cert}${server.certificateCreated ? ' (self-signed, created now)' : ''}`,
  ];
  if (server.rootApiKey) {
    lines.push(`API Key:     ${server.rootApiKey.toK1()}   (root; derived from the HSM key)`);
    lines.push(`Identity:    ${server.rootIdentity}`);
    lines.push('');
    lines.push('Try it:');
    lines.push(
      `  node ${process.argv[1] ?? 'keyhold'} ls-enclave -k -s ${endpoint.slice('https://'.length)} -a ${server.rootApiKey.toK1()}`,
    );
  } else {
    lines.push(`Root:        ${server.rootIdentity || 'disabled'}`);
  }
  print(lines.join('\n'));
}

function displayAddress(address: string): string {
  return address.startsWith('0.0.0.0:') ? `127.0.0.1:${address.slice(8)}` : address;
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
