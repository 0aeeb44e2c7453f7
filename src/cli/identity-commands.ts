// Identity commands (minkms names): add-identity, rm-identity, ls-identity, stat-identity.
// Identities are `h1:` hashes of public keys; their secret is an API key the server never sees.

import { ApiKey } from '../sdk/index.ts';
import type { Privilege } from '../sdk/index.ts';
import type { Command, ParsedArgs } from './command.ts';
import { flag, UsageError } from './command.ts';
import { defineClientCommand, enclaveLabel, identityArgument } from './client-options.ts';
import {
  formatFields,
  identityFields,
  identityJson,
  printJsonValue,
  printList,
  printStat,
} from './kms-format.ts';
import { formatTime, print } from './output.ts';

function tagsOf(args: ParsedArgs): Record<string, string> {
  const raw = args.values['tag'];
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : [];
  const tags: Record<string, string> = {};
  for (const item of list) {
    if (typeof item !== 'string') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--tag must be KEY=VALUE, got '${item}'`);
    tags[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return tags;
}

export const addIdentityCommand: Command = defineClientCommand({
  name: 'add-identity',
  summary: 'Create identities (or a new API key and its identity)',
  synopsis: '[IDENTITY...] [--admin] [--service] [--tag KEY=VALUE]... [options]',
  description: `Adds each IDENTITY (h1:… or hex) to the enclave as a User (or with --admin an Admin).
Without IDENTITY, creates a new API key, adds its identity and prints the key: it is shown
only once, so store it safely. A User may do only what its policy allows (see set-policy).
With --service the identity is a service account of the caller: it acts with the caller's
rights and is deleted with it.`,
  options: {
    admin: { type: 'boolean' },
    service: { type: 'boolean' },
    tag: { type: 'string', multiple: true },
  },
  optionsUsage: `      --admin           Admin privilege: everything inside the enclave
      --service         a service account of the calling identity
      --tag KEY=VALUE   attach a tag (repeatable)`,
  positionals: [0, Infinity],
  async run({ client, args, json, enclave }) {
    const privilege: Privilege = flag(args, 'admin') ? 'Admin' : 'User';
    const options = { privilege, serviceAccount: flag(args, 'service'), tags: tagsOf(args) };
    if (args.positionals.length === 0) {
      const apiKey = ApiKey.generate('k1');
      const identity = apiKey.identity.toH1();
      await client.createIdentity(identity, options);
      if (json) printJsonValue({ api_key: apiKey.toK1(), identity, privilege });
      else {
        print(
          formatFields([
            ['API Key', apiKey.toK1()],
            ['Identity', identity],
            ['Privilege', privilege],
          ]),
        );
      }
      return 0;
    }
    const identities = args.positionals.map(identityArgument);
    for (const identity of identities) {
      await client.createIdentity(identity, options);
      if (!json) {
        print(`Added ${identity} as ${privilege} to enclave ${enclaveLabel(enclave)}.`);
      }
    }
    if (json) printJsonValue({ created: identities, privilege });
    return 0;
  },
});

export const rmIdentityCommand: Command = defineClientCommand({
  name: 'rm-identity',
  summary: 'Delete identities',
  synopsis: 'IDENTITY... [options]',
  description: 'Deletes each IDENTITY (h1:… or hex) and its service accounts from the enclave.',
  positionals: [1, Infinity],
  async run({ client, args, json, enclave }) {
    const identities = args.positionals.map(identityArgument);
    for (const identity of identities) {
      await client.deleteIdentity(identity);
      if (!json) print(`Deleted ${identity} from enclave ${enclaveLabel(enclave)}.`);
    }
    if (json) printJsonValue({ deleted: identities });
    return 0;
  },
});

export const lsIdentityCommand: Command = defineClientCommand({
  name: 'ls-identity',
  summary: 'List identities',
  synopsis: '[PREFIX] [options]',
  description: 'Lists the identities of the enclave that start with PREFIX (all by default).',
  positionals: [0, 1],
  async run({ client, args, json }) {
    const items = [];
    for await (const i of client.identities({ prefix: args.positionals[0] })) items.push(i);
    printList(
      json,
      items,
      identityJson,
      ['IDENTITY', 'PRIVILEGE', 'POLICY', 'SERVICE', 'CREATED'],
      (i) => [
        i.identity,
        i.privilege,
        i.policy === '' ? '-' : i.policy,
        i.isServiceAccount ? 'yes' : 'no',
        formatTime(i.createdAt),
      ],
    );
    return 0;
  },
});

export const statIdentityCommand: Command = defineClientCommand({
  name: 'stat-identity',
  summary: 'Show identity details',
  synopsis: '[IDENTITY...] [options]',
  description:
    "Shows privilege, policy, tags and service accounts of each IDENTITY (default: the API\nkey's own identity). With --json, one prints an object and several print an array.",
  positionals: [0, Infinity],
  async run({ client, args, json }) {
    const identities =
      args.positionals.length > 0 ? args.positionals.map(identityArgument) : [client.identity!];
    const items = await client.identityStatusBatch(identities);
    printStat(json, items, identityJson, identityFields, identities.length > 1);
    return 0;
  },
});

export const IDENTITY_COMMANDS: readonly Command[] = [
  addIdentityCommand,
  rmIdentityCommand,
  lsIdentityCommand,
  statIdentityCommand,
];
