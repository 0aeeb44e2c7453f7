// Migration into a KES-API server: `keyhold kes import-minio-key` (MinIO's static
// MINIO_KMS_SECRET_KEY) and `keyhold kes import-fs` (a KES `fs` keystore directory). Each
// imported key is checked against the server afterwards, so a re-run is safe and a silent
// mismatch is impossible.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hmacSha256, parseKesKeyValue, SecretKey, type KesKeyValue } from '../../crypto/index.ts';
import { isValidName } from '../../model/names.ts';
import { KES_ERRORS, KesConnectionError, KesError, type KesClient } from '../../sdk/kes/index.ts';
import type { Command, ParsedArgs } from '../command.ts';
import { flag, stringOption, UsageError } from '../command.ts';
import { print, printJson } from '../output.ts';
import {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  describeFsError,
  env,
  failure,
  reason,
  VerbError,
  withClient,
} from './connection.ts';

/** Associated data of the probe ciphertexts used to compare a server key with a local one. */
const PROBE_CONTEXT = Buffer.from('keyhold migration check');

/**
 * Compares the server's key `name` with `local`: the server encrypts a random probe, which must
 * open with the local key (same bytes and algorithm); if `local` has an HMAC key, the server's
 * HMAC of the probe must match too. Returns undefined when they match, else the difference.
 */
export async function compareServerKey(
  client: KesClient,
  name: string,
  local: Pick<KesKeyValue, 'key' | 'hmacKey'>,
): Promise<string | undefined> {
  const probe = randomBytes(32);
  const ciphertext = await client.encrypt(name, probe, PROBE_CONTEXT);
  let opened: Buffer;
  try {
    opened = local.key.open(ciphertext, PROBE_CONTEXT);
  } catch {
    return `the server's key '${name}' is a different key (or algorithm) than the one imported`;
  }
  if (!timingSafeEqual(opened, probe))
    return `the server's key '${name}' returned a wrong plaintext`;
  if (local.hmacKey === undefined) return undefined;
  let remote: Buffer;
  try {
    remote = await client.hmac(name, probe);
  } catch (error) {
    return `the server cannot compute HMACs with '${name}' (${reason(error)}); its HMAC key was not kept`;
  }
  const expected = hmacSha256(local.hmacKey, probe);
  if (remote.length !== expected.length || !timingSafeEqual(remote, expected)) {
    return `the server did not keep the HMAC key of '${name}' (HMACs differ)`;
  }
  return undefined;
}

type Outcome = 'imported' | 'exists';

/** Imports `value` as `name`, or finds it already there; then compares (unless `verify` is off). */
export async function importOne(
  client: KesClient,
  name: string,
  value: Pick<KesKeyValue, 'key' | 'hmacKey'>,
  verify: boolean,
): Promise<Outcome> {
  const bytes = value.key.exportKeyMaterial();
  let outcome: Outcome = 'imported';
  try {
    await client.importKey(name, bytes, {
      cipher: value.key.type,
      ...(value.hmacKey !== undefined ? { hmacKey: value.hmacKey } : {}),
    });
  } catch (error) {
    if (!KesError.matches(error, KES_ERRORS.keyExists)) throw error;
    outcome = 'exists';
  } finally {
    bytes.fill(0);
  }
  if (verify || outcome === 'exists') {
    const problem = await compareServerKey(client, name, value);
    if (problem !== undefined) {
      throw new VerbError(outcome === 'imported' ? `imported, but ${problem}` : problem);
    }
  }
  return outcome;
}

/** Where an import run records and prints what happened to each key. */
export interface ImportLedger {
  readonly imported: string[];
  readonly skipped: string[];
  /** Prints one line `STATUS NAME DETAIL` (nothing with --json). */
  report(status: string, name: string, detail: string): void;
  /** Records and prints a key that failed. */
  fail(name: string, error: string): void;
  /** Prints the summary (or the JSON result); returns the exit code. */
  finish(): number;
}

/**
 * Imports `keys` through the server of `args` (with --dry-run only lists them), one line each,
 * skipping keys already there with the same material. A connection error stops the run: every
 * other key would fail the same way. The caller zeroes the keys afterwards.
 */
export async function importKeys(
  args: ParsedArgs,
  keys: readonly { name: string; value: KesKeyValue }[],
  ledger: ImportLedger,
): Promise<number> {
  if (flag(args, 'dry-run')) {
    for (const { name, value } of keys) {
      ledger.imported.push(name);
      ledger.report('ok', name, describeValue(value));
    }
    return ledger.finish();
  }
  return withClient(args, async (client) => {
    for (const { name, value } of keys) {
      try {
        const outcome = await importOne(client, name, value, !flag(args, 'no-verify'));
        if (outcome === 'imported') {
          ledger.imported.push(name);
          ledger.report('imported', name, describeValue(value));
        } else {
          ledger.skipped.push(name);
          ledger.report('skipped', name, 'already on the server with the same key');
        }
      } catch (error) {
        ledger.fail(name, reason(error));
        if (error instanceof KesConnectionError) {
          ledger.finish();
          throw failure('reach the server', error);
        }
      }
    }
    return ledger.finish();
  });
}

/** Parses `name:base64` (MINIO_KMS_SECRET_KEY): a valid key name and 32 bytes. */
export function parseMinioSecretKey(text: string): { name: string; key: Buffer } {
  const trimmed = text.trim();
  const colon = trimmed.indexOf(':');
  if (colon < 0) throw new UsageError("a MinIO secret key is 'NAME:BASE64', found no ':'");
  const name = trimmed.slice(0, colon);
  const encoded = trimmed.slice(colon + 1);
  if (!isValidName(name)) {
    throw new UsageError(
      `the key name '${name}' is not a valid KES key name (1-80 of A-Z a-z 0-9 _ -, no leading or trailing -)`,
    );
  }
  const key = Buffer.from(encoded, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || key.length !== 32) {
    key.fill(0);
    throw new UsageError(`the MinIO secret key '${name}' must be the base64 of 32 bytes`);
  }
  return { name, key };
}

const importMinioKey: Command = {
  words: ['import-minio-key'],
  summary: "Import MinIO's static key (MINIO_KMS_SECRET_KEY)",
  usage: `Usage: keyhold kes import-minio-key [options] [NAME:BASE64]

Imports the key of MinIO's builtin KMS, MINIO_KMS_SECRET_KEY=NAME:BASE64, as an AES256 key
called NAME, then checks that the server holds exactly that key. Every object MinIO encrypted
with the static key stays readable once MinIO uses the server (MINIO_KMS_KES_* variables,
printed at the end; see docs/migration.md). Running it again is safe: an existing key NAME
is compared, not overwritten.

Without an argument the key is read from --file, MINIO_KMS_SECRET_KEY_FILE or
MINIO_KMS_SECRET_KEY, in that order (prefer these: arguments are visible to other users).

Options:
      --file FILE    read NAME:BASE64 from FILE (as MINIO_KMS_SECRET_KEY_FILE)

${CONNECTION_USAGE}
`,
  options: { ...CONNECTION_OPTIONS, file: { type: 'string' } },
  run(args) {
    if (args.positionals.length > 1) throw new UsageError('expected at most one NAME:BASE64');
    const { name, key } = parseMinioSecretKey(minioSecretText(args));
    const secret = new SecretKey('AES256', key);
    key.fill(0);
    return withClient(args, async (client) => {
      let outcome: Outcome;
      try {
        outcome = await importOne(client, name, { key: secret }, true);
      } catch (error) {
        throw failure(`import MinIO's key '${name}'`, error);
      }
      if (flag(args, 'json')) {
        printJson({ name, status: outcome === 'imported' ? 'imported' : 'already-imported' });
        return 0;
      }
      const endpoint = client.endpoints.join(',');
      print(
        (outcome === 'imported'
          ? `Imported MinIO's static key '${name}' as an AES256 key; the server holds the same key.`
          : `The key '${name}' was already imported; the server holds the same key.`) +
          `\n\nNow switch MinIO from MINIO_KMS_SECRET_KEY to this server (remove MINIO_KMS_SECRET_KEY\n` +
          `and MINIO_KMS_SECRET_KEY_FILE) and restart it:\n\n` +
          `  MINIO_KMS_KES_ENDPOINT=${endpoint}\n` +
          `  MINIO_KMS_KES_KEY_NAME=${name}\n` +
          `  MINIO_KMS_KES_API_KEY=kes:v1:…      an API key whose identity may generate and decrypt with '${name}'\n` +
          `  MINIO_KMS_KES_CAPATH=…              the CA certificate of the server's TLS certificate\n\n` +
          `See docs/migration.md for the policy and the checks to run afterwards.`,
      );
      return 0;
    });
  },
};

function minioSecretText(args: ParsedArgs): string {
  const arg = args.positionals[0];
  if (arg !== undefined) return arg;
  const file = stringOption(args, 'file') ?? env('MINIO_KMS_SECRET_KEY_FILE');
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new VerbError(`cannot read MinIO secret key file '${file}': ${describeFsError(error)}`);
    }
  }
  const value = env('MINIO_KMS_SECRET_KEY');
  if (value === undefined) {
    throw new UsageError('no key: give NAME:BASE64, --file FILE, or set MINIO_KMS_SECRET_KEY');
  }
  return value;
}

interface FsResult {
  readonly imported: string[];
  readonly skipped: string[];
  readonly failed: { file: string; error: string }[];
}

const importFs: Command = {
  words: ['import-fs'],
  summary: 'Import every key of a KES fs keystore directory',
  usage: `Usage: keyhold kes import-fs [options] DIR

Imports every key of a KES 'fs' keystore (keystore.fs.path in the KES config): each file in
DIR is one key, named like the file, holding a KES key value (current base64 protobuf, or
legacy JSON). Keys keep their algorithm and, where the value has one, their HMAC key. Each key
is checked against the server after the import.

Prints one line per file and a summary. A key that already exists on the server with the
same key material is reported as skipped (so a re-run is safe); an existing key that differs,
a file that is not a key, or a file name that is not a valid key name is reported as failed
with the file's name, and the command exits 1. Creation times and creators are not kept:
the importing identity and the import time are recorded instead.

Options:
      --dry-run      read and check every file, import nothing
      --no-verify    skip the check after importing (it needs encrypt and hmac permission)

${CONNECTION_USAGE}
`,
  options: {
    ...CONNECTION_OPTIONS,
    'dry-run': { type: 'boolean' },
    'no-verify': { type: 'boolean' },
  },
  async run(args) {
    if (args.positionals.length !== 1) throw new UsageError('expected one keystore directory');
    const dir = args.positionals[0]!;
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch (error) {
      throw new VerbError(`cannot read keystore directory '${dir}': ${describeFsError(error)}`);
    }
    const json = flag(args, 'json');
    const dryRun = flag(args, 'dry-run');
    const result: FsResult = { imported: [], skipped: [], failed: [] };
    const width = Math.max(0, ...entries.map((e) => e.length));
    const report = (status: string, name: string, detail: string): void => {
      if (!json) print(`${status.padEnd(9)} ${name.padEnd(width)}  ${detail}`.trimEnd());
    };
    const fail = (file: string, error: string): void => {
      result.failed.push({ file, error });
      report('failed', file, error);
    };

    const keys: { name: string; value: KesKeyValue }[] = [];
    for (const file of entries) {
      const value = readKeyFile(dir, file, fail);
      if (value !== undefined) keys.push({ name: file, value });
    }
    const finish = (): number => {
      if (json) printJson(result);
      else {
        const verb = dryRun ? 'to import' : 'imported';
        print(
          `\n${result.imported.length} ${verb}, ${result.skipped.length} skipped, ${result.failed.length} failed ` +
            `(${entries.length} files in ${dir})`,
        );
      }
      return result.failed.length === 0 ? 0 : 1;
    };
    try {
      return await importKeys(args, keys, { ...result, report, fail, finish });
    } finally {
      for (const { value } of keys) value.hmacKey?.fill(0);
    }
  },
};

/** Reads and parses one keystore file, reporting (and returning undefined for) bad ones. */
function readKeyFile(
  dir: string,
  file: string,
  fail: (file: string, error: string) => void,
): KesKeyValue | undefined {
  const path = join(dir, file);
  try {
    if (!statSync(path).isFile()) {
      fail(file, 'not a regular file');
      return undefined;
    }
  } catch (error) {
    fail(file, describeFsError(error));
    return undefined;
  }
  if (!isValidName(file)) {
    fail(file, 'the file name is not a valid key name (1-80 of A-Z a-z 0-9 _ -)');
    return undefined;
  }
  let content: Buffer;
  try {
    content = readFileSync(path);
  } catch (error) {
    fail(file, `cannot read: ${describeFsError(error)}`);
    return undefined;
  }
  try {
    return parseKesKeyValue(content);
  } catch (error) {
    fail(file, `not a KES key value: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  } finally {
    content.fill(0);
  }
}

function describeValue(value: KesKeyValue): string {
  return `(${value.key.type}, ${value.hmacKey ? 'with its HMAC key' : 'legacy key without HMAC key'})`;
}

export const MIGRATE_VERBS: readonly Command[] = [importMinioKey, importFs];
