// The server's TLS certificate: the configured files, or a self-signed certificate created once
// in the state directory (so clients can pin it across restarts).

import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createCertificate } from '../identity/index.ts';

export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

export interface LoadedCertificate {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly files: CertificateFiles;
  /** True when this call created a new self-signed certificate. */
  readonly created: boolean;
}

const YEAR_MS = 365 * 24 * 60 * 60 * 1000;

/**
 * Loads `files`, or (when none are configured) the self-signed certificate in `DIR/certs/`,
 * creating it with SANs for localhost, the loopback addresses, this host's name and `publicHost`.
 */
export async function loadServerCertificate(
  dir: string,
  files: CertificateFiles | undefined,
  publicHost: string | undefined,
): Promise<LoadedCertificate> {
  if (files) {
    return {
      cert: await readFile(files.cert),
      key: await readFile(files.key),
      files,
      created: false,
    };
  }
  const certs = join(dir, 'certs');
  const own = { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') };
  if (existsSync(own.cert) && existsSync(own.key)) {
    return {
      cert: await readFile(own.cert),
      key: await readFile(own.key),
      files: own,
      created: false,
    };
  }
  const ips = ['127.0.0.1', '::1'];
  const dnsNames = ['localhost', hostname()];
  const host = publicHost?.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (host) (isIP(host) ? ips : dnsNames).push(host);
  const generated = createCertificate({
    keyType: 'p256',
    commonName: 'keyhold',
    ips: [...new Set(ips)],
    dnsNames: [...new Set(dnsNames)],
    validFor: YEAR_MS,
    serverAuth: true,
    clientAuth: false,
  });
  await mkdir(certs, { recursive: true, mode: 0o700 });
  await writeFile(own.key, generated.key, { mode: 0o600 });
  await chmod(own.key, 0o600);
  await writeFile(own.cert, generated.cert, { mode: 0o644 });
  return {
    cert: Buffer.from(generated.cert),
    key: Buffer.from(generated.key),
    files: own,
    created: true,
  };
}
