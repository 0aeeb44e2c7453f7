// The web console's routes on the node's one listener: the page and its assets at /console/,
// and the JSON API under /console/api/ that the page calls. Every action runs the same core
// operation as the KMS and KES APIs, with the signed-in identity as the caller, so authorization
// is the core's and the pipeline's audit record names that identity (docs/console.md).

import type { Caller } from '../core/caller.ts';
import type { ClusterControl } from '../core/cluster-control.ts';
import type { Core } from '../core/core.ts';
import type { HttpRequest, HttpResponse } from '../http/http-types.ts';
import type { RequestContext, Route } from '../http/route.ts';
import { KeyholdError, badRequest } from '../model/errors.ts';
import type { AuditLog, AuditRecord } from '../observe/audit.ts';
import type { EventLog, LogEvent } from '../observe/event-log.ts';
import { levelName } from '../observe/event-log.ts';
import type { State } from '../state/state.ts';
import { ConsoleAssets, PAGE_HEADERS } from './console-assets.ts';
import {
  CSRF_HEADER,
  SESSION_COOKIE,
  checkSameOrigin,
  clearedCookie,
  cookieOf,
  jsonObject,
  notSignedIn,
  secretBytesField,
  sendJson,
  sessionCookie,
  stringField,
  tagsField,
} from './console-http.ts';
import { keyStoreView } from './key-store-view.ts';
import type { KeyStoreFacts } from './key-store-view.ts';
import { MetricsHistory } from './metrics-history.ts';
import { POLICY_COMMANDS, parseRules } from './policy-rules.ts';
import { SESSION_MAX_MS, sameToken } from './session-table.ts';
import type { SessionInfo, Sessions } from './session-table.ts';
import { verifySignIn } from './sign-in-proof.ts';

export interface ConsoleOptions {
  readonly core: Core;
  /** Read only to tell whether an identity is known at all before a session is made for it. */
  readonly state: State;
  readonly sessions: Sessions;
  readonly audit: AuditLog;
  /** The server's event log (errors, warnings, notices), tailed by the console. */
  readonly log: EventLog;
  readonly rootIdentity: () => string;
  readonly defaultEnclave: string;
  readonly version: string;
  /** `host:port` clients reach this node at. */
  readonly host: () => string;
  readonly startedAt: number;
  readonly cluster: ClusterControl;
  /** The node's Prometheus text (every process). */
  readonly metricsText: () => Promise<string>;
  /** KES gateway mode: the external key store and its cache (the key-store view). */
  readonly keyStore?: KeyStoreFacts;
}

/** Largest console API body: names, a policy, a signature. */
export const MAX_CONSOLE_BODY = 64 * 1024;
const TIMEOUT = 30_000;
/** How often a live audit tail checks that its session is still signed in. */
const STREAM_RECHECK_MS = 15_000;

/** A signed-in request: the session and the caller the core sees. */
interface Signed {
  readonly ctx: RequestContext;
  readonly session: SessionInfo;
  readonly caller: Caller;
}

type Action = (s: Signed) => unknown;

/** The console API's reads: `GET /console/api/NAME` (the authorization matrix test reads it). */
export const CONSOLE_READS = [
  'overview',
  'keystore',
  'enclaves',
  'keys',
  'key',
  'identities',
  'identity',
  'policies',
  'policy',
  'policies/preview',
] as const;

/** The console API's writes: `POST /console/api/NAME`, each checked for origin and CSRF token. */
export const CONSOLE_WRITES = [
  'enclaves/create',
  'enclaves/delete',
  'keys/create',
  'keys/rotate',
  'keys/import',
  'keys/delete',
  'identities/create',
  'identities/delete',
  'identities/assign',
  'policies/validate',
  'policies/put',
  'policies/delete',
] as const;

/** Builds the console's routes. */
export function consoleRoutes(options: ConsoleOptions): Route[] {
  const { core, sessions } = options;
  const assets = new ConsoleAssets();
  const history = new MetricsHistory(options.metricsText);
  // From the start, in every process: the overview may be answered by any worker of a pool.
  history.start();
  const query = (s: Signed, name: string, fallback?: string): string =>
    stringField(s.ctx.query, name, fallback);
  const body = (s: Signed): Record<string, unknown> => jsonObject(s.ctx.body);
  const enclaveOf = (from: Record<string, unknown> | URLSearchParams): string =>
    stringField(from, 'enclave', options.defaultEnclave) || options.defaultEnclave;
  const listParams = (s: Signed): { prefix: string; continueAt: string; limit: number } => ({
    prefix: query(s, 'prefix', ''),
    continueAt: query(s, 'continue', ''),
    limit: Math.min(Math.max(Number(query(s, 'limit', '50')) || 50, 1), 1000),
  });

  const reads: Record<(typeof CONSOLE_READS)[number], Action> = {
    overview: async ({ caller }) => {
      const clusterLevel = allowed(() => core.authorizeCluster(caller, 'CLUSTER:STATUS'));
      const metricsLevel = allowed(() => core.authorizeCluster(caller, 'METRICS'));
      const view = clusterLevel ? await options.cluster.status() : null;
      return {
        version: options.version,
        host: options.host(),
        uptimeSeconds: Math.round((Date.now() - options.startedAt) / 1000),
        gateway: core.gateway,
        keyStore:
          clusterLevel && options.keyStore
            ? keyStoreView(options.keyStore, await core.keyStoreHealth(), options.log, false)
            : null,
        cluster: view && {
          up: view.up.map((n) => ({
            id: n.id,
            host: n.host,
            role: n.role,
            commit: n.commit,
            version: n.version,
            uptimeSeconds: Math.round(n.uptimeMs / 1000),
          })),
          down: [...view.down].map(([id, host]) => ({ id, host })),
        },
        metrics: metricsLevel ? await history.points() : null,
      };
    },
    keystore: async ({ caller }) => {
      // Store health is cluster-level, as on the overview; its error text is log text.
      core.authorizeCluster(caller, 'CLUSTER:STATUS');
      if (!options.keyStore) return { gateway: false };
      const mayReadLog = allowed(() => core.authorizeCluster(caller, 'DEBUG:LOG'));
      const health = await core.keyStoreHealth();
      return {
        gateway: true,
        ...keyStoreView(options.keyStore, health, options.log, mayReadLog),
      };
    },
    enclaves: (s) => {
      const page = core.listEnclaves(s.caller, listParams(s));
      return {
        items: page.items.map((e) => ({
          name: e.name,
          createdAt: e.createdAt,
          createdBy: e.createdBy,
        })),
        continueAt: page.continueAt,
      };
    },
    keys: async (s) => {
      const page = await core.listKeyRings(s.caller, enclaveOf(s.ctx.query), listParams(s));
      return {
        items: page.items.map((ring) => {
          const latest = ring.latest();
          return {
            name: ring.name,
            versions: ring.versionCount,
            latest: latest.version,
            type: latest.type,
            createdAt: latest.createdAt,
            createdBy: latest.createdBy,
            imported: latest.imported,
          };
        }),
        continueAt: page.continueAt,
      };
    },
    key: async (s) => {
      const enclave = enclaveOf(s.ctx.query);
      const name = query(s, 'name');
      await core.loadKey(s.caller, enclave, name, 'KEY:STATUS');
      const { ring } = core.keyStatus(s.caller, enclave, { name, version: 0 });
      return {
        name: ring.name,
        versions: ring.versions().map((v) => ({
          version: v.version,
          type: v.type,
          createdAt: v.createdAt,
          createdBy: v.createdBy,
          imported: v.imported,
          hmac: v.hmacKey !== null,
        })),
      };
    },
    identities: (s) => {
      const page = core.listIdentities(s.caller, enclaveOf(s.ctx.query), listParams(s));
      return { items: page.items.map(identityView), continueAt: page.continueAt };
    },
    identity: (s) => {
      const record = core.identity(s.caller, enclaveOf(s.ctx.query), query(s, 'identity'));
      return { ...identityView(record), serviceAccounts: core.serviceAccountsOf(record) };
    },
    policies: (s) => {
      const page = core.listPolicies(s.caller, enclaveOf(s.ctx.query), listParams(s));
      return { items: page.items.map(policyView), continueAt: page.continueAt };
    },
    policy: (s) =>
      policyView(core.policy(s.caller, enclaveOf(s.ctx.query), query(s, 'name'), 'POLICY:GET')),
    'policies/preview': (s) => {
      const enclave = enclaveOf(s.ctx.query);
      const key = query(s, 'key');
      const commands = POLICY_COMMANDS.filter((c) => c.startsWith('KEY:'));
      const allowedCommands = core.previewAccess(s.caller, enclave, {
        identity: query(s, 'identity'),
        target: key,
        commands,
      });
      return {
        commands: commands.map((c) => ({ command: c, allowed: allowedCommands.includes(c) })),
      };
    },
  };

  const writes: Record<(typeof CONSOLE_WRITES)[number], Action> = {
    'enclaves/create': async (s) => {
      await core.createEnclave(s.caller, stringField(body(s), 'name'));
      return {};
    },
    'enclaves/delete': async (s) => {
      const b = body(s);
      const name = stringField(b, 'name');
      confirmed(b, name);
      await core.deleteEnclave(s.caller, name);
      return {};
    },
    'keys/create': async (s) => {
      const b = body(s);
      await core.createKey(s.caller, enclaveOf(b), {
        name: stringField(b, 'name'),
        type: stringField(b, 'type', ''),
        addVersion: false,
      });
      return {};
    },
    'keys/rotate': async (s) => {
      const b = body(s);
      await core.createKey(s.caller, enclaveOf(b), {
        name: stringField(b, 'name'),
        type: stringField(b, 'type', ''),
        addVersion: true,
      });
      return {};
    },
    'keys/import': async (s) => {
      const b = body(s);
      const name = stringField(b, 'name');
      const type = stringField(b, 'type', '');
      // The key bytes are in the request body only: never logged, never answered. The body and
      // the decoded bytes are wiped once the core has taken its copy.
      const key = secretBytesField(b, 'key');
      let hmacKey: Buffer | null = null;
      try {
        if (b.hmacKey !== undefined && b.hmacKey !== '') {
          hmacKey = secretBytesField(b, 'hmacKey');
          // As the KES API checks it (the core takes any HMAC key it is given).
          if (hmacKey.length !== 32) {
            throw new KeyholdError('NOT_ACCEPTABLE', 'invalid HMAC key size: must be 32 bytes');
          }
        }
        await core.importKey(s.caller, enclaveOf(b), { name, type, key, hmacKey });
      } finally {
        key.fill(0);
        hmacKey?.fill(0);
        s.ctx.body.fill(0);
      }
      return {};
    },
    'keys/delete': async (s) => {
      const b = body(s);
      const name = stringField(b, 'name');
      confirmed(b, name);
      const version = Number(stringField(b, 'version', '0'));
      if (!Number.isInteger(version) || version < 0) throw badRequest('invalid key version');
      await core.deleteKey(s.caller, enclaveOf(b), { name, version, allVersions: version === 0 });
      return {};
    },
    'identities/create': async (s) => {
      const b = body(s);
      const enclave = enclaveOf(b);
      const identity = stringField(b, 'identity');
      const policy = stringField(b, 'policy', '');
      await core.createIdentity(s.caller, enclave, {
        identity,
        privilege: stringField(b, 'privilege', 'User'),
        isServiceAccount: b.serviceAccount === true,
        tags: tagsField(b, 'tags'),
      });
      if (policy !== '') await core.assignPolicy(s.caller, enclave, { identity, policy });
      return {};
    },
    'identities/delete': async (s) => {
      const b = body(s);
      await core.deleteIdentity(s.caller, enclaveOf(b), stringField(b, 'identity'));
      return {};
    },
    'identities/assign': async (s) => {
      const b = body(s);
      await core.assignPolicy(s.caller, enclaveOf(b), {
        identity: stringField(b, 'identity'),
        policy: stringField(b, 'policy'),
      });
      return {};
    },
    'policies/validate': (s) => {
      const b = body(s);
      return {
        problems: [
          ...parseRules('allow', b.allow).problems,
          ...parseRules('deny', b.deny).problems,
        ],
      };
    },
    'policies/put': async (s) => {
      const b = body(s);
      const allow = parseRules('allow', b.allow);
      const deny = parseRules('deny', b.deny);
      const problems = [...allow.problems, ...deny.problems];
      if (problems.length > 0) {
        throw badRequest(`invalid policy: ${problems.map((p) => p.message).join('; ')}`);
      }
      await core.createPolicy(s.caller, enclaveOf(b), {
        name: stringField(b, 'name'),
        allow: allow.rules,
        deny: deny.rules,
      });
      return {};
    },
    'policies/delete': async (s) => {
      const b = body(s);
      await core.deletePolicy(s.caller, enclaveOf(b), stringField(b, 'name'));
      return {};
    },
  };

  /** The session a request's cookie names, or null. */
  const sessionOf = async (
    req: HttpRequest,
  ): Promise<{ sid: string; info: SessionInfo } | null> => {
    const sid = cookieOf(req, SESSION_COOKIE);
    if (sid === '' || sid.length > 128) return null;
    const info = await sessions.get(sid);
    return info ? { sid, info } : null;
  };

  const callerOf = (identity: string): Caller => {
    const root = options.rootIdentity();
    return { identity, root: identity !== '' && identity === root, rootIdentity: root };
  };

  /** Runs a signed-in action: session, then (for writes) the CSRF token, then the action. */
  const signedIn = async (ctx: RequestContext, action: Action, write: boolean): Promise<void> => {
    if (write) checkSameOrigin(ctx.req);
    const found = await sessionOf(ctx.req);
    if (!found) throw notSignedIn();
    ctx.auditAs = found.info.identity;
    if (write) {
      const token = ctx.req.headers[CSRF_HEADER];
      if (typeof token !== 'string' || !sameToken(token, found.info.csrf)) {
        throw new KeyholdError('FORBIDDEN', 'request refused: missing or wrong CSRF token');
      }
    }
    const signed: Signed = { ctx, session: found.info, caller: callerOf(found.info.identity) };
    sendJson(ctx.res, 200, await action(signed));
  };

  // ── signing in and out ─────────────────────────────────────────────────────

  const knownIdentity = (identity: string): boolean =>
    identity !== '' &&
    (identity === options.rootIdentity() ||
      !options.state.identities.recordsOf(identity).next().done);

  const sessionView = (info: SessionInfo): Record<string, unknown> => ({
    signedIn: true,
    identity: info.identity,
    root: info.identity === options.rootIdentity(),
    csrf: info.csrf,
    expiresAt: info.expiresAt,
    defaultEnclave: options.defaultEnclave,
    version: options.version,
    gateway: core.gateway,
  });

  const session = async (ctx: RequestContext): Promise<void> => {
    const found = await sessionOf(ctx.req);
    if (found) {
      ctx.auditAs = found.info.identity;
      sendJson(ctx.res, 200, sessionView(found.info));
      return;
    }
    // A client certificate of a known identity can sign in without an API key.
    const certificate = knownIdentity(ctx.caller.identity) ? ctx.caller.identity : '';
    sendJson(ctx.res, 200, { signedIn: false, certificate, version: options.version });
  };

  const challenge = async (ctx: RequestContext): Promise<void> => {
    checkSameOrigin(ctx.req);
    const issued = await sessions.challenge(ctx.req.socket.remoteAddress ?? '');
    sendJson(ctx.res, 200, { ...issued, host: ctx.req.headers.host ?? '' });
  };

  const signIn = async (ctx: RequestContext): Promise<void> => {
    checkSameOrigin(ctx.req);
    const b = jsonObject(ctx.body);
    let identity: string;
    if (b.certificate === true) {
      identity = ctx.caller.identity;
      if (identity === '') throw badRequest('this connection has no client certificate');
    } else {
      const value = stringField(b, 'challenge');
      const publicKey = stringField(b, 'publicKey');
      const signature = stringField(b, 'signature');
      // Consumed before the signature is checked: a challenge is good for one attempt.
      if (!(await sessions.takeChallenge(value, ctx.req.socket.remoteAddress ?? ''))) {
        throw new KeyholdError(
          'UNAUTHENTICATED',
          'unknown, used or expired challenge: ask for a new one',
        );
      }
      const algorithm = stringField(b, 'algorithm', 'Ed25519');
      if (algorithm !== 'Ed25519' && algorithm !== 'ECDSA') {
        throw badRequest("algorithm must be 'Ed25519' or 'ECDSA'");
      }
      const host = ctx.req.headers.host ?? '';
      const verified = verifySignIn(host, value, publicKey, signature, algorithm);
      if (verified === null) {
        throw new KeyholdError('UNAUTHENTICATED', 'the signature does not verify');
      }
      identity = verified;
    }
    ctx.auditAs = identity;
    if (!knownIdentity(identity)) {
      throw new KeyholdError('FORBIDDEN', `identity ${identity} is not known to this server`);
    }
    // Always a new id: a session id planted before sign-in (fixation) is ended, never adopted.
    const created = await sessions.create(
      identity,
      cookieOf(ctx.req, SESSION_COOKIE).slice(0, 128),
    );
    sendJson(ctx.res, 200, sessionView(created), {
      'Set-Cookie': sessionCookie(created.sid, SESSION_MAX_MS / 1000),
    });
  };

  const signOut = async (ctx: RequestContext): Promise<void> => {
    checkSameOrigin(ctx.req);
    const found = await sessionOf(ctx.req);
    if (found) {
      ctx.auditAs = found.info.identity;
      const token = ctx.req.headers[CSRF_HEADER];
      if (typeof token !== 'string' || !sameToken(token, found.info.csrf)) {
        throw new KeyholdError('FORBIDDEN', 'request refused: missing or wrong CSRF token');
      }
      await sessions.end(found.sid);
    }
    sendJson(ctx.res, 200, { signedIn: false }, { 'Set-Cookie': clearedCookie() });
  };

  // ── live tails of the audit and event logs (Server-Sent Events) ─────────────

  /** A live tail of one of the node's logs, for root and SysAdmins (cluster-level). */
  const stream =
    <T>(
      command: string,
      subscribe: (send: (event: T) => void) => () => void,
      format: (event: T) => unknown,
    ) =>
    async (ctx: RequestContext): Promise<void> => {
      const found = await sessionOf(ctx.req);
      if (!found) throw notSignedIn();
      ctx.auditAs = found.info.identity;
      core.authorizeCluster(callerOf(found.info.identity), command);
      const filter = stringField(ctx.query, 'filter', '').toLowerCase();
      tail(ctx.req, ctx.res, subscribe, format, filter, async () => {
        return (await sessions.get(found.sid)) !== null;
      });
    };
  const auditStream = stream<AuditRecord>(
    'AUDIT:LOG',
    (send) => options.audit.subscribe(send),
    (record) => ({
      time: record.time,
      identity: record.identity,
      ip: record.ip,
      method: record.method,
      path: record.path,
      status: record.status,
      durationMs: Math.round(record.duration * 1e6) / 1e3,
    }),
  );
  // The same command as the KMS API's /v1/debug/log.
  const logStream = stream<LogEvent>(
    'DEBUG:LOG',
    (send) => options.log.subscribe(send),
    (event) => ({ time: event.time, level: levelName(event.level), message: event.message }),
  );

  // ── dispatch ───────────────────────────────────────────────────────────────

  const get = async (ctx: RequestContext): Promise<void> => {
    const { resource, res } = ctx;
    if (assets.has(resource)) {
      assets.send(res, resource);
      return;
    }
    if (resource === 'api/session') return session(ctx);
    const name = resource.startsWith('api/') ? resource.slice(4) : '';
    if (!isAction(reads, name)) throw unknownPath();
    return signedIn(ctx, reads[name], false);
  };

  const post = async (ctx: RequestContext): Promise<void> => {
    const name = ctx.resource.startsWith('api/') ? ctx.resource.slice(4) : '';
    if (name === 'challenge') return challenge(ctx);
    if (name === 'sign-in') return signIn(ctx);
    if (name === 'sign-out') return signOut(ctx);
    if (!isAction(writes, name)) throw unknownPath();
    return signedIn(ctx, writes[name], true);
  };

  const base = { face: 'console', prefix: true, timeout: TIMEOUT } as const;
  return [
    {
      ...base,
      method: 'GET',
      path: '/console',
      prefix: false,
      maxBody: 0,
      handle: ({ res }) => {
        res.writeHead(308, { Location: '/console/', 'Content-Length': 0, ...PAGE_HEADERS });
        res.end();
      },
    },
    { ...base, method: 'GET', path: '/console/', maxBody: 0, handle: get },
    { ...base, method: 'POST', path: '/console/', maxBody: MAX_CONSOLE_BODY, handle: post },
    {
      ...base,
      method: 'GET',
      path: '/console/api/audit/stream',
      prefix: false,
      maxBody: 0,
      timeout: 0,
      handle: auditStream,
    },
    {
      ...base,
      method: 'GET',
      path: '/console/api/log/stream',
      prefix: false,
      maxBody: 0,
      timeout: 0,
      handle: logStream,
    },
  ];
}

function unknownPath(): KeyholdError {
  return new KeyholdError('NOT_FOUND', 'no such console path');
}

/** Deletions repeat the name they delete (`confirm`), as the person typed it. */
/** Whether `name` is an action of `table` (its own, not one inherited from Object). */
function isAction<T extends string>(table: Record<T, Action>, name: string): name is T {
  return Object.hasOwn(table, name);
}

function confirmed(body: Record<string, unknown>, name: string): void {
  if (body.confirm !== name) {
    throw badRequest(`to delete '${name}', repeat its name in 'confirm'`);
  }
}

function allowed(check: () => void): boolean {
  try {
    check();
    return true;
  } catch (error) {
    if (error instanceof KeyholdError && error.code === 'PERMISSION') return false;
    throw error;
  }
}

function identityView(r: {
  identity: string;
  privilege: string;
  policy: string;
  parent: string;
  createdAt: Date;
  createdBy: string;
  tags: Record<string, string>;
}): Record<string, unknown> {
  return {
    identity: r.identity,
    privilege: r.privilege,
    policy: r.policy,
    serviceAccountOf: r.parent,
    createdAt: r.createdAt,
    createdBy: r.createdBy,
    tags: r.tags,
  };
}

function policyView(p: {
  name: string;
  allow: Record<string, string[]>;
  deny: Record<string, string[]>;
  createdAt: Date;
  createdBy: string;
}): Record<string, unknown> {
  return {
    name: p.name,
    allow: p.allow,
    deny: p.deny,
    createdAt: p.createdAt,
    createdBy: p.createdBy,
  };
}

/**
 * Streams events as Server-Sent Events until the client goes or its session ends. A client that
 * cannot keep up loses events rather than slowing the server.
 */
function tail<T>(
  req: HttpRequest,
  res: HttpResponse,
  subscribe: (send: (event: T) => void) => () => void,
  format: (event: T) => unknown,
  filter: string,
  stillSignedIn: () => Promise<boolean>,
): void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.write(': keyhold log tail\n\n');
  let blocked = false;
  const send = (event: T): void => {
    if (blocked) return;
    const line = JSON.stringify(format(event));
    if (filter !== '' && !line.toLowerCase().includes(filter)) return;
    if (!res.write(`data: ${line}\n\n`)) {
      blocked = true;
      res.once('drain', () => {
        blocked = false;
      });
    }
  };
  const unsubscribe = subscribe(send);
  const timer = setInterval(() => {
    void stillSignedIn().then(
      (ok) => ok || res.end(),
      () => res.end(),
    );
  }, STREAM_RECHECK_MS);
  const stop = (): void => {
    clearInterval(timer);
    unsubscribe();
  };
  req.socket.once('close', stop);
  res.once('close', stop);
}
