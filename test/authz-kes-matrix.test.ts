// The KES API's authorization matrix (docs/testing-security.md#authorization-matrix): every route
// of the KES face (both eras, aliases included), sent by every kind of caller for enclave alpha and
// for enclave beta (`?enclave=`), and for the identity routes at an identity of each privilege and
// at the caller itself, against a real server over real TLS. The expected answer of every cell is
// written below, from docs/protocol/kes.md ("Identities", "Who may do what", "Cluster-level
// paths", "Errors"); a route without rows fails the first test.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { identityRoutes } from '../src/api/kes/kes-identity-routes.ts';
import { keyRoutes } from '../src/api/kes/kes-key-routes.ts';
import { policyRoutes } from '../src/api/kes/kes-policy-routes.ts';
import { VERSION_ROUTE, systemRoutes } from '../src/api/kes/kes-system-routes.ts';
import { kesRoutePaths } from '../src/api/kes/kes-face.ts';
import { parseIdentity } from '../src/identity/index.ts';
import { KES_PATHS } from '../src/protocol/kes/index.ts';
import {
  ENCLAVES,
  KES_CALLERS,
  TARGET_PRIVILEGES,
  TARGETS,
  assertCells,
  exists,
  freshIdentity,
  runCells,
  settleCell,
  kesOutcome,
  startMatrix,
} from './helpers/authz-fixtures.ts';
import type { CallerName, EnclaveName, Matrix, Outcome, Target } from './helpers/authz-fixtures.ts';

// ── the expected answers ──────────────────────────────────────────────────────────────────────

const DENY: Outcome = { status: 403, message: 'not authorized: insufficient permissions' };
/** No certificate, or a first certificate that is a CA (docs/protocol/kes.md#identities). */
const NO_CERT: Outcome = { status: 400, message: 'tls: client certificate is required' };
const NO_IDENTITY: Outcome = { status: 404, message: 'identity does not exist' };
const USERS_ONLY: Outcome = {
  status: 400,
  message: 'policies can only be assigned to user identities',
};
const SELF_ASSIGN: Outcome = { status: 403, message: 'identity cannot assign policy to itself' };

type Cells = Record<CallerName, Outcome>;

/** `outcome` for the callers named; DENY for the other identities; NO_CERT without one. */
function grant(callers: readonly CallerName[], outcome: Outcome = 'ok'): Cells {
  return Object.fromEntries(
    KES_CALLERS.map((who) => [
      who,
      callers.includes(who) ? outcome : who === 'none' || who === 'borrowed' ? NO_CERT : DENY,
    ]),
  ) as Cells;
}
const same = (cells: Cells): Record<EnclaveName, Cells> => ({ alpha: cells, beta: cells });

// docs/protocol/kes.md#who-may-do-what: the admin (root) and SysAdmins everywhere, an Admin in its
// enclave, a User where its policy allows the path. userWith's policy holds KMS command rules,
// which grant the KES route of the same operation; userPaths' holds KES path patterns.
const SYS = ['root', 'sysadmin'] as const satisfies readonly CallerName[];
const ALPHA_ADMIN = [...SYS, 'admin'] as const;
/** Routes with a KMS command of the same operation (kes.md#one-policy-for-both-apis). */
const ALPHA_POLICY = [...ALPHA_ADMIN, 'userWith', 'serviceAccount', 'userPaths'] as const;
/** Routes only KES path rules grant (status, api, ready). */
const ALPHA_PATHS = [...ALPHA_ADMIN, 'userPaths'] as const;
const BETA_ADMIN = [...SYS, 'otherEnclave'] as const;
const byPolicy = (outcome: Outcome = 'ok'): Record<EnclaveName, Cells> => ({
  alpha: grant(ALPHA_POLICY, outcome),
  beta: grant(BETA_ADMIN, outcome),
});

interface Cell {
  readonly who: CallerName;
  readonly enclave: EnclaveName;
  readonly n: number;
}

interface Row {
  /** `METHOD /route/` as the route table has it. */
  readonly route: string;
  readonly target?: Target;
  readonly expect: Record<EnclaveName, Cells>;
  /** The resource after the route's prefix; may prepare (as the root) what the cell acts on. */
  resource?(m: Matrix, cell: Cell): Promise<string> | string;
  body?(m: Matrix, cell: Cell): string;
  /** After the cell, as the root: did it change the state? Must be true iff it answered 200. */
  changed?(m: Matrix, cell: Cell): Promise<boolean>;
  readonly destructive?: boolean;
  readonly stream?: boolean;
}

const hex = (h1: string): string => parseIdentity(h1).toHex();
const b64 = (text: string): string => Buffer.from(text).toString('base64');
/** Per enclave: a KES ciphertext of the key `k`, made by the root. */
const ciphertexts = new Map<string, string>();
/** Per cell: the identity it acts on. */
const subjects = new Map<number, string>();

const ROWS: Row[] = [
  { route: 'GET /version', expect: same(grant(KES_CALLERS)) },
  { route: 'GET /v1/ready', expect: { alpha: grant(ALPHA_PATHS), beta: grant(BETA_ADMIN) } },
  { route: 'GET /v1/status', expect: { alpha: grant(ALPHA_PATHS), beta: grant(BETA_ADMIN) } },
  { route: 'GET /v1/api', expect: { alpha: grant(ALPHA_PATHS), beta: grant(BETA_ADMIN) } },
  // Cluster-level: never through a stored policy (kes.md#cluster-level-paths).
  { route: 'GET /v1/metrics', expect: same(grant(SYS)) },
  { route: 'GET /v1/log/audit', expect: same(grant(SYS)), stream: true },
  { route: 'GET /v1/log/error', expect: same(grant(SYS)), stream: true },

  {
    route: 'PUT /v1/key/create/',
    expect: byPolicy(),
    resource: (_m, c) => `c${String(c.n)}`,
    changed: (m, c) => exists(m.root.keyStatus(`c${String(c.n)}`, { enclave: c.enclave })),
  },
  {
    route: 'PUT /v1/key/import/',
    expect: byPolicy(),
    resource: (_m, c) => `i${String(c.n)}`,
    body: () => JSON.stringify({ key: Buffer.alloc(32, 9).toString('base64'), cipher: 'AES256' }),
    changed: (m, c) => exists(m.root.keyStatus(`i${String(c.n)}`, { enclave: c.enclave })),
  },
  { route: 'GET /v1/key/describe/', expect: byPolicy(), resource: () => 'k' },
  { route: 'GET /v1/key/list/', expect: byPolicy(), resource: () => 'k' },
  { route: 'GET /v1/key/list', expect: byPolicy() },
  {
    route: 'DELETE /v1/key/delete/',
    expect: byPolicy(),
    resource: async (m, c) => {
      await m.root.createKey(`d${String(c.n)}`, { enclave: c.enclave });
      return `d${String(c.n)}`;
    },
    changed: async (m, c) =>
      !(await exists(m.root.keyStatus(`d${String(c.n)}`, { enclave: c.enclave }))),
  },
  { route: 'PUT /v1/key/generate/', expect: byPolicy(), resource: () => 'k', body: () => '{}' },
  {
    route: 'PUT /v1/key/encrypt/',
    expect: byPolicy(),
    resource: () => 'k',
    body: () => JSON.stringify({ plaintext: b64('x') }),
  },
  {
    route: 'PUT /v1/key/decrypt/',
    expect: byPolicy(),
    resource: () => 'k',
    body: (_m, c) => JSON.stringify({ ciphertext: ciphertexts.get(c.enclave) }),
  },
  {
    route: 'PUT /v1/key/hmac/',
    expect: byPolicy(),
    resource: () => 'k',
    body: () => JSON.stringify({ message: b64('m') }),
  },
  {
    route: 'POST /v1/key/bulk/decrypt/',
    expect: byPolicy(),
    resource: () => 'k',
    body: (_m, c) => JSON.stringify([{ ciphertext: ciphertexts.get(c.enclave) }]),
  },

  { route: 'GET /v1/policy/describe/', expect: byPolicy(), resource: () => 'everything' },
  { route: 'GET /v1/policy/read/', expect: byPolicy(), resource: () => 'everything' },
  { route: 'GET /v1/policy/list/', expect: byPolicy(), resource: () => 'e' },
  { route: 'GET /v1/policy/list', expect: byPolicy() },
  {
    route: 'POST /v1/policy/write/',
    expect: byPolicy(),
    resource: (_m, c) => `p${String(c.n)}`,
    body: () => JSON.stringify({ allow: ['/v1/key/describe/nothing'] }),
    changed: (m, c) => exists(m.root.policyStatus(`p${String(c.n)}`, { enclave: c.enclave })),
  },
  {
    route: 'DELETE /v1/policy/delete/',
    expect: byPolicy(),
    resource: async (m, c) => {
      await m.root.createPolicy(`q${String(c.n)}`, {}, { enclave: c.enclave });
      return `q${String(c.n)}`;
    },
    changed: async (m, c) =>
      !(await exists(m.root.policyStatus(`q${String(c.n)}`, { enclave: c.enclave }))),
  },
  // The admin has no policy; everyone else is refused its own (kes.md#errors).
  {
    route: 'POST /v1/policy/assign/',
    target: 'self',
    expect: {
      alpha: {
        ...grant(ALPHA_POLICY, SELF_ASSIGN),
        root: { status: 400, message: 'the admin identity cannot have a policy' },
      },
      beta: {
        ...grant(BETA_ADMIN, SELF_ASSIGN),
        root: { status: 400, message: 'the admin identity cannot have a policy' },
      },
    },
    resource: () => 'everything',
    body: (m, c) => JSON.stringify({ identity: hex(m.identity[c.who]) }),
  },
  ...(['SysAdmin', 'Admin'] as const).map((target): Row => ({
    route: 'POST /v1/policy/assign/',
    target,
    expect: byPolicy(USERS_ONLY),
    resource: () => 'everything',
    body: (m, c) => JSON.stringify({ identity: hex(m.targets[c.enclave][target]) }),
  })),
  {
    route: 'POST /v1/policy/assign/',
    target: 'User',
    expect: byPolicy(),
    resource: async (m, c) => {
      const target = freshIdentity();
      await m.root.createIdentity(target, { enclave: c.enclave });
      subjects.set(c.n, target);
      return 'everything';
    },
    body: (_m, c) => JSON.stringify({ identity: hex(subjects.get(c.n)!) }),
    changed: async (m, c) =>
      (await m.root.identityStatus(subjects.get(c.n)!, { enclave: c.enclave })).policy ===
      'everything',
  },

  // The admin's description is the admin view; the SysAdmin has no record in alpha or beta.
  {
    route: 'GET /v1/identity/describe/',
    target: 'self',
    expect: {
      alpha: { ...grant(ALPHA_POLICY), sysadmin: NO_IDENTITY },
      beta: { ...grant(BETA_ADMIN), sysadmin: NO_IDENTITY },
    },
    resource: (m, c) => hex(m.identity[c.who]),
  },
  ...TARGET_PRIVILEGES.map((target): Row => ({
    route: 'GET /v1/identity/describe/',
    target,
    expect: byPolicy(),
    resource: (m, c) => hex(m.targets[c.enclave][target]),
  })),
  { route: 'GET /v1/identity/list/', expect: byPolicy(), resource: () => '0' },
  { route: 'GET /v1/identity/list', expect: byPolicy() },
  {
    // Identifies the caller and never refuses it; without a (non-CA) certificate, or without a
    // record in the enclave, there is nothing to describe.
    route: 'GET /v1/identity/self/describe',
    expect: {
      alpha: {
        ...grant([...ALPHA_POLICY, 'userWithout'], 'ok'),
        otherEnclave: NO_IDENTITY,
        unknown: NO_IDENTITY,
        none: NO_IDENTITY,
        borrowed: NO_IDENTITY,
      },
      beta: {
        ...grant([...BETA_ADMIN], 'ok'),
        ...Object.fromEntries(
          ['admin', 'userWith', 'userWithout', 'serviceAccount', 'userPaths', 'unknown'].map(
            (who) => [who, NO_IDENTITY],
          ),
        ),
        none: NO_IDENTITY,
        borrowed: NO_IDENTITY,
      },
    },
  },
  {
    route: 'DELETE /v1/identity/delete/',
    target: 'self',
    expect: {
      alpha: {
        ...grant(ALPHA_POLICY),
        root: { status: 400, message: 'the admin identity cannot be deleted' },
        sysadmin: NO_IDENTITY,
      },
      beta: {
        ...grant(BETA_ADMIN),
        root: { status: 400, message: 'the admin identity cannot be deleted' },
        sysadmin: NO_IDENTITY,
      },
    },
    resource: (m, c) => hex(m.identity[c.who]),
    destructive: true,
  },
  ...TARGET_PRIVILEGES.map((privilege): Row => ({
    route: 'DELETE /v1/identity/delete/',
    target: privilege,
    expect: {
      SysAdmin: same(grant(SYS)),
      Admin: { alpha: grant(ALPHA_ADMIN), beta: grant(BETA_ADMIN) },
      User: byPolicy(),
    }[privilege],
    resource: async (m, c) => {
      const target = freshIdentity();
      await m.root.createIdentity(target, { privilege, enclave: c.enclave });
      subjects.set(c.n, target);
      return hex(target);
    },
    changed: async (m, c) =>
      !(await exists(m.root.identityStatus(subjects.get(c.n)!, { enclave: c.enclave }))),
  })),
];

// ── the run ───────────────────────────────────────────────────────────────────────────────────

let m: Matrix;
let counter = 0;

before(async () => {
  m = await startMatrix();
  for (const enclave of ENCLAVES) {
    await m.root.createKey('k', { enclave });
    const sealed = await m.send(
      'root',
      'PUT',
      `/v1/key/encrypt/k?enclave=${enclave}`,
      JSON.stringify({ plaintext: b64('secret') }),
    );
    assert.equal(sealed.status, 200, sealed.body.toString());
    ciphertexts.set(
      enclave,
      (JSON.parse(sealed.body.toString()) as { ciphertext: string }).ciphertext,
    );
  }
});
after(async () => {
  await m.close();
});

async function runCell(row: Row, who: CallerName, enclave: EnclaveName): Promise<Outcome> {
  const cell: Cell = { who, enclave, n: ++counter };
  const [method, route] = row.route.split(' ') as [string, string];
  const resource = row.resource ? await row.resource(m, cell) : '';
  const body = row.body?.(m, cell);
  const answer = await m.send(
    who,
    method,
    `${route}${encodeURIComponent(resource)}?enclave=${enclave}`,
    body,
    row.stream ? { stream: true } : {},
  );
  const outcome = kesOutcome(answer);
  await settleCell(
    m,
    `${row.route} by ${who} in ${enclave}`,
    outcome,
    row.changed ? () => row.changed!(m, cell) : undefined,
    row.destructive,
  );
  return outcome;
}

describe('KES authorization matrix', () => {
  it('has rows for every route of the tables', () => {
    const specs = [
      VERSION_ROUTE,
      ...systemRoutes(),
      ...keyRoutes(),
      ...policyRoutes(),
      ...identityRoutes(),
    ];
    const routes = specs.flatMap((s) => [
      `${s.method} ${s.path}`,
      ...(s.aliases ?? []).map((a) => `${s.method} ${a}`),
    ]);
    const missing: string[] = [];
    for (const path of new Set([...kesRoutePaths(), ...Object.values(KES_PATHS)])) {
      if (!specs.some((s) => s.path === path)) missing.push(`no route for the path ${path}`);
    }
    for (const route of routes) {
      const rows = ROWS.filter((r) => r.route === route);
      if (rows.length === 0) missing.push(`no expectation for ${route}`);
      const targeted = rows.filter((r) => r.target !== undefined);
      if (targeted.length > 0) {
        for (const t of TARGETS) {
          if (!targeted.some((r) => r.target === t)) {
            missing.push(`no expectation for ${route} at ${t}`);
          }
        }
      }
    }
    assert.deepEqual(missing, []);
  });

  for (const row of ROWS) {
    const name = row.target ? `${row.route} at ${row.target}` : row.route;
    it(name, async () => {
      for (const enclave of ENCLAVES) {
        const got = await runCells(KES_CALLERS, row.destructive ?? false, (who) =>
          runCell(row, who, enclave),
        );
        assertCells(`${name} in ${enclave}`, row.expect[enclave], got);
      }
    });
  }
});
