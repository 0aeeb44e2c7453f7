// `keyhold kes …`: the KES client CLI (the `kes` command's client verbs, docs/protocol/kes.md)
// plus the migrations from MinIO's static key and from a KES fs keystore.

import { commandList, runCommands } from '../command.ts';
import type { Command } from '../command.ts';
import { KEY_VERBS } from './key.ts';
import { LOG_VERBS } from './log.ts';
import { importStore } from './import-store.ts';
import { MIGRATE_VERBS } from './migrate.ts';
import { POLICY_VERBS } from './policy.ts';
import { STATUS_VERBS } from './status.ts';

const VERBS: readonly Command[] = [
  ...KEY_VERBS,
  ...POLICY_VERBS,
  ...STATUS_VERBS,
  ...LOG_VERBS,
  ...MIGRATE_VERBS,
  importStore,
];

const USAGE = `Usage: keyhold kes <command> [options] [arguments]

A client for the KES API of Keyhold (or of any KES server), like the 'kes' command.

Commands:
${commandList(VERBS, 18)}

The server and credentials come from the same environment variables as 'kes':
  KES_SERVER       endpoints, e.g. 127.0.0.1:7373 (also MINIO_KES_SERVER, MINIO_KMS_KES_ENDPOINT)
  KES_API_KEY      kes:v1: API key (also MINIO_KES_API_KEY, MINIO_KMS_KES_API_KEY)
  KES_CLIENT_CERT  client certificate file, with KES_CLIENT_KEY (instead of an API key)
  KES_ENCLAVE      enclave to address
or from flags (-s, -a, --client-cert, --client-key, --ca, -k, -e); every command takes --json.

Run 'keyhold kes <command> --help' for a command's options.
`;

export const kesCommand: Command = {
  words: ['kes'],
  summary: 'KES API client: keys, status, policies, identities, logs, migration',
  usage: USAGE,
  options: {},
  rawArgs: true,
  run: (args) => runCommands('keyhold kes', USAGE, VERBS, args.positionals),
};
