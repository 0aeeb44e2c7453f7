// The web console's authorization matrix (docs/testing-security.md#authorization-matrix). The
// console runs the core's own operations with the signed-in identity as the caller, so for every
// action, every kind of caller, enclave alpha and beta, and (for identity actions) a target of each
// privilege and the caller itself, its answer must be exactly the KMS API's answer to the command
// it stands for, sent by the same caller from the same state: the same status, the same message,
// and a change of state exactly when 200. test/authz-kms-matrix.test.ts writes the KMS answers down
// cell by cell; this file holds the console to them. Callers without a known identity cannot sign
// in at all, and nothing of the console's API answers without a session.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CONSOLE_READS, CONSOLE_WRITES } from '../src/console/console-routes.ts';
import { encodeKmsRequest, kmsCommand } from '../src/protocol/kms/index.ts';
import type { KmsCommandName } from '../src/protocol/kms/index.ts';
import {
  CALLERS,
  ENCLAVES,
  TARGET_PRIVILEGES,
  TARGETS,
  assertCells,
  exists,
  freshIdentity,
  kmsOutcome,
  runCells,
  settleCell,
  show,
  startMatrix,
} from './helpers/authz-fixtures.ts';
import type { Answer, EnclaveName, Matrix, Outcome, Target } from './helpers/authz-fixtures.ts';

/** Callers with an identity the node knows: they sign in with their client certificate. */
const SIGNED_IN = [
  'root',
  'sysadmin',
  'admin',
  'userWith',
  'userWithout',
  'serviceAccount',
  'otherEnclave',
] as const;
type Who = (typeof SIGNED_IN)[number];

interface Cell {
  readonly who: Who;
  readonly enclave: EnclaveName;
  readonly target: Target | undefined;
  /** Unique per cell and path ('c…' for the console's request, 'k…' for the KMS API's). */
  readonly tag: string;
}

/** One request of each face for a cell, prepared (as the root) from the same starting state. */
interface Prepared {
  /** The console's query (GET) or JSON body (POST); `enclave` is added. */
  readonly console: Record<string, unknown>;
  /** The KMS command's message. */
  readonly kms: object;
}

interface Row {
  /** The console API action: GET `/console/api/ACTION` for reads, POST for writes. */
  readonly action: string;
  readonly write: boolean;
  /** The KMS command the action stands for. */
  readonly kms: KmsCommandName;
  readonly target?: Target;
  prepare(m: Matrix, cell: Cell): Promise<Prepared> | Prepared;
  /** After the cell, as the root: did it change the state? Must be true iff it answered 200. */
  changed?(m: Matrix, cell: Cell): Promise<boolean>;
  /** Cells may delete the caller itself: run one at a time and repair after each. */
  readonly destructive?: boolean;
}

/** Identities a cell created as its target, by tag. */
const created = new Map<string, string>();
const targetOf = (m: Matrix, c: Cell): string =>
  c.target === 'self' ? m.identity[c.who] : m.targets[c.enclave][c.target!];

/** The key-store view is cluster-level, as the node's status is. */
const CLUSTER_STATUS: Row = {
  action: 'keystore',
  write: false,
  kms: 'CLUSTER:STATUS',
  prepare: () => same({}),
};

/** Reads, as on the console's pages. */
const same = (fields: Record<string, unknown>): Prepared => ({ console: fields, kms: fields });
const READS: Row[] = [
  { action: 'enclaves', write: false, kms: 'ENCLAVE:LIST', prepare: () => same({}) },
  { action: 'keys', write: false, kms: 'KEY:LIST', prepare: () => same({}) },
  { action: 'key', write: false, kms: 'KEY:STATUS', prepare: () => same({ name: 'k' }) },
  { action: 'identities', write: false, kms: 'IDENTITY:LIST', prepare: () => same({}) },
  ...TARGETS.map((target): Row => ({
    action: 'identity',
    write: false,
    kms: 'IDENTITY:STATUS',
    target,
    prepare: (m, c) => ({
      console: { identity: targetOf(m, c) },
      kms: { identity: targetOf(m, c) },
    }),
  })),
  // What an identity may do with a key: as much as its status reveals, so the same permission.
  ...TARGET_PRIVILEGES.map((target): Row => ({
    action: 'policies/preview',
    write: false,
    kms: 'IDENTITY:STATUS',
    target,
    prepare: (m, c) => ({
      console: { identity: targetOf(m, c), key: 'k' },
      kms: { identity: targetOf(m, c) },
    }),
  })),
  { action: 'policies', write: false, kms: 'POLICY:LIST', prepare: () => same({}) },
  {
    action: 'policy',
    write: false,
    kms: 'POLICY:GET',
    prepare: () => same({ name: 'everything' }),
  },
  CLUSTER_STATUS,
];

const WRITES: Row[] = [
  {
    action: 'enclaves/create',
    write: true,
    kms: 'ENCLAVE:CREATE',
    prepare: (_m, c) => same({ name: `e-${c.tag}` }),
    changed: (m, c) => exists(m.root.enclaveStatus(`e-${c.tag}`)),
  },
  {
    action: 'enclaves/delete',
    write: true,
    kms: 'ENCLAVE:DELETE',
    prepare: async (m, c) => {
      await m.root.createEnclave(`d-${c.tag}`);
      return {
        console: { name: `d-${c.tag}`, confirm: `d-${c.tag}` },
        kms: { name: `d-${c.tag}` },
      };
    },
    changed: async (m, c) => !(await exists(m.root.enclaveStatus(`d-${c.tag}`))),
  },
  {
    action: 'keys/create',
    write: true,
    kms: 'KEY:CREATE',
    prepare: (_m, c) => same({ name: `c-${c.tag}` }),
    changed: (m, c) => exists(m.root.keyStatus(`c-${c.tag}`, { enclave: c.enclave })),
  },
  {
    action: 'keys/rotate',
    write: true,
    kms: 'KEY:CREATE',
    prepare: async (m, c) => {
      await m.root.createKey(`r-${c.tag}`, { enclave: c.enclave });
      return { console: { name: `r-${c.tag}` }, kms: { name: `r-${c.tag}`, addVersion: true } };
    },
    changed: async (m, c) =>
      (await m.root.keyStatus(`r-${c.tag}`, { enclave: c.enclave })).version === 2,
  },
  {
    action: 'keys/import',
    write: true,
    kms: 'KEY:IMPORT',
    prepare: (_m, c) => {
      const key = randomBytes(32);
      return {
        console: { name: `i-${c.tag}`, type: 'AES256', key: key.toString('base64') },
        kms: { name: `i-${c.tag}`, type: 'AES256', key },
      };
    },
    changed: (m, c) => exists(m.root.keyStatus(`i-${c.tag}`, { enclave: c.enclave })),
  },
  {
    action: 'keys/delete',
    write: true,
    kms: 'KEY:DELETE',
    prepare: async (m, c) => {
      await m.root.createKey(`x-${c.tag}`, { enclave: c.enclave });
      return {
        console: { name: `x-${c.tag}`, confirm: `x-${c.tag}` },
        kms: { name: `x-${c.tag}`, allVersions: true },
      };
    },
    changed: async (m, c) =>
      !(await exists(m.root.keyStatus(`x-${c.tag}`, { enclave: c.enclave }))),
  },
  {
    action: 'identities/create',
    write: true,
    kms: 'IDENTITY:CREATE',
    target: 'self',
    prepare: (m, c) => same({ identity: m.identity[c.who], privilege: 'User' }),
  },
  ...TARGET_PRIVILEGES.map((privilege): Row => ({
    action: 'identities/create',
    write: true,
    kms: 'IDENTITY:CREATE',
    target: privilege,
    prepare: (_m, c) => {
      created.set(c.tag, freshIdentity());
      return same({ identity: created.get(c.tag), privilege });
    },
    changed: (m, c) => exists(m.root.identityStatus(created.get(c.tag)!, { enclave: c.enclave })),
  })),
  {
    action: 'identities/delete',
    write: true,
    kms: 'IDENTITY:DELETE',
    target: 'self',
    destructive: true,
    prepare: (m, c) => same({ identity: m.identity[c.who] }),
  },
  ...TARGET_PRIVILEGES.map((privilege): Row => ({
    action: 'identities/delete',
    write: true,
    kms: 'IDENTITY:DELETE',
    target: privilege,
    prepare: async (m, c) => {
      created.set(c.tag, freshIdentity());
      await m.root.createIdentity(created.get(c.tag)!, { privilege, enclave: c.enclave });
      return same({ identity: created.get(c.tag) });
    },
    changed: async (m, c) =>
      !(await exists(m.root.identityStatus(created.get(c.tag)!, { enclave: c.enclave }))),
  })),
  ...TARGETS.map((target): Row => ({
    action: 'identities/assign',
    write: true,
    kms: 'POLICY:ASSIGN',
    target,
    prepare: async (m, c) => {
      if (target !== 'User') return same({ identity: targetOf(m, c), policy: 'everything' });
      created.set(c.tag, freshIdentity());
      await m.root.createIdentity(created.get(c.tag)!, { enclave: c.enclave });
      return same({ identity: created.get(c.tag), policy: 'everything' });
    },
    ...(target === 'User'
      ? {
          changed: async (m: Matrix, c: Cell) =>
            (await m.root.identityStatus(created.get(c.tag)!, { enclave: c.enclave })).policy ===
            'everything',
        }
      : {}),
  })),
  {
    action: 'policies/put',
    write: true,
    kms: 'POLICY:CREATE',
    prepare: (_m, c) => ({
      console: { name: `p-${c.tag}`, allow: { 'KEY:STATUS': ['a-*'] } },
      kms: { name: `p-${c.tag}`, allow: { 'KEY:STATUS': { patterns: ['a-*'] } } },
    }),
    changed: (m, c) => exists(m.root.policyStatus(`p-${c.tag}`, { enclave: c.enclave })),
  },
  {
    action: 'policies/delete',
    write: true,
    kms: 'POLICY:DELETE',
    prepare: async (m, c) => {
      await m.root.createPolicy(`q-${c.tag}`, {}, { enclave: c.enclave });
      return same({ name: `q-${c.tag}` });
    },
    changed: async (m, c) =>
      !(await exists(m.root.policyStatus(`q-${c.tag}`, { enclave: c.enclave }))),
  },
];

// ── sessions ─────────────────────────────────────────────────────────────────────────────────

/** The console's page as the browser addresses it: same-origin requests name it. */
const HOST = 'keyhold.test';
const PAGE = { Host: HOST, Origin: `https://${HOST}`, 'Content-Type': 'application/json' };

interface Session {
  readonly cookie: string;
  readonly csrf: string;
}

let m: Matrix;
const sessions = new Map<Who, Session>();
let counter = 0;

async function signIn(who: Who): Promise<Session> {
  const answer = await m.send(who, 'POST', '/console/api/sign-in', '{"certificate":true}', {
    headers: PAGE,
  });
  assert.equal(answer.status, 200, `${who} signs in: ${answer.body.toString()}`);
  const setCookie = String(answer.headers['set-cookie']);
  const cookie = setCookie.slice(0, setCookie.indexOf(';'));
  const { csrf } = JSON.parse(answer.body.toString()) as { csrf: string };
  return { cookie, csrf };
}

/** A console answer as the page reads it: `{"error":{"code","message"}}` on failure. */
function consoleOutcome(answer: Answer): Outcome {
  if (answer.status === 200) return 'ok';
  const parsed = JSON.parse(answer.body.toString()) as { error: { message: string } };
  return { status: answer.status, message: parsed.error.message };
}

function consoleRequest(
  who: Who,
  row: Row,
  enclave: EnclaveName,
  fields: Record<string, unknown>,
): Promise<Answer> {
  const session = sessions.get(who)!;
  if (!row.write) {
    const query = new URLSearchParams({ enclave });
    for (const [name, value] of Object.entries(fields)) query.set(name, String(value));
    return m.send(who, 'GET', `/console/api/${row.action}?${query.toString()}`, undefined, {
      headers: { Host: HOST, Cookie: session.cookie },
    });
  }
  return m.send(who, 'POST', `/console/api/${row.action}`, JSON.stringify({ enclave, ...fields }), {
    headers: { ...PAGE, Cookie: session.cookie, 'X-Keyhold-Csrf': session.csrf },
  });
}

function kmsRequest(who: Who, row: Row, enclave: EnclaveName, message: object): Promise<Answer> {
  const request = kmsCommand(row.kms).request as { fromPartial(o: object): object };
  const body = encodeKmsRequest(row.kms, [request.fromPartial(message)] as never[]);
  return m.send(who, 'POST', `/v1/kms/${enclave}`, body);
}

/** One cell: the console's request, then the KMS API's, each from a state prepared alike. */
async function runCell(
  row: Row,
  who: Who,
  enclave: EnclaveName,
): Promise<{ console: Outcome; kms: Outcome }> {
  const n = ++counter;
  const outcome = async (face: 'console' | 'kms'): Promise<Outcome> => {
    const cell: Cell = { who, enclave, target: row.target, tag: `${face[0]!}${String(n)}` };
    const prepared = await row.prepare(m, cell);
    const answer =
      face === 'console'
        ? await consoleRequest(who, row, enclave, prepared.console)
        : await kmsRequest(who, row, enclave, prepared.kms);
    const got = face === 'console' ? consoleOutcome(answer) : kmsOutcome(answer);
    await settleCell(
      m,
      `${face} ${row.action} by ${who} in ${enclave}`,
      got,
      row.changed ? () => row.changed!(m, cell) : undefined,
      row.destructive,
    );
    // A caller that deleted itself was created anew: its session ended with the identity.
    if (row.destructive && got === 'ok') sessions.set(who, await signIn(who));
    return got;
  };
  return { console: await outcome('console'), kms: await outcome('kms') };
}

before(async () => {
  m = await startMatrix();
  for (const enclave of ENCLAVES) await m.root.createKey('k', { enclave });
  for (const who of SIGNED_IN) sessions.set(who, await signIn(who));
});
after(async () => {
  await m.close();
});

/** Actions with tests of their own below: they have no single KMS command to answer like. */
const OWN_TESTS = ['overview', 'policies/validate'];

describe('console authorization matrix', () => {
  it('has rows for every action of the console API', () => {
    const rows = new Set([...READS, ...WRITES].map((r) => r.action));
    const missing = [...CONSOLE_READS, ...CONSOLE_WRITES].filter(
      (action) => !rows.has(action) && !OWN_TESTS.includes(action),
    );
    assert.deepEqual(missing, []);
  });

  for (const row of [...READS, ...WRITES]) {
    const name = `${row.write ? 'POST' : 'GET'} ${row.action}${row.target ? ` at ${row.target}` : ''} = ${row.kms}`;
    it(name, async () => {
      const verdicts = new Set<string>();
      for (const enclave of ENCLAVES) {
        const got = await runCells(SIGNED_IN, row.destructive ?? false, (who) =>
          runCell(row, who, enclave).then((both) => {
            verdicts.add(both.kms === 'ok' ? 'allowed' : 'refused');
            return both;
          }),
        );
        const pick = (face: 'console' | 'kms'): Record<Who, Outcome> =>
          Object.fromEntries(SIGNED_IN.map((who) => [who, got[who][face]])) as Record<Who, Outcome>;
        assertCells(
          `${name} in ${enclave} (expected: the KMS API's answer)`,
          pick('kms'),
          pick('console'),
        );
      }
      // The row tells the callers apart: a row that allowed or refused everyone proves less.
      if (row.target !== 'self' && row.action !== 'identities/assign') {
        assert.deepEqual([...verdicts].sort(), ['allowed', 'refused'], name);
      }
    });
  }

  it('the live log tail answers as the KMS API’s /v1/debug/log; the audit tail to SysAdmins only', async () => {
    const got: Record<string, string> = {};
    const want: Record<string, string> = {};
    await Promise.all(
      SIGNED_IN.map(async (who) => {
        const headers = { Host: HOST, Cookie: sessions.get(who)!.cookie };
        const log = await m.send(who, 'GET', '/console/api/log/stream', undefined, {
          headers,
          stream: true,
        });
        const audit = await m.send(who, 'GET', '/console/api/audit/stream', undefined, {
          headers,
          stream: true,
        });
        const kms = await m.send(who, 'POST', '/v1/debug/log', Buffer.alloc(0), { stream: true });
        got[who] = `${show(consoleOutcome(log))} | ${show(consoleOutcome(audit))}`;
        const kmsLog = show(kmsOutcome(kms));
        const sys = who === 'root' || who === 'sysadmin';
        want[who] = `${kmsLog} | ${sys ? '200' : '403 access denied: insufficient permissions'}`;
      }),
    );
    assert.deepEqual(got, want);
  });

  it('the overview shows the cluster to callers CLUSTER:STATUS allows, and no one else', async () => {
    for (const who of SIGNED_IN) {
      const answer = await m.send(who, 'GET', '/console/api/overview', undefined, {
        headers: { Host: HOST, Cookie: sessions.get(who)!.cookie },
      });
      assert.equal(answer.status, 200, who);
      const overview = JSON.parse(answer.body.toString()) as { cluster: unknown; metrics: unknown };
      const status = kmsOutcome(await kmsRequest(who, CLUSTER_STATUS, 'alpha', {}));
      assert.equal(overview.cluster !== null, status === 'ok', `${who}: cluster shown`);
      assert.equal(overview.metrics !== null, status === 'ok', `${who}: metrics shown`);
    }
  });

  it('every signed-in caller may check a policy draft: it reads and changes nothing', async () => {
    for (const who of SIGNED_IN) {
      const answer = await m.send(
        who,
        'POST',
        '/console/api/policies/validate',
        JSON.stringify({ allow: { 'KEY:STATUS': ['a-*'], 'KEY:NOPE': ['x'] } }),
        {
          headers: {
            ...PAGE,
            Cookie: sessions.get(who)!.cookie,
            'X-Keyhold-Csrf': sessions.get(who)!.csrf,
          },
        },
      );
      assert.equal(answer.status, 200, who);
      const { problems } = JSON.parse(answer.body.toString()) as { problems: unknown[] };
      assert.equal(problems.length, 1, who);
    }
  });

  it('callers the node does not know cannot sign in, and nothing answers without a session', async () => {
    const refusals: Record<string, string> = {};
    for (const who of CALLERS.filter((c) => !(SIGNED_IN as readonly string[]).includes(c))) {
      const answer = await m.send(who, 'POST', '/console/api/sign-in', '{"certificate":true}', {
        headers: PAGE,
      });
      refusals[who] = show(consoleOutcome(answer));
      assert.equal(answer.headers['set-cookie'], undefined, who);
    }
    const { borrowed, ...others } = refusals;
    assert.deepEqual(others, {
      unknown: `403 identity ${m.identity.unknown} is not known to this server`,
      none: '400 this connection has no client certificate',
    });
    // The handshake proves the first certificate's key only: the attacker's own, known nowhere.
    assert.match(borrowed!, /^403 identity h1:\S+ is not known to this server$/);
    assert.ok(!borrowed!.includes(m.identity.root), 'the borrowed chain is not the root');
    for (const row of [...READS, ...WRITES]) {
      // The root's certificate without a session: the session, not the certificate, signs in.
      const answer = row.write
        ? await m.send('root', 'POST', `/console/api/${row.action}`, '{}', {
            headers: { ...PAGE, 'X-Keyhold-Csrf': sessions.get('root')!.csrf },
          })
        : await m.send('root', 'GET', `/console/api/${row.action}`, undefined, {
            headers: { Host: HOST },
          });
      assert.equal(
        show(consoleOutcome(answer)),
        '401 not signed in (or the session ended): sign in again',
        row.action,
      );
    }
  });

  it('a write with another session’s CSRF token is refused and changes nothing', async () => {
    const name = `csrf-${String(++counter)}`;
    const answer = await m.send(
      'admin',
      'POST',
      '/console/api/keys/create',
      JSON.stringify({ enclave: 'alpha', name }),
      {
        headers: {
          ...PAGE,
          Cookie: sessions.get('admin')!.cookie,
          'X-Keyhold-Csrf': sessions.get('root')!.csrf,
        },
      },
    );
    assert.equal(show(consoleOutcome(answer)), '403 request refused: missing or wrong CSRF token');
    assert.equal(await exists(m.root.keyStatus(name, { enclave: 'alpha' })), false);
  });
});
