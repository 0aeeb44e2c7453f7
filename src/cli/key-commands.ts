// Key commands (minkms names): add-key, rm-key, ls-key, stat-key, keygen, encrypt, decrypt.
// They act in the enclave of -e (or KEYHOLD_ENCLAVE / MINIO_KMS_ENCLAVE, else the default one).

import { KEY_TYPES } from '../sdk/index.ts';
import type { KeyType } from '../sdk/index.ts';
import type { Command, ParsedArgs } from './command.ts';
import { flag, stringOption, UsageError } from './command.ts';
import { defineClientCommand, enclaveLabel, integerOption } from './client-options.ts';
import {
  keyFields,
  keyJson,
  printJsonValue,
  printList,
  printStat,
  formatFields,
} from './kms-format.ts';
import { formatTime, print } from './output.ts';
import { readStdin } from './io.ts';

const VERSION_OPTION = { version: { type: 'string', short: 'v' } } as const;
const CONTEXT_OPTION = { context: { type: 'string', short: 'c' } } as const;

/** Decodes standard or URL-safe base64, refusing anything else. */
function decodeBase64(text: string, what: string): Buffer {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(trimmed) || trimmed.replace(/=+$/, '').length % 4 === 1) {
    throw new UsageError(`${what} is not base64`);
  }
  return Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

function keyType(args: ParsedArgs): KeyType | undefined {
  const text = stringOption(args, 'type');
  if (text === undefined) return undefined;
  const type = KEY_TYPES.find((t) => t.toLowerCase() === text.toLowerCase());
  if (!type) throw new UsageError(`--type must be ${KEY_TYPES.join(' or ')}, got '${text}'`);
  return type;
}

export const addKeyCommand: Command = defineClientCommand({
  name: 'add-key',
  summary: 'Create a key, add a key version, or import a key',
  synopsis: 'NAME [--type AES256|ChaCha20] [--version | --import BASE64] [options]',
  description: `Creates the master key NAME in the enclave. With --version, adds a new version to the
existing key NAME instead (rotation: new data keys use it, old ciphertexts still decrypt).
With --import, creates NAME from 32 bytes of existing key material (base64), e.g. a MinIO
MINIO_KMS_SECRET_KEY, so that what it encrypted stays decryptable.`,
  options: {
    type: { type: 'string', short: 't' },
    version: { type: 'boolean' },
    import: { type: 'string' },
  },
  optionsUsage: `  -t, --type TYPE       AES256 (default) or ChaCha20
      --version         add a new version to an existing key
      --import BASE64   import this 32-byte key (standard or URL-safe base64)`,
  positionals: [1, 1],
  async run({ client, args, json, enclave }) {
    const name = args.positionals[0]!;
    const type = keyType(args);
    const material = stringOption(args, 'import');
    const addVersion = flag(args, 'version');
    if (material !== undefined && addVersion) {
      throw new UsageError('--import and --version cannot be combined');
    }
    let action: string;
    if (material !== undefined) {
      const key = decodeBase64(material, '--import');
      try {
        if (key.length !== 32) {
          throw new UsageError(`--import must be 32 bytes of key material, got ${key.length}`);
        }
        await client.importKey(name, key, { type });
      } finally {
        key.fill(0);
      }
      action = 'Imported';
    } else {
      await client.createKey(name, { type, addVersion });
      action = addVersion ? 'Added a version to' : 'Created';
    }
    if (json) printJsonValue({ name, enclave, action: action.toLowerCase() });
    else print(`${action} key '${name}' in enclave ${enclaveLabel(enclave)}.`);
    return 0;
  },
});

export const rmKeyCommand: Command = defineClientCommand({
  name: 'rm-key',
  summary: 'Delete a key version or a whole key',
  synopsis: 'NAME [-v VERSION | --all] [options]',
  description: `Deletes the latest version of the key NAME, the version given with -v, or with --all
the key with all its versions. Ciphertexts of a deleted version can no longer be decrypted,
and a deleted version number is never used again.`,
  options: { ...VERSION_OPTION, all: { type: 'boolean' } },
  optionsUsage: `  -v, --version N   delete version N (default: the latest)
      --all         delete every version, i.e. the key itself`,
  positionals: [1, 1],
  async run({ client, args, json, enclave }) {
    const name = args.positionals[0]!;
    const version = integerOption(args, 'version', 1);
    const allVersions = flag(args, 'all');
    if (version !== undefined && allVersions) {
      throw new UsageError('-v/--version and --all cannot be combined');
    }
    await client.deleteKey(name, { version, allVersions });
    const what = allVersions
      ? `key '${name}'`
      : version === undefined
        ? `the latest version of key '${name}'`
        : `version ${version} of key '${name}'`;
    if (json) printJsonValue({ name, enclave, version: version ?? 0, all: allVersions });
    else print(`Deleted ${what} in enclave ${enclaveLabel(enclave)}.`);
    return 0;
  },
});

export const lsKeyCommand: Command = defineClientCommand({
  name: 'ls-key',
  summary: 'List keys',
  synopsis: '[PREFIX] [options]',
  description:
    'Lists the keys of the enclave whose names start with PREFIX (all by default), each\nwith its latest version.',
  positionals: [0, 1],
  async run({ client, args, json }) {
    const items = [];
    for await (const k of client.keys({ prefix: args.positionals[0] })) items.push(k);
    printList(json, items, keyJson, ['NAME', 'VERSION', 'TYPE', 'CREATED', 'CREATED BY'], (k) => [
      k.name,
      String(k.version),
      k.type,
      formatTime(k.createdAt),
      k.createdBy,
    ]);
    return 0;
  },
});

export const statKeyCommand: Command = defineClientCommand({
  name: 'stat-key',
  summary: 'Show key details',
  synopsis: 'NAME... [-v VERSION] [options]',
  description:
    'Shows the type, version and creation of each key (its latest version, or version -v).\nWith --json, one NAME prints an object and several print an array.',
  options: VERSION_OPTION,
  optionsUsage: '  -v, --version N   describe version N instead of the latest',
  positionals: [1, Infinity],
  async run({ client, args, json }) {
    const version = integerOption(args, 'version', 1);
    const items = await client.keyStatusBatch(args.positionals.map((name) => ({ name, version })));
    printStat(json, items, keyJson, keyFields, args.positionals.length > 1);
    return 0;
  },
});

export const keygenCommand: Command = defineClientCommand({
  name: 'keygen',
  summary: 'Generate a data encryption key',
  synopsis: 'NAME [--context TEXT] [--length N] [-v VERSION] [options]',
  description: `Generates a new data encryption key under the master key NAME and prints it in plain
(base64) and sealed (the ciphertext to store). 'keyhold decrypt NAME CIPHERTEXT' with the
same --context gives the plaintext back.`,
  options: { ...VERSION_OPTION, ...CONTEXT_OPTION, length: { type: 'string', short: 'l' } },
  optionsUsage: `  -c, --context TEXT   associated data bound to the ciphertext (e.g. MinIO's '{}')
  -l, --length N       bytes of the data key, 1 to 1024 (default 32)
  -v, --version N      use key version N (default: the latest)`,
  positionals: [1, 1],
  async run({ client, args, json }) {
    const name = args.positionals[0]!;
    const dek = await client.generateKey(name, {
      associatedData: stringOption(args, 'context'),
      length: integerOption(args, 'length', 1, 1024),
      version: integerOption(args, 'version', 1),
    });
    const plaintext = dek.plaintext.toString('base64');
    const ciphertext = dek.ciphertext.toString('base64');
    dek.plaintext.fill(0);
    if (json) printJsonValue({ name, version: dek.version, plaintext, ciphertext });
    else {
      print(
        formatFields([
          ['Version', String(dek.version)],
          ['Plaintext', plaintext],
          ['Ciphertext', ciphertext],
        ]),
      );
    }
    return 0;
  },
});

export const encryptCommand: Command = defineClientCommand({
  name: 'encrypt',
  summary: 'Encrypt a small message with a key',
  synopsis: 'NAME (TEXT | -) [--base64] [--context TEXT] [-v VERSION] [options]',
  description: `Encrypts TEXT (its UTF-8 bytes; '-' reads the bytes from stdin) with the key NAME and
prints the ciphertext as base64.`,
  options: { ...VERSION_OPTION, ...CONTEXT_OPTION, base64: { type: 'boolean' } },
  optionsUsage: `      --base64         TEXT is base64 of the bytes to encrypt
  -c, --context TEXT   associated data, needed again to decrypt
  -v, --version N      use key version N (default: the latest)`,
  positionals: [2, 2],
  async run({ client, args, json }) {
    const [name, text] = args.positionals as [string, string];
    let plaintext: Buffer;
    if (text === '-') plaintext = await readStdin();
    else if (flag(args, 'base64')) plaintext = decodeBase64(text, 'TEXT');
    else plaintext = Buffer.from(text, 'utf8');
    const result = await client.encrypt(name, plaintext, {
      associatedData: stringOption(args, 'context'),
      version: integerOption(args, 'version', 1),
    });
    const ciphertext = result.ciphertext.toString('base64');
    if (json) printJsonValue({ name, version: result.version, ciphertext });
    else print(ciphertext);
    return 0;
  },
});

export const decryptCommand: Command = defineClientCommand({
  name: 'decrypt',
  summary: 'Decrypt a ciphertext with a key',
  synopsis: 'NAME CIPHERTEXT [--context TEXT] [--text] [-v VERSION] [options]',
  description: `Decrypts CIPHERTEXT (base64, as printed by keygen or encrypt; '-' reads it from stdin)
with the key NAME and prints the plaintext as base64, or with --text as UTF-8 text. Without
-v the server finds the key version that sealed it.`,
  options: { ...VERSION_OPTION, ...CONTEXT_OPTION, text: { type: 'boolean' } },
  optionsUsage: `  -c, --context TEXT   the associated data given when encrypting
      --text           print the plaintext as text instead of base64
  -v, --version N      the key version that sealed the ciphertext`,
  positionals: [2, 2],
  async run({ client, args, json }) {
    const [name, input] = args.positionals as [string, string];
    const text = input === '-' ? (await readStdin()).toString('utf8') : input;
    const plaintext = await client.decrypt(name, decodeBase64(text, 'CIPHERTEXT'), {
      associatedData: stringOption(args, 'context'),
      version: integerOption(args, 'version', 1),
    });
    const out = flag(args, 'text') ? plaintext.toString('utf8') : plaintext.toString('base64');
    plaintext.fill(0);
    if (json) printJsonValue({ name, plaintext: out });
    else print(out);
    return 0;
  },
});

export const KEY_COMMANDS: readonly Command[] = [
  addKeyCommand,
  rmKeyCommand,
  lsKeyCommand,
  statKeyCommand,
  keygenCommand,
  encryptCommand,
  decryptCommand,
];
