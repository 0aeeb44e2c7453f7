// `keyhold identity`: API keys and identities, computed offline. Without a verb it keeps the
// minkms-style behaviour (a fresh k1: key; the identity of an API key; the root key of an HSM
// key); `identity new` and `identity of` are the `kes identity` verbs (docs/protocol/kes.md).

import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { HsmKey } from '../crypto/index.ts';
import {
  ApiKey,
  createCertificate,
  identityOfCertificate,
  identityOfSpki,
  parseApiKey,
} from '../identity/index.ts';
import type { Command, Options, ParsedArgs } from './command.ts';
import { flag, stringOption, UsageError } from './command.ts';
import { describeFsError, VerbError } from './kes/connection.ts';
import { parseDuration } from './kes/duration.ts';
import { print, printJson } from './output.ts';

/** `identity new` certificates are valid this long unless `--expiry` says otherwise (KES: 720h). */
export const DEFAULT_CERTIFICATE_EXPIRY = '720h';

/** Options of `identity new` (and `identity of`, which only uses `--json`). */
export const IDENTITY_NEW_OPTIONS: Options = {
  key: { type: 'string' },
  cert: { type: 'string' },
  ip: { type: 'string', multiple: true },
  dns: { type: 'string', multiple: true },
  expiry: { type: 'string' },
  force: { type: 'boolean', short: 'f' },
  json: { type: 'boolean' },
};

/** Help of `identity new`, with the command prefix to show. */
export function identityNewUsage(prefix: string): string {
  return `Usage: ${prefix} new [options] [NAME]

Creates a new Ed25519 identity for the KES API.

Without --key/--cert: prints a new 'kes:v1:' API key and its identity (the lowercase hex
SHA-256 of its public key), for KES_API_KEY / MINIO_KMS_KES_API_KEY.

With --key FILE --cert FILE: also writes the private key (PKCS#8 PEM, mode 0600) and a
self-signed certificate for it (PEM, mode 0644) usable as a client certificate (mTLS) and as
a server certificate: common name NAME (default: the identity), subject alternative names
from --ip and --dns, both server and client authentication, valid for --expiry.

Options:
      --key FILE          write the private key to FILE
      --cert FILE         write the certificate to FILE
      --ip IP             add an IP address SAN (repeatable)
      --dns NAME          add a DNS name SAN (repeatable)
      --expiry DURATION   certificate validity (default ${DEFAULT_CERTIFICATE_EXPIRY}; e.g. 8760h, 90d)
  -f, --force             overwrite existing files
      --json              print {"api_key","identity"[,"private_key","certificate"]}
`;
}

/** Help of `identity of`. */
export function identityOfUsage(prefix: string): string {
  return `Usage: ${prefix} of [--json] API_KEY | CERT_FILE | KEY_FILE

Prints the identity of an API key, of a certificate (PEM or DER; the SHA-256 of its
SubjectPublicKeyInfo, as KES computes it) or of a private key's public key.
kes:v1: keys and certificates print the KES form (64 hex digits); k1: keys the KMS form (h1:).
`;
}

export const identityCommand: Command = {
  words: ['identity'],
  summary: 'Create an API key or identity, or show the identity of a key or certificate',
  usage: `Usage: keyhold identity [k1:API_KEY | k2:API_KEY | kes:v1:API_KEY | hsm:aes256:HSM_KEY | FILE] [--json]
       keyhold identity new [--key FILE --cert FILE] [--ip IP]... [--dns NAME]... [--expiry D] [-f] [NAME]
       keyhold identity of API_KEY | CERT_FILE | KEY_FILE

Without an argument, creates a new k1: API key (KMS API) and prints it with its identity.
With an API key, prints the identity that key authenticates as.
With an HSM key, prints the root API key a server with that HSM key accepts.
With a certificate file, prints its identity; with an Ed25519 private key file (PEM), prints
the kes:v1: API key it corresponds to and its identity.

'identity new' creates a kes:v1: API key, and with --key/--cert also a key file and a
self-signed certificate ('keyhold identity new --help'). 'identity of' computes identities
('keyhold identity of --help').

Options:
  --json    print {"api_key": "...", "identity": "..."}
`,
  options: IDENTITY_NEW_OPTIONS,
  run(args) {
    const [verb, ...rest] = args.positionals;
    if (verb === 'new') return identityNew({ values: args.values, positionals: rest });
    if (verb === 'of') return identityOf({ values: args.values, positionals: rest });
    refuseNewOptions(args, 'keyhold identity');
    if (args.positionals.length > 1) throw new UsageError('expected at most one argument');
    const arg = args.positionals[0];
    if (arg === undefined) return printKey(args, ApiKey.generate('k1'));
    if (arg.startsWith('hsm:')) {
      return printKey(args, ApiKey.fromSeed(HsmKey.parse(arg).rootApiKeySeed(), 'k1'));
    }
    const apiKey = tryApiKey(arg);
    if (apiKey !== undefined) return printIdentity(args, identityText(apiKey));
    const file = readIdentityFile(arg);
    if (file.privateKey !== undefined) {
      return printKey(args, ApiKey.fromPrivateKey(file.privateKey, 'kes'));
    }
    return printIdentity(args, file.identity);
  },
};

/** `identity new`: see {@link identityNewUsage}. Returns the exit code. */
export function identityNew(args: ParsedArgs): number {
  const keyFile = stringOption(args, 'key');
  const certFile = stringOption(args, 'cert');
  if (args.positionals.length > 1) throw new UsageError('expected at most one NAME');
  const name = args.positionals[0];
  const ips = listOption(args, 'ip');
  const dnsNames = listOption(args, 'dns');
  const expiryText = stringOption(args, 'expiry');
  if (keyFile === undefined && certFile === undefined) {
    if (name !== undefined || ips.length > 0 || dnsNames.length > 0 || expiryText !== undefined) {
      throw new UsageError(
        'NAME, --ip, --dns and --expiry describe a certificate: add --key and --cert',
      );
    }
    return printKey(args, ApiKey.generate('kes'), true);
  }
  if (keyFile === undefined || certFile === undefined) {
    throw new UsageError('--key and --cert go together');
  }
  const validFor = parseDuration(expiryText ?? DEFAULT_CERTIFICATE_EXPIRY, '--expiry');
  const force = flag(args, 'force');
  for (const [file, what] of [
    [keyFile, 'private key'],
    [certFile, 'certificate'],
  ] as const) {
    if (!force && existsSync(file)) {
      throw new VerbError(`${what} file '${file}' already exists (use --force to overwrite it)`);
    }
  }
  const apiKey = ApiKey.generate('kes');
  const identity = apiKey.identity.toHex();
  let generated;
  try {
    generated = createCertificate({
      privateKey: apiKey.privateKey,
      commonName: name ?? identity,
      ips,
      dnsNames,
      validFor,
      serverAuth: true,
      clientAuth: true,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  writeSecure(keyFile, generated.key, 0o600, force, 'private key');
  writeSecure(certFile, generated.cert, 0o644, force, 'certificate');
  if (flag(args, 'json')) {
    printJson({ api_key: apiKey.toKes(), identity, private_key: keyFile, certificate: certFile });
  } else {
    print(
      `Private key: ${keyFile}\nCertificate: ${certFile}\n` +
        `API Key:     ${apiKey.toKes()}\nIdentity:    ${identity}\n\n` +
        `The API key is the private key in another form: keep both secret. The identity is\n` +
        `public; a KES policy or 'keyhold identity of ${certFile}' uses it.`,
    );
  }
  return 0;
}

/** `identity of`: see {@link identityOfUsage}. Returns the exit code. */
export function identityOf(args: ParsedArgs): number {
  refuseNewOptions(args, 'identity of');
  if (args.positionals.length !== 1) throw new UsageError('expected one API key or file');
  const arg = args.positionals[0]!;
  const apiKey = tryApiKey(arg);
  return printIdentity(args, apiKey ? identityText(apiKey) : readIdentityFile(arg).identity);
}

function printKey(args: ParsedArgs, key: ApiKey, explain = false): number {
  const identity = identityText(key);
  if (flag(args, 'json')) {
    printJson({ api_key: key.toText(), identity });
  } else if (explain) {
    print(
      `API Key:  ${key.toText()}\nIdentity: ${identity}\n\n` +
        `Keep the API key secret: it is shown only now. The identity is public: give it to the\n` +
        `server's policy. 'keyhold identity of <API key>' computes it again.`,
    );
  } else {
    print(`API Key:  ${key.toText()}\nIdentity: ${identity}`);
  }
  return 0;
}

function printIdentity(args: ParsedArgs, identity: string): number {
  if (flag(args, 'json')) printJson({ identity });
  else print(identity);
  return 0;
}

function identityText(key: ApiKey): string {
  return key.format === 'kes' ? key.identity.toHex() : key.identity.toH1();
}

/** The API key `text` spells, or undefined when it is not API-key shaped (a file name, say). */
function tryApiKey(text: string): ApiKey | undefined {
  // Identities go to parseApiKey too, for its 'this is an identity, not an API key' error.
  if (/^(?:kes:|k\d+:|h1:)/.test(text) || /^[0-9a-f]{64}$/.test(text)) return parseApiKey(text);
  // A bare base64 kes key (upstream trims an absent prefix): 44 characters for 33 bytes.
  if (/^[A-Za-z0-9+/]{44}$/.test(text) && !existsSync(text)) return parseApiKey(text);
  return undefined;
}

/**
 * The identity in a certificate (PEM or DER) or private key (PEM) file; for an Ed25519 private
 * key also the key itself (it is an API key).
 */
function readIdentityFile(file: string): { identity: string; privateKey?: KeyObject } {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (error) {
    throw new VerbError(
      `'${file}' is neither an API key nor a readable file (${describeFsError(error)})`,
    );
  }
  const text = data.toString('latin1');
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(text);
  try {
    if (pem !== null)
      return { identity: identityOfCertificate(new X509Certificate(pem[0]).raw).toHex() };
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
      const privateKey = createPrivateKey(data);
      const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
      const identity = identityOfSpki(spki).toHex();
      return privateKey.asymmetricKeyType === 'ed25519' ? { identity, privateKey } : { identity };
    }
    return { identity: identityOfCertificate(new X509Certificate(data).raw).toHex() };
  } catch (error) {
    throw new VerbError(
      `'${file}' holds no readable certificate or private key: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function writeSecure(
  file: string,
  content: string,
  mode: number,
  force: boolean,
  what: string,
): void {
  try {
    // Replace rather than overwrite: an existing file would keep its (maybe wider) mode while
    // the new secret is already in it.
    if (force) rmSync(file, { force: true });
    writeFileSync(file, content, { mode, flag: 'wx' });
    // The umask may have narrowed the mode of the new file.
    chmodSync(file, mode);
  } catch (error) {
    throw new VerbError(`cannot write ${what} file '${file}': ${describeFsError(error)}`);
  }
}

function listOption(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function refuseNewOptions(args: ParsedArgs, where: string): void {
  for (const name of ['key', 'cert', 'ip', 'dns', 'expiry', 'force']) {
    if (args.values[name] !== undefined) {
      throw new UsageError(`--${name} belongs to 'identity new', not '${where}'`);
    }
  }
}
