// How `keyhold kes` verbs reach a server: the `kes` CLI's environment variables (docs/protocol/kes.md
// §10), the matching flags, and turning them into a KesClient; plus the failure message format.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Options, ParsedArgs } from '../command.ts';
import { flag, stringOption, UsageError } from '../command.ts';
import { KesClient, KesConnectionError, KesError, parseKesEndpoints } from '../../sdk/kes/index.ts';
import { envVar } from '../io.ts';

/** Options every verb that talks to a server accepts. */
export const CONNECTION_OPTIONS: Options = {
  server: { type: 'string', short: 's' },
  'api-key': { type: 'string', short: 'a' },
  'client-cert': { type: 'string' },
  'client-key': { type: 'string' },
  ca: { type: 'string' },
  insecure: { type: 'boolean', short: 'k' },
  enclave: { type: 'string', short: 'e' },
  json: { type: 'boolean' },
};

/** The help text block for {@link CONNECTION_OPTIONS}. */
export const CONNECTION_USAGE = `Connection options (flags win over the environment):
  -s, --server HOST:PORT[,…]  server endpoints, comma-separated
                              (env MINIO_KES_SERVER, KES_SERVER, MINIO_KMS_KES_ENDPOINT;
                              default 127.0.0.1:7373)
  -a, --api-key KEY           kes:v1: (or k1:) API key
                              (env MINIO_KES_API_KEY, KES_API_KEY, MINIO_KMS_KES_API_KEY)
      --client-cert FILE      client certificate, PEM (env MINIO_KES_CERT_FILE, KES_CLIENT_CERT)
      --client-key FILE       client private key, PEM (env MINIO_KES_KEY_FILE, KES_CLIENT_KEY)
      --ca FILE|DIR           CA certificate(s) for the server's certificate
                              (env KES_CA, MINIO_KMS_KES_CAPATH; default: system roots)
  -k, --insecure              do not verify the server's certificate
  -e, --enclave NAME          enclave to address (env KES_ENCLAVE; default: the server's)
      --json                  print JSON`;

/** The first non-empty environment variable among `names`. */
export const env = envVar;

/** Builds a client from the connection flags and environment. Throws UsageError on conflicts. */
export function clientFrom(args: ParsedArgs): KesClient {
  const server =
    stringOption(args, 'server') ??
    env('MINIO_KES_SERVER', 'KES_SERVER', 'MINIO_KMS_KES_ENDPOINT') ??
    '127.0.0.1:7373';
  let endpoints: string[];
  try {
    endpoints = parseKesEndpoints(server);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (endpoints.length === 0) throw new UsageError('no server endpoint given');

  const flagKey = stringOption(args, 'api-key');
  const flagCert = stringOption(args, 'client-cert');
  const flagPrivateKey = stringOption(args, 'client-key');
  if (flagKey !== undefined && (flagCert !== undefined || flagPrivateKey !== undefined)) {
    throw new UsageError('--api-key and --client-cert/--client-key are mutually exclusive');
  }
  const usesFlags = flagKey !== undefined || flagCert !== undefined || flagPrivateKey !== undefined;
  const apiKey = usesFlags
    ? flagKey
    : env('MINIO_KES_API_KEY', 'KES_API_KEY', 'MINIO_KMS_KES_API_KEY');
  const certFile = usesFlags
    ? flagCert
    : env('MINIO_KES_CERT_FILE', 'KES_CLIENT_CERT', 'MINIO_KES_CLIENT_CERT');
  const keyFile = usesFlags
    ? flagPrivateKey
    : env('MINIO_KES_KEY_FILE', 'KES_CLIENT_KEY', 'MINIO_KES_CLIENT_KEY');
  if (apiKey !== undefined && (certFile !== undefined || keyFile !== undefined)) {
    throw new UsageError(
      'both an API key and a client certificate are configured (check KES_API_KEY and KES_CLIENT_CERT/KES_CLIENT_KEY); use one',
    );
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError(
      'a client certificate needs its private key (--client-cert with --client-key)',
    );
  }
  if (apiKey === undefined && certFile === undefined) {
    throw new UsageError(
      'no credentials: set KES_API_KEY (or --api-key), or KES_CLIENT_CERT and KES_CLIENT_KEY',
    );
  }
  const ca = stringOption(args, 'ca') ?? env('KES_CA', 'MINIO_KMS_KES_CAPATH');
  const enclave = stringOption(args, 'enclave') ?? env('KES_ENCLAVE');
  return new KesClient({
    endpoints,
    ...(apiKey !== undefined ? { apiKey } : {}),
    ...(certFile !== undefined ? { cert: readFile(certFile, 'client certificate') } : {}),
    ...(keyFile !== undefined ? { key: readFile(keyFile, 'client private key') } : {}),
    ...(ca !== undefined ? { ca: readCertificates(ca) } : {}),
    insecure: flag(args, 'insecure'),
    ...(enclave !== undefined ? { enclave } : {}),
  });
}

/** Runs `body` with a client and closes it afterwards. */
export async function withClient<T>(
  args: ParsedArgs,
  body: (client: KesClient) => Promise<T>,
): Promise<T> {
  const client = clientFrom(args);
  try {
    return await body(client);
  } finally {
    client.close();
  }
}

/**
 * An error of a verb, printed as `keyhold: <doing>: <reason>` (exit code 1). The reason is the
 * server's exact message for API errors.
 */
export class VerbError extends Error {
  override readonly name = 'VerbError';
}

/** `failed to <doing>: <server message or connection error>`. */
export function failure(doing: string, error: unknown): VerbError {
  return new VerbError(`failed to ${doing}: ${reason(error)}`);
}

/** The human-readable reason of an SDK error. */
export function reason(error: unknown): string {
  if (error instanceof KesError) return error.message;
  if (error instanceof KesConnectionError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

function readFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new VerbError(`cannot read ${what} '${file}': ${describeFsError(error)}`);
  }
}

/** A CA file, or every file holding a certificate in a CA directory. */
function readCertificates(path: string): Buffer[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (error) {
    throw new VerbError(`cannot read CA certificates '${path}': ${describeFsError(error)}`);
  }
  if (!isDir) return [readFile(path, 'CA certificate')];
  const certs = readdirSync(path)
    .map((name) => join(path, name))
    .filter((file) => statSync(file).isFile())
    .map((file) => readFileSync(file))
    .filter((content) => content.includes('-----BEGIN CERTIFICATE-----'));
  if (certs.length === 0) throw new VerbError(`no PEM certificate in CA directory '${path}'`);
  return certs;
}

export function describeFsError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return error instanceof Error ? error.message : String(error);
}
