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

/** Builds the `request` listener of an HTTPS server. */
export function createPipeline(options: PipelineOptions): Pipeline {
  const namesWrites = options.namesWrites ?? false;
  /** Requests taken and not yet audited, and who waits for there to be none. */
  let open = 0;
  let whenSettled: (() => void)[] = [];
  const listener = (req: HttpRequest, res: HttpResponse): void => {
    const started = performance.now();
    open++;
    const identity = options.identify(req.socket);
    const root = options.rootIdentity();
    const caller: Caller = {
      identity,
      root: identity !== '' && identity === root,
      rootIdentity: root,
    };
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    let routeName = 'unknown';
    // What the audit record shows: never a secret the client pasted into the path.
    let auditPath: string | undefined;
    let context: Context | undefined;
    // The route whose `observe` hears of this response, once its `authorize` ran.
    let observed: Route | null = null;

    // Exactly one audit record, when the response closes: right after its last byte is handed
    // to the socket ('close' follows 'finish' on both HTTP servers), or when the connection
    // closes first (streams, aborted requests). One listener, not one per event: listeners
    // per request showed in the profile.
    let audited = false;
    // The request body's share of BODY_BUDGET, given back on the same 'close' (see readBody).
    let release: (() => void) | null = null;
    const audit = (): void => {
      if (audited) return;
      audited = true;
      if (release !== null) release();
      const seconds = (performance.now() - started) / 1e3;
      options.audit.record({
        time: new Date(),
        identity: context?.auditAs ?? identity,
        ip: req.socket.remoteAddress ?? '',
        method: req.method ?? '',
        path: auditPath ?? redactSecrets(path),
        status: res.statusCode,
        duration: seconds,
      });
      options.observe?.(routeName, res.statusCode, seconds);
      if (observed !== null) observed.observe!(res.statusCode, seconds);
      if (--open === 0 && whenSettled.length > 0) {
        const waiting = whenSettled;
        whenSettled = [];
        for (const resolve of waiting) resolve();
      }
    };
    // 'close' comes once; `on` spares the once-wrapper and its removal per request.
    res.on('close', audit);

    const matched = options.routes.match(path);
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
    routeName = route.path;
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
    if (route.auditResource) auditPath = route.path + route.auditResource(resource);
    // Whoever may not use the route is refused before a byte of the body is read.
    let prepared: unknown;
    if (route.authorize) {
      if (route.observe) observed = route;
      try {
        prepared = route.authorize(caller, resource, req, res);
      } catch (error) {
        skipBody(req, res);
        fail(error);
        return;
      }
    }
    const rawQuery = q === -1 ? '' : url.slice(q + 1);
    const run = (body: Buffer): void => {
      const ctx = (context = new Context(req, res, caller, resource, rawQuery, body, prepared));
      const wait = options.admit?.(req.socket);
      if (wait) void wait.then(() => handle(route, ctx, namesWrites, fail));
      else handle(route, ctx, namesWrites, fail);
    };
    if (route.streamBody) {
      if (Number(req.headers['content-length'] ?? '0') > route.maxBody) {
        skipBody(req, res);
        fail(new KeyholdError('TOO_LARGE', 'request body too large'));
        return;
      }
      continueBody(req, res);
      run(EMPTY);
      return;
    }
    release = readBody(req, res, route.maxBody, (error, body) => {
      if (error) options.writeError(res, route.face, error);
      else run(body);
    });

    function fail(error: unknown): void {
      const err = toKeyholdError(error);
      if (err.code === 'INTERNAL') options.onFault(error, req);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // A streamed body may still be arriving: do not wait for it.
      if (route?.streamBody) skipBody(req, res);
      options.writeError(res, route?.face ?? 'kms', err);
    }
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
    open === 0 ? Promise.resolve() : new Promise((resolve) => whenSettled.push(resolve));
  return Object.assign(listener, { rejected, settled });
}

/** Runs a route's handler; whatever it throws or rejects with goes to `fail`. */
function handle(
  route: Route,
  ctx: RequestContext,
  namesWrites: boolean,
  fail: (error: unknown) => void,
): void {
  // A cluster node's read of an object in flight: wait, then run the handler again (it answered
  // and changed nothing before the throw).
  const retry = (error: unknown): void => {
    if (error instanceof ReadWait && !ctx.res.headersSent) {
      error.until.then(() => handle(route, ctx, namesWrites, fail), fail);
    } else {
      fail(error);
    }
  };
  try {
    // A write request named by the client (a retry after a lost answer) is applied only once.
    const id = parseRequestId(ctx.req.headers[REQUEST_ID_HEADER]);
    const done =
      namesWrites && id !== undefined
        ? inRequest(id, ctx.caller.identity, () => route.handle(ctx))
        : route.handle(ctx);
    if (done) done.catch(retry);
  } catch (e) {
    retry(e);
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
  readonly body: Buffer;
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
let bodyBytesHeld = 0;

function busy(res: HttpResponse): KeyholdError {
  res.setHeader('Retry-After', '1');
  return new KeyholdError(
    'SERVICE_UNAVAILABLE',
    'server busy: too many request bodies in flight, retry later',
  );
}

/**
 * Reads at most `limit` bytes; a larger body is refused without buffering it. Returns what gives
 * the body's reservation back, for the caller to call when the response closes (the pipeline's
 * one 'close' listener: a second listener per request showed in the profile), or null when
 * nothing was reserved.
 */
function readBody(
  req: HttpRequest,
  res: HttpResponse,
  limit: number,
  done: (error: KeyholdError | null, body: Buffer) => void,
): (() => void) | null {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) {
    skipBody(req, res);
    done(new KeyholdError('TOO_LARGE', 'request body too large'), EMPTY);
    return null;
  }
  // Reserve the declared length now; a chunked body reserves as it arrives.
  let reserved = 0;
  const reserve = (bytes: number): boolean => {
    if (bodyBytesHeld + bytes > BODY_BUDGET) return false;
    bodyBytesHeld += bytes;
    reserved += bytes;
    return true;
  };
  if (declared > 0 && !reserve(declared)) {
    skipBody(req, res);
    done(busy(res), EMPTY);
    return null;
  }
  // Given back when the response closes: after its end, or when the connection closes first.
  const release = (): void => {
    bodyBytesHeld -= reserved;
    reserved = 0;
  };
  continueBody(req, res);
  const chunks: Buffer[] = [];
  let size = 0;
  let failed = false;
  req.on('data', (chunk: Buffer) => {
    if (failed) return;
    size += chunk.length;
    if (size > reserved && !reserve(size - reserved)) {
      failed = true;
      chunks.length = 0;
      res.setHeader('Connection', 'close');
      done(busy(res), EMPTY);
      return;
    }
    if (size > limit) {
      failed = true;
      chunks.length = 0;
      // More of an unbounded (chunked) body may follow: close rather than read it.
      res.setHeader('Connection', 'close');
      done(new KeyholdError('TOO_LARGE', 'request body too large'), EMPTY);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (failed) return;
    done(
      null,
      chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? EMPTY : Buffer.concat(chunks, size),
    );
  });
  req.on('error', () => {
    failed = true;
  });
  return release;
}
