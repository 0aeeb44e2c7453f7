// The etcd connection of a cluster node: options as the config gives them, the etcd3 client made
// from them, and a timeout around calls (etcd3 retries an unreachable etcd for a long time).

import { readFileSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import type { IOptions } from 'etcd3';

/** How to reach etcd (the `keyhold.cluster.etcd` config section, or `--etcd`). */
export interface EtcdOptions {
  readonly endpoints: readonly string[];
  /** Key prefix of this cluster (default `/keyhold/`). */
  readonly prefix?: string;
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  readonly username?: string;
  readonly password?: string;
}

export function connectEtcd(options: EtcdOptions): Etcd3 {
  const hosts = options.endpoints.map((e) => (/^[a-z]+:\/\//.test(e) ? e : `http://${e}`));
  const init: IOptions = { hosts, dialTimeout: 3000 };
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
