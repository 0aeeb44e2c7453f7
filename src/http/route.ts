// A route of the HTTP API: method, path, body limit, timeout and handler — KES's own route
// table design, shared by every face.

import type { HttpRequest, HttpResponse } from './http-types.ts';
import type { Caller } from '../core/caller.ts';

/** Everything a handler gets about one request. */
export interface RequestContext {
  readonly req: HttpRequest;
  readonly res: HttpResponse;
  readonly caller: Caller;
  /** The URL path after the route's prefix, URL-decoded ('' for exact routes). */
  readonly resource: string;
  readonly query: URLSearchParams;
  /** The request body, at most the route's `maxBody` bytes (empty for `streamBody` routes). */
  readonly body: Buffer;
  /**
   * The identity the audit record names instead of the connection's: set by routes that
   * authenticate a request themselves (a console session), so the record shows who acted.
   */
  auditAs: string | undefined;
  /** What the route's `authorize` returned for this request (undefined without one). */
  readonly prepared: unknown;
}

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Exact path, or a prefix when it ends in `/` and `prefix` is true. */
  readonly path: string;
  readonly prefix: boolean;
  /** Largest accepted body in bytes. */
  readonly maxBody: number;
  /**
   * Decides from the caller and the path alone, before a byte of the body is read, whether the
   * request may go on (throws the error to answer, e.g. PERMISSION). A refused request's body
   * is never read: the connection closes after the answer unless the body is small. Routes
   * without it are open to every caller up to the body limit; their handler decides. `req`
   * and `res` are there for faces that identify from the connection and select an enclave
   * from the query or headers (KES). What it returns is handed to the handler as
   * `ctx.prepared` (the KES face's identified request), so a face keeps no table of requests.
   */
  readonly authorize?: (
    caller: Caller,
    resource: string,
    req: HttpRequest,
    res: HttpResponse,
  ) => unknown;
  /**
   * Called once when the response of a request this route's `authorize` saw (refused or not)
   * closes, with its status and the seconds since the request arrived: from the pipeline's one
   * 'close' listener, so a face's counters (KES's `kes_http_*`) cost no listener of their own.
   */
  readonly observe?: (status: number, seconds: number) => void;
  /**
   * The handler reads the body itself (`bodyPieces`), piece by piece, instead of receiving it
   * whole in `body`: for bodies too large to hold (restore).
   */
  readonly streamBody?: boolean;
  /** Milliseconds before the connection is closed; 0 = none (streams). */
  readonly timeout: number;
  /** Also accept POST where the route expects PUT (KES: POST is accepted wherever PUT is). */
  readonly acceptPost?: boolean;
  /** Which face answers errors for this route. */
  readonly face: 'kms' | 'kes' | 'console';
  /**
   * How the resource appears in the audit log, for routes that know what it must be (e.g. an
   * identity). Default: the path as sent, with anything that looks like a secret redacted.
   */
  readonly auditResource?: (resource: string) => string;
  handle(ctx: RequestContext): Promise<void> | void;
}

/** The routes of a path, and what follows a prefix route's prefix in it ('' for exact routes). */
export interface RouteMatch {
  readonly routes: readonly Route[];
  readonly resource: string;
}

/** How many recently matched paths a table remembers. */
const RECENT_PATHS = 8;

/** Looks routes up by exact path, then by the longest registered prefix. */
export class RouteTable {
  readonly #exact = new Map<string, Route[]>();
  readonly #prefixes: Route[] = [];
  /** The prefix routes by path (every prefix ends in `/`): what `match` looks up. */
  readonly #byPrefix = new Map<string, Route[]>();
  /** Length of the longest prefix: no longer part of a path is looked up. */
  #longest = 0;
  /**
   * The last paths matched and what they matched: clients repeat a few paths, and comparing a
   * request's fresh path string with a remembered one is cheaper than hashing it for the maps
   * (once per candidate prefix). Round robin; emptied whenever a route is added.
   */
  #recentPaths: string[] = [];
  #recentMatches: RouteMatch[] = [];
  #nextRecent = 0;

  add(route: Route): this {
    this.#recentPaths = [];
    this.#recentMatches = [];
    this.#nextRecent = 0;
    if (route.prefix) {
      if (!route.path.endsWith('/')) {
        throw new Error(`prefix route ${route.path}: a prefix ends in '/'`);
      }
      this.#prefixes.push(route);
      this.#prefixes.sort((a, b) => b.path.length - a.path.length);
      const group = this.#byPrefix.get(route.path);
      if (group) group.push(route);
      else this.#byPrefix.set(route.path, [route]);
      this.#longest = Math.max(this.#longest, route.path.length);
    } else {
      const list = this.#exact.get(route.path) ?? [];
      list.push(route);
      this.#exact.set(route.path, list);
    }
    return this;
  }

  /** Routes registered for a path (several methods may share one), with the resource part. */
  match(path: string): RouteMatch | undefined {
    const paths = this.#recentPaths;
    for (let i = 0; i < paths.length; i++) if (paths[i] === path) return this.#recentMatches[i];
    const found = this.#lookUp(path);
    if (found) {
      this.#recentPaths[this.#nextRecent] = path;
      this.#recentMatches[this.#nextRecent] = found;
      this.#nextRecent = (this.#nextRecent + 1) % RECENT_PATHS;
    }
    return found;
  }

  #lookUp(path: string): RouteMatch | undefined {
    const exact = this.#exact.get(path);
    if (exact) return { routes: exact, resource: '' };
    // The path up to each of its slashes, longest first, is a candidate prefix: one map lookup
    // each instead of a `startsWith` per registered prefix (a KMS request's `/v1/kms/` came after
    // every longer KES prefix: 1.7 % of the in-process profile).
    let end = Math.min(path.length, this.#longest) - 1;
    while (end >= 0) {
      const slash = path.lastIndexOf('/', end);
      if (slash === -1) break;
      const routes = this.#byPrefix.get(path.slice(0, slash + 1));
      if (routes) return { routes, resource: path.slice(slash + 1) };
      end = slash - 1;
    }
    return undefined;
  }

  all(): readonly Route[] {
    return [...[...this.#exact.values()].flat(), ...this.#prefixes];
  }
}
