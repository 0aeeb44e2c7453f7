// One Keyhold node's HTTPS front: serves both faces over TLS with client certificates requested
// (not CA-verified) and identities from their SPKI, reading the state of a StateOwner — this
// process's engine, or (in a worker) the primary's replicated state.

import { setTimeout as delay } from 'node:timers/promises';
import { SingleNodeCluster } from '../core/single-node-cluster.ts';
import type { Server as TlsServer, TlsOptions } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { KesFace, writeKesError } from '../api/kes/index.ts';
import type { KesCounts } from '../api/kes/kes-metrics.ts';
import { kmsRoutes, writeKmsError } from '../api/kms/kms-routes.ts';
import type { TlsMaterial } from '../config/tls-material.ts';
import { Core } from '../core/core.ts';
import type { ApiKey, PeerIdentity } from '../identity/index.ts';
import { identityOfTlsSocket, redactSecrets } from '../identity/index.ts';
import type { VersionResponse } from '../protocol/kms/pb/keyhold/kms/v1/response.ts';
import { VERSION } from '../version.ts';
import { AuditLog } from '../observe/audit.ts';
import { AuditFile } from '../observe/audit-file.ts';
import { EventLog } from '../observe/event-log.ts';
import { HandshakeGate } from '../http/handshake-gate.ts';
import { Http1Server } from '../http/http1/index.ts';
import type { RequestHead } from '../http/http1/index.ts';
import { openOwnedNode } from './local-owner.ts';
import { openGatewayNode } from './open-gateway.ts';
import { Gateway } from './gateway-owner.ts';
import { Metrics } from '../observe/metrics.ts';
import { createNodeHttpsServer } from '../http/node-https.ts';
import { createPipeline } from '../http/pipeline.ts';
import type { Pipeline } from '../http/pipeline.ts';
import type { Root } from './root-identity.ts';
import { RouteTable } from '../http/route.ts';
import type { CertificateFiles, LoadedCertificate } from './server-certificate.ts';
import type { ServerOptions } from './server-options.ts';
import type { StateOwner } from './state-owner.ts';
import type { ExternalKeys } from '../core/external-keys.ts';
import { HANDSHAKE_TIMEOUT_MS, TLS_POLICY } from '../http/tls-policy.ts';
import { consoleRoutes } from '../console/console-routes.ts';
import { writeConsoleError } from '../console/console-http.ts';
import { SessionTable, Sessions } from '../console/session-table.ts';

/** Everything the HTTPS front needs, however the state is owned. */
export interface FrontOptions {
  readonly owner: StateOwner;
  readonly root: Root;
  readonly certificate: LoadedCertificate;
  readonly options: ServerOptions;
  readonly log: EventLog;
  readonly audit: AuditLog;
  /** TLS session ticket keys shared by every process of the node (48 bytes). */
  readonly ticketKeys?: Buffer;
  /** A worker pool: told when this process starts or stops having TLS handshakes in progress. */
  readonly onHandshakesBusy?: (busy: boolean) => void;
  /** KES gateway mode: where the core looks keys up instead of the state. */
  readonly external?: ExternalKeys;
  /** The web console's sessions (a worker pool's live in the primary); default: this process's. */
  readonly sessions?: Sessions;
  /**
   * Who the peer of a connection is, by both faces' rules; default: from its TLS client
   * certificate. The tests' in-process harness names the caller without TLS.
   */
  readonly peer?: (socket: Socket) => PeerIdentity;
}

/** Idle time before a kept-alive connection is closed. */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 120_000;
/** A request's head must be complete this long after its first byte (`--headers-timeout`). */
export const HTTP_HEADERS_TIMEOUT_MS = 30_000;
/** A request's body must be complete this long after its first byte. */
export const HTTP_REQUEST_TIMEOUT_MS = 60_000;

export class KeyholdServer {
  readonly owner: StateOwner;
  readonly core: Core;
  readonly log: EventLog;
  readonly audit: AuditLog;
  readonly metrics: Metrics;
  readonly kes: KesFace;
  /** The root API key derived from the HSM key (null when `adminIdentity` pins another root). */
  readonly rootApiKey: ApiKey | null;
  readonly rootIdentity: string;
  readonly certificateFiles: CertificateFiles;
  readonly certificateCreated: boolean;
  /** Lets TLS handshakes finish before requests on reused connections (handshake-gate.ts). */
  readonly handshakes: HandshakeGate;
  /** The request listener both HTTP servers call: every face's routes behind one pipeline. */
  readonly pipeline: Pipeline;
  /** The HTTP server's timeouts (milliseconds), the same for both implementations. */
  readonly httpTimeouts: {
    readonly keepAliveTimeout: number;
    readonly headersTimeout: number;
    readonly requestTimeout: number;
  };
  readonly #https: TlsServer & { closeAllConnections(): void };
  readonly #started = Date.now();
  readonly #owned: { close(): Promise<void> } | null;
  #host = '';

  constructor(init: FrontOptions, owned: { close(): Promise<void> } | null = null) {
    this.owner = init.owner;
    this.#owned = owned;
    this.core = new Core(init.owner.state, init.owner, Date.now, init.external);
    this.log = init.log;
    this.audit = init.audit;
    this.rootApiKey = init.root.apiKey;
    this.rootIdentity = init.root.identity;
    this.certificateFiles = init.certificate.files;
    this.certificateCreated = init.certificate.created;
    const state = init.owner.state;
    this.metrics = new Metrics(() => {
      let n = 0;
      for (const enclave of state.enclaves.values()) n += enclave.keys.size;
      return n;
    });

    const single = new SingleNodeCluster({
      host: () => this.#host,
      commit: () => this.owner.state.commit,
      version: VERSION,
      startedAt: this.#started,
    });
    const cluster = init.owner.clusterControl?.(() => single.status().up[0]!) ?? single;
    const routes = new RouteTable();
    for (const route of kmsRoutes({
      core: this.core,
      defaultEnclave: init.options.defaultEnclave ?? 'default',
      version: () => this.#version(),
      cluster,
      writable: () => init.owner.writable?.() ?? true,
      readable: () => init.owner.readable?.() ?? true,
      backup: () => this.owner.backup(),
      restore: (backup) => this.owner.restore(backup),
      log: this.log,
      metrics: () => this.owner.metrics(),
    })) {
      routes.add(route);
    }

    this.kes = new KesFace({
      core: this.core,
      audit: this.audit,
      log: this.log,
      rootIdentity: () => this.rootIdentity,
      defaultEnclave: init.options.defaultEnclave ?? 'default',
      started: this.#started,
      ...(init.options.kes ? { settings: init.options.kes } : {}),
      ...(init.peer ? { peer: (socket: Socket) => init.peer!(socket).kes } : {}),
      ...(init.owner.gather
        ? { gatherCounts: async () => (await init.owner.gather!('kes-counts')) as KesCounts[] }
        : {}),
    });
    for (const route of this.kes.routes()) routes.add(route);

    for (const route of consoleRoutes({
      core: this.core,
      state,
      sessions: init.sessions ?? Sessions.local(new SessionTable(init.options.consoleSessionIdle)),
      audit: this.audit,
      log: this.log,
      rootIdentity: () => this.rootIdentity,
      defaultEnclave: init.options.defaultEnclave ?? 'default',
      version: VERSION,
      host: () => this.#host,
      startedAt: this.#started,
      cluster,
      metricsText: async () => (await this.owner.metrics()).body,
      ...(init.owner instanceof Gateway && init.options.gateway
        ? {
            keyStore: {
              kind: init.options.gateway.keystore.kind,
              description: init.owner.store.description,
              expiry: init.options.gateway.cache,
              cache: init.owner.cache,
            },
          }
        : {}),
    })) {
      routes.add(route);
    }

    const tlsConfig = init.options.tlsConfig;
    const tlsOptions: TlsOptions = {
      cert: init.certificate.cert,
      key: init.certificate.key,
      ...secureContextOf(tlsConfig?.get()),
      ...(init.ticketKeys ? { ticketKeys: init.ticketKeys } : {}),
      ...TLS_POLICY,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    };
    const timeouts = {
      keepAliveTimeout: HTTP_KEEP_ALIVE_TIMEOUT_MS,
      headersTimeout: init.options.headersTimeout ?? HTTP_HEADERS_TIMEOUT_MS,
      requestTimeout: HTTP_REQUEST_TIMEOUT_MS,
    };
    this.httpTimeouts = timeouts;
    this.handshakes = new HandshakeGate(init.onHandshakesBusy);
    const pipeline = createPipeline({
      routes,
      identify: init.peer
        ? (socket) => init.peer!(socket).leaf?.toH1() ?? ''
        : (socket) =>
            socket instanceof TLSSocket ? (identityOfTlsSocket(socket)?.toH1() ?? '') : '',
      rootIdentity: () => this.rootIdentity,
      audit: this.audit,
      writeError: (res, face, error) => {
        if (face === 'kes') writeKesError(res, error);
        else if (face === 'console') writeConsoleError(res, error);
        else writeKmsError(res, error);
      },
      onFault: (error, req) =>
        this.log.error(
          `internal error on ${req.method ?? ''} ${redactSecrets(req.url ?? '')}: ${error instanceof Error ? error.message : String(error)}`,
        ),
      observe: (route, status, seconds) => this.metrics.observe(route, status, seconds),
      admit: (socket) => this.handshakes.admit(socket),
      namesWrites: init.owner.clusterControl !== undefined,
    });
    this.pipeline = pipeline;
    try {
      if (init.options.http === 'node') {
        this.#https = createNodeHttpsServer({ ...tlsOptions, ...timeouts }, pipeline);
      } else {
        // The lean HTTP/1.1 server writes each answer as one TLS record (src/http/http1/).
        const server = new Http1Server(tlsOptions, pipeline, timeouts);
        server.on('rejected', (status: number, socket: TLSSocket, head: RequestHead | null) =>
          pipeline.rejected(socket, status, head?.method, head?.url),
        );
        this.#https = server;
      }
    } catch (error) {
      const { cert, key } = init.certificate.files;
      throw new Error(
        `cannot use the TLS certificate and key (${cert}, ${key}): ${messageOf(error)}`,
        { cause: error },
      );
    }
    // Node reports a handshake timeout here but leaves the socket open: close it.
    this.#https.on('tlsClientError', (_error: Error, socket: TLSSocket) => socket.destroy());
    this.handshakes.attach(this.#https);
    // A reload swaps the context for new connections; open ones keep theirs.
    tlsConfig?.onChange((tls) => {
      this.#https.setSecureContext({
        ...secureContextOf(tls),
        ...TLS_POLICY,
        ...(init.ticketKeys ? { ticketKeys: init.ticketKeys } : {}),
      });
    });
  }

  /**
   * Single-process mode: opens the state in `options.dir` and starts listening. If it cannot
   * listen (or the TLS material is unusable), closes the state again and rejects.
   */
  static async start(options: ServerOptions): Promise<KeyholdServer> {
    const server = await KeyholdServer.open(options);
    try {
      await server.listen(options.address, options.publicHost);
      await server.owner.start?.(server.#host);
      return server;
    } catch (error) {
      await server.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Opens the state and assembles the node without listening: `start` then listens; the tests'
   * in-process harness sends requests to `pipeline` instead (`front.peer` names the caller).
   * If the assembly fails, closes the state again and rejects.
   */
  static async open(
    options: ServerOptions,
    front: Pick<FrontOptions, 'peer'> = {},
  ): Promise<KeyholdServer> {
    const { log, root, owner, certificate } = options.cluster
      ? // Loaded only for a cluster node: etcd's client (gRPC, protobuf) is a tenth of a
        // second of CPU at every process start.
        await (await import('./open-cluster-node.ts')).openClusterNode(options, options.cluster)
      : options.gateway
        ? await openGatewayNode(options, options.gateway)
        : await openOwnedNode(options);
    const external = options.gateway ? (owner as ExternalKeys) : undefined;
    try {
      const server = new KeyholdServer(
        {
          owner,
          root,
          certificate,
          options,
          log,
          audit: new AuditLog(openAuditFile(options, log)),
          ...(external ? { external } : {}),
          ...front,
        },
        owner,
      );
      owner.metricsSource = server.metrics;
      return server;
    } catch (error) {
      await owner.close().catch(() => undefined);
      throw error;
    }
  }

  /** The bound address as `HOST:PORT`. */
  get address(): string {
    const a = this.#https.address() as AddressInfo;
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  get port(): number {
    return (this.#https.address() as AddressInfo).port;
  }

  /** Stops accepting connections, closes open ones, flushes the log and the audit file. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#https.close(() => resolve());
      this.#https.closeAllConnections();
    });
    // Every connection is closed, so every response will close: wait for their audit records
    // (bounded, should a response never report it).
    await Promise.race([this.pipeline.settled(), delay(2000, undefined, { ref: false })]);
    await this.#owned?.close();
    await this.audit.close();
  }

  /**
   * Starts listening on `HOST:PORT` (in a worker, on the handle the primary shares). Rejects with
   * `cannot listen on ADDRESS: …` when the address is in use, does not resolve, and so on.
   */
  async listen(address: string, publicHost: string | undefined): Promise<void> {
    // The KES config file's predefined keys exist before the first request (and after reloads).
    await this.kes.createKeys();
    this.kes.watchKeys((error) => this.log.error(`creating predefined keys: ${String(error)}`));
    const { host, port } = splitAddress(address);
    await new Promise<void>((resolve, reject) => {
      const fail = (error: Error): void =>
        reject(new Error(`cannot listen on ${address}: ${error.message}`, { cause: error }));
      this.#https.once('error', fail);
      this.#https.listen(port, host, () => {
        this.#https.off('error', fail);
        resolve();
      });
    });
    this.#host = publicHost ?? this.address;
  }

  #version(): VersionResponse {
    return { version: VERSION, commit: '', apiVersion: 'v1', host: this.#host, fips140: false };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Splits `HOST:PORT`, `[V6]:PORT` or `:PORT` (host defaults to all interfaces). */
export function splitAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  if (!m) throw new Error(`invalid address '${address}': expected HOST:PORT`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`invalid address '${address}': port out of range`);
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!), port };
}

/**
 * The chained audit file a node writes, if `options.auditFile` is set: opened by the single
 * process or the primary of a worker pool, never by a worker (which sends its lines to the
 * primary). Throws `cannot open the audit log FILE: …`.
 */
export function openAuditFile(options: ServerOptions, log: EventLog): AuditFile | null {
  if (!options.auditFile) return null;
  try {
    return AuditFile.open(options.auditFile, options.hsmKey.auditChainKey(), (error) =>
      log.error(`audit log ${options.auditFile}: ${error.message}`),
    );
  } catch (error) {
    throw new Error(`cannot open the audit log ${options.auditFile}: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

/** Server TLS options from a config file's material (none: keep the loaded certificate). */
function secureContextOf(tls: TlsMaterial | undefined): {
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
  ca?: Buffer[];
} {
  if (!tls) return {};
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
    ...(tls.ca ? { ca: [...tls.ca] } : {}),
  };
}
