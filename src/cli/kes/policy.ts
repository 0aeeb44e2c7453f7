// `keyhold kes policy ls|info|show`, `keyhold kes identity ls|info|of|new` and `keyhold kes ls`:
// the read-only views of policies and identities the KES API offers.

import { flag, UsageError } from '../command.ts';
import type { Command } from '../command.ts';
import {
  identityNew,
  identityNewUsage,
  identityOf,
  identityOfUsage,
  IDENTITY_NEW_OPTIONS,
} from '../identity.ts';
import { formatTable, formatTime, print, printJson } from '../output.ts';
import type { KesIdentityInfo } from '../../sdk/kes/index.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, failure, withClient } from './connection.ts';
import { collect, printList } from './key.ts';

const policyLs: Command = {
  words: ['policy', 'ls'],
  summary: 'List policies',
  usage: `Usage: keyhold kes policy ls [options] [PATTERN]

Lists the policies whose names start with PATTERN (optionally ending in '*'; default: all).
With --json: a JSON array of names.

${CONNECTION_USAGE}
`,
  options: CONNECTION_OPTIONS,
  run: (args) => {
    if (args.positionals.length > 1) throw new UsageError('expected at most one pattern');
    return withClient(args, async (client) => {
      const list = await collect(client.listPolicies(args.positionals[0] ?? ''), 'list policies');
      printList(args, 'Policy', list);
      return 0;
    });
  },
};

const policyInfo: Command = {
  words: ['policy', 'info'],
  summary: 'Describe a policy',
  usage: `Usage: keyhold kes policy info [options] NAME

Prints when and by whom the policy NAME was created.
With --json: {"name","created_at","created_by"}.

${CONNECTION_USAGE}
`,
  options: CONNECTION_OPTIONS,
  run: (args) => {
    if (args.positionals.length !== 1) throw new UsageError('expected one policy name');
    return withClient(args, async (client) => {
      const name = args.positionals[0]!;
      let p;
      try {
        p = await client.describePolicy(name);
      } catch (error) {
        throw failure(`describe policy '${name}'`, error);
      }
      if (flag(args, 'json')) {
        printJson({
          name: p.name,
          created_at: p.createdAt?.toISOString(),
          created_by: p.createdBy,
        });
      } else {
        print(
          formatTable([
            ['Name', p.name],
            ['Created', formatTime(p.createdAt)],
            ['Created by', p.createdBy ?? ''],
          ]),
        );
      }
      return 0;
    });
  },
};

const policyShow: Command = {
  words: ['policy', 'show'],
  summary: "Show a policy's rules",
  usage: `Usage: keyhold kes policy show [options] NAME

Prints the API paths the policy NAME allows and denies (a trailing '*' matches any suffix;
deny wins). With --json: {"allow":[…],"deny":[…],"created_at","created_by"}.

${CONNECTION_USAGE}
`,
  options: CONNECTION_OPTIONS,
  run: (args) => {
    if (args.positionals.length !== 1) throw new UsageError('expected one policy name');
    return withClient(args, async (client) => {
      const name = args.positionals[0]!;
      let p;
      try {
        p = await client.getPolicy(name);
      } catch (error) {
        throw failure(`read policy '${name}'`, error);
      }
      if (flag(args, 'json')) {
        printJson({
          allow: p.allow,
          deny: p.deny,
          created_at: p.createdAt?.toISOString(),
          created_by: p.createdBy,
        });
      } else {
        print(
          formatTable([
            ['Rule', 'Path'],
            ...p.allow.map((path) => ['allow', path]),
            ...p.deny.map((path) => ['deny', path]),
          ]),
        );
      }
      return 0;
    });
  },
};

const identityLs: Command = {
  words: ['identity', 'ls'],
  summary: 'List identities',
  usage: `Usage: keyhold kes identity ls [options] [PATTERN]

Lists the identities that start with PATTERN (optionally ending in '*'; default: all).
With --json: a JSON array.

${CONNECTION_USAGE}
`,
  options: CONNECTION_OPTIONS,
  run: (args) => {
    if (args.positionals.length > 1) throw new UsageError('expected at most one pattern');
    return withClient(args, async (client) => {
      const list = await collect(
        client.listIdentities(args.positionals[0] ?? ''),
        'list identities',
      );
      printList(args, 'Identity', list);
      return 0;
    });
  },
};

const identityInfo: Command = {
  words: ['identity', 'info'],
  summary: 'Describe an identity (default: your own)',
  usage: `Usage: keyhold kes identity info [options] [IDENTITY]

Prints whether IDENTITY is the admin, its policy and when it was created. Without IDENTITY,
describes the identity this client authenticates as (with its policy's rules).
With --json: {"identity","admin","policy","created_at","created_by"[,"allow","deny"]}.

${CONNECTION_USAGE}
`,
  options: CONNECTION_OPTIONS,
  run: (args) => {
    if (args.positionals.length > 1) throw new UsageError('expected at most one identity');
    return withClient(args, async (client) => {
      const identity = args.positionals[0];
      let info: KesIdentityInfo;
      let rules: { allow: readonly string[]; deny: readonly string[] } | undefined;
      try {
        if (identity === undefined) {
          const self = await client.describeSelf();
          info = self;
          rules = { allow: self.allow, deny: self.deny };
        } else {
          info = await client.describeIdentity(identity);
        }
      } catch (error) {
        throw failure(`describe identity '${identity ?? client.identity ?? 'self'}'`, error);
      }
      if (flag(args, 'json')) {
        printJson({
          identity: info.identity,
          admin: info.isAdmin,
          policy: info.policy,
          created_at: info.createdAt?.toISOString(),
          created_by: info.createdBy,
          ...rules,
        });
      } else {
        const rows = [
          ['Identity', info.identity],
          ['Admin', info.isAdmin ? 'yes' : 'no'],
          ['Policy', info.policy],
          ['Created', formatTime(info.createdAt)],
          ['Created by', info.createdBy ?? ''],
        ];
        for (const path of rules?.allow ?? []) rows.push(['Allow', path]);
        for (const path of rules?.deny ?? []) rows.push(['Deny', path]);
        print(formatTable(rows));
      }
      return 0;
    });
  },
};

const identityOfVerb: Command = {
  words: ['identity', 'of'],
  summary: 'Compute the identity of an API key or certificate',
  usage: identityOfUsage('keyhold kes identity'),
  options: { json: { type: 'boolean' } },
  run: identityOf,
};

const identityNewVerb: Command = {
  words: ['identity', 'new'],
  summary: 'Create an API key, or a key and certificate',
  usage: identityNewUsage('keyhold kes identity'),
  options: IDENTITY_NEW_OPTIONS,
  run: identityNew,
};

const ls: Command = {
  words: ['ls'],
  summary: 'List keys, identities or policies',
  usage: `Usage: keyhold kes ls [options] [PREFIX]

Lists keys (default), identities (-i) or policies (-p) that start with PREFIX.
With --json: a JSON array.

Options:
  -i, --identities   list identities
  -p, --policies     list policies

${CONNECTION_USAGE}
`,
  options: {
    ...CONNECTION_OPTIONS,
    identities: { type: 'boolean', short: 'i' },
    policies: { type: 'boolean', short: 'p' },
  },
  run: (args) => {
    if (args.positionals.length > 1) throw new UsageError('expected at most one prefix');
    if (flag(args, 'identities') && flag(args, 'policies')) {
      throw new UsageError('-i and -p are mutually exclusive');
    }
    const prefix = args.positionals[0] ?? '';
    return withClient(args, async (client) => {
      if (flag(args, 'identities')) {
        printList(
          args,
          'Identity',
          await collect(client.listIdentities(prefix), 'list identities'),
        );
      } else if (flag(args, 'policies')) {
        printList(args, 'Policy', await collect(client.listPolicies(prefix), 'list policies'));
      } else {
        printList(args, 'Key', await collect(client.listKeys(prefix), 'list keys'));
      }
      return 0;
    });
  },
};

export const POLICY_VERBS: readonly Command[] = [
  ls,
  policyLs,
  policyInfo,
  policyShow,
  identityLs,
  identityInfo,
  identityOfVerb,
  identityNewVerb,
];
