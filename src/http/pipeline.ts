// The request pipeline every face shares: route → method → identify and authorize the route →
// body (limited, read only once allowed) → handle → exactly one audit record. Each operation's
// authorization happens in the core, the one place that decides.

import type { HttpRequest, HttpResponse } from './http-types.ts';
import type { Socket } from 'node:net';
import type { Caller } from '../core/caller.ts';
import { REQUEST_ID_HEADER, inRequest, parseRequestId } from '../core/request-id.ts';
import { ReadWait } from '../core/read-wait.ts';
import { redactSecrets } from '../identity/index.ts';
import { KeyholdError, toKeyholdError } from '../model/errors.ts';
import type { AuditLog } from '../observe/audit.ts';
import type { RequestContext, Route, RouteTable } from './route.ts';

export interface PipelineOptions {
  readonly routes: RouteTable;
  /** `h1:` identity of the TLS peer ('' without a client certificate); cached per connection. */
  readonly identify: (socket: Socket) => string;
  readonly rootIdentity: () => string;
  readonly audit: AuditLog;
  /** Writes an error in the face's format. */
  readonly writeError: (res: HttpResponse, face: Route['face'], error: KeyholdError) => void;
  /** Called for faults that are not client errors (never with key material). */
  readonly onFault: (error: unknown, req: HttpRequest) => void;
  /** Null when a request may run now, else a promise to wait for (see handshake-gate.ts). */
  readonly admit?: (socket: Socket) => Promise<void> | null;
  /** Observes every finished request (metrics). */
  readonly observe?: (route: string, status: number, seconds: number) => void;
  /**
   * Whether writes are named after the request's `Keyhold-Request-Id` (a cluster node; a single
   * node ignores the names). Only then does such a request run in the name's AsyncLocalStorage
   * scope (core/request-id.ts): the first scope turns async hooks on for the rest of the
   * process, a JavaScript call on every socket read and write, timer and promise.
   */
  readonly namesWrites?: boolean;
  /** What request bodies may hold at once (default: the process's, {@link BODY_BUDGET} bytes). */
  readonly bodyBudget?: BodyBudget;
}

/** The `request` listener of an HTTPS server, plus the record of what the server refused itself. */
export interface Pipeline {
  (req: HttpRequest, res: HttpResponse): void;
  /**
   * Records a request the HTTP server answered `status` itself, before or instead of this
   * listener (unparseable, too large, timed out, no Host, an unmet Expect): every answer gets
   * its audit record. `method` and `url` when the request line was read.
   */
  rejected(socket: Socket, status: number, method?: string, url?: string): void;
  /**
   * Resolves once every request the listener took has been audited: a server that stops
   * closes its audit log only after this, so that no answered request goes unrecorded (a
   * response's 'close' can come a turn after the server's own 'close').
   */
  settled(): Promise<void>;
}

/** What every request of one pipeline shares: its options and the count of open requests. */
interface Shared {
  readonly options: PipelineOptions;
  readonly namesWrites: boolean;
  readonly budget: BodyBudget;
  /** Requests taken and not yet audited. */
  open: number;
  /** Who waits for there to be none. */
  whenSettled: (() => void)[];
}

/** Builds the `request` listener of an HTTPS server. */
export function createPipeline(options: PipelineOptions): Pipeline {
  const shared: Shared = {
    options,
    namesWrites: options.namesWrites ?? false,
    budget: options.bodyBudget ?? PROCESS_BODY_BUDGET,
    open: 0,
    whenSettled: [],
  };
  const listener = (req: HttpRequest, res: HttpResponse): void => {
    new Exchange(shared, req, res).start();
  };
  const rejected = (socket: Socket, status: number, method = '', url = ''): void => {
    const q = url.indexOf('?');
    options.audit.record({
      time: new Date(),
      identity: options.identify(socket),
      ip: socket.remoteAddress ?? '',
      method,
      path: q === -1 ? url : url.slice(0, q),
      status,
      duration: 0,
    });
    options.observe?.('unknown', status, 0);
  };
  const settled = (): Promise<void> =>
    shared.open === 0
      ? Promise.resolve()
      : new Promise((resolve) => shared.whenSettled.push(resolve));
  return Object.assign(listener, { rejected, settled });
}

/**
 * One request through the pipeline, from the listener to its audit record. One object with
 * methods rather than a closure per step: the closures and the context they shared were the
 * largest allocation of a request (~1 KB), and allocation is what the young generation's
 * collections cost.
 */
class Exchange {
  readonly #shared: Shared;
  readonly #req: HttpRequest;
  readonly #res: HttpResponse;
  readonly #started = performance.now();
  readonly #identity: string;
  readonly #caller: Caller;
  /** The request's path without its query. */
  readonly #path: string;
  /** Where the query begins in the URL, -1 without one. */
  readonly #q: number;
  readonly #url: string;
  #route: Route | undefined = undefined;
  #routeName = 'unknown';
  /** What the audit record shows: never a secret the client pasted into the path. */
  #auditPath: string | undefined = undefined;
  #context: Context | undefined = undefined;
  /** The route whose `observe` hears of this response, once its `authorize` ran. */
  #observed: Route | null = null;
  #audited = false;
  /** The request body's share of BODY_BUDGET, given back when the response closes. */
  #reserved = 0;
  /** The body read so far (readBody). */
  #chunks: Buffer[] | null = null;
  #size = 0;
  /** The body was refused while it arrived: what follows is dropped. */
  #failed = false;

  constructor(shared: Shared, req: HttpRequest, res: HttpResponse) {
    this.#shared = shared;
    this.#req = req;
    this.#res = res;
    const { options } = shared;
    const identity = (this.#identity = options.identify(req.socket));
    const root = options.rootIdentity();
    this.#caller = { identity, root: identity !== '' && identity === root, rootIdentity: root };
    const url = (this.#url = req.url ?? '/');
    const q = (this.#q = url.indexOf('?'));
    this.#path = q === -1 ? url : url.slice(0, q);
  }

  start(): void {
    const shared = this.#shared;
    const { options } = shared;
    const req = this.#req;
    const res = this.#res;
    shared.open++;
    // Exactly one audit record, when the response closes: right after its last byte is handed
    // to the socket ('close' follows 'finish' on both HTTP servers), or when the connection
    // closes first (streams, aborted requests). One listener, not one per event, and `on`, not
    // `once`: listeners and once-wrappers per request showed in the profile.
    res.on('close', () => this.#audit());

    const matched = options.routes.match(this.#path);
    if (!matched) {
      skipBody(req, res);
      notFound(res);
      return;
    }
    const route = pickMethod(matched.routes, req.method ?? '');
    if (!route) {
      skipBody(req, res);
      const expected = matched.routes[0]!;
      res.setHeader('Accept', expected.method);
      options.writeError(
        res,
        expected.face,
        new KeyholdError(
          'METHOD_NOT_ALLOWED',
          `received method '${req.method ?? ''}' expected '${expected.method}'`,
        ),
      );
      return;
    }
    this.#route = route;
    this.#routeName = route.path;
    if (route.timeout > 0) {
      res.setTimeout(route.timeout, () => req.socket.destroy());
    }
    let resource: string;
    try {
      resource = matched.resource.includes('%')
        ? decodeURIComponent(matched.resource)
        : matched.resource;
    } catch {
      skipBody(req, res);
      options.writeError(res, route.face, new KeyholdError('BAD_REQUEST', 'invalid URL path'));
      return;
    }
    if (route.auditResource) this.#auditPath = route.path + route.auditResource(resource);
    // Whoever may not use the route is refused before a byte of the body is read.
    let prepared: unknown;
    if (route.authorize) {
      if (route.observe) this.#observed = route;
      try {
        prepared = route.authorize(this.#caller, resource, req, res);
      } catch (error) {
        skipBody(req, res);
        this.#fail(error);
        return;
      }
    }
    this.#context = new Context(
      req,
      res,
      this.#caller,
      resource,
      this.#q === -1 ? '' : this.#url.slice(this.#q + 1),
      EMPTY,
      prepared,
    );
    if (route.streamBody) {
      if (Number(req.headers['content-length'] ?? '0') > route.maxBody) {
        skipBody(req, res);
        this.#fail(new KeyholdError('TOO_LARGE', 'request body too large'));
        return;
      }
      continueBody(req, res);
      this.#run(EMPTY);
      return;
    }
    this.#readBody(route);
  }

  /** The body is whole: the handler runs (once the connection may run requests). */
  #run(body: Buffer): void {
    const ctx = this.#context!;
    ctx.body = body;
    const route = this.#route!;
    const wait = this.#shared.options.admit?.(this.#req.socket);
    if (wait) void wait.then(() => this.#handle(route, ctx));
    else this.#handle(route, ctx);
  }

  /** Runs the route's handler; whatever it throws or rejects with goes to #retry. */
  #handle(route: Route, ctx: Context): void {
    try {
      // A write request named by the client (a retry after a lost answer) is applied only once.
      const id = this.#shared.namesWrites
        ? parseRequestId(ctx.req.headers[REQUEST_ID_HEADER])
        : undefined;
      const done =
        id !== undefined
          ? inRequest(id, ctx.caller.identity, () => route.handle(ctx))
          : route.handle(ctx);
      if (done) done.catch((error: unknown) => this.#retry(route, ctx, error));
    } catch (e) {
      this.#retry(route, ctx, e);
    }
  }

  /**
   * A cluster node's read of an object in flight: wait, then run the handler again (it answered
   * and changed nothing before the throw). Any other error is answered.
   */
  #retry(route: Route, ctx: Context, error: unknown): void {
    if (error instanceof ReadWait && !ctx.res.headersSent) {
      error.until.then(
        () => this.#handle(route, ctx),
        (e: unknown) => this.#fail(e),
      );
    } else {
      this.#fail(error);
    }
  }

  #fail(error: unknown): void {
    const { options } = this.#shared;
    const res = this.#res;
    const err = toKeyholdError(error);
    if (err.code === 'INTERNAL') options.onFault(error, this.#req);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // A streamed body may still be arriving: do not wait for it.
    if (this.#route?.streamBody) skipBody(this.#req, res);
    options.writeError(res, this.#route?.face ?? 'kms', err);
  }

  #audit(): void {
    if (this.#audited) return;
    this.#audited = true;
    const shared = this.#shared;
    const { options } = shared;
    const req = this.#req;
    const res = this.#res;
    shared.budget.release(this.#reserved);
    this.#reserved = 0;
    const seconds = (performance.now() - this.#started) / 1e3;
    options.audit.record({
      time: new Date(),
      identity: this.#context?.auditAs ?? this.#identity,
      ip: req.socket.remoteAddress ?? '',
      method: req.method ?? '',
      path: this.#auditPath ?? redactSecrets(this.#path),
      status: res.statusCode,
      duration: seconds,
    });
    options.observe?.(this.#routeName, res.statusCode, seconds);
    if (this.#observed !== null) this.#observed.observe!(res.statusCode, seconds);
    if (--shared.open === 0 && shared.whenSettled.length > 0) {
      const waiting = shared.whenSettled;
      shared.whenSettled = [];
      for (const resolve of waiting) resolve();
    }
  }

  /**
   * Reads at most the route's `maxBody` bytes, then runs the handler; a larger body is refused
   * without buffering it. The body holds its share of BODY_BUDGET from its head (its
   * Content-Length, or what a chunked body has sent) until the response closes (#audit gives it
   * back).
   */
  #readBody(route: Route): void {
    const req = this.#req;
    const res = this.#res;
    const limit = route.maxBody;
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > limit) {
      skipBody(req, res);
      this.#refuseBody(new KeyholdError('TOO_LARGE', 'request body too large'));
      return;
    }
    // Reserve the declared length now; a chunked body reserves as it arrives.
    if (declared > 0 && !this.#reserve(declared)) {
      skipBody(req, res);
      this.#refuseBody(busy(res));
      return;
    }
    continueBody(req, res);
    this.#chunks = [];
    req.on('data', (chunk: Buffer) => this.#bodyData(chunk, limit));
    req.on('end', () => this.#bodyEnd());
    req.on('error', () => {
      this.#failed = true;
    });
  }

  #bodyData(chunk: Buffer, limit: number): void {
    if (this.#failed) return;
    const size = (this.#size += chunk.length);
    const res = this.#res;
    if (size > this.#reserved && !this.#reserve(size - this.#reserved)) {
      // More of the body may follow: close rather than read it.
      res.setHeader('Connection', 'close');
      this.#refuseBody(busy(res));
      return;
    }
    if (size > limit) {
      // More of an unbounded (chunked) body may follow: close rather than read it.
      res.setHeader('Connection', 'close');
      this.#refuseBody(new KeyholdError('TOO_LARGE', 'request body too large'));
      return;
    }
    this.#chunks!.push(chunk);
  }

  #bodyEnd(): void {
    if (this.#failed) return;
    const chunks = this.#chunks!;
    this.#chunks = null;
    this.#run(
      chunks.length === 1
        ? chunks[0]!
        : chunks.length === 0
          ? EMPTY
          : Buffer.concat(chunks, this.#size),
    );
  }

  #refuseBody(error: KeyholdError): void {
    this.#failed = true;
    this.#chunks = null;
    this.#shared.options.writeError(this.#res, this.#route!.face, error);
  }

  /** Adds `bytes` to this body's share of BODY_BUDGET, unless the budget would be exceeded. */
  #reserve(bytes: number): boolean {
    if (!this.#shared.budget.reserve(bytes)) return false;
    this.#reserved += bytes;
    return true;
  }
}

function pickMethod(routes: readonly Route[], method: string): Route | undefined {
  for (const route of routes) if (route.method === method) return route;
  if (method === 'POST') {
    for (const route of routes) if (route.method === 'PUT' && route.acceptPost) return route;
  }
  return undefined;
}

/** Go's ServeMux answer for unknown paths (docs/protocol/kes.md). */
function notFound(res: HttpResponse): void {
  const body = '404 page not found\n';
  res.writeHead(404, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * The handler's view of one request. A class, not an object literal with a getter: V8 builds
 * such a literal through its slow runtime path as a dictionary-mode object, and everything it
 * referenced (request, response, body) then survived the next scavenge and was promoted. That
 * made every scavenge take ~3-5 ms instead of ~0.3 ms and was most of the p99 latency
 * (measured with `--trace-gc` under a paced load; see docs/performance.md).
 */
class Context implements RequestContext {
  readonly req: HttpRequest;
  readonly res: HttpResponse;
  readonly caller: Caller;
  readonly resource: string;
  /** Set once the body is whole, before the handler runs. */
  body: Buffer;
  readonly prepared: unknown;
  auditAs: string | undefined = undefined;
  readonly #rawQuery: string;
  #query: URLSearchParams | undefined;

  constructor(
    req: HttpRequest,
    res: HttpResponse,
    caller: Caller,
    resource: string,
    rawQuery: string,
    body: Buffer,
    prepared: unknown,
  ) {
    this.req = req;
    this.res = res;
    this.caller = caller;
    this.resource = resource;
    this.#rawQuery = rawQuery;
    this.body = body;
    this.prepared = prepared;
  }

  /** Parsed on first use: most requests carry no query. */
  get query(): URLSearchParams {
    return (this.#query ??= new URLSearchParams(this.#rawQuery));
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Bodies of refused requests up to this size are read and dropped, so the connection stays
 * usable; a larger body, one of unknown length, or one the client holds back until
 * `100 Continue` closes the connection after the answer instead of being read.
 */
const DISCARD_LIMIT = 64 * 1024;

/** Lets a body the request will not use go without reading more than DISCARD_LIMIT of it. */
function skipBody(req: HttpRequest, res: HttpResponse): void {
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (length === undefined && !chunked) return;
  if (!chunked && req.headers.expect === undefined && Number(length) <= DISCARD_LIMIT) {
    req.resume();
    return;
  }
  res.setHeader('Connection', 'close');
}

/** Tells a client waiting with `Expect: 100-continue` to send the body it may now send. */
function continueBody(req: HttpRequest, res: HttpResponse): void {
  if (req.headers.expect !== undefined && req.httpVersion === '1.1') res.writeContinue();
}

/**
 * The most bytes of request bodies all connections of this process hold at once. A body counts
 * from its head (its Content-Length, or what a chunked body has sent) until its response ends;
 * one that does not fit is answered 503 with `Retry-After: 1` before it is read (kms-go's KES
 * client retries a 503; docs/protocol/kes.md, docs/protocol/kms.md).
 */
export const BODY_BUDGET = 256 * 1024 * 1024;

/** Bytes of request bodies held at once, up to a limit. */
export class BodyBudget {
  readonly limit: number;
  #held = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get held(): number {
    return this.#held;
  }

  /** Takes `bytes` unless that would go over the limit. */
  reserve(bytes: number): boolean {
    if (this.#held + bytes > this.limit) return false;
    this.#held += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#held -= bytes;
  }
}

/** The budget every pipeline of this process shares unless given its own. */
const PROCESS_BODY_BUDGET = new BodyBudget(BODY_BUDGET);

function busy(res: HttpResponse): KeyholdError {
  res.setHeader('Retry-After', '1');
  return new KeyholdError(
    'SERVICE_UNAVAILABLE',
    'server busy: too many request bodies in flight, retry later',
  );
}
