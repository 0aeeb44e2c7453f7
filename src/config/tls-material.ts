// The server's TLS material from a config file: certificate chain, private key (optionally
// password-protected), and the CAs that verify clients with `tls.auth: on`. Read and checked at
// start and on every reload, so a broken file is reported and the old material stays in use.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { ConfigError } from './config-source.ts';
import type { TlsConfig } from './server-config.ts';

/** What a TLS server context is built from. */
export interface TlsMaterial {
  /** PEM certificate chain (leaf first). */
  readonly cert: Buffer;
  /** PEM private key, possibly encrypted (then `passphrase` opens it). Secret. */
  readonly key: Buffer;
  readonly passphrase?: string;
  /** Whether clients must present a certificate `ca` verifies (`tls.auth: on`). */
  readonly verifyClients: boolean;
  /** CAs (PEM) for verifying clients; set only with `verifyClients`, so none are advertised otherwise. */
  readonly ca?: readonly Buffer[];
}

/** Reads and checks the files `tls` names; throws ConfigError naming the config line. */
export async function loadTlsMaterial(tls: TlsConfig): Promise<TlsMaterial> {
  const cert = await read(tls.cert, tls.where.cert, 'certificate');
  const key = await read(tls.key, tls.where.key, 'private key');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new ConfigError(
      `${tls.where.cert}: invalid TLS certificate '${tls.cert}': ${(error as Error).message}`,
    );
  }
  if (!/(?:^|, )(?:DNS|IP Address):/.test(leaf.subjectAltName ?? '')) {
    throw new ConfigError(
      `${tls.where.cert}: invalid TLS certificate: certificate does not contain any DNS or IP address as SAN`,
    );
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(
      tls.password === undefined ? { key } : { key, passphrase: tls.password },
    );
  } catch (error) {
    const encrypted = /ENCRYPTED/.test(key.toString('latin1'));
    throw new ConfigError(
      `${tls.where.key}: cannot load the private key '${tls.key}': ` +
        (encrypted && tls.password === undefined
          ? 'it is encrypted: set tls.password'
          : (error as Error).message),
    );
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new ConfigError(
      `${tls.where.key}: the private key '${tls.key}' does not belong to the certificate '${tls.cert}'`,
    );
  }
  let ca: Buffer[] | undefined;
  if (tls.verifyClients) {
    ca =
      tls.ca === undefined ? rootCertificates.map((pem) => Buffer.from(pem)) : await readCas(tls);
  }
  return {
    cert,
    key,
    ...(tls.password === undefined ? {} : { passphrase: tls.password }),
    verifyClients: tls.verifyClients,
    ...(ca ? { ca } : {}),
  };
}

async function read(path: string, where: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new ConfigError(
      `${where}: cannot read the ${what} '${path}': ${(error as Error).message}`,
    );
  }
}

/** `tls.ca`: one PEM file, or every file in a directory that holds PEM certificates. */
async function readCas(tls: TlsConfig): Promise<Buffer[]> {
  const path = tls.ca!;
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (error) {
    throw new ConfigError(
      `${tls.where.ca}: cannot read tls.ca '${path}': ${(error as Error).message}`,
    );
  }
  const files = isDir ? (await readdir(path)).sort().map((name) => join(path, name)) : [path];
  const out: Buffer[] = [];
  for (const file of files) {
    const pem = await read(file, tls.where.ca, 'CA certificate');
    if (pem.includes('-----BEGIN CERTIFICATE-----')) out.push(pem);
    else if (!isDir) {
      throw new ConfigError(`${tls.where.ca}: tls.ca '${file}' holds no PEM certificate`);
    }
  }
  if (out.length === 0) {
    throw new ConfigError(`${tls.where.ca}: tls.ca '${path}' holds no PEM certificate`);
  }
  return out;
}
