// Request ids for safe retries (docs/cluster.md, "Retries"): a client may name a write request
// with a `Keyhold-Request-Id` header and send it again, to any node of a cluster, after a lost
// answer. A cluster node names the etcd log entry of each write of that request after the id, so
// the retry finds the entry the first attempt wrote and answers as if it had been the first,
// instead of applying the write twice. The id travels with the request through an
// AsyncLocalStorage scope, so the code between the HTTP pipeline and the state owner is unchanged.

// eslint-disable-next-line no-restricted-imports -- entered only on cluster nodes, for requests that name their writes (pipeline.ts)
import { AsyncLocalStorage } from 'node:async_hooks';
import { KeyholdError } from '../model/errors.ts';

export const REQUEST_ID_HEADER = 'keyhold-request-id';

/** One run of a request's handler: its id and how many writes it has submitted so far. */
interface RequestScope {
  readonly id: string;
  readonly identity: string;
  writes: number;
}

const scope = new AsyncLocalStorage<RequestScope>();

/**
 * The header's value checked: 16 to 64 characters of A-Z a-z 0-9 _ - (a random 128-bit id in
 * hex or base64url fits); undefined when absent.
 */
export function parseRequestId(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{16,64}$/.test(value)) {
    throw new KeyholdError(
      'BAD_REQUEST',
      `invalid ${REQUEST_ID_HEADER} header: expected 16 to 64 characters of A-Z a-z 0-9 _ -`,
    );
  }
  return value;
}

/**
 * Runs `fn` as one run of the handler of a request with id `id` (none: `fn` alone). A handler
 * run again (after a read wait) starts counting its writes from zero again, as a retry does.
 */
export function inRequest<T>(id: string | undefined, identity: string, fn: () => T): T {
  if (id === undefined) return fn();
  return scope.run({ id, identity, writes: 0 }, fn);
}

/**
 * The name of the next write of the current request: its caller, id and position among the
 * request's writes (a batch of several writes is retried in the same order), or undefined when
 * the request has no id.
 */
export function nextWriteName(): string | undefined {
  const current = scope.getStore();
  if (!current) return undefined;
  return `${current.identity}\u0000${current.id}\u0000${current.writes++}`;
}
