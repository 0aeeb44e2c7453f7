// The callers of the authorization matrix (docs/testing-security.md#authorization-matrix): one
// node, the enclaves and identities every row needs, a client certificate (or none, or a chain
// that tries to borrow the root's identity) per kind of caller, and one raw request per cell,
// read back as (status, message) the way each face's clients read errors.
//
// The cells go to the node in process (test/helpers/face-harness.ts), each caller named as its
// certificate would identify it; the fixtures go through the SDK over TLS to the same node. With
// KEYHOLD_TEST_HTTP set (CI's second pass, or `lean` by hand) the matrix runs as it did before the
// harness: a `keyhold server` process and one HTTPS request per cell with the caller's
// certificate chain.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import {
  ApiKey,
  clientCertificateForApiKey,
  identityOfSpki,
  parseApiKey,
} from '../../src/identity/index.ts';
import { hostileCertificate, spkiOf } from '../../src/identity/test-support.ts';
import { decodeErrorBody } from '../../src/protocol/kms/index.ts';
import type { KmsClient } from '../../src/sdk/index.ts';
import { startKesServer } from '../kes-server-support.ts';
import type { KesServer, StartOptions } from '../kes-server-support.ts';
import { clientFor } from './kms-assert.ts';
import { startFaceHarness } from './face-harness.ts';
import type { Caller } from './face-harness.ts';

/** Cells over real TLS to a server process instead of in process (see the header). */
const OVER_TLS = (process.env.KEYHOLD_TEST_HTTP ?? '') !== '';

/** Every kind of caller a row must have an expectation for. */
export const CALLERS = [
  'root', // the root identity derived from the HSM key
  'sysadmin', // a SysAdmin registered in a third enclave (`default`), not in alpha or beta
  'admin', // the Admin of alpha
  'userWith', // a User of alpha whose policy allows every KMS command on every name
  'userWithout', // a User of alpha whose policy allows every command on names nothing has
  'serviceAccount', // a service account created by userWith
  'otherEnclave', // the Admin of beta
  'unknown', // a valid API-key certificate whose identity is registered nowhere
  'none', // no client certificate
  'borrowed', // [its own CA:TRUE certificate, a forged one with the root's public key]
] as const;
/**
 * The KES matrix adds a User of alpha whose policy holds KES path patterns (written through the
 * legacy `/v1/policy/write/`): KMS command rules do not reach KES-only paths such as `/v1/status`.
 */
export const KES_CALLERS = [...CALLERS, 'userPaths'] as const;
export type CallerName = (typeof KES_CALLERS)[number];

/** The enclave most callers belong to, and the other one (beta's Admin is `otherEnclave`). */
export const ALPHA = 'alpha';
export const BETA = 'beta';
export const ENCLAVES = [ALPHA, BETA] as const;
export type EnclaveName = (typeof ENCLAVES)[number];

/** A client certificate chain and its key; null sends none. */
export type Credentials = { readonly cert: string; readonly key: string } | null;

/** What one cell answered: 200, or the status and the message a client would show. */
export type Outcome = 'ok' | { readonly status: number; readonly message: string };

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** The policy rules of `userWith` (every KMS command, cluster ones too) and `userWithout`. */
export const EVERY_COMMAND = [
  'CLUSTER:ADDNODE',
  'CLUSTER:REMOVENODE',
  'CLUSTER:STATUS',
  'CLUSTER:EDIT',
  'CLUSTER:ADDHSM',
  'CLUSTER:REMOVEHSM',
  'ENCLAVE:CREATE',
  'ENCLAVE:DELETE',
  'ENCLAVE:STATUS',
  'ENCLAVE:LIST',
  'KEY:CREATE',
  'KEY:DELETE',
  'KEY:IMPORT',
  'KEY:STATUS',
  'KEY:ENCRYPT',
  'KEY:DECRYPT',
  'KEY:GENERATE',
  'KEY:LIST',
  'KEY:LISTVERSIONS',
  'KEY:MAC',
  'POLICY:CREATE',
  'POLICY:DELETE',
  'POLICY:ASSIGN',
  'POLICY:GET',
  'POLICY:STATUS',
  'POLICY:LIST',
  'IDENTITY:CREATE',
  'IDENTITY:DELETE',
  'IDENTITY:STATUS',
  'IDENTITY:LIST',
];

/** Target identities every enclave has, by privilege (higher / equal / lower than the caller). */
export const TARGET_PRIVILEGES = ['SysAdmin', 'Admin', 'User'] as const;
export type TargetPrivilege = (typeof TARGET_PRIVILEGES)[number];
/** What an identity command of a cell acts on: the caller itself, or a target identity. */
export type Target = 'self' | TargetPrivilege;
export const TARGETS: readonly Target[] = ['self', ...TARGET_PRIVILEGES];

export interface Matrix {
  /** Where the SDK reaches the node (and, over TLS, the cells). */
  readonly server: Pick<KesServer, 'endpoint' | 'rootApiKey'>;
  /** The root's SDK client (fixtures only; cells use raw requests). */
  readonly root: KmsClient;
  readonly credentials: Readonly<Record<CallerName, Credentials>>;
  /** Each caller's identity as `h1:` (`none` gets a random one nobody holds). */
  readonly identity: Readonly<Record<CallerName, string>>;
  /** Standing identities of each enclave: target of a read or an idempotent change. */
  readonly targets: Readonly<Record<EnclaveName, Record<TargetPrivilege, string>>>;
  /** One cell's request, sent as `who`. */
  send(
    who: CallerName,
    method: string,
    path: string,
    body?: Buffer | string,
    options?: { readonly stream?: boolean; readonly headers?: Record<string, string> },
  ): Promise<Answer>;
  /** Re-creates fixture identities a cell deleted (a caller deleting itself). */
  repair(): Promise<void>;
  close(): Promise<void>;
}

const USER_POLICY = 'everything';
const NO_MATCH_POLICY = 'nothing-matches';
const PATHS_POLICY = 'kes-paths';

/**
 * Starts a node (in process, or a server process when OVER_TLS) and creates every fixture, as
 * the root, through the SDK.
 */
export async function startMatrix(options: StartOptions = {}): Promise<Matrix> {
  const harness = OVER_TLS ? null : await startFaceHarness({ listen: true });
  const server = harness
    ? { endpoint: harness.endpoint, rootApiKey: harness.rootApiKey, stop: () => harness.close() }
    : await startKesServer(options);
  const root = clientFor(server.endpoint, server.rootApiKey, { enclave: ALPHA });
  const keys = {
    sysadmin: ApiKey.generate(),
    admin: ApiKey.generate(),
    userWith: ApiKey.generate(),
    userWithout: ApiKey.generate(),
    serviceAccount: ApiKey.generate(),
    otherEnclave: ApiKey.generate(),
    unknown: ApiKey.generate(),
    none: ApiKey.generate(),
    userPaths: ApiKey.generate(),
  };
  const attacker = generateKeyPairSync('ed25519').privateKey;
  const rootKey = parseApiKey(server.rootApiKey);
  // The handshake proves the first certificate's key only; the second claims the root's.
  const borrowed = {
    cert:
      hostileCertificate({ spki: spkiOf(attacker), signer: attacker, isCa: true }) +
      hostileCertificate({ spki: spkiOf(rootKey.privateKey), signer: attacker, commonName: 'x' }),
    key: attacker.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
  const certOf = (key: ApiKey): Credentials => {
    const made = clientCertificateForApiKey(key);
    return { cert: made.cert, key: made.key };
  };
  const credentials: Record<CallerName, Credentials> = {
    root: certOf(rootKey),
    sysadmin: certOf(keys.sysadmin),
    admin: certOf(keys.admin),
    userWith: certOf(keys.userWith),
    userWithout: certOf(keys.userWithout),
    serviceAccount: certOf(keys.serviceAccount),
    otherEnclave: certOf(keys.otherEnclave),
    unknown: certOf(keys.unknown),
    none: null,
    borrowed,
    userPaths: certOf(keys.userPaths),
  };
  const h1 = (key: ApiKey): string => key.identity.toH1();
  const identity: Record<CallerName, string> = {
    root: h1(rootKey),
    sysadmin: h1(keys.sysadmin),
    admin: h1(keys.admin),
    userWith: h1(keys.userWith),
    userWithout: h1(keys.userWithout),
    serviceAccount: h1(keys.serviceAccount),
    otherEnclave: h1(keys.otherEnclave),
    unknown: h1(keys.unknown),
    none: h1(keys.none),
    borrowed: ApiKey.fromSeed(Buffer.alloc(32, 7)).identity.toH1(), // never registered
    userPaths: h1(keys.userPaths),
  };
  // What the TLS layer identifies each chain as (identity/peer-identity.ts): `borrowed` leads
  // with its own CA:TRUE certificate, so its leaf is the attacker's key and KES finds none.
  const callerOf = (who: CallerName): Caller =>
    who === 'none'
      ? ''
      : who === 'borrowed'
        ? { leaf: identityOfSpki(spkiOf(attacker)).toH1(), kesProblem: 'no-certificate' }
        : identity[who];
  const send: Matrix['send'] = async (who, method, path, body, sendOptions = {}) => {
    if (!harness) return call(server.endpoint, credentials[who], method, path, body, sendOptions);
    const answer = await harness.request({
      method,
      path,
      as: callerOf(who),
      ...(body === undefined ? {} : { body }),
      ...(sendOptions.headers ? { headers: sendOptions.headers } : {}),
      ...(sendOptions.stream ? { stream: true } : {}),
    });
    return { status: answer.status, headers: answer.headers, body: answer.body };
  };
  const targets = {} as Record<EnclaveName, Record<TargetPrivilege, string>>;
  const userClient = clientFor(server.endpoint, keys.userWith.toK1(), { enclave: ALPHA });

  const all = (patterns: string[]) => Object.fromEntries(EVERY_COMMAND.map((c) => [c, patterns]));
  await root.createEnclave(ALPHA);
  await root.createEnclave(BETA);
  for (const enclave of ENCLAVES) {
    await root.createPolicy(USER_POLICY, { allow: all(['*']) }, { enclave });
    await root.createPolicy(NO_MATCH_POLICY, { allow: all(['nothing-has-this-*']) }, { enclave });
    // Legacy-era globs: `*` stops at `/`, so one pattern per depth.
    const paths = { allow: ['/v1/*', '/v1/*/*', '/v1/*/*/*', '/v1/*/*/*/*'] };
    const written = await send(
      'root',
      'POST',
      `/v1/policy/write/${PATHS_POLICY}?enclave=${enclave}`,
      JSON.stringify(paths),
    );
    assert.equal(written.status, 200, written.body.toString());
    targets[enclave] = {} as Record<TargetPrivilege, string>;
    for (const privilege of TARGET_PRIVILEGES) {
      const target = ApiKey.generate().identity.toH1();
      await root.createIdentity(target, { privilege, enclave });
      targets[enclave][privilege] = target;
    }
  }
  const present = async (enclave: string, id: string): Promise<boolean> =>
    root.identityStatus(id, { enclave }).then(
      () => true,
      () => false,
    );
  const repair = async (): Promise<void> => {
    if (!(await present('default', identity.sysadmin))) {
      await root.createIdentity(identity.sysadmin, { privilege: 'SysAdmin', enclave: 'default' });
    }
    if (!(await present(ALPHA, identity.admin))) {
      await root.createIdentity(identity.admin, { privilege: 'Admin' });
    }
    for (const [who, policy] of [
      ['userWith', USER_POLICY],
      ['userWithout', NO_MATCH_POLICY],
      ['userPaths', PATHS_POLICY],
    ] as const) {
      if (!(await present(ALPHA, identity[who]))) {
        await root.createIdentity(identity[who]);
        await root.assignPolicy(policy, identity[who]);
      }
    }
    if (!(await present(ALPHA, identity.serviceAccount))) {
      await userClient.createIdentity(identity.serviceAccount, { serviceAccount: true });
    }
    if (!(await present(BETA, identity.otherEnclave))) {
      await root.createIdentity(identity.otherEnclave, { privilege: 'Admin', enclave: BETA });
    }
  };
  await repair();
  return {
    server,
    root,
    credentials,
    identity,
    targets,
    send,
    repair,
    close: async () => {
      userClient.close();
      root.close();
      await server.stop();
    },
  };
}

/**
 * One HTTPS request with `credentials`. With `stream` the answer's head is enough (log streams
 * never end): the body is whatever arrived first, and the connection is dropped.
 */
export function call(
  endpoint: string,
  credentials: Credentials,
  method: string,
  path: string,
  body?: Buffer | string,
  options: { readonly stream?: boolean; readonly headers?: Record<string, string> } = {},
): Promise<Answer> {
  const at = endpoint.lastIndexOf(':');
  const bytes = body === undefined ? undefined : Buffer.from(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: endpoint.slice(0, at),
        port: Number(endpoint.slice(at + 1)),
        method,
        path,
        rejectUnauthorized: false,
        agent: false,
        ...(credentials ?? {}),
        headers: {
          ...(bytes ? { 'Content-Length': bytes.length } : {}),
          ...options.headers,
        },
      },
      (res) => {
        const answer = (chunks: Buffer[]): Answer => ({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
        });
        if (options.stream && res.statusCode === 200) {
          resolve(answer([]));
          res.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(answer(chunks)));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(bytes);
  });
}

/** A KMS API answer as kms-go reads it. */
export function kmsOutcome(answer: Answer): Outcome {
  if (answer.status === 200) return 'ok';
  return {
    status: answer.status,
    message: decodeErrorBody(answer.headers['content-type'], answer.body),
  };
}

/** A KES API answer as kes-go reads it (`{"message":…}`, else the body text). */
export function kesOutcome(answer: Answer): Outcome {
  if (answer.status === 200) return 'ok';
  const text = answer.body.toString();
  let message = text;
  if ((answer.headers['content-type'] ?? '').startsWith('application/json')) {
    try {
      message = (JSON.parse(text) as { message: string }).message;
    } catch {
      // not JSON after all: the text is the message
    }
  }
  return { status: answer.status, message };
}

/** Whether a status read (as the root) succeeds: the object exists. */
export const exists = (p: Promise<unknown>): Promise<boolean> =>
  p.then(
    () => true,
    () => false,
  );

/** A new `h1:` identity nobody holds yet. */
export const freshIdentity = (): string => ApiKey.generate().identity.toH1();

/** The readable form of an outcome, for assertion messages. */
export function show(outcome: Outcome): string {
  return outcome === 'ok' ? '200' : `${String(outcome.status)} ${outcome.message}`;
}

/**
 * After one cell: the state changed exactly when the answer was 200 (checked when the row can
 * tell), and a row that changes state is repaired for the next cell.
 */
export async function settleCell(
  m: Matrix,
  label: string,
  outcome: Outcome,
  changed: (() => Promise<boolean>) | undefined,
  destructive: boolean | undefined,
): Promise<void> {
  if (changed) {
    const did = await changed();
    assert.equal(
      did,
      outcome === 'ok',
      `${label}: the state ${did ? 'changed' : 'did not change'} but the answer was ${outcome === 'ok' ? '200' : String(outcome.status)}`,
    );
  }
  if (destructive) await m.repair();
}

/**
 * The answers of every caller to one row: one after the other when the row changes state (each
 * cell must see the state the row starts from), else all at once.
 */
export async function runCells<C extends string, T = Outcome>(
  callers: readonly C[],
  destructive: boolean,
  run: (who: C) => Promise<T>,
): Promise<Record<C, T>> {
  const got = {} as Record<C, T>;
  if (destructive) {
    for (const who of callers) got[who] = await run(who);
  } else {
    await Promise.all(
      callers.map(async (who) => {
        got[who] = await run(who);
      }),
    );
  }
  return got;
}

/**
 * Compares every cell of a row at once, so a failure lists every wrong cell (caller: expected,
 * got) rather than the first.
 */
export function assertCells(
  row: string,
  expected: Readonly<Record<string, Outcome>>,
  got: Readonly<Record<string, Outcome>>,
): void {
  const wrong: string[] = [];
  for (const [who, want] of Object.entries(expected)) {
    const have = got[who];
    if (have === undefined || show(have) !== show(want)) {
      wrong.push(`  ${who}: expected ${show(want)}, got ${have ? show(have) : 'nothing'}`);
    }
  }
  assert.equal(wrong.length, 0, `${row}:\n${wrong.join('\n')}`);
}
