// Policy commands (minkms names): add-policy, set-policy, get-policy, stat-policy, rm-policy,
// ls-policy. Policies live in an enclave and are managed by its Admins (or a SysAdmin).

import { readFile } from 'node:fs/promises';
import { InvalidPolicyError, parsePolicyDocument } from '../sdk/index.ts';
import type { Command } from './command.ts';
import { defineClientCommand, enclaveLabel, identityArgument } from './client-options.ts';
import {
  policyFields,
  policyJson,
  policyStatusFields,
  policyStatusJson,
  printJsonValue,
  printList,
  printStat,
} from './kms-format.ts';
import { formatTime, print } from './output.ts';
import { readStdin } from './io.ts';

async function readPolicyFile(file: string): Promise<string> {
  if (file === '-') {
    return (await readStdin()).toString('utf8');
  }
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

export const addPolicyCommand: Command = defineClientCommand({
  name: 'add-policy',
  summary: 'Create or replace a policy from a JSON file',
  synopsis: 'NAME FILE [options]',
  description: `Creates the policy NAME (or replaces it) from the JSON document in FILE ('-' reads stdin):

  {
    "allow": { "KEY:GENERATE": ["minio-*"], "KEY:DECRYPT": "minio-*", "KEY:STATUS": {"*": {}} },
    "deny":  { "KEY:DECRYPT": ["minio-secret"] }
  }

Keys are command names (e.g. KEY:GENERATE, KEY:LIST, POLICY:ASSIGN); values are name patterns
('*' matches any run of characters) as an array, a single string, or an object. A request is
allowed when an allow pattern matches and no deny pattern does. Assign it with set-policy.`,
  positionals: [2, 2],
  async run({ client, args, json, enclave }) {
    const [name, file] = args.positionals as [string, string];
    let document;
    try {
      document = parsePolicyDocument(await readPolicyFile(file));
    } catch (error) {
      if (error instanceof InvalidPolicyError) {
        throw new Error(`${file}: ${error.message}`, { cause: error });
      }
      throw error;
    }
    await client.createPolicy(name, document);
    if (json) printJsonValue({ name, enclave });
    else print(`Created policy '${name}' in enclave ${enclaveLabel(enclave)}.`);
    return 0;
  },
});

export const setPolicyCommand: Command = defineClientCommand({
  name: 'set-policy',
  summary: 'Assign a policy to an identity',
  synopsis: 'POLICY IDENTITY [options]',
  description:
    'Assigns POLICY to the User identity IDENTITY (h1:…), replacing its previous policy.\nAdmin and SysAdmin identities have no policy.',
  positionals: [2, 2],
  async run({ client, args, json, enclave }) {
    const policy = args.positionals[0]!;
    const identity = identityArgument(args.positionals[1]!);
    await client.assignPolicy(policy, identity);
    if (json) printJsonValue({ policy, identity, enclave });
    else print(`Assigned policy '${policy}' to ${identity}.`);
    return 0;
  },
});

export const getPolicyCommand: Command = defineClientCommand({
  name: 'get-policy',
  summary: 'Show policies with their rules',
  synopsis: 'NAME... [options]',
  description:
    "Shows each policy's allow and deny rules. With --json the rules print in the add-policy\nfile format; one NAME prints an object and several print an array.",
  positionals: [1, Infinity],
  async run({ client, args, json }) {
    const items = await client.getPolicyBatch(args.positionals);
    printStat(json, items, policyJson, policyFields, args.positionals.length > 1);
    return 0;
  },
});

export const statPolicyCommand: Command = defineClientCommand({
  name: 'stat-policy',
  summary: 'Show when policies were created',
  synopsis: 'NAME... [options]',
  description:
    'Shows when and by whom each policy was created (without its rules: see get-policy).',
  positionals: [1, Infinity],
  async run({ client, args, json }) {
    const items = await client.policyStatusBatch(args.positionals);
    printStat(json, items, policyStatusJson, policyStatusFields, args.positionals.length > 1);
    return 0;
  },
});

export const rmPolicyCommand: Command = defineClientCommand({
  name: 'rm-policy',
  summary: 'Delete policies',
  synopsis: 'NAME... [options]',
  description: 'Deletes each policy NAME. Identities that had it lose its permissions.',
  positionals: [1, Infinity],
  async run({ client, args, json, enclave }) {
    for (const name of args.positionals) {
      await client.deletePolicy(name);
      if (!json) print(`Deleted policy '${name}' in enclave ${enclaveLabel(enclave)}.`);
    }
    if (json) printJsonValue({ deleted: args.positionals, enclave });
    return 0;
  },
});

export const lsPolicyCommand: Command = defineClientCommand({
  name: 'ls-policy',
  summary: 'List policies',
  synopsis: '[PREFIX] [options]',
  description: 'Lists the policies of the enclave whose names start with PREFIX (all by default).',
  positionals: [0, 1],
  async run({ client, args, json }) {
    const items = [];
    for await (const p of client.policies({ prefix: args.positionals[0] })) items.push(p);
    printList(json, items, policyStatusJson, ['NAME', 'CREATED', 'CREATED BY'], (p) => [
      p.name,
      formatTime(p.createdAt),
      p.createdBy,
    ]);
    return 0;
  },
});

export const POLICY_COMMANDS: readonly Command[] = [
  addPolicyCommand,
  setPolicyCommand,
  getPolicyCommand,
  statPolicyCommand,
  rmPolicyCommand,
  lsPolicyCommand,
];
