// KesClient: a TypeScript client for the KES API (JSON over mTLS) with kms-go/kes semantics:
// the same routes and methods, errors comparable by (status, message), listings that follow
// `continue_at`, log streams, and failover across several endpoints.

import type { IncomingMessage } from 'node:http';
import type { ApiKey } from '../../identity/index.ts';
import { KES_PATHS } from '../../protocol/kes/index.ts';
import { KesResponseError } from './errors.ts';
import { KesLogStream, ndjsonObjects } from './ndjson.ts';
import { type KesMetrics, parseKesMetrics } from './metrics.ts';
import {
  type KesAlgorithm,
  type KesApiRoute,
  type KesAuditEvent,
  type KesDataKey,
  type KesErrorEvent,
  type KesIdentityInfo,
  type KesKeyInfo,
  type KesPolicy,
  type KesPolicyInfo,
  type KesSelfInfo,
  type KesStatus,
  type KesVersion,
  bytes,
  decodeApiRoutes,
  decodeAuditEvent,
  decodeErrorEvent,
  decodeIdentityInfo,
  decodeKeyInfo,
  decodePolicy,
  decodePolicyInfo,
  decodeSelfInfo,
  decodeStatus,
  jsonObject,
  jsonValue,
  str,
} from './responses.ts';
import { Transport, type TransportRequest, type TransportResponse } from '../transport.ts';
import { KesEndpointPool } from './endpoints.ts';
import { parseKesErrorResponse } from './errors.ts';
import { KES_RETRY_POLICY, kesCredentials } from './kes-retry.ts';

/** One KES request: the path with its resource already escaped, e.g. `/v1/key/create/my-key`. */
interface KesRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  /** A JSON body. */
  readonly body?: Buffer;
  /** Largest response body accepted (default 1 MiB, as kms-go); larger answers fail with KesResponseError. */
  readonly maxResponse?: number;
  readonly accept?: string;
}

/** Default response limit, as kms-go (1 MiB). */
const MAX_RESPONSE_BODY = 1 << 20;

/** A KesError for a non-2xx response. */
function errorOf(res: Pick<TransportResponse, 'status' | 'headers' | 'body'>): Error {
  return parseKesErrorResponse(res.status, res.headers['content-type'], res.body);
}

/** How to reach and authenticate to a KES (or Keyhold) server. */
export interface KesClientOptions {
  /** One endpoint or several (`host:port` or `https://host:port`); a string may be a comma list. */
  readonly endpoints: string | readonly string[];
  /** `kes:v1:…` API key (a `k1:` key works too: it is the same kind of Ed25519 key). */
  readonly apiKey?: string | ApiKey;
  /** Client certificate (PEM text), with `key`; the alternative to `apiKey`. */
  readonly cert?: string | Buffer;
  /** Client private key (PEM text). */
  readonly key?: string | Buffer;
  /** CA certificate(s) (PEM text) for the server's certificate. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Do not verify the server's certificate. */
  readonly insecure?: boolean;
  /** Enclave to address (sent as `?enclave=`); none = the server's default. */
  readonly enclave?: string;
  /** Milliseconds before a request without an answer is abandoned (default 30 000). */
  readonly timeout?: number;
}

/** Options of {@link KesClient.importKey}. */
export interface KesImportOptions {
  /** Default AES256, as `kes key import` and MinIO always import. */
  readonly cipher?: KesAlgorithm;
  /**
   * The key's 32-byte HMAC key, to keep HMACs of a migrated key stable. Sent as `hmac_key`, a
   * Keyhold extension upstream KES ignores (it draws a fresh HMAC key on import).
   */
  readonly hmacKey?: Uint8Array;
}

/** One page of a listing as the server returned it. */
interface ListPage {
  readonly names: string[];
  readonly continueAt: string;
}

const EMPTY_CONTEXT: Record<string, never> = {};

/**
 * A KES API client. Methods resolve with decoded responses and reject with KesError (the server
 * answered an error: compare with `err.is(KES_ERRORS.keyNotFound)`), KesConnectionError (no
 * endpoint answered) or KesResponseError (an answer that is not what the route returns).
 * Connections are kept alive; call {@link close} when done so the process can exit.
 */
export class KesClient {
  readonly #transport: Transport;
  readonly #pool: KesEndpointPool;
  readonly #identity: string | undefined;
  readonly #enclave: string | undefined;

  /** Throws TypeError for a bad endpoint, or when both an API key and a certificate are given. */
  constructor(options: KesClientOptions) {
    const endpoints =
      typeof options.endpoints === 'string'
        ? options.endpoints.split(',').filter((e) => e.trim() !== '')
        : options.endpoints;
    this.#pool = new KesEndpointPool(endpoints);
    const { cert, key, identity } = kesCredentials({
      ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
      ...(options.cert !== undefined ? { cert: options.cert } : {}),
      ...(options.key !== undefined ? { key: options.key } : {}),
    });
    this.#identity = identity;
    this.#enclave = options.enclave === '' ? undefined : options.enclave;
    this.#transport = new Transport({
      pool: this.#pool,
      policy: KES_RETRY_POLICY,
      tls: { ca: options.ca, cert, key, insecure: options.insecure === true },
      timeout: options.timeout ?? 30_000,
      maxFreeSockets: 16,
    });
  }

  /** The normalized endpoints (`https://host:port`). */
  get endpoints(): readonly string[] {
    return this.#pool.endpoints;
  }

  /** The hex identity this client authenticates as, when it has a client certificate. */
  get identity(): string | undefined {
    return this.#identity;
  }

  /** Closes idle connections. */
  close(): void {
    this.#transport.close();
  }

  // ── server ───────────────────────────────────────────────────────────────

  /** `GET /version`. */
  async version(): Promise<KesVersion> {
    const o = jsonObject(
      await this.#ok({ method: 'GET', path: KES_PATHS.version, maxResponse: 1024 }),
      'version',
    );
    return { version: str(o, 'version', 'version'), commit: str(o, 'commit', 'version') };
  }

  /** `GET /v1/ready`: resolves when the server is ready, rejects with its error otherwise. */
  async ready(): Promise<void> {
    await this.#ok({ method: 'GET', path: KES_PATHS.ready });
  }

  /** `GET /v1/status`. */
  async status(): Promise<KesStatus> {
    return decodeStatus(
      jsonObject(await this.#ok({ method: 'GET', path: KES_PATHS.status }), 'status'),
    );
  }

  /** `GET /v1/api`: the routes the server serves. */
  async apis(): Promise<KesApiRoute[]> {
    return decodeApiRoutes(
      jsonValue(await this.#ok({ method: 'GET', path: KES_PATHS.api }), 'API'),
    );
  }

  /** `GET /v1/metrics`, parsed from the Prometheus text format. */
  async metrics(): Promise<KesMetrics> {
    const body = await this.#ok({ method: 'GET', path: KES_PATHS.metrics, accept: 'text/plain' });
    return parseKesMetrics(body.toString('utf8'));
  }

  // ── keys ─────────────────────────────────────────────────────────────────

  /** `POST /v1/key/create/{name}`: a new random key. Rejects with keyExists if `name` is taken. */
  async createKey(name: string): Promise<void> {
    await this.#ok({ method: 'POST', path: KES_PATHS.keyCreate + esc(name) });
  }

  /**
   * `POST /v1/key/import/{name}` with `{"key","cipher"}`: stores the given 32 bytes as the key
   * `name`. Rejects with keyExists if `name` is taken.
   */
  async importKey(name: string, key: Uint8Array, options: KesImportOptions = {}): Promise<void> {
    const body: Record<string, string> = {
      key: b64(key),
      cipher: options.cipher ?? 'AES256',
    };
    if (options.hmacKey !== undefined) body.hmac_key = b64(options.hmacKey);
    await this.#ok({ method: 'POST', path: KES_PATHS.keyImport + esc(name), body: json(body) });
  }

  /** `GET /v1/key/describe/{name}`. */
  async describeKey(name: string): Promise<KesKeyInfo> {
    const o = jsonObject(
      await this.#ok({ method: 'GET', path: KES_PATHS.keyDescribe + esc(name) }),
      'describe key',
    );
    return decodeKeyInfo(o);
  }

  /** `DELETE /v1/key/delete/{name}`. */
  async deleteKey(name: string): Promise<void> {
    await this.#ok({ method: 'DELETE', path: KES_PATHS.keyDelete + esc(name) });
  }

  /**
   * Key names starting with `prefix` (default: all), in order, fetched page by page. A `*` at
   * the end of `prefix` is dropped (the `kes key ls 'my*'` spelling).
   */
  listKeys(prefix = ''): AsyncGenerator<string, void, undefined> {
    return this.#list(KES_PATHS.keyList, prefix, 'names', 'name');
  }

  /**
   * `POST /v1/key/generate/{name}`: a new 32-byte data key and its ciphertext under `name`,
   * bound to `context` (associated data, bytes MinIO sends as e.g. `{"bucket":"bucket/object"}`).
   */
  async generateKey(name: string, context?: Uint8Array): Promise<KesDataKey> {
    const body = context === undefined ? EMPTY_CONTEXT : { context: b64(context) };
    const o = jsonObject(
      await this.#ok({ method: 'POST', path: KES_PATHS.keyGenerate + esc(name), body: json(body) }),
      'generate key',
    );
    return {
      plaintext: bytes(o, 'plaintext', 'generate key'),
      ciphertext: bytes(o, 'ciphertext', 'generate key'),
    };
  }

  /** `POST /v1/key/encrypt/{name}`: the ciphertext of `plaintext` bound to `context`. */
  async encrypt(name: string, plaintext: Uint8Array, context?: Uint8Array): Promise<Buffer> {
    const body: Record<string, string> = { plaintext: b64(plaintext) };
    if (context !== undefined) body.context = b64(context);
    const o = jsonObject(
      await this.#ok({ method: 'POST', path: KES_PATHS.keyEncrypt + esc(name), body: json(body) }),
      'encrypt',
    );
    return bytes(o, 'ciphertext', 'encrypt');
  }

  /**
   * `POST /v1/key/decrypt/{name}`: the plaintext of `ciphertext` (any KES format: raw, legacy
   * JSON, legacy MessagePack). Rejects with `KES_ERRORS.decrypt` if it does not open.
   */
  async decrypt(name: string, ciphertext: Uint8Array, context?: Uint8Array): Promise<Buffer> {
    const body: Record<string, string> = { ciphertext: b64(ciphertext) };
    if (context !== undefined) body.context = b64(context);
    const o = jsonObject(
      await this.#ok({ method: 'POST', path: KES_PATHS.keyDecrypt + esc(name), body: json(body) }),
      'decrypt',
    );
    const plaintext = str(o, 'plaintext', 'decrypt');
    return plaintext === '' ? Buffer.alloc(0) : bytes(o, 'plaintext', 'decrypt');
  }

  /** `PUT /v1/key/hmac/{name}`: HMAC-SHA256 of `message` under the key's HMAC key. */
  async hmac(name: string, message: Uint8Array): Promise<Buffer> {
    const o = jsonObject(
      await this.#ok({
        method: 'PUT',
        path: KES_PATHS.keyHmac + esc(name),
        body: json({ message: b64(message) }),
        maxResponse: 1024,
      }),
      'hmac',
    );
    return bytes(o, 'hmac', 'hmac');
  }

  // ── policies and identities ─────────────────────────────────────────────

  /** `GET /v1/policy/describe/{name}`. */
  async describePolicy(name: string): Promise<KesPolicyInfo> {
    return decodePolicyInfo(
      jsonObject(
        await this.#ok({ method: 'GET', path: KES_PATHS.policyDescribe + esc(name) }),
        'describe policy',
      ),
    );
  }

  /** `GET /v1/policy/read/{name}`: the policy's allow and deny patterns. */
  async getPolicy(name: string): Promise<KesPolicy> {
    return decodePolicy(
      jsonObject(
        await this.#ok({ method: 'GET', path: KES_PATHS.policyRead + esc(name) }),
        'read policy',
      ),
      name,
    );
  }

  /** Policy names matching `pattern` (a prefix, optionally ending in `*`; default all). */
  listPolicies(pattern = ''): AsyncGenerator<string, void, undefined> {
    return this.#list(KES_PATHS.policyList, pattern, 'names', 'name');
  }

  /** `GET /v1/identity/describe/{identity}`. */
  async describeIdentity(identity: string): Promise<KesIdentityInfo> {
    return decodeIdentityInfo(
      jsonObject(
        await this.#ok({ method: 'GET', path: KES_PATHS.identityDescribe + esc(identity) }),
        'describe identity',
      ),
      identity,
    );
  }

  /** `GET /v1/identity/self/describe`: who this client is to the server, and its policy. */
  async describeSelf(): Promise<KesSelfInfo> {
    return decodeSelfInfo(
      jsonObject(
        await this.#ok({ method: 'GET', path: KES_PATHS.identitySelfDescribe }),
        'describe self',
      ),
    );
  }

  /** Identities matching `pattern` (a prefix, optionally ending in `*`; default all). */
  listIdentities(pattern = ''): AsyncGenerator<string, void, undefined> {
    return this.#list(KES_PATHS.identityList, pattern, 'identities', 'identity');
  }

  // ── logs ─────────────────────────────────────────────────────────────────

  /** `GET /v1/log/audit`: resolves once the stream is open; iterate it for events. */
  async auditLog(): Promise<KesLogStream<KesAuditEvent>> {
    const res = await this.#stream({ method: 'GET', path: KES_PATHS.logAudit });
    return new KesLogStream(res, decodeAuditEvent);
  }

  /** `GET /v1/log/error`: resolves once the stream is open; iterate it for events. */
  async errorLog(): Promise<KesLogStream<KesErrorEvent>> {
    const res = await this.#stream({ method: 'GET', path: KES_PATHS.logError });
    return new KesLogStream(res, decodeErrorEvent);
  }

  // ── internals ────────────────────────────────────────────────────────────

  /** Sends `req` and returns the body of a 2xx answer; any other answer is thrown as KesError. */
  async #ok(req: KesRequest): Promise<Buffer> {
    const res = await this.#send(req);
    if (res.status < 200 || res.status > 299) throw errorOf(res);
    return res.body;
  }

  /**
   * Sends a request and reads the whole answer. Failover and retries are the transport's, with
   * KES's policy: when every endpoint answered with a 5xx, the last answer is returned.
   */
  async #send(req: KesRequest): Promise<TransportResponse> {
    return this.#transport.request(this.#wire(req), req.maxResponse ?? MAX_RESPONSE_BODY);
  }

  /**
   * Opens a streaming request (log routes): resolves with the response once its headers arrive;
   * there is no timeout once the stream is open. A non-2xx answer is read and thrown as a KesError.
   */
  async #stream(req: KesRequest): Promise<IncomingMessage> {
    const opened = await this.#transport.open(this.#wire(req));
    if (opened.stream !== undefined && opened.status >= 200 && opened.status < 300) {
      return opened.stream;
    }
    throw errorOf({ ...opened, body: await this.#transport.bodyOf(opened, MAX_RESPONSE_BODY) });
  }

  /** The transport request for `req`: the enclave as `?enclave=`, JSON bodies labelled. */
  #wire(req: KesRequest): TransportRequest {
    // Through a URL, as before the transport was shared, so the path is normalized the same way.
    const url = new URL(req.path, 'https://kes.invalid');
    if (this.#enclave !== undefined) url.searchParams.set('enclave', this.#enclave);
    const headers: Record<string, string> = {};
    if (req.accept !== undefined) headers.Accept = req.accept;
    if (req.body !== undefined) headers['Content-Type'] = 'application/json';
    return { method: req.method, path: url.pathname + url.search, headers, body: req.body };
  }

  /**
   * Pages through a listing: each request names the prefix and, after the first, `?continue_at=`
   * with the name the previous page said comes next. Names the server repeats (a server that
   * ignores `continue_at`) are skipped, and a page that brings nothing new ends the listing
   * rather than looping. An NDJSON listing (a server of the KES 2023 era) is read in one go.
   */
  async *#list(
    route: string,
    pattern: string,
    field: 'names' | 'identities',
    legacyField: 'name' | 'identity',
  ): AsyncGenerator<string, void, undefined> {
    const prefix = pattern.endsWith('*') ? pattern.slice(0, -1) : pattern;
    let continueAt = '';
    let last: string | undefined;
    for (;;) {
      const query = continueAt === '' ? '' : '?continue_at=' + encodeURIComponent(continueAt);
      // Asks for JSON pages: by default Keyhold answers NDJSON, the one form every KES client reads.
      const res = await this.#send({
        method: 'GET',
        path: route + esc(prefix) + query,
        accept: 'application/json',
      });
      if (res.status < 200 || res.status > 299) throw errorOf(res);
      const page = await parseListPage(res, field, legacyField);
      let fresh = 0;
      for (const name of page.names) {
        if (last !== undefined && name <= last) continue;
        fresh++;
        last = name;
        yield name;
      }
      if (page.continueAt === '' || fresh === 0) return;
      continueAt = page.continueAt;
    }
  }
}

async function parseListPage(
  res: TransportResponse,
  field: 'names' | 'identities',
  legacyField: 'name' | 'identity',
): Promise<ListPage> {
  const what = 'list';
  if (res.headers['content-type'] === 'application/x-ndjson') {
    const names: string[] = [];
    for await (const o of ndjsonObjects([res.body])) {
      const error = str(o, 'error', what);
      if (error !== '') throw new KesResponseError(`listing failed: ${error}`);
      names.push(str(o, legacyField, what));
    }
    return { names: names.sort(), continueAt: '' };
  }
  const o = jsonObject(res.body, what);
  const list = o[field];
  if (
    list !== null &&
    list !== undefined &&
    !(Array.isArray(list) && list.every((n) => typeof n === 'string'))
  ) {
    throw new KesResponseError(`invalid ${what} response: '${field}' is not a list of strings`);
  }
  return { names: list ?? [], continueAt: str(o, 'continue_at', what) };
}

function esc(resource: string): string {
  return encodeURIComponent(resource);
}

function b64(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
