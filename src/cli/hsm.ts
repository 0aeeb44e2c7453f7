// `keyhold hsm new`: prints a fresh software HSM key (`hsm:aes256:…`) for KEYHOLD_HSM_KEY.

import { HsmKey } from '../crypto/index.ts';
import type { Command } from './command.ts';
import { flag, UsageError } from './command.ts';
import { print, printJson } from './output.ts';

export const hsmCommand: Command = {
  words: ['hsm'],
  summary: 'Create a new software HSM key',
  usage: `Usage: keyhold hsm new [--json]

Prints a new random HSM key, 'hsm:aes256:<base64>'. Keep it secret and safe: it seals the
server's state and derives the root API key. Start a server with it in KEYHOLD_HSM_KEY:

  export KEYHOLD_HSM_KEY="$(keyhold hsm new)"
  keyhold server ./data

Options:
  --json    print {"hsm_key": "..."}
`,
  options: { json: { type: 'boolean' } },
  run(args) {
    if (args.positionals[0] !== 'new' || args.positionals.length !== 1) {
      throw new UsageError("expected 'keyhold hsm new'");
    }
    const key = HsmKey.generate().toString();
    if (flag(args, 'json')) printJson({ hsm_key: key });
    else print(key);
    return 0;
  },
};
