// KmsClient: a TypeScript client for the MinIO KMS API (docs/protocol/kms.md) as Keyhold
// serves it: framed commands on /v1/kms[/{enclave}], health, version, metrics, backup, logs.
import { X509Certificate, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  clientCertificateForApiKey,
  identityOfCertificate,
  parseApiKey,
} from '../identity/index.ts';
import {
  CONTENT_TYPE_PROTOBUF,
  KmsWireError,
  LogStreamDecoder,
  decodeKmsResponse,
  decodeVersionBody,
  encodeKmsRequest,
  encodeLogRequest,
  errorFromResponse,
  kmsCommand,
} from '../protocol/kms/index.ts';
import type {
  KmsCommandName,
  LogRecord,
  RequestOf,
  ResponseOf,
  VersionResponse,
} from '../protocol/kms/index.ts';
import type { ApiKey } from '../identity/index.ts';
import { normalizeEndpoint, parseEndpoints } from './endpoints.ts';
import { KmsResponseError } from './errors.ts';
import { DEFAULT_SUSPEND_MS, HostPool } from './host-pool.ts';
import { Transport } from './transport.ts';
import { KMS_RETRY_POLICY, errorOfOpened } from './kms-retry.ts';
import type { TlsOptions, TransportRequest, TransportResponse } from './transport.ts';
import {
  toEnclaveStatus,
  toIdentityStatus,
  toKeyStatus,
  toPolicy,
  toPolicyStatus,
  toRuleSets,
} from './types.ts';
import type {
  ClusterStatus,
  DataKey,
  EnclaveStatus,
  EncryptResult,
  IdentityStatus,
  KeyStatus,
  KeyType,
  ListOptions,
  MacResult,
  Page,
  Policy,
  PolicyRules,
  PolicyStatus,
  Privilege,
} from './types.ts';

export interface KmsClientOptions {
  /**
   * Servers of one cluster: `host[:port]` (port 7373 if omitted), `https://` optional; a string
   * may hold a comma-separated list with MinIO's `{1...3}` ranges (as `MINIO_KMS_SERVER`).
   */
  readonly endpoints: string | readonly string[];
  /** `k1:` API key (or a parsed ApiKey): the client authenticates with a certificate made from it. */
  readonly apiKey?: string | ApiKey | undefined;
  /** Enclave of enclave-scoped calls that name none; '' (default) uses the server's default. */
  readonly enclave?: string | undefined;
  readonly tls?: TlsOptions | undefined;
  /** Milliseconds a request may wait for data before the attempt fails (default 30 s). */
  readonly timeout?: number | undefined;
  /** Milliseconds a host that failed with a network error is tried last (default 30 s). */
  readonly suspendMs?: number | undefined;
  /** Most open connections per endpoint (default 50, as kms-go). */
  readonly maxSockets?: number | undefined;
}

/** An open log stream: iterate it for records; `close()` ends it. */
export interface LogStream extends AsyncIterable<LogRecord> {
  /** The endpoint streaming. */
  readonly host: string;
  /** Ends the stream (a pending iteration then ends). */
  close(): void;
}

/** Per-call options of every method. */
export interface CallOptions {
  /** Send to exactly this endpoint (`host:port` as configured): no failover. */
  readonly host?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Per-call options of enclave-scoped methods. */
export interface EnclaveCallOptions extends CallOptions {
  /** Enclave to act in, instead of the client's. */
  readonly enclave?: string | undefined;
}

/** Bytes, or a string sent as its UTF-8 encoding (e.g. MinIO's JSON context `{}`). */
export type BytesLike = Uint8Array | string;

export interface KeyStatusParams {
  readonly name: string;
  /** 0 or absent: the latest version. */
  readonly version?: number | undefined;
}

export interface EncryptParams {
  readonly name: string;
  readonly plaintext: BytesLike;
  readonly associatedData?: BytesLike | undefined;
  /** 0 or absent: the latest version. */
  readonly version?: number | undefined;
}

export interface DecryptParams {
  readonly name: string;
  readonly ciphertext: BytesLike;
  readonly associatedData?: BytesLike | undefined;
  /** The version that sealed the ciphertext; 0 or absent lets the server find it. */
  readonly version?: number | undefined;
}

export interface GenerateKeyParams {
  readonly name: string;
  readonly associatedData?: BytesLike | undefined;
  /** Bytes of the data key (default 32, at most 1024). */
  readonly length?: number | undefined;
  /** 0 or absent: the latest version. */
  readonly version?: number | undefined;
}

export interface MacParams {
  readonly name: string;
  readonly message: BytesLike;
  /** 0 or absent: the latest version. */
  readonly version?: number | undefined;
}

/** Log levels of the log stream (Go slog). */
export const LOG_LEVELS = { DEBUG: -4, INFO: 0, WARN: 4, ERROR: 8 } as const;
export type LogLevelName = keyof typeof LOG_LEVELS;

export interface LogOptions extends CallOptions {
  /** Minimum level (default INFO). */
  readonly level?: number | LogLevelName | undefined;
  /** Only records whose message contains this text. */
  readonly message?: string | undefined;
  /** Replay records since this time first (default: only new records). */
  readonly since?: Date | undefined;
  /** Minimum level at which records carry a stack trace. */
  readonly traceLevel?: number | LogLevelName | undefined;
}

const COMMAND_HEADERS = {
  'Content-Type': CONTENT_TYPE_PROTOBUF,
  Accept: 'application/*',
} as const;

const EMPTY = Buffer.alloc(0);

function bytes(value: BytesLike | undefined): Buffer {
  if (value === undefined) return EMPTY;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function levelNumber(level: number | LogLevelName | undefined): number {
  if (level === undefined) return 0;
  return typeof level === 'number' ? level : LOG_LEVELS[level];
}

/**
 * A client of one Keyhold (or MinIO KMS) cluster. Safe for concurrent use; one instance keeps
 * one pool of keep-alive connections, so create it once and `close()` it at the end.
 *
 * Every method throws KmsApiError for an error reply (exact status and message, see
 * `isKeyNotFound` & co.), KmsConnectionError when no endpoint could be reached and
 * KmsResponseError for a reply that breaks the protocol. Load-balanced calls go to a random
 * healthy endpoint and are retried on the others after a network error, as kms-go does. Each
 * write is sent with a `Keyhold-Request-Id` that its retries repeat, so a Keyhold cluster applies
 * a write whose reply was lost once and answers the retry as it did the first attempt; a server
 * that ignores the header (MinIO KMS, a single Keyhold node) may answer the retry with e.g. 409.
 */
export class KmsClient {
  readonly #transport: Transport;
  readonly #pool: HostPool;
  readonly #enclave: string;
  readonly #identity: string | undefined;

  constructor(options: KmsClientOptions) {
    const endpoints = parseEndpoints(options.endpoints);
    const tls: TlsOptions = { ...options.tls };
    let identity: string | undefined;
    if (options.apiKey !== undefined) {
      if (tls.cert !== undefined || tls.key !== undefined) {
        throw new TypeError('use either an API key or a TLS client certificate, not both');
      }
      const apiKey =
        typeof options.apiKey === 'string' ? parseApiKey(options.apiKey) : options.apiKey;
      const certificate = clientCertificateForApiKey(apiKey);
      Object.assign(tls, { cert: certificate.cert, key: certificate.key });
      identity = apiKey.identity.toH1();
    } else if (tls.cert !== undefined) {
      identity = identityOfCertificate(new X509Certificate(tls.cert).raw).toH1();
    }
    this.#identity = identity;
    this.#enclave = options.enclave ?? '';
    this.#pool = new HostPool(endpoints, { suspendMs: options.suspendMs ?? DEFAULT_SUSPEND_MS });
    const maxSockets = options.maxSockets ?? 50;
    this.#transport = new Transport({
      pool: this.#pool,
      policy: KMS_RETRY_POLICY,
      tls,
      timeout: options.timeout ?? 30_000,
      maxSockets,
      maxFreeSockets: maxSockets,
    });
  }

  /** The `h1:` identity this client authenticates as (undefined without a client certificate). */
  get identity(): string | undefined {
    return this.#identity;
  }

  /** The normalized endpoints (`host:port`). */
  get endpoints(): readonly string[] {
    return this.#transport.endpoints;
  }

  /** The client's default enclave ('' = the server's default). */
  get enclave(): string {
    return this.#enclave;
  }

  /** True while `host` is skipped after a network error. */
  isSuspended(host: string): boolean {
    return this.#pool.isSuspended(host);
  }

  /** Closes every connection of the pool: requests in flight fail, later ones open new connections. */
  close(): void {
    this.#transport.close();
  }

  // ── server ───────────────────────────────────────────────────────────────

  /** GET /version: release, commit, API version and the answering node's host. */
  async version(options: CallOptions = {}): Promise<VersionResponse> {
    const res = await this.#get('/version', options);
    this.#expectContentLength(res);
    try {
      return decodeVersionBody(res.headers['content-type'], res.body);
    } catch (error) {
      throw this.#malformed(error);
    }
  }

  /** GET /v1/health/live: resolves when the server is up. */
  async live(options: CallOptions = {}): Promise<void> {
    await this.#get('/v1/health/live', options);
  }

  /** GET /v1/health/ready[?write]: resolves when the server can serve reads (or writes). */
  async ready(options: CallOptions & { readonly write?: boolean | undefined } = {}): Promise<void> {
    await this.#get(
      options.write === true ? '/v1/health/ready?write' : '/v1/health/ready',
      options,
    );
  }

  /** GET /v1/health/metrics: the Prometheus / OpenMetrics text. */
  async metrics(options: CallOptions = {}): Promise<string> {
    const res = await this.#get('/v1/health/metrics', options);
    return res.body.toString('utf8');
  }

  /** CLUSTER:STATUS: every node's status as the answering node sees it. */
  async clusterStatus(options: CallOptions = {}): Promise<ClusterStatus> {
    const [status] = await this.#command('CLUSTER:STATUS', [{}], options);
    const nodesUp = new Map<number, ResponseOf<'CLUSTER:STATUS'>['nodesUp'][number]>();
    for (const [id, node] of Object.entries(status!.nodesUp)) nodesUp.set(Number(id), node);
    const nodesDown = new Map<number, string>();
    for (const [id, host] of Object.entries(status!.nodesDown)) nodesDown.set(Number(id), host);
    return { nodesUp, nodesDown };
  }

  /**
   * CLUSTER:ADDNODE (SysAdmin): makes the running node at `host` (`host[:port]`, port 7373 if
   * omitted) a member. It must run with the cluster's HSM key and etcd prefix and not be a
   * member yet; it loads the state and catches up before it counts as a member.
   */
  async addNode(host: string, options: CallOptions = {}): Promise<void> {
    await this.#command('CLUSTER:ADDNODE', [{ host: normalizeEndpoint(host) }], options);
  }

  /**
   * CLUSTER:REMOVENODE (SysAdmin): removes `host` from the members without waiting for it, so
   * it works when `host` is dead, and states that it is: see `keyhold rm-node --help` for what
   * happens to a removed node that is still running. `deleteClusterOnHost` is sent as MinIO
   * KMS's `delete_cluster_on_host` (false by default).
   */
  async removeNode(
    host: string,
    options: CallOptions & { readonly deleteClusterOnHost?: boolean | undefined } = {},
  ): Promise<void> {
    const { deleteClusterOnHost, ...call } = options;
    await this.#command(
      'CLUSTER:REMOVENODE',
      [{ host: normalizeEndpoint(host), deleteClusterOnHost: deleteClusterOnHost === true }],
      call,
    );
  }

  /**
   * GET /v1/db: a stream of the server's state snapshot (opaque, sealed by the server). The
   * caller must consume or destroy it. SysAdmin only.
   */
  async backup(options: CallOptions = {}): Promise<Readable> {
    const opened = await this.#transport.open({
      method: 'GET',
      path: '/v1/db',
      headers: { Accept: 'application/*' },
      ...options,
    });
    if (opened.status !== 200 || opened.stream === undefined) {
      throw await errorOfOpened(this.#transport, opened);
    }
    return opened.stream;
  }

  /**
   * PUT /v1/db: replaces the server's state with a snapshot made by `backup`. Sent to one host
   * (the given one, else the first healthy one); a stream is not retried. SysAdmin only.
   */
  async restore(snapshot: Uint8Array | Readable, options: CallOptions = {}): Promise<void> {
    const body = snapshot instanceof Uint8Array ? bytes(snapshot) : snapshot;
    const res = await this.#transport.request({
      method: 'PUT',
      path: '/v1/db',
      headers: { 'Content-Type': CONTENT_TYPE_PROTOBUF, Accept: 'application/*' },
      body,
      host: options.host ?? this.#transport.endpoints.find((h) => !this.isSuspended(h)),
      signal: options.signal,
    });
    this.#expectOk(res);
  }

  /**
   * POST /v1/debug/log: opens the server's log stream (SysAdmin only) and resolves once the
   * server accepted it, so a refusal is thrown here. Iterate the result for the records as they
   * happen (with `since`, the kept ones from then on first). The stream is endless: stop with
   * `close()`, `break` or the AbortSignal.
   */
  async logs(options: LogOptions = {}): Promise<LogStream> {
    const body = encodeLogRequest({
      level: levelNumber(options.level),
      message: options.message ?? '',
      since: options.since,
      traceLevel: levelNumber(options.traceLevel ?? 'ERROR'),
    });
    const opened = await this.#transport.open({
      method: 'POST',
      path: '/v1/debug/log',
      headers: { 'Content-Type': CONTENT_TYPE_PROTOBUF, Accept: CONTENT_TYPE_PROTOBUF },
      body,
      host: options.host,
      signal: options.signal,
    });
    if (opened.status !== 200 || opened.stream === undefined) {
      throw await errorOfOpened(this.#transport, opened);
    }
    const res = opened.stream;
    // kms-go refuses a log stream of any other type.
    if (res.headers['content-type'] !== CONTENT_TYPE_PROTOBUF) {
      res.destroy();
      throw new KmsResponseError(
        `log stream has Content-Type '${res.headers['content-type'] ?? ''}'`,
      );
    }
    const malformed = (error: unknown): unknown => this.#malformed(error);
    let closed = false;
    async function* records(): AsyncGenerator<LogRecord, void, undefined> {
      const decoder = new LogStreamDecoder();
      try {
        for await (const chunk of res as AsyncIterable<Buffer>) {
          for (const record of decoder.push(chunk)) yield record;
        }
        decoder.end();
      } catch (error) {
        // Aborting destroys the reply mid-stream ("aborted"): report the abort itself.
        if (options.signal?.aborted === true) throw options.signal.reason;
        if (closed) return;
        throw malformed(error);
      } finally {
        res.destroy();
      }
    }
    const iterator = records();
    return {
      host: opened.host,
      close: () => {
        closed = true;
        res.destroy();
      },
      [Symbol.asyncIterator]: () => iterator,
    };
  }

  // ── enclaves (SysAdmin) ──────────────────────────────────────────────────

  /** ENCLAVE:CREATE. */
  async createEnclave(name: string, options: CallOptions = {}): Promise<void> {
    await this.#command('ENCLAVE:CREATE', [{ name }], options);
  }

  /** ENCLAVE:DELETE: removes the enclave with all its keys, policies and identities. */
  async deleteEnclave(name: string, options: CallOptions = {}): Promise<void> {
    await this.#command('ENCLAVE:DELETE', [{ name }], options);
  }

  /** ENCLAVE:STATUS of one enclave. */
  async enclaveStatus(name: string, options: CallOptions = {}): Promise<EnclaveStatus> {
    return (await this.enclaveStatusBatch([name], options))[0]!;
  }

  /** ENCLAVE:STATUS of several enclaves in one request; fails if any is missing. */
  async enclaveStatusBatch(
    names: readonly string[],
    options: CallOptions = {},
  ): Promise<EnclaveStatus[]> {
    const replies = await this.#command(
      'ENCLAVE:STATUS',
      names.map((name) => ({ name })),
      options,
    );
    return replies.map((m) => toEnclaveStatus(m));
  }

  /** ENCLAVE:LIST: one page. */
  async listEnclaves(
    list: ListOptions = {},
    options: CallOptions = {},
  ): Promise<Page<EnclaveStatus>> {
    const [page] = await this.#command('ENCLAVE:LIST', [listRequest(list)], options);
    return {
      items: page!.enclaves.map((m) => toEnclaveStatus(m)),
      continueAt: page!.continueAt,
    };
  }

  /** Every enclave (matching `prefix`), fetched page by page. */
  enclaves(list: ListOptions = {}, options: CallOptions = {}): AsyncGenerator<EnclaveStatus> {
    return iterate((l) => this.listEnclaves(l, options), list);
  }

  // ── keys ─────────────────────────────────────────────────────────────────

  /**
   * KEY:CREATE: a new key (`type` defaults to the server's choice, AES256), or with
   * `addVersion` a new version of an existing key (rotation; later calls use it by default).
   */
  async createKey(
    name: string,
    options: EnclaveCallOptions & {
      readonly type?: KeyType | undefined;
      readonly addVersion?: boolean | undefined;
    } = {},
  ): Promise<void> {
    await this.#command(
      'KEY:CREATE',
      [{ name, type: options.type ?? '', addVersion: options.addVersion === true }],
      options,
    );
  }

  /** KEY:CREATE with AddVersion: rotates the key to a new version. */
  async addKeyVersion(name: string, options: EnclaveCallOptions = {}): Promise<void> {
    await this.createKey(name, { ...options, addVersion: true });
  }

  /** KEY:IMPORT: a key from 32 raw bytes (marked imported by the server). */
  async importKey(
    name: string,
    key: Uint8Array,
    options: EnclaveCallOptions & { readonly type?: KeyType | undefined } = {},
  ): Promise<void> {
    await this.#command(
      'KEY:IMPORT',
      [{ name, type: options.type ?? 'AES256', key: bytes(key) }],
      options,
    );
  }

  /**
   * KEY:DELETE: the latest version, the given `version`, or with `allVersions` the whole key.
   * A removed version number is never used again.
   */
  async deleteKey(
    name: string,
    options: EnclaveCallOptions & {
      readonly version?: number | undefined;
      readonly allVersions?: boolean | undefined;
    } = {},
  ): Promise<void> {
    await this.#command(
      'KEY:DELETE',
      [{ name, version: options.version ?? 0, allVersions: options.allVersions === true }],
      options,
    );
  }

  /** KEY:STATUS of one key (the latest version unless `version` is given). */
  async keyStatus(
    name: string,
    options: EnclaveCallOptions & { readonly version?: number | undefined } = {},
  ): Promise<KeyStatus> {
    return (await this.keyStatusBatch([{ name, version: options.version }], options))[0]!;
  }

  /** KEY:STATUS of several keys in one request; fails (404) if any is missing. */
  async keyStatusBatch(
    requests: readonly KeyStatusParams[],
    options: EnclaveCallOptions = {},
  ): Promise<KeyStatus[]> {
    const replies = await this.#command(
      'KEY:STATUS',
      requests.map((r) => ({ name: r.name, version: r.version ?? 0 })),
      options,
    );
    return replies.map((m) => toKeyStatus(m));
  }

  /** KEY:LIST: one page of keys (each with its latest version). */
  async listKeys(
    list: ListOptions = {},
    options: EnclaveCallOptions = {},
  ): Promise<Page<KeyStatus>> {
    const [page] = await this.#command('KEY:LIST', [listRequest(list)], options);
    return { items: page!.keys.map((m) => toKeyStatus(m)), continueAt: page!.continueAt };
  }

  /** Every key (matching `prefix`), fetched page by page. */
  keys(list: ListOptions = {}, options: EnclaveCallOptions = {}): AsyncGenerator<KeyStatus> {
    return iterate((l) => this.listKeys(l, options), list);
  }

  /** KEY:ENCRYPT one plaintext. */
  async encrypt(
    name: string,
    plaintext: BytesLike,
    options: EnclaveCallOptions & Omit<EncryptParams, 'name' | 'plaintext'> = {},
  ): Promise<EncryptResult> {
    return (await this.encryptBatch([{ ...options, name, plaintext }], options))[0]!;
  }

  /** KEY:ENCRYPT several plaintexts in one request. */
  async encryptBatch(
    requests: readonly EncryptParams[],
    options: EnclaveCallOptions = {},
  ): Promise<EncryptResult[]> {
    const replies = await this.#command(
      'KEY:ENCRYPT',
      requests.map((r) => ({
        name: r.name,
        version: r.version ?? 0,
        plaintext: bytes(r.plaintext),
        associatedData: bytes(r.associatedData),
      })),
      options,
    );
    return replies.map((r) => ({ version: r.version, ciphertext: r.ciphertext }));
  }

  /** KEY:DECRYPT one ciphertext; returns the plaintext. */
  async decrypt(
    name: string,
    ciphertext: BytesLike,
    options: EnclaveCallOptions & Omit<DecryptParams, 'name' | 'ciphertext'> = {},
  ): Promise<Buffer> {
    return (await this.decryptBatch([{ ...options, name, ciphertext }], options))[0]!;
  }

  /** KEY:DECRYPT several ciphertexts in one request; fails if any does not decrypt. */
  async decryptBatch(
    requests: readonly DecryptParams[],
    options: EnclaveCallOptions = {},
  ): Promise<Buffer[]> {
    const replies = await this.#command(
      'KEY:DECRYPT',
      requests.map((r) => ({
        name: r.name,
        version: r.version ?? 0,
        ciphertext: bytes(r.ciphertext),
        associatedData: bytes(r.associatedData),
      })),
      options,
    );
    return replies.map((r) => r.plaintext);
  }

  /** KEY:GENERATE one data encryption key. */
  async generateKey(
    name: string,
    options: EnclaveCallOptions & Omit<GenerateKeyParams, 'name'> = {},
  ): Promise<DataKey> {
    return (await this.generateKeyBatch([{ ...options, name }], options))[0]!;
  }

  /** KEY:GENERATE several data keys in one request. */
  async generateKeyBatch(
    requests: readonly GenerateKeyParams[],
    options: EnclaveCallOptions = {},
  ): Promise<DataKey[]> {
    const replies = await this.#command(
      'KEY:GENERATE',
      requests.map((r) => ({
        name: r.name,
        version: r.version ?? 0,
        associatedData: bytes(r.associatedData),
        length: r.length ?? 0,
      })),
      options,
    );
    return replies.map((r) => ({
      version: r.version,
      plaintext: r.plaintext,
      ciphertext: r.ciphertext,
    }));
  }

  /** KEY:MAC of one message. */
  async mac(
    name: string,
    message: BytesLike,
    options: EnclaveCallOptions & { readonly version?: number | undefined } = {},
  ): Promise<MacResult> {
    return (await this.macBatch([{ name, message, version: options.version }], options))[0]!;
  }

  /** KEY:MAC of several messages in one request. */
  async macBatch(
    requests: readonly MacParams[],
    options: EnclaveCallOptions = {},
  ): Promise<MacResult[]> {
    const replies = await this.#command(
      'KEY:MAC',
      requests.map((r) => ({ name: r.name, version: r.version ?? 0, message: bytes(r.message) })),
      options,
    );
    return replies.map((r) => ({ version: r.version, mac: r.mac }));
  }

  // ── policies ─────────────────────────────────────────────────────────────

  /** POLICY:CREATE: creates or replaces a policy. */
  async createPolicy(
    name: string,
    rules: { readonly allow?: PolicyRules | undefined; readonly deny?: PolicyRules | undefined },
    options: EnclaveCallOptions = {},
  ): Promise<void> {
    await this.#command(
      'POLICY:CREATE',
      [{ name, allow: toRuleSets(rules.allow ?? {}), deny: toRuleSets(rules.deny ?? {}) }],
      options,
    );
  }

  /** POLICY:DELETE. Identities that had it lose its permissions. */
  async deletePolicy(name: string, options: EnclaveCallOptions = {}): Promise<void> {
    await this.#command('POLICY:DELETE', [{ name }], options);
  }

  /** POLICY:ASSIGN: gives a User identity this policy (replacing its previous one). */
  async assignPolicy(
    policy: string,
    identity: string,
    options: EnclaveCallOptions = {},
  ): Promise<void> {
    await this.#command('POLICY:ASSIGN', [{ identity, policy }], options);
  }

  /** POLICY:GET: a policy with its rules. */
  async getPolicy(name: string, options: EnclaveCallOptions = {}): Promise<Policy> {
    return (await this.getPolicyBatch([name], options))[0]!;
  }

  /** POLICY:GET of several policies in one request. */
  async getPolicyBatch(
    names: readonly string[],
    options: EnclaveCallOptions = {},
  ): Promise<Policy[]> {
    const replies = await this.#command(
      'POLICY:GET',
      names.map((name) => ({ name })),
      options,
    );
    return replies.map((m) => toPolicy(m));
  }

  /** POLICY:STATUS: a policy's name and creation, without its rules. */
  async policyStatus(name: string, options: EnclaveCallOptions = {}): Promise<PolicyStatus> {
    return (await this.policyStatusBatch([name], options))[0]!;
  }

  /** POLICY:STATUS of several policies in one request. */
  async policyStatusBatch(
    names: readonly string[],
    options: EnclaveCallOptions = {},
  ): Promise<PolicyStatus[]> {
    const replies = await this.#command(
      'POLICY:STATUS',
      names.map((name) => ({ name })),
      options,
    );
    return replies.map((m) => toPolicyStatus(m));
  }

  /** POLICY:LIST: one page. */
  async listPolicies(
    list: ListOptions = {},
    options: EnclaveCallOptions = {},
  ): Promise<Page<PolicyStatus>> {
    const [page] = await this.#command('POLICY:LIST', [listRequest(list)], options);
    return { items: page!.policies.map((m) => toPolicyStatus(m)), continueAt: page!.continueAt };
  }

  /** Every policy (matching `prefix`), fetched page by page. */
  policies(list: ListOptions = {}, options: EnclaveCallOptions = {}): AsyncGenerator<PolicyStatus> {
    return iterate((l) => this.listPolicies(l, options), list);
  }

  // ── identities ───────────────────────────────────────────────────────────

  /**
   * IDENTITY:CREATE: creates or replaces an identity (`h1:…`) with a privilege (default User).
   * A service account (`serviceAccount`) acts with the rights of the identity creating it and is
   * deleted with it.
   */
  async createIdentity(
    identity: string,
    options: EnclaveCallOptions & {
      readonly privilege?: Privilege | undefined;
      readonly serviceAccount?: boolean | undefined;
      readonly tags?: Readonly<Record<string, string>> | undefined;
    } = {},
  ): Promise<void> {
    await this.#command(
      'IDENTITY:CREATE',
      [
        {
          identity,
          privilege: options.privilege ?? 'User',
          isServiceAccount: options.serviceAccount === true,
          tags: { ...options.tags },
        },
      ],
      options,
    );
  }

  /** IDENTITY:DELETE (its service accounts go with it). */
  async deleteIdentity(identity: string, options: EnclaveCallOptions = {}): Promise<void> {
    await this.#command('IDENTITY:DELETE', [{ identity }], options);
  }

  /** IDENTITY:STATUS of one identity. */
  async identityStatus(
    identity: string,
    options: EnclaveCallOptions = {},
  ): Promise<IdentityStatus> {
    return (await this.identityStatusBatch([identity], options))[0]!;
  }

  /** IDENTITY:STATUS of several identities in one request. */
  async identityStatusBatch(
    identities: readonly string[],
    options: EnclaveCallOptions = {},
  ): Promise<IdentityStatus[]> {
    const replies = await this.#command(
      'IDENTITY:STATUS',
      identities.map((identity) => ({ identity })),
      options,
    );
    return replies.map((m) => toIdentityStatus(m));
  }

  /** IDENTITY:LIST: one page. */
  async listIdentities(
    list: ListOptions = {},
    options: EnclaveCallOptions = {},
  ): Promise<Page<IdentityStatus>> {
    const [page] = await this.#command('IDENTITY:LIST', [listRequest(list)], options);
    return {
      items: page!.identities.map((m) => toIdentityStatus(m)),
      continueAt: page!.continueAt,
    };
  }

  /** Every identity of the enclave (matching `prefix`), fetched page by page. */
  identities(
    list: ListOptions = {},
    options: EnclaveCallOptions = {},
  ): AsyncGenerator<IdentityStatus> {
    return iterate((l) => this.listIdentities(l, options), list);
  }

  // ── plumbing ─────────────────────────────────────────────────────────────

  /**
   * Sends one command request (one frame per message) and decodes the reply with kms-go's rules.
   * Cluster-level commands go to /v1/kms, enclave commands to /v1/kms/{enclave}.
   */
  async #command<N extends KmsCommandName>(
    name: N,
    requests: RequestOf<N>[],
    options: EnclaveCallOptions,
  ): Promise<ResponseOf<N>[]> {
    const command = kmsCommand(name);
    const enclave = command.isCluster ? '' : (options.enclave ?? this.#enclave);
    const res = await this.#transport.request({
      method: 'POST',
      path: enclave === '' ? '/v1/kms' : `/v1/kms/${encodeURIComponent(enclave)}`,
      // A write carries a request id, the same on every host the transport retries it on: a
      // Keyhold cluster applies it once even if an earlier attempt's answer was lost.
      headers: command.isWrite
        ? { ...COMMAND_HEADERS, 'Keyhold-Request-Id': randomBytes(16).toString('hex') }
        : COMMAND_HEADERS,
      body: encodeKmsRequest(name, requests),
      host: options.host,
      signal: options.signal,
    });
    this.#expectOk(res);
    this.#expectContentLength(res);
    try {
      return decodeKmsResponse(name, res.body, requests.length);
    } catch (error) {
      throw this.#malformed(error);
    }
  }

  async #get(path: string, options: CallOptions): Promise<TransportResponse> {
    const request: TransportRequest = {
      method: 'GET',
      path,
      headers: { Accept: 'application/*' },
      host: options.host,
      signal: options.signal,
    };
    const res = await this.#transport.request(request);
    this.#expectOk(res);
    return res;
  }

  #expectOk(res: TransportResponse): void {
    if (res.status !== 200) {
      throw errorFromResponse(res.status, res.headers['content-type'], res.body);
    }
  }

  // kms-go fails every reply without a Content-Length ("request content length is negative"),
  // so a chunked or gzipped reply from a server would break MinIO: refuse it here too.
  #expectContentLength(res: TransportResponse): void {
    if (res.headers['content-length'] === undefined) {
      throw new KmsResponseError(`reply from ${res.host} has no Content-Length`);
    }
  }

  #malformed(error: unknown): unknown {
    if (error instanceof KmsWireError) return new KmsResponseError(error.message, { cause: error });
    return error;
  }
}

function listRequest(list: ListOptions): RequestOf<'KEY:LIST'> {
  return { prefix: list.prefix ?? '', continueAt: list.continueAt ?? '', limit: list.limit ?? 0 };
}

/**
 * Walks a listing page by page until a page is empty or has no `continueAt`, as kms-go's
 * iterator does. A server that repeats the same `continueAt` would loop forever: refused.
 */
async function* iterate<T>(
  list: (options: ListOptions) => Promise<Page<T>>,
  options: ListOptions,
): AsyncGenerator<T> {
  let continueAt = options.continueAt ?? '';
  for (;;) {
    const page = await list({ ...options, continueAt });
    yield* page.items;
    if (page.items.length === 0 || page.continueAt === '') return;
    if (page.continueAt === continueAt) {
      throw new KmsResponseError(`listing does not advance past '${continueAt}'`);
    }
    continueAt = page.continueAt;
  }
}
