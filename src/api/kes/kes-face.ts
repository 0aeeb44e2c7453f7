// The KES API face (docs/protocol/kes.md): identifies the client by the KES rule, selects the
// enclave, builds the caller the core authorizes (with the request path and config-file policy),
// and serves the routes of both API eras. Settings are swapped whole on reload.

import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Caller } from '../../core/caller.ts';
import type { Core } from '../../core/core.ts';
import { REDACTED, kesIdentityOfTlsSocket, parseIdentity } from '../../identity/index.ts';
import type { Identity, KesPeerIdentity } from '../../identity/index.ts';
import { KeyholdError, badRequest } from '../../model/errors.ts';
import type { AuditLog, AuditRecord } from '../../observe/audit.ts';
import type { EventLog, LogEvent } from '../../observe/event-log.ts';
import type { RequestContext, Route } from '../../http/route.ts';
import { InvalidBodyError } from './go-json.ts';
import { identityRoutes } from './kes-identity-routes.ts';
import { keyRoutes } from './kes-key-routes.ts';
import { NdjsonBroadcast, encodeAuditEvent, encodeErrorEvent } from './kes-log-stream.ts';
import { KesMetrics } from './kes-metrics.ts';
import type { KesCounts } from './kes-metrics.ts';
import { policyRoutes } from './kes-policy-routes.ts';
import { authorizeOp, selectEnclave } from './kes-request.ts';
import type { KesEnv, KesRequest, KesRouteSpec } from './kes-request.ts';
import type { HttpRequest, HttpResponse } from '../../http/http-types.ts';
import { Reloadable } from '../../config/reloadable.ts';
import type { KesSettings } from '../../config/kes-settings.ts';
import { defaultKesSettings } from '../../config/kes-settings.ts';
import { VERSION_ROUTE, systemRoutes } from './kes-system-routes.ts';

export interface KesFaceOptions {
  readonly core: Core;
  readonly audit: AuditLog;
  readonly log: EventLog;
  /** The server's root identity (`h1:`), '' when disabled. */
  readonly rootIdentity: () => string;
  /** Enclave of requests that name none; config-file policies govern it. */
  readonly defaultEnclave: string;
  /** Server start, milliseconds since the epoch. */
  readonly started: number;
  /** The config file's KES settings; reloads take effect for the next request. */
  readonly settings?: Reloadable<KesSettings>;
  /** Where KES's text audit lines go (default: stdout). */
  readonly auditOut?: (line: string) => void;
  /** A worker pool's processes' counters (for `/v1/metrics`); absent in a single process. */
  readonly gatherCounts?: () => Promise<KesCounts[]>;
  /** The caller by the KES rule; default: from the TLS client certificate (tests name it). */
  readonly peer?: (socket: Socket) => KesPeerIdentity;
}

// Routes upstream gives no body still get a small buffer: KES ignores a body it does not read.
const IGNORED_BODY_LIMIT = 64 * 1024;

/** Every route path of the KES face (the keys the config file's `api:` section may use). */
export function kesRoutePaths(): string[] {
  const specs = [
    VERSION_ROUTE,
    ...systemRoutes(),
    ...keyRoutes(),
    ...policyRoutes(),
    ...identityRoutes(),
  ];
  return specs.map((s) => s.path);
}

export class KesFace {
  readonly metrics: KesMetrics;
  readonly #env: KesEnv;
  readonly #rootIdentity: () => string;
  readonly #peer: ((socket: Socket) => KesPeerIdentity) | undefined;
  readonly #specs: KesRouteSpec[];
  readonly #settings: Reloadable<KesSettings>;

  constructor(options: KesFaceOptions) {
    this.#settings = options.settings ?? new Reloadable(defaultKesSettings());
    this.#rootIdentity = options.rootIdentity;
    this.#peer = options.peer;
    this.metrics = new KesMetrics(options.started);
    const metrics = this.metrics;
    this.#specs = [...systemRoutes(), ...keyRoutes(), ...policyRoutes(), ...identityRoutes()];
    const current = [VERSION_ROUTE, ...this.#specs.filter((s) => s.legacy !== true)];
    const auditOut = options.auditOut ?? ((line: string) => process.stdout.write(line + '\n'));
    this.#env = {
      core: options.core,
      defaultEnclave: options.defaultEnclave,
      started: new Date(options.started),
      metrics,
      allCounts: options.gatherCounts ?? (() => Promise.resolve([metrics.counts()])),
      auditStream: new NdjsonBroadcast<AuditRecord>(
        (listener) => options.audit.subscribe(listener),
        encodeAuditEvent,
        () => metrics.auditEvent(),
      ),
      errorStream: new NdjsonBroadcast<LogEvent>(
        (listener) => options.log.subscribe(listener),
        (event) => (event.level >= this.settings.errorLevel ? encodeErrorEvent(event) : null),
        () => metrics.errorEvent(),
      ),
      adminHex: () => {
        const root = this.#rootIdentity();
        return root === '' ? '' : parseIdentity(root).toHex();
      },
      apiRoutes: () => current,
      auditText: auditOut,
    };
  }

  /** The settings now in effect (a request keeps those it started with). */
  get settings(): KesSettings {
    return this.#settings.get();
  }

  /**
   * Creates the predefined keys now and after every reload (errors are reported to `onError`:
   * a reload must not stop the server).
   */
  watchKeys(onError: (error: unknown) => void): void {
    this.#settings.onChange(() => {
      this.createKeys().catch(onError);
    });
  }

  /** Subscribers of `/v1/log/audit` and `/v1/log/error`. */
  get streamSubscribers(): { audit: number; error: number } {
    return { audit: this.#env.auditStream.subscribers, error: this.#env.errorStream.subscribers };
  }

  /** The routes to register with the server's route table. */
  routes(): Route[] {
    const out: Route[] = [];
    const metrics = this.metrics;
    const finished = (status: number, seconds: number): void => {
      metrics.finished(status, seconds);
    };
    for (const spec of this.#specs) {
      const route = {
        method: spec.method,
        path: spec.path,
        prefix: spec.path.endsWith('/'),
        maxBody: spec.maxBody > 0 ? spec.maxBody : IGNORED_BODY_LIMIT,
        timeout: spec.timeout * 1000,
        acceptPost: spec.method === 'PUT',
        face: 'kes',
        ...(spec.resource === 'identity' ? { auditResource: auditedIdentity } : {}),
        // Identify, select the enclave and (for routes with a body) authorize before the body
        // is read: a caller that may not send it is refused without reading it. The request
        // so prepared comes back to the handler as `ctx.prepared`.
        authorize: (_caller: Caller, resource: string, req: HttpRequest, res: HttpResponse) =>
          this.#head(spec, req, res, resource),
        // `kes_http_*` counts from the pipeline's one 'close' listener (#head counted it in).
        ...(spec.metrics ? { observe: finished } : {}),
        handle: (ctx: RequestContext) => this.#handle(spec, ctx),
      } as const;
      out.push(route);
      for (const alias of spec.aliases ?? []) out.push({ ...route, path: alias, prefix: false });
    }
    return out;
  }

  /**
   * Creates the config file's predefined keys in the default enclave, as the admin; existing
   * ones are left alone. Returns the names it created.
   */
  async createKeys(names: readonly string[] = this.settings.keys): Promise<string[]> {
    const root = this.#rootIdentity();
    const caller: Caller = { identity: root, root: true, rootIdentity: root };
    const created: string[] = [];
    for (const name of names) {
      try {
        await this.#env.core.createKey(caller, this.#env.defaultEnclave, {
          name,
          type: 'AES256',
          addVersion: false,
        });
        created.push(name);
      } catch (error) {
        if (!(error instanceof KeyholdError) || error.code !== 'KEY_EXISTS') throw error;
      }
    }
    return created;
  }

  /**
   * Runs the route's handler on the request #head prepared. Synchronous when the handler is
   * (every key operation outside gateway mode): no promise, no microtask per request.
   */
  #handle(spec: KesRouteSpec, ctx: RequestContext): Promise<void> | void {
    const k = ctx.prepared;
    if (!(k instanceof KesCall)) throw new Error(`KES route ${spec.path} handled before its head`);
    k.body = ctx.body;
    let done: Promise<void> | void;
    try {
      done = spec.handle(k);
    } catch (error) {
      throw invalidBody(error);
    }
    return done?.catch((error: unknown) => {
      throw invalidBody(error);
    });
  }

  /**
   * Everything about a request but its body, in KES's order: settings, timeouts and metrics,
   * the caller's identity (400 where it must have one), the enclave (400 for an invalid name),
   * and for a route with a `guard` its name check (400) and permission (403).
   */
  #head(spec: KesRouteSpec, req: HttpRequest, res: HttpResponse, resource: string): KesCall {
    const settings = this.#settings.get();
    const override = settings.api.get(spec.path);
    if (override?.timeout !== undefined) {
      res.setTimeout(override.timeout, () => req.socket.destroy());
    }
    // Counted until the response closes (the route's `observe`), also when refused below.
    if (spec.metrics) this.metrics.started();
    const skipAuth = override?.skipAuth === true;
    const peer = this.#identify(spec, req, settings, skipAuth);
    // Both spellings are cached on the connection's Identity.
    const identity = peer?.toH1() ?? '';
    const hex = peer?.toHex() ?? '';
    const rootIdentity = this.#rootIdentity();
    const staticName = hex === '' ? undefined : settings.identities.get(hex);
    const path = spec.path.endsWith('/') ? kesPath(spec.path, resource) : spec.path;
    const caller: Caller = {
      identity,
      root: identity !== '' && identity === rootIdentity,
      rootIdentity,
      kes: {
        path,
        skipAuth,
        staticPolicy: staticName === undefined ? undefined : settings.policies.get(staticName),
        staticEnclave: this.#env.defaultEnclave,
      },
    };
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const head = new KesCall(
      this.#env,
      req,
      res,
      caller,
      resource,
      settings,
      hex,
      q === -1 ? null : url.slice(q + 1),
    );
    if (spec.guard) {
      spec.guard.check(resource);
      authorizeOp(head, spec.guard.command, resource);
    }
    return head;
  }

  /** The caller's identity by the KES rule (none: undefined); throws KES's 400s where it must have one. */
  #identify(
    spec: KesRouteSpec,
    req: HttpRequest,
    settings: KesSettings,
    skipAuth: boolean,
  ): Identity | undefined {
    if (spec.auth === 'none') return undefined;
    const socket = req.socket instanceof TLSSocket ? req.socket : null;
    const peer: KesPeerIdentity = this.#peer
      ? this.#peer(req.socket)
      : socket
        ? kesIdentityOfTlsSocket(socket)
        : { problem: 'no-certificate' };
    const enforce = spec.auth === 'policy' && !skipAuth;
    if (!peer.identity) {
      if (!enforce) return undefined;
      throw badRequest(
        peer.problem === 'multiple-certificates'
          ? 'tls: received more than one client certificate'
          : 'tls: client certificate is required',
      );
    }
    if (settings.verifyClientCertificates && !skipAuth && socket?.authorized !== true) {
      // `tls.auth: on`. Upstream refuses such a handshake; one listener serves the KMS face too
      // (API-key certificates are self-signed), so the KES face refuses the request instead.
      throw badRequest(
        `tls: failed to verify client certificate: ${String(socket?.authorizationError)}`,
      );
    }
    return peer.identity;
  }
}

/**
 * One KES request as its handler sees it: identified and authorized by #head before the body
 * is read, the body set once read. A class (not a spread object literal per request), and the
 * query parsed only when used: most requests carry none.
 */
class KesCall implements KesRequest {
  readonly env: KesEnv;
  readonly req: HttpRequest;
  readonly res: HttpResponse;
  readonly caller: Caller;
  readonly resource: string;
  readonly enclave: string;
  readonly settings: KesSettings;
  readonly identityHex: string;
  readonly started: number;
  body: Buffer = EMPTY;
  readonly #rawQuery: string | null;
  #query: URLSearchParams | undefined;

  constructor(
    env: KesEnv,
    req: HttpRequest,
    res: HttpResponse,
    caller: Caller,
    resource: string,
    settings: KesSettings,
    identityHex: string,
    rawQuery: string | null,
  ) {
    this.env = env;
    this.req = req;
    this.res = res;
    this.caller = caller;
    this.resource = resource;
    this.settings = settings;
    this.identityHex = identityHex;
    this.#rawQuery = rawQuery;
    this.enclave = selectEnclave(rawQuery === null ? null : this.query, req, env.defaultEnclave);
    this.started = Date.now();
  }

  get query(): URLSearchParams {
    return (this.#query ??= new URLSearchParams(this.#rawQuery ?? ''));
  }
}

const EMPTY = Buffer.alloc(0);

let lastPrefix = '';
let lastResource = '';
let lastPath = '';

/**
 * The request path of a prefix route, `prefix + resource`, as the same string object as last
 * time when a client repeats its request: the path is compared on every authorization (the last
 * allowed decision, authorize.ts), and a string built anew per request is a rope that each
 * comparison would flatten first.
 */
function kesPath(prefix: string, resource: string): string {
  if (resource !== lastResource || prefix !== lastPrefix) {
    lastPrefix = prefix;
    lastResource = resource;
    lastPath = prefix + resource;
  }
  return lastPath;
}

/** A body Go's decoder refuses is KES's 400 `invalid request body`. */
function invalidBody(error: unknown): unknown {
  return error instanceof InvalidBodyError ? badRequest('invalid request body') : error;
}

/** An identity route's resource as the audit log shows it: itself only if it is an identity. */
function auditedIdentity(resource: string): string {
  try {
    parseIdentity(resource);
    return resource;
  } catch {
    return REDACTED;
  }
}
