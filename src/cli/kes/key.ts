// `keyhold kes key create|import|info|ls|rm|dek|encrypt|decrypt|hmac`: the `kes key` verbs.

import type { Command, ParsedArgs } from '../command.ts';
import { flag, stringOption, UsageError } from '../command.ts';
import { formatTable, formatTime, print, printJson } from '../output.ts';
import type { KesAlgorithm, KesClient } from '../../sdk/kes/index.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, failure, withClient } from './connection.ts';
import { base64Arg } from './format.ts';
import { readStdin } from '../io.ts';

const P = 'keyhold kes key';

function names(args: ParsedArgs, min: number, max: number, usage: string): string[] {
  const n = args.positionals.length;
  if (n < min || n > max) throw new UsageError(`expected ${usage}`);
  return args.positionals;
}

const create: Command = {
  words: ['key', 'create'],
  summary: 'Create new keys',
  usage: `Usage: ${P} create [options] NAME...

Creates a new random key for each NAME. Prints nothing on success; fails with
'key already exists' if a NAME is taken.

${CONNECTION_USAGE}
`,
  options: CONNECTION_OPTIONS,
  run: (args) => {
    const list = names(args, 1, Infinity, 'at least one key name');
    return withClient(args, async (client) => {
      for (const name of list) {
        try {
          await client.createKey(name);
        } catch (error) {
          throw failure(`create key '${name}'`, error);
        }
      }
      if (flag(args, 'json')) printJson({ created: list });
      return 0;
    });
  },
};

const importKey: Command = {
  words: ['key', 'import'],
  summary: 'Import a key from its 32 bytes',
  usage: `Usage: ${P} import [options] NAME KEY

Imports KEY, the standard base64 of 32 bytes, as the key NAME. KEY '-' reads it from stdin
(keeps it out of the process list). This is how MinIO's MINIO_KMS_SECRET_KEY=NAME:KEY moves
to a KES server; 'keyhold kes import-minio-key' does the same with checks.

Options:
      --cipher AES256|ChaCha20  algorithm of the key (default AES256, as kes and MinIO)
      --hmac-key BASE64         keep this 32-byte HMAC key (Keyhold; other servers draw one)

${CONNECTION_USAGE}
`,
  options: { ...CONNECTION_OPTIONS, cipher: { type: 'string' }, 'hmac-key': { type: 'string' } },
  run: async (args) => {
    const [name, keyText] = names(args, 2, 2, 'NAME and KEY');
    const text = keyText === '-' ? (await readStdin()).toString('utf8') : keyText!;
    const key = base64Arg(text, 'KEY');
    if (key.length !== 32) throw new UsageError(`KEY must be 32 bytes, got ${key.length}`);
    const cipher = parseCipher(stringOption(args, 'cipher'));
    const hmacText = stringOption(args, 'hmac-key');
    const hmacKey = hmacText === undefined ? undefined : base64Arg(hmacText, '--hmac-key');
    if (hmacKey !== undefined && hmacKey.length !== 32) {
      throw new UsageError(`--hmac-key must be 32 bytes, got ${hmacKey.length}`);
    }
    return withClient(args, async (client) => {
      try {
        await client.importKey(name!, key, { cipher, ...(hmacKey ? { hmacKey } : {}) });
      } catch (error) {
        throw failure(`import key '${name!}'`, error);
      } finally {
        key.fill(0);
        hmacKey?.fill(0);
      }
      if (flag(args, 'json')) printJson({ imported: name });
      return 0;
    });
  },
};

const info: Command = {
  words: ['key', 'info'],
  summary: 'Describe a key',
  usage: `Usage: ${P} info [options] NAME

Prints the key's name, algorithm, creation time and creator.
With --json: {"name","algorithm","created_at","created_by"}.

${CONNECTION_USAGE}
`,
  options: CONNECTION_OPTIONS,
  run: (args) => {
    const [name] = names(args, 1, 1, 'one key name');
    return withClient(args, async (client) => {
      let key;
      try {
        key = await client.describeKey(name!);
      } catch (error) {
        throw failure(`describe key '${name!}'`, error);
      }
      if (flag(args, 'json')) {
        printJson({
          name: key.name,
          algorithm: key.algorithm,
          created_at: key.createdAt?.toISOString(),
          created_by: key.createdBy,
        });
      } else {
        print(
          formatTable([
            ['Name', key.name],
            ['Algorithm', key.algorithm ?? ''],
            ['Created', formatTime(key.createdAt)],
            ['Created by', key.createdBy ?? ''],
          ]),
        );
      }
      return 0;
    });
  },
};

/** Collects a listing; shared by `key ls`, `policy ls`, `identity ls` and `ls`. */
export async function collect(iterable: AsyncIterable<string>, doing: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const name of iterable) out.push(name);
  } catch (error) {
    throw failure(doing, error);
  }
  return out;
}

/** Prints a listing as a one-column table with `header`, or as a JSON array. */
export function printList(args: ParsedArgs, header: string, list: readonly string[]): void {
  if (flag(args, 'json')) printJson(list);
  else print(formatTable([[header], ...list.map((n) => [n])]));
}

const ls: Command = {
  words: ['key', 'ls'],
  summary: 'List keys',
  usage: `Usage: ${P} ls [options] [PATTERN]

Lists the keys whose names start with PATTERN (a prefix, optionally ending in '*';
default: all). With --json: a JSON array of names.

${CONNECTION_USAGE}
`,
  options: CONNECTION_OPTIONS,
  run: (args) => {
    const [pattern] = names(args, 0, 1, 'at most one pattern');
    return withClient(args, async (client) => {
      printList(args, 'Key', await collect(client.listKeys(pattern ?? ''), 'list keys'));
      return 0;
    });
  },
};

const rm: Command = {
  words: ['key', 'rm'],
  summary: 'Delete keys',
  usage: `Usage: ${P} rm [options] NAME...

Deletes each key NAME. Data encrypted under a deleted key can no longer be decrypted.

${CONNECTION_USAGE}
`,
  options: CONNECTION_OPTIONS,
  run: (args) => {
    const list = names(args, 1, Infinity, 'at least one key name');
    return withClient(args, async (client) => {
      for (const name of list) {
        try {
          await client.deleteKey(name);
        } catch (error) {
          throw failure(`delete key '${name}'`, error);
        }
      }
      if (flag(args, 'json')) printJson({ deleted: list });
      return 0;
    });
  },
};

const dek: Command = {
  words: ['key', 'dek'],
  summary: 'Generate a data encryption key',
  usage: `Usage: ${P} dek [options] NAME [CONTEXT]

Generates a new 32-byte data key and its ciphertext under the key NAME. CONTEXT is the
standard base64 of the associated data the ciphertext is bound to (MinIO sends e.g.
{"bucket":"bucket/object"}). Prints the plaintext and ciphertext in base64; the plaintext is
secret. With --json: {"plaintext","ciphertext"}.

${CONNECTION_USAGE}
`,
  options: CONNECTION_OPTIONS,
  run: (args) => {
    const [name, contextText] = names(args, 1, 2, 'NAME and an optional CONTEXT');
    const context = contextText === undefined ? undefined : base64Arg(contextText, 'CONTEXT');
    return withClient(args, async (client) => {
      let key;
      try {
        key = await client.generateKey(name!, context);
      } catch (error) {
        throw failure(`generate a data key with '${name!}'`, error);
      }
      const plaintext = key.plaintext.toString('base64');
      const ciphertext = key.ciphertext.toString('base64');
      key.plaintext.fill(0);
      if (flag(args, 'json')) printJson({ plaintext, ciphertext });
      else
        print(
          formatTable([
            ['plaintext', plaintext],
            ['ciphertext', ciphertext],
          ]),
        );
      return 0;
    });
  },
};

const encrypt: Command = {
  words: ['key', 'encrypt'],
  summary: 'Encrypt a message',
  usage: `Usage: ${P} encrypt [options] NAME MESSAGE [CONTEXT]

Encrypts MESSAGE (the text itself, as kes does) with the key NAME and prints the ciphertext
in base64. CONTEXT: standard base64 of associated data. With --json: {"ciphertext"}.

${CONNECTION_USAGE}
`,
  options: CONNECTION_OPTIONS,
  run: (args) => {
    const [name, message, contextText] = names(args, 2, 3, 'NAME, MESSAGE and an optional CONTEXT');
    const context = contextText === undefined ? undefined : base64Arg(contextText, 'CONTEXT');
    return withClient(args, async (client) => {
      let ciphertext;
      try {
        ciphertext = await client.encrypt(name!, Buffer.from(message!), context);
      } catch (error) {
        throw failure(`encrypt with '${name!}'`, error);
      }
      const text = ciphertext.toString('base64');
      if (flag(args, 'json')) printJson({ ciphertext: text });
      else print(formatTable([['ciphertext', text]]));
      return 0;
    });
  },
};

const decrypt: Command = {
  words: ['key', 'decrypt'],
  summary: 'Decrypt a ciphertext',
  usage: `Usage: ${P} decrypt [options] NAME CIPHERTEXT [CONTEXT]

Decrypts CIPHERTEXT (standard base64; raw, legacy JSON or legacy MessagePack format) with
the key NAME, bound to CONTEXT (standard base64 of the associated data), and prints the
plaintext in base64. With --json: {"plaintext"}.

${CONNECTION_USAGE}
`,
  options: CONNECTION_OPTIONS,
  run: (args) => {
    const [name, ctText, contextText] = names(
      args,
      2,
      3,
      'NAME, CIPHERTEXT and an optional CONTEXT',
    );
    const ciphertext = base64Arg(ctText!, 'CIPHERTEXT');
    const context = contextText === undefined ? undefined : base64Arg(contextText, 'CONTEXT');
    return withClient(args, async (client) => {
      let plaintext;
      try {
        plaintext = await client.decrypt(name!, ciphertext, context);
      } catch (error) {
        throw failure(`decrypt with '${name!}'`, error);
      }
      const text = plaintext.toString('base64');
      plaintext.fill(0);
      if (flag(args, 'json')) printJson({ plaintext: text });
      else print(formatTable([['plaintext', text]]));
      return 0;
    });
  },
};

const hmac: Command = {
  words: ['key', 'hmac'],
  summary: 'Compute an HMAC',
  usage: `Usage: ${P} hmac [options] NAME MESSAGE

Prints the HMAC-SHA256 of MESSAGE (the text itself) under the HMAC key of the key NAME, in
hex. With --json: {"hmac"} in base64.

${CONNECTION_USAGE}
`,
  options: CONNECTION_OPTIONS,
  run: (args) => {
    const [name, message] = names(args, 2, 2, 'NAME and MESSAGE');
    return withClient(args, async (client: KesClient) => {
      let mac;
      try {
        mac = await client.hmac(name!, Buffer.from(message!));
      } catch (error) {
        throw failure(`compute an HMAC with '${name!}'`, error);
      }
      if (flag(args, 'json')) printJson({ hmac: mac.toString('base64') });
      else print(mac.toString('hex'));
      return 0;
    });
  },
};

function parseCipher(text: string | undefined): KesAlgorithm {
  if (text === undefined || text === 'AES256' || text === 'AES256-GCM_SHA256') return 'AES256';
  if (text === 'ChaCha20' || text === 'XCHACHA20-POLY1305') return 'ChaCha20';
  throw new UsageError(`unknown --cipher '${text}': use AES256 or ChaCha20`);
}

export const KEY_VERBS: readonly Command[] = [
  create,
  importKey,
  info,
  ls,
  rm,
  dek,
  encrypt,
  decrypt,
  hmac,
];
