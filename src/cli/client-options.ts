// The global flags of every KMS client command (-s/--server, -a/--api-key, -e/--enclave,
// -k/--insecure, --ca, --json) with their environment fallbacks, turned into a KmsClient.

import { readFileSync } from 'node:fs';
import { parseIdentity } from '../identity/index.ts';
import { KmsClient, KmsConnectionError } from '../sdk/index.ts';
import type { Command, Options, ParsedArgs } from './command.ts';
import { flag, stringOption, UsageError } from './command.ts';
import { envVar } from './io.ts';

/** Where a command sends its request when neither a flag nor the environment names a server. */
export const DEFAULT_SERVER = '127.0.0.1:7373';

/** The global options, merged into every KMS client command's own. */
export const CLIENT_OPTIONS = {
  server: { type: 'string', short: 's' },
  'api-key': { type: 'string', short: 'a' },
  enclave: { type: 'string', short: 'e' },
  insecure: { type: 'boolean', short: 'k' },
  ca: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies Options;

/** The usage text of the global options. */
export const CLIENT_OPTIONS_USAGE = `Global options:
  -s, --server HOST:PORT[,…]  server(s) to talk to; env KEYHOLD_SERVER, then MINIO_KMS_SERVER
                              (comma-separated, https:// optional; default ${DEFAULT_SERVER})
  -a, --api-key KEY           API key (k1:… or k2:…); env KEYHOLD_API_KEY, then MINIO_KMS_API_KEY
  -e, --enclave NAME          enclave; env KEYHOLD_ENCLAVE, then MINIO_KMS_ENCLAVE
                              (default: the server's default enclave)
  -k, --insecure              do not verify the server certificate
      --ca FILE               CA certificate (PEM) that signs the server certificate
      --json                  print JSON instead of a table
  -h, --help                  show this help`;

const env = envVar;

/** The enclave the command acts in: -e, then the environment, else '' (server default). */
export function enclaveOf(args: ParsedArgs): string {
  return stringOption(args, 'enclave') ?? env('KEYHOLD_ENCLAVE', 'MINIO_KMS_ENCLAVE') ?? '';
}

/** True when --json was given. */
export function wantsJson(args: ParsedArgs): boolean {
  return flag(args, 'json');
}

/**
 * Builds the client of a command from the global flags and the environment. An API key is
 * required (every KMS command authenticates); `servers` overrides -s (e.g. a positional HOST).
 */
export function clientFromArgs(args: ParsedArgs, servers?: string): KmsClient {
  const server =
    servers ??
    stringOption(args, 'server') ??
    env('KEYHOLD_SERVER', 'MINIO_KMS_SERVER') ??
    DEFAULT_SERVER;
  const apiKey = stringOption(args, 'api-key') ?? env('KEYHOLD_API_KEY', 'MINIO_KMS_API_KEY');
  if (apiKey === undefined) {
    throw new UsageError('no API key: pass -a/--api-key or set KEYHOLD_API_KEY');
  }
  const caFile = stringOption(args, 'ca');
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile);
    } catch (error) {
      throw new UsageError(`cannot read --ca ${caFile}: ${(error as Error).message}`);
    }
  }
  try {
    return new KmsClient({
      endpoints: server,
      apiKey,
      enclave: enclaveOf(args),
      tls: { insecure: flag(args, 'insecure'), ca },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** What a KMS client command's `run` gets. */
export interface ClientContext {
  readonly client: KmsClient;
  readonly args: ParsedArgs;
  readonly json: boolean;
  /** The enclave acted in ('' = the server's default). */
  readonly enclave: string;
}

/** Describes one KMS client command; `defineClientCommand` adds the global flags and help. */
export interface ClientCommandSpec {
  readonly name: string;
  readonly summary: string;
  /** The synopsis after `keyhold NAME`, e.g. `NAME [--type AES256|ChaCha20]`. */
  readonly synopsis: string;
  /** What the command does (paragraphs). */
  readonly description: string;
  /** The command's own options and their help lines. */
  readonly options?: Options;
  readonly optionsUsage?: string;
  /** Positional arguments allowed: [min, max] (max Infinity for lists). */
  readonly positionals: readonly [number, number];
  /** Builds the client itself (e.g. from a positional host); default: from the global flags. */
  readonly client?: (args: ParsedArgs) => KmsClient;
  run(ctx: ClientContext): Promise<number | undefined>;
}

/** Wraps a spec into a Command: usage text, argument count check, client lifetime. */
export function defineClientCommand(spec: ClientCommandSpec): Command {
  const own = spec.optionsUsage === undefined ? '' : `Options:\n${spec.optionsUsage}\n\n`;
  return {
    words: [spec.name],
    summary: spec.summary,
    usage: `Usage: keyhold ${spec.name} ${spec.synopsis}\n\n${spec.description}\n\n${own}${CLIENT_OPTIONS_USAGE}\n`,
    options: { ...CLIENT_OPTIONS, ...spec.options },
    async run(args) {
      const [min, max] = spec.positionals;
      const n = args.positionals.length;
      if (n < min || n > max) {
        const expected =
          min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
        throw new UsageError(
          `expected ${expected} argument${min === 1 && max === 1 ? '' : 's'}, got ${n}`,
        );
      }
      const client = spec.client ? spec.client(args) : clientFromArgs(args);
      try {
        return (
          (await spec.run({ client, args, json: wantsJson(args), enclave: enclaveOf(args) })) ?? 0
        );
      } catch (error) {
        throw withHint(error);
      } finally {
        client.close();
      }
    },
  };
}

const CERTIFICATE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/;

/** Adds what to do to a server-certificate failure (the first thing a new user runs into). */
function withHint(error: unknown): unknown {
  if (!(error instanceof KmsConnectionError)) return error;
  const certificate = error.failures.some((f) =>
    CERTIFICATE_ERROR.test((f.error as NodeJS.ErrnoException).code ?? ''),
  );
  if (!certificate) return error;
  return new Error(
    `${error.message}: pass --ca FILE with the certificate that signs the server's, ` +
      'or -k to skip verification',
    { cause: error },
  );
}

/** Parses an identity argument (`h1:…` or hex) into the `h1:` form the KMS API uses. */
export function identityArgument(text: string): string {
  try {
    return parseIdentity(text).toH1();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Parses a non-negative integer option (a key version, a length, a count). */
export function integerOption(
  args: ParsedArgs,
  name: string,
  min = 0,
  max = 0xffff_ffff,
): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${text}'`);
  }
  return value;
}

/** An empty enclave shown as the server's default. */
export function enclaveLabel(enclave: string): string {
  return enclave === '' ? '(default)' : enclave;
}
