// Enclave commands (minkms names): add-enclave, rm-enclave, ls-enclave, stat-enclave.
// Enclaves are cluster-level objects: only a SysAdmin (the root API key) may manage them.

import type { Command } from './command.ts';
import { defineClientCommand } from './client-options.ts';
import { enclaveFields, enclaveJson, printJsonValue, printList, printStat } from './kms-format.ts';
import { formatTime, print } from './output.ts';

export const addEnclaveCommand: Command = defineClientCommand({
  name: 'add-enclave',
  summary: 'Create enclaves',
  synopsis: 'NAME... [options]',
  description:
    'Creates one enclave per NAME: an isolated namespace for keys, policies and identities.\nRequires SysAdmin.',
  positionals: [1, Infinity],
  async run({ client, args, json }) {
    for (const name of args.positionals) {
      await client.createEnclave(name);
      if (!json) print(`Created enclave '${name}'.`);
    }
    if (json) printJsonValue({ created: args.positionals });
    return 0;
  },
});

export const rmEnclaveCommand: Command = defineClientCommand({
  name: 'rm-enclave',
  summary: 'Delete enclaves',
  synopsis: 'NAME... [options]',
  description:
    'Deletes each enclave NAME with all its keys, policies and identities. This cannot be undone.\nRequires SysAdmin.',
  positionals: [1, Infinity],
  async run({ client, args, json }) {
    for (const name of args.positionals) {
      await client.deleteEnclave(name);
      if (!json) print(`Deleted enclave '${name}'.`);
    }
    if (json) printJsonValue({ deleted: args.positionals });
    return 0;
  },
});

export const lsEnclaveCommand: Command = defineClientCommand({
  name: 'ls-enclave',
  summary: 'List enclaves',
  synopsis: '[PREFIX] [options]',
  description:
    'Lists the enclaves whose names start with PREFIX (all by default). Requires SysAdmin.',
  positionals: [0, 1],
  async run({ client, args, json }) {
    const items = [];
    for await (const e of client.enclaves({ prefix: args.positionals[0] })) items.push(e);
    printList(json, items, enclaveJson, ['NAME', 'CREATED', 'CREATED BY'], (e) => [
      e.name,
      formatTime(e.createdAt),
      e.createdBy,
    ]);
    return 0;
  },
});

export const statEnclaveCommand: Command = defineClientCommand({
  name: 'stat-enclave',
  summary: 'Show enclave details',
  synopsis: 'NAME... [options]',
  description:
    'Shows when each enclave was created and by whom (one request for all NAMEs).\nWith --json, one NAME prints an object and several print an array. Requires SysAdmin.',
  positionals: [1, Infinity],
  async run({ client, args, json }) {
    const items = await client.enclaveStatusBatch(args.positionals);
    printStat(json, items, enclaveJson, enclaveFields, args.positionals.length > 1);
    return 0;
  },
});

export const ENCLAVE_COMMANDS: readonly Command[] = [
  addEnclaveCommand,
  rmEnclaveCommand,
  lsEnclaveCommand,
  statEnclaveCommand,
];
