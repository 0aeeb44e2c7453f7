// What a Keyhold server process is started with: the state directory, address, HSM key, TLS
// certificate, logs, HTTP implementation and the config file's reloadable parts. Its own file so
// that every part of the process model (single process, primary, worker) can take it without
// importing the server that assembles them.

import type { ClusterTiming } from '../cluster/cluster-node.ts';
import type { ClusterConfig } from '../config/cluster-config.ts';
import type { GatewayConfig } from '../config/keystore-config.ts';
import type { Reloadable } from '../config/reloadable.ts';
import type { KesSettings } from '../config/kes-settings.ts';
import type { TlsMaterial } from '../config/tls-material.ts';
import type { HsmKey } from '../crypto/index.ts';
import type { EventLog } from '../observe/event-log.ts';
import type { CertificateFiles } from './server-certificate.ts';

export interface ServerOptions {
  /** State directory (created 0700 if missing). */
  readonly dir: string;
  /** Listen address, `HOST:PORT` (port 0 = any free port). */
  readonly address: string;
  /** Public `HOST:PORT` clients use (reported by /version and in the certificate). */
  readonly publicHost?: string;
  readonly hsmKey: HsmKey;
  /** Configured TLS certificate; without it a self-signed one is kept in `DIR/certs/`. */
  readonly tls?: CertificateFiles;
  /**
   * Pinned root identity (`h1:…` or hex), or `disabled`. Without it the root identity is the
   * one of the API key derived from the HSM key.
   */
  readonly adminIdentity?: string;
  /** Enclave for requests that name none; created at first start. */
  readonly defaultEnclave?: string;
  /** NDJSON audit log file (appended); none by default. */
  readonly auditFile?: string;
  readonly log?: EventLog;
  /** HTTP implementation: the lean strict HTTP/1.1 server (default) or node:https. */
  readonly http?: 'lean' | 'node';
  /**
   * Milliseconds from a request's first byte (empty lines before it included) to the end of its
   * head, else 408 and close (`--headers-timeout`; default 30 s, HTTP_HEADERS_TIMEOUT_MS).
   */
  readonly headersTimeout?: number;
  /** KES face settings from a config file (policies, route overrides, levels); reloadable. */
  readonly kes?: Reloadable<KesSettings>;
  /** TLS material from a config file (key password, client CAs); reloadable. */
  readonly tlsConfig?: Reloadable<TlsMaterial>;
  /**
   * With worker processes: milliseconds a write waits for each worker to apply it before that
   * worker is killed and replaced (default 10 s). It must exceed the time a new worker takes to
   * load the state (about 1 s per million keys).
   */
  readonly applyTimeout?: number;
  /** The etcd cluster this node belongs to (`--etcd` & co.); absent: a single node. */
  readonly cluster?: ClusterConfig;
  /** Cluster timing (tests shorten it); defaults in src/cluster/cluster-node.ts. */
  readonly clusterTiming?: ClusterTiming;
  /** Milliseconds of inactivity after which a web console session ends (default 15 min). */
  readonly consoleSessionIdle?: number;
  /** KES gateway mode: keys in this external store, none in a sealed state (src/keystore/). */
  readonly gateway?: GatewayConfig;
}
