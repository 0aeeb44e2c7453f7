// Where a cluster's records live in etcd and how each is sealed: the key of every record under
// the prefix, HMAC names (etcd learns no object or host names), and the AAD that binds a sealed
// value to its full etcd key so that a value copied, moved or replayed elsewhere is refused.

import { createHmac, hkdfSync } from 'node:crypto';
import { AesGcmSealer } from '../store/aes-gcm-sealer.ts';

/** The default prefix of a cluster's keys (several clusters can share one etcd). */
export const DEFAULT_PREFIX = '/keyhold/';

const AAD_LABEL = Buffer.from('keyhold/etcd/v1\0');
const NAMES_LABEL = 'keyhold/etcd/v1/names';

/** The keys of one cluster under `prefix`. */
export class EtcdLayout {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  get cluster(): string {
    return this.prefix + 'cluster';
  }
  get logPrefix(): string {
    return this.prefix + 'log/';
  }
  log(requestId: string): string {
    return this.logPrefix + requestId;
  }
  get markerPrefix(): string {
    return this.prefix + 'm/';
  }
  get memberPrefix(): string {
    return this.prefix + 'member/';
  }
  get foundedKey(): string {
    return this.prefix + 'founded';
  }
  get appliedPrefix(): string {
    return this.prefix + 'applied/';
  }
  /** The trim record: the snapshot that stands for the log entries trimmed (log-trim.ts). */
  get trimKey(): string {
    return this.prefix + 'trim';
  }
  snapshotChunk(id: string, n: number): string {
    return `${this.prefix}snap/${id}/${String(n).padStart(6, '0')}`;
  }
  snapshotPrefix(id?: string): string {
    return id === undefined ? this.prefix + 'snap/' : `${this.prefix}snap/${id}/`;
  }
}

/** Associated data of the value stored at `etcdKey`: the label and the full key. */
export function aadOf(etcdKey: string): Buffer {
  return Buffer.concat([AAD_LABEL, Buffer.from(etcdKey, 'utf8')]);
}

/**
 * What a node of the cluster can do with its root encryption key (REK): seal values bound to
 * their etcd key, and name objects and hosts by HMAC.
 */
export class ClusterKeys {
  readonly layout: EtcdLayout;
  readonly #sealer: AesGcmSealer;
  readonly #names: Buffer;

  constructor(layout: EtcdLayout, rek: Buffer) {
    this.layout = layout;
    this.#sealer = new AesGcmSealer(rek);
    this.#names = Buffer.from(hkdfSync('sha256', rek, Buffer.alloc(0), NAMES_LABEL, 32));
  }

  /** Seals `plaintext` as the value of `etcdKey`. */
  seal(etcdKey: string, plaintext: Uint8Array): Buffer {
    return this.#sealer.seal(plaintext, aadOf(etcdKey));
  }

  /** Opens the value found at `etcdKey`; throws naming the key if it was not sealed for it. */
  open(etcdKey: string, sealed: Uint8Array): Buffer {
    try {
      return this.#sealer.open(sealed, aadOf(etcdKey));
    } catch {
      throw new Error(
        `the value at etcd key ${etcdKey} was not sealed for it by this cluster (copied, moved or altered): refused`,
      );
    }
  }

  /** The opaque etcd-safe name of `name` (an object path or a host). */
  hmacName(name: string): string {
    return createHmac('sha256', this.#names).update(name).digest('base64url');
  }

  marker(object: string): string {
    return this.layout.markerPrefix + this.hmacName(object);
  }
  member(host: string): string {
    return this.layout.memberPrefix + this.hmacName(host);
  }
  applied(host: string): string {
    return this.layout.appliedPrefix + this.hmacName(host);
  }
}
