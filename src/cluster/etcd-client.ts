// The etcd connection of a cluster node: options as the config gives them, the etcd3 client made
// from them, and a timeout around calls (etcd3 retries an unreachable etcd for a long time).

import { readFileSync } from 'node:fs';
import {
  circuitBreaker,
  ConsecutiveBreaker,
  ConstantBackoff,
  handleWhen,
  noop,
  retry,
} from 'cockatiel';
import { Etcd3, isRecoverableError } from 'etcd3';
import type { IOptions } from 'etcd3';

/** How to reach etcd (the `keyhold.cluster.etcd` config section, or `--etcd`). */
export interface EtcdOptions {
  readonly endpoints: readonly string[];
  /** Key prefix of this cluster (default `/keyhold/`). */
  readonly prefix?: string;
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  readonly username?: string;
  readonly password?: string;
  /** Trimming the log in etcd (log-trim.ts); absent fields take the defaults there. */
  readonly trim?: { readonly interval?: number; readonly threshold?: number };
}

export function connectEtcd(options: EtcdOptions): Etcd3 {
  const hosts = options.endpoints.map((e) => (/^[a-z]+:\/\//.test(e) ? e : `http://${e}`));
  const init: IOptions = {
    hosts,
    dialTimeout: 3000,
    // A paused or cut-off etcd member answers nothing and fails nothing: HTTP/2 pings find the
    // dead connection, so the watch moves to another member. etcd drops a connection that pings
    // more often than every 5 s (--grpc-keepalive-min-time), and network jitter can bring two
    // pings closer than their interval: ping every 10 s.
    // Each unary call gets 2 s per member; etcd3 retries a timed-out call on another member
    // (3 attempts) and stops sending to a member that failed three times for 5 s.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 2000 }),
    faultHandling: {
      // A failing call is retried on another member (etcd3 picks one at random per attempt).
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 3 }),
      // With several members, stop sending to one that failed three times in a row for 5 s;
      // with one endpoint (a load balancer, a proxy) that would only add 5 s outages.
      host: () =>
        hosts.length > 1
          ? circuitBreaker(handleWhen(isRecoverableError), {
              halfOpenAfter: 5000,
              breaker: new ConsecutiveBreaker(3),
            })
          : noop,
      // etcd3 reconnects a dropped watch stream after this (its default backs off up to 30 s).
      watchBackoff: new ConstantBackoff(500) as never,
    },
    grpcOptions: {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 2000,
      'grpc.keepalive_permit_without_calls': 1,
      // A page of log entries can pass gRPC's default 4 MiB answer limit.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    },
  };
  if (options.tls) {
    const { ca, cert, key } = options.tls;
    init.credentials = {
      rootCertificate: ca ? readFileSync(ca) : Buffer.alloc(0),
      ...(key ? { privateKey: readFileSync(key) } : {}),
      ...(cert ? { certChain: readFileSync(cert) } : {}),
    };
  }
  if (options.username !== undefined) {
    init.auth = { username: options.username, password: options.password ?? '' };
  }
  return new Etcd3(init);
}

/** Rejects with `etcd did not answer WHAT within MS ms` unless `promise` settles first. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`etcd did not answer ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The first byte string after every key starting with `prefix` (etcd's range end). */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.of(0);
}
