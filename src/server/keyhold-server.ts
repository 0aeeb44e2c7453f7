// One Keyhold node: opens the sealed store, rebuilds the state, and serves both faces over
// HTTPS with client certificates requested (not CA-verified) and identities from their SPKI.

import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { arch, availableParallelism, cpus, platform } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { writeKmsError } from '../api/kms/kms-routes.ts';
import { kmsRoutes } from '../api/kms/kms-routes.ts';
import { Core } from '../core/core.ts';
import type { HsmKey } from '../crypto/index.ts';
import { ApiKey, identityOfTlsSocket, parseIdentity } from '../identity/index.ts';
import type { ResponseOf } from '../protocol/kms/index.ts';
import type { VersionResponse } from '../protocol/kms/pb/keyhold/kms/v1/response.ts';
import { openBackup, sealBackup } from '../state/backup.ts';
import { Engine } from '../state/engine.ts';
import { AesGcmSealer } from '../store/aes-gcm-sealer.ts';
import { Store } from '../store/store.ts';
import { VERSION } from '../version.ts';
import { AuditLog } from './audit.ts';
import { EventLog } from './event-log.ts';
import { Metrics } from './metrics.ts';
import { createPipeline } from './pipeline.ts';
import { RouteTable } from './route.ts';
import { loadServerCertificate } from './server-certificate.ts';
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
}

export class KeyholdServer {
  readonly engine: Engine;
  readonly core: Core;
  readonly log: EventLog;
  readonly audit: AuditLog;
  readonly metrics: Metrics;
  /** The root API key derived from the HSM key (null when `adminIdentity` pins another root). */
  readonly rootApiKey: ApiKey | null;
  readonly rootIdentity: string;
  readonly certificateFiles: CertificateFiles;
  readonly certificateCreated: boolean;
  readonly #https: Server;
  readonly #started = Date.now();
  #host = '';

  private constructor(init: {
    engine: Engine;
    log: EventLog;
    audit: AuditLog;
    rootApiKey: ApiKey | null;
    rootIdentity: string;
    cert: { cert: Buffer; key: Buffer; files: CertificateFiles; created: boolean };
    options: ServerOptions;
  }) {
    this.engine = init.engine;
    this.core = new Core(init.engine.state, init.engine);
    this.log = init.log;
    this.audit = init.audit;
    this.rootApiKey = init.rootApiKey;
    this.rootIdentity = init.rootIdentity;
    this.certificateFiles = init.cert.files;
    this.certificateCreated = init.cert.created;
    const state = init.engine.state;
    this.metrics = new Metrics(() => {
      let n = 0;
      for (const enclave of state.enclaves.values()) n += enclave.keys.size;
      return n;
    });

    const routes = new RouteTable();
    for (const route of kmsRoutes({
      core: this.core,
      defaultEnclave: init.options.defaultEnclave ?? 'default',
      version: () => this.#version(),
      clusterStatus: () => this.#clusterStatus(),
      writable: () => true,
      backup: async () =>
        sealBackup(await this.engine.exportSnapshot(), init.options.hsmKey.backupSealingKey()),
      restore: (backup) =>
        this.engine.restoreSnapshot(openBackup(backup, init.options.hsmKey.backupSealingKey())),
      log: this.log,
      metrics: async () => ({
        contentType: this.metrics.registry.contentType,
        body: await this.metrics.registry.metrics(),
      }),
    })) {
      routes.add(route);
    }

    this.#https = createServer(
      {
        cert: init.cert.cert,
        key: init.cert.key,
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['http/1.1'],
        keepAliveTimeout: 120_000,
        headersTimeout: 30_000,
        requestTimeout: 60_000,
      },
      createPipeline({
        routes,
        identify: (socket) =>
          socket instanceof TLSSocket ? (identityOfTlsSocket(socket)?.toH1() ?? '') : '',
        rootIdentity: () => this.rootIdentity,
        audit: this.audit,
        writeError: (res, _face, error) => writeKmsError(res, error),
        onFault: (error, req) =>
          this.log.error(
            `internal error on ${req.method ?? ''} ${req.url ?? ''}: ${error instanceof Error ? error.message : String(error)}`,
          ),
        observe: (route, status, seconds) => this.metrics.observe(route, status, seconds),
      }),
    );
    this.#https.maxRequestsPerSocket = 0;
    this.#https.on('tlsClientError', () => undefined);
  }

  /** Opens the state in `options.dir` and starts listening. */
  static async start(options: ServerOptions): Promise<KeyholdServer> {
    const log = options.log ?? new EventLog();
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const { store, recovered } = await Store.open({
      dir: join(options.dir, 'state'),
      rekSealer: new AesGcmSealer(options.hsmKey.rekSealingKey()),
    });
    for (const warning of recovered.warnings) log.warn(warning);
    const engine = Engine.recover(store, recovered);

    let rootApiKey: ApiKey | null = null;
    let rootIdentity: string;
    if (options.adminIdentity === undefined) {
      rootApiKey = ApiKey.fromSeed(options.hsmKey.rootApiKeySeed(), 'k1');
      rootIdentity = rootApiKey.identity.toH1();
    } else if (options.adminIdentity === 'disabled') {
      rootIdentity = '';
    } else {
      rootIdentity = parseIdentity(options.adminIdentity).toH1();
    }

    const defaultEnclave = options.defaultEnclave ?? 'default';
    if (!engine.state.enclaves.has(defaultEnclave)) {
      await engine.submit({
        op: 'enclave.create',
        enclave: defaultEnclave,
        at: Date.now(),
        by: rootIdentity,
      });
    }

    const cert = await loadServerCertificate(options.dir, options.tls, options.publicHost);
    const audit = new AuditLog(
      options.auditFile ? createWriteStream(options.auditFile, { flags: 'a', mode: 0o600 }) : null,
    );
    const server = new KeyholdServer({
      engine,
      log,
      audit,
      rootApiKey,
      rootIdentity,
      cert,
      options,
    });
    await server.#listen(options.address, options.publicHost);
    return server;
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
    await this.engine.close();
    await this.audit.close();
  }

  async #listen(address: string, publicHost: string | undefined): Promise<void> {
    const { host, port } = splitAddress(address);
    await new Promise<void>((resolve, reject) => {
      this.#https.once('error', reject);
      this.#https.listen(port, host, () => {
        this.#https.off('error', reject);
        resolve();
      });
    });
    this.#host = publicHost ?? this.address;
  }

  #version(): VersionResponse {
    return { version: VERSION, commit: '', apiVersion: 'v1', host: this.#host, fips140: false };
  }

  #clusterStatus(): ResponseOf<'CLUSTER:STATUS'> {
    const memory = process.memoryUsage();
    const uptime = (Date.now() - this.#started) / 1000;
    return {
      nodesUp: {
        0: {
          version: VERSION,
          apiVersion: 'v1',
          host: this.#host,
          uptime: { seconds: Math.floor(uptime), nanos: Math.round((uptime % 1) * 1e9) },
          role: 'Leader',
          commit: this.engine.state.commit,
          nodes: { 0: this.#host },
          nodeId: 0,
          leaderId: 0,
          lastHeartbeat: { seconds: 0, nanos: 0 },
          heartbeatInterval: { seconds: 0, nanos: 0 },
          electionTimeout: { seconds: 0, nanos: 0 },
          os: platform(),
          arch: arch(),
          cpus: cpus().length,
          usableCpus: availableParallelism(),
          heapMemInUse: memory.heapUsed,
          stackMemInUse: 0,
          hsms: ['hsm:keyhold:soft'],
          configuredHsms: ['hsm:keyhold:soft'],
        },
      },
      nodesDown: {},
    };
  }
}

/** Splits `HOST:PORT`, `[V6]:PORT` or `:PORT` (host defaults to all interfaces). */
export function splitAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  if (!m) throw new Error(`invalid address '${address}': expected HOST:PORT`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`invalid address '${address}': port out of range`);
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!), port };
}
