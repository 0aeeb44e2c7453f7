// The KMS API's authorization matrix (docs/testing-security.md#authorization-matrix): every
// command of the command table and every other route of the KMS face, sent by every kind of
// caller to enclave alpha and to enclave beta (and for identity commands at an identity of each
// privilege and at the caller itself), against a real server over real TLS. The expected answer
// of every cell is written below, from docs/protocol/kms.md ("Privileges", "Authorization",
// "Who may send a body"); a command or route that has no rows fails the first test.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { HANDLERS } from '../src/api/kms/command-handlers.ts';
import { kmsRoutes } from '../src/api/kms/kms-routes.ts';
import type { KmsFaceOptions } from '../src/api/kms/kms-routes.ts';
import { KMS_COMMANDS, encodeKmsRequest, kmsCommand } from '../src/protocol/kms/index.ts';
import type { KmsCommandName } from '../src/protocol/kms/index.ts';
import {
  CALLERS,
  ENCLAVES,
  TARGET_PRIVILEGES,
  TARGETS,
  assertCells,
  exists,
  freshIdentity,
  runCells,
  settleCell,
  kmsOutcome,
  startMatrix,
} from './helpers/authz-fixtures.ts';
import type { EnclaveName, Matrix, Outcome, Target } from './helpers/authz-fixtures.ts';

// ── the expected answers ──────────────────────────────────────────────────────────────────────

const DENY: Outcome = { status: 403, message: 'access denied: insufficient permissions' };
const NO_IDENTITY: Outcome = { status: 404, message: 'identity does not exist' };
const OWN_PRIVILEGE: Outcome = {
  status: 400,
  message: 'an identity cannot change its own privileges',
};
const USERS_ONLY: Outcome = {
  status: 400,
  message: 'policies can only be assigned to user identities',
};
const NO_CLUSTER = (message: string): Outcome => ({ status: 409, message });
const NOT_YET = (command: string): Outcome => ({
  status: 501,
  message: `${command} is not supported by this server yet`,
});
const NOT_SERVED = (command: string, code: number): Outcome => ({
  status: 501,
  message: `command ${command} (${String(code)}) is not supported by this server`,
});

/** The KMS matrix's callers (the KES matrix adds one). */
type KmsCaller = (typeof CALLERS)[number];
type Cells = Record<KmsCaller, Outcome>;

/** `outcome` for the callers named, `others` for everyone else. */
function grant(callers: readonly KmsCaller[], outcome: Outcome = 'ok', others = DENY): Cells {
  return Object.fromEntries(
    CALLERS.map((who) => [who, callers.includes(who) ? outcome : others]),
  ) as Cells;
}
const same = (cells: Cells): Record<EnclaveName, Cells> => ({ alpha: cells, beta: cells });

// Who may act where (docs/protocol/kms.md#privileges): the root and SysAdmins everywhere, an
// Admin in its enclave, a User (and its service account) where its policy allows.
const SYS = ['root', 'sysadmin'] as const satisfies readonly KmsCaller[];
const ALPHA_ADMIN = [...SYS, 'admin'] as const;
const ALPHA_POLICY = [...ALPHA_ADMIN, 'userWith', 'serviceAccount'] as const;
/** Every identity of alpha: they pass the route's scope check, the command decides. */
const ALPHA_MEMBERS = [...ALPHA_POLICY, 'userWithout'] as const;
const BETA_ADMIN = [...SYS, 'otherEnclave'] as const;
const byPolicy = (outcome: Outcome = 'ok'): Record<EnclaveName, Cells> => ({
  alpha: grant(ALPHA_POLICY, outcome),
  beta: grant(BETA_ADMIN, outcome),
});

interface Cell {
  readonly who: KmsCaller;
  readonly enclave: EnclaveName;
  readonly target: Target | undefined;
  /** Unique per cell: names of what a cell creates. */
  readonly n: number;
}

interface Row {
  readonly command: KmsCommandName;
  readonly target?: Target;
  readonly expect: Record<EnclaveName, Cells>;
  /** The request message; may prepare (as the root) what the cell acts on. */
  message(m: Matrix, cell: Cell): Promise<object> | object;
  /** After the cell, as the root: did it change the state? Must be true iff it answered 200. */
  changed?(m: Matrix, cell: Cell): Promise<boolean>;
  /** Cells may delete fixture identities: run one at a time and repair after each. */
  readonly destructive?: boolean;
}

/** Per enclave: a ciphertext of the key `k`, made by the root. */
const ciphertexts = new Map<string, Buffer>();

const ROWS: Row[] = [
  // Cluster level: SysAdmins only, whatever a stored policy says (userWith's names them all).
  {
    command: 'CLUSTER:STATUS',
    expect: same(grant(SYS)),
    message: () => ({}),
  },
  {
    command: 'CLUSTER:ADDNODE',
    expect: same(
      grant(
        SYS,
        NO_CLUSTER(
          'cannot add 127.0.0.1:1: this node runs alone, without etcd; a cluster needs every node started with --etcd (see docs/cluster.md)',
        ),
      ),
    ),
    message: () => ({ host: '127.0.0.1:1' }),
  },
  {
    command: 'CLUSTER:REMOVENODE',
    expect: same(
      grant(
        SYS,
        NO_CLUSTER(
          'cannot remove 127.0.0.1:1: it is not a member; this node runs alone, without etcd',
        ),
      ),
    ),
    message: () => ({ host: '127.0.0.1:1' }),
  },
  {
    command: 'CLUSTER:EDIT',
    expect: same(grant(SYS, NOT_YET('CLUSTER:EDIT'))),
    message: () => ({}),
  },
  {
    command: 'CLUSTER:ADDHSM',
    expect: same(grant(SYS, NOT_YET('CLUSTER:ADDHSM'))),
    message: () => ({}),
  },
  {
    command: 'CLUSTER:REMOVEHSM',
    expect: same(grant(SYS, NOT_YET('CLUSTER:REMOVEHSM'))),
    message: () => ({}),
  },
  {
    command: 'ENCLAVE:CREATE',
    expect: same(grant(SYS)),
    message: (_m, c) => ({ name: `e${String(c.n)}` }),
    changed: (m, c) => exists(m.root.enclaveStatus(`e${String(c.n)}`)),
  },
  {
    command: 'ENCLAVE:DELETE',
    expect: same(grant(SYS)),
    message: async (m, c) => {
      await m.root.createEnclave(`x${String(c.n)}`);
      return { name: `x${String(c.n)}` };
    },
    changed: async (m, c) => !(await exists(m.root.enclaveStatus(`x${String(c.n)}`))),
  },
  {
    command: 'ENCLAVE:STATUS',
    expect: same(grant(SYS)),
    message: (_m, c) => ({ name: c.enclave }),
  },
  { command: 'ENCLAVE:LIST', expect: same(grant(SYS)), message: () => ({}) },

  // Keys: an Admin in its enclave, a User where its policy allows.
  {
    command: 'KEY:CREATE',
    expect: byPolicy(),
    message: (_m, c) => ({ name: `c${String(c.n)}` }),
    changed: (m, c) => exists(m.root.keyStatus(`c${String(c.n)}`, { enclave: c.enclave })),
  },
  {
    command: 'KEY:IMPORT',
    expect: byPolicy(),
    message: (_m, c) => ({ name: `i${String(c.n)}`, type: 'AES256', key: randomBytes(32) }),
    changed: (m, c) => exists(m.root.keyStatus(`i${String(c.n)}`, { enclave: c.enclave })),
  },
  {
    command: 'KEY:DELETE',
    expect: byPolicy(),
    message: async (m, c) => {
      await m.root.createKey(`d${String(c.n)}`, { enclave: c.enclave });
      return { name: `d${String(c.n)}`, allVersions: true };
    },
    changed: async (m, c) =>
      !(await exists(m.root.keyStatus(`d${String(c.n)}`, { enclave: c.enclave }))),
  },
  { command: 'KEY:STATUS', expect: byPolicy(), message: () => ({ name: 'k' }) },
  {
    command: 'KEY:ENCRYPT',
    expect: byPolicy(),
    message: () => ({ name: 'k', plaintext: Buffer.from('x') }),
  },
  {
    command: 'KEY:DECRYPT',
    expect: byPolicy(),
    message: (_m, c) => ({ name: 'k', ciphertext: ciphertexts.get(c.enclave) }),
  },
  { command: 'KEY:GENERATE', expect: byPolicy(), message: () => ({ name: 'k', length: 32 }) },
  { command: 'KEY:MAC', expect: byPolicy(), message: () => ({ name: 'k', message: Buffer.of(1) }) },
  { command: 'KEY:LIST', expect: byPolicy(), message: () => ({}) },
  {
    // Refused by the codec (docs/protocol/kms.md#request-validation), after the route's scope
    // check: only callers that may send a body to the enclave learn it is not served.
    command: 'KEY:LISTVERSIONS',
    expect: {
      alpha: grant(ALPHA_MEMBERS, NOT_SERVED('KEY:LISTVERSIONS', 209)),
      beta: grant(BETA_ADMIN, NOT_SERVED('KEY:LISTVERSIONS', 209)),
    },
    message: () => ({}),
  },

  // Policies.
  {
    command: 'POLICY:CREATE',
    expect: byPolicy(),
    message: (_m, c) => ({ name: `p${String(c.n)}` }),
    changed: (m, c) => exists(m.root.policyStatus(`p${String(c.n)}`, { enclave: c.enclave })),
  },
  {
    command: 'POLICY:DELETE',
    expect: byPolicy(),
    message: async (m, c) => {
      await m.root.createPolicy(`q${String(c.n)}`, {}, { enclave: c.enclave });
      return { name: `q${String(c.n)}` };
    },
    changed: async (m, c) =>
      !(await exists(m.root.policyStatus(`q${String(c.n)}`, { enclave: c.enclave }))),
  },
  { command: 'POLICY:GET', expect: byPolicy(), message: () => ({ name: 'everything' }) },
  { command: 'POLICY:STATUS', expect: byPolicy(), message: () => ({ name: 'everything' }) },
  { command: 'POLICY:LIST', expect: byPolicy(), message: () => ({}) },
  // No caller raises its own rights (docs/protocol/kms.md#authorization): the root included.
  {
    command: 'POLICY:ASSIGN',
    target: 'self',
    expect: same(grant([])),
    message: (m, c) => ({ identity: m.identity[c.who], policy: 'everything' }),
  },
  ...(['SysAdmin', 'Admin'] as const).map((target): Row => ({
    command: 'POLICY:ASSIGN',
    target,
    expect: byPolicy(USERS_ONLY),
    message: (m, c) => ({ identity: m.targets[c.enclave][target], policy: 'everything' }),
  })),
  {
    command: 'POLICY:ASSIGN',
    target: 'User',
    expect: byPolicy(),
    message: async (m, c) => {
      const target = freshIdentity();
      await m.root.createIdentity(target, { enclave: c.enclave });
      assigned.set(c.n, target);
      return { identity: target, policy: 'everything' };
    },
    changed: async (m, c) =>
      (await m.root.identityStatus(assigned.get(c.n)!, { enclave: c.enclave })).policy ===
      'everything',
  },

  // Identities. Granting (docs/protocol/kms.md#privileges): only a SysAdmin grants SysAdmin, an
  // Admin or SysAdmin grants Admin, and no identity changes its own privileges.
  {
    command: 'IDENTITY:CREATE',
    target: 'self',
    expect: byPolicy(OWN_PRIVILEGE),
    message: (m, c) => ({ identity: m.identity[c.who], privilege: 'User' }),
  },
  ...TARGET_PRIVILEGES.map((privilege): Row => ({
    command: 'IDENTITY:CREATE',
    target: privilege,
    expect: {
      SysAdmin: same(grant(SYS)),
      Admin: { alpha: grant(ALPHA_ADMIN), beta: grant(BETA_ADMIN) },
      User: byPolicy(),
    }[privilege],
    message: (_m, c) => {
      const target = freshIdentity();
      created.set(c.n, target);
      return { identity: target, privilege };
    },
    changed: (m, c) => exists(m.root.identityStatus(created.get(c.n)!, { enclave: c.enclave })),
  })),
  {
    // An identity may delete its own record (it loses rights, gains none); the root and the
    // SysAdmin have no record in alpha or beta.
    command: 'IDENTITY:DELETE',
    target: 'self',
    expect: {
      alpha: {
        ...grant(['admin', 'userWith', 'serviceAccount']),
        root: NO_IDENTITY,
        sysadmin: NO_IDENTITY,
      },
      beta: { ...grant(['otherEnclave']), root: NO_IDENTITY, sysadmin: NO_IDENTITY },
    },
    message: (m, c) => ({ identity: m.identity[c.who] }),
    destructive: true,
  },
  ...TARGET_PRIVILEGES.map((privilege): Row => ({
    command: 'IDENTITY:DELETE',
    target: privilege,
    expect: {
      SysAdmin: same(grant(SYS)),
      Admin: { alpha: grant(ALPHA_ADMIN), beta: grant(BETA_ADMIN) },
      User: byPolicy(),
    }[privilege],
    message: async (m, c) => {
      const target = freshIdentity();
      await m.root.createIdentity(target, { privilege, enclave: c.enclave });
      created.set(c.n, target);
      return { identity: target };
    },
    changed: async (m, c) =>
      !(await exists(m.root.identityStatus(created.get(c.n)!, { enclave: c.enclave }))),
  })),
  {
    command: 'IDENTITY:STATUS',
    target: 'self',
    expect: {
      alpha: {
        ...grant(['admin', 'userWith', 'serviceAccount']),
        root: NO_IDENTITY,
        sysadmin: NO_IDENTITY,
      },
      beta: { ...grant(['otherEnclave']), root: NO_IDENTITY, sysadmin: NO_IDENTITY },
    },
    message: (m, c) => ({ identity: m.identity[c.who] }),
  },
  ...TARGET_PRIVILEGES.map((privilege): Row => ({
    command: 'IDENTITY:STATUS',
    target: privilege,
    expect: byPolicy(),
    message: (m, c) => ({ identity: m.targets[c.enclave][privilege] }),
  })),
  { command: 'IDENTITY:LIST', expect: byPolicy(), message: () => ({}) },
];

/** Per cell: the identity a cell created, or was given a policy. */
const created = new Map<number, string>();
const assigned = new Map<number, string>();

/** The KMS face's other routes (kmsRoutes), by `METHOD path`. */
interface RouteRow {
  readonly expect: Cells;
  readonly body?: Buffer;
  readonly stream?: boolean;
}
const ROUTE_ROWS: Record<string, RouteRow> = {
  'GET /version': { expect: grant(CALLERS) },
  'GET /v1/health/live': { expect: grant(CALLERS) },
  'GET /v1/health/ready': { expect: grant(CALLERS) },
  'GET /v1/health/metrics': { expect: grant(SYS) },
  'GET /v1/db': { expect: grant(SYS) },
  // Authorized callers get as far as reading the (invalid) backup: nothing is replaced.
  'PUT /v1/db': {
    expect: grant(SYS, { status: 400, message: 'invalid backup: not a Keyhold backup file' }),
    body: Buffer.from('not a backup'),
  },
  'POST /v1/debug/log': { expect: grant(SYS), body: Buffer.alloc(0), stream: true },
};

// ── the run ───────────────────────────────────────────────────────────────────────────────────

let m: Matrix;
let counter = 0;

before(async () => {
  m = await startMatrix();
  for (const enclave of ENCLAVES) {
    await m.root.createKey('k', { enclave });
    ciphertexts.set(enclave, (await m.root.encrypt('k', 'secret', { enclave })).ciphertext);
  }
});
after(async () => {
  await m.close();
});

async function runCell(row: Row, who: KmsCaller, enclave: EnclaveName): Promise<Outcome> {
  const cell: Cell = { who, enclave, target: row.target, n: ++counter };
  const message = await row.message(m, cell);
  const request = kmsCommand(row.command).request as { fromPartial(o: object): object };
  const body = encodeKmsRequest(row.command, [request.fromPartial(message)] as never[]);
  const answer = await m.send(who, 'POST', `/v1/kms/${enclave}`, body);
  const outcome = kmsOutcome(answer);
  await settleCell(
    m,
    `${row.command} by ${who} in ${enclave}`,
    outcome,
    row.changed ? () => row.changed!(m, cell) : undefined,
    row.destructive,
  );
  return outcome;
}

describe('KMS authorization matrix', () => {
  it('has rows for every command and route of the tables', () => {
    const missing: string[] = [];
    const commands = new Set([...KMS_COMMANDS.map((c) => c.name), ...Object.keys(HANDLERS)]);
    for (const name of commands) {
      const rows = ROWS.filter((r) => r.command === name);
      if (rows.length === 0) missing.push(`no expectation for ${name}`);
      const targeted = rows.filter((r) => r.target !== undefined);
      if (targeted.length > 0) {
        for (const t of TARGETS) {
          if (!targeted.some((r) => r.target === t))
            missing.push(`no expectation for ${name} at ${t}`);
        }
      }
    }
    // Routes are whatever the face builds; reading the table needs none of the options.
    for (const route of kmsRoutes({} as KmsFaceOptions)) {
      if (route.path.startsWith('/v1/kms')) continue; // the command endpoint: the rows above
      const key = `${route.method} ${route.path}`;
      if (!(key in ROUTE_ROWS)) missing.push(`no expectation for ${key}`);
    }
    assert.deepEqual(missing, []);
  });

  for (const row of ROWS) {
    const name = row.target ? `${row.command} at ${row.target}` : row.command;
    it(name, async () => {
      for (const enclave of ENCLAVES) {
        const got = await runCells(CALLERS, row.destructive ?? false, (who) =>
          runCell(row, who, enclave),
        );
        assertCells(`${name} in ${enclave}`, row.expect[enclave], got);
      }
    });
  }

  for (const [key, row] of Object.entries(ROUTE_ROWS)) {
    it(key, async () => {
      const [method, path] = key.split(' ') as [string, string];
      const got = {} as Cells;
      await Promise.all(
        CALLERS.map(async (who) => {
          const answer = await m.send(who, method, path, row.body, {
            ...(row.stream ? { stream: true } : {}),
          });
          got[who] = kmsOutcome(answer);
        }),
      );
      assertCells(key, row.expect, got);
    });
  }
});
