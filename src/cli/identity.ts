// `keyhold identity [API_KEY | HSM_KEY]`: a fresh API key and its identity; the identity of an
// API key; or the root API key an HSM key derives (computed offline, as `minkms identity`).

import { HsmKey } from '../crypto/index.ts';
import { ApiKey, parseApiKey } from '../identity/index.ts';
import type { Command } from './command.ts';
import { flag, UsageError } from './command.ts';
import { print, printJson } from './output.ts';

export const identityCommand: Command = {
  name: 'identity',
  summary: 'Create an API key, or show the identity of one',
  usage: `Usage: keyhold identity [k1:API_KEY | kes:v1:API_KEY | hsm:aes256:HSM_KEY] [--json]

Without an argument, creates a new API key and prints it with its identity.
With an API key, prints the identity that key authenticates as.
With an HSM key, prints the root API key a server with that HSM key accepts.

Options:
  --json    print {"api_key": "...", "identity": "..."}
`,
  options: { json: { type: 'boolean' } },
  run(args) {
    if (args.positionals.length > 1) throw new UsageError('expected at most one argument');
    const arg = args.positionals[0];
    let key: ApiKey | null = null;
    if (arg === undefined) key = ApiKey.generate('k1');
    else if (arg.startsWith('hsm:'))
      key = ApiKey.fromSeed(HsmKey.parse(arg).rootApiKeySeed(), 'k1');
    const identityOnly = key === null;
    key ??= parseApiKey(arg!);
    const identity = key.format === 'kes' ? key.identity.toHex() : key.identity.toH1();
    if (flag(args, 'json')) {
      printJson(identityOnly ? { identity } : { api_key: key.toText(), identity });
    } else if (identityOnly) {
      print(identity);
    } else {
      print(`API Key:  ${key.toText()}\nIdentity: ${identity}`);
    }
    return 0;
  },
};
