// The faces in process: a real node (sealed state in a temporary directory, the core, the KMS,
// KES and console route tables, the request pipeline, the audit log) assembled exactly as
// `keyhold server` assembles it (KeyholdServer.open), served by the lean HTTP/1.1 server's
// connection code over an in-memory socket instead of TLS. A request goes in as bytes, the exact
// response bytes come out. The caller's identity is named per request: what a TLS client
// certificate would prove is the subject of the end-to-end suites (test/client-certificate-
// chain.test.ts, the faces' *-server-*.test.ts), not of route behaviour.
//
// Not covered here, by design: TLS, process models (workers), timeouts (the connection clock
// does not tick) and node:https (`--http node`). Suites that need those start a real server.

import type { IncomingHttpHeaders } from 'node:http';
import { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { HsmKey } from '../../src/crypto/index.ts';
import { parseIdentity, peerIdentityOfTlsSocket } from '../../src/identity/index.ts';
import type { PeerIdentity } from '../../src/identity/index.ts';
import { Http1Server } from '../../src/http/http1/index.ts';
import type { RequestHead } from '../../src/http/http1/index.ts';
import { EventLog } from '../../src/observe/event-log.ts';
import { KeyholdServer } from '../../src/server/keyhold-server.ts';
import type { ServerOptions } from '../../src/server/server-options.ts';
import { TEST_HSM_KEY, tempDir } from './server-process.ts';

/**
 * Who sends a request: an identity (`h1:` or hex; '' for none), or what the TLS layer makes of
 * a chain the KES rule refuses (test/client-certificate-chain.test.ts proves those over TLS).
 */
export type Caller =
  | string
  | { readonly leaf: string; readonly kesProblem: 'no-certificate' | 'multiple-certificates' };

const NO_CERTIFICATE: PeerIdentity = { leaf: undefined, kes: { problem: 'no-certificate' } };

function peerOf(as: Caller): PeerIdentity {
  if (typeof as !== 'string') {
    return { leaf: parseIdentity(as.leaf), kes: { problem: as.kesProblem } };
  }
  if (as === '') return NO_CERTIFICATE;
  const identity = parseIdentity(as);
  return { leaf: identity, kes: { identity } };
}

/** One request: `as` is the caller (absent: no client certificate). */
export interface HarnessRequest {
  readonly method: string;
  /** Request target: path and query, sent as given. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string | number>>;
  readonly body?: Buffer | string;
  readonly as?: Caller;
  /**
   * Resolve once the head and the first body bytes arrived, then drop the connection: for
   * answers that never end (log streams).
   */
  readonly stream?: boolean;
}

export interface HarnessResponse {
  readonly status: number;
  /** Header names in lower case; repeated headers joined with ', ' (as node:http does). */
  readonly headers: IncomingHttpHeaders;
  /** The body as sent (de-chunked when chunked). */
  readonly body: Buffer;
  /** Every byte the server wrote for this request, head included. */
  readonly raw: Buffer;
  readonly text: string;
  /** The body parsed as JSON (typed by the caller: tests check what they read). */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  json<T = unknown>(): T;
}

export interface FaceHarness {
  readonly server: KeyholdServer;
  readonly dir: string;
  /** `127.0.0.1:PORT` with `listen`, else ''. */
  readonly endpoint: string;
  /** The root's `h1:` identity ('' when disabled). */
  readonly rootIdentity: string;
  /** The root API key (`k1:`), when derived from the HSM key. */
  readonly rootApiKey: string;
  /** Sends one request on a new connection and reads its answer. */
  request(request: HarnessRequest): Promise<HarnessResponse>;
  /**
   * Sends `bytes` on a new connection as `as` and returns everything the server wrote until it
   * closed the connection or went quiet (no more output after the input was taken in).
   */
  exchange(bytes: Buffer | string, as?: Caller): Promise<Buffer>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Server options besides the directory, address and HSM key (defaults: none). */
  readonly server?: Partial<Omit<ServerOptions, 'dir' | 'hsmKey' | 'address'>>;
  /** Reuse a state directory (default: a new temporary one, removed by `close`). */
  readonly dir?: string;
  readonly hsmKey?: string;
  /**
   * Also listen on 127.0.0.1 port 0 over TLS (`endpoint`), for fixtures made through the SDK:
   * still one process, the same node.
   */
  readonly listen?: boolean;
}

/** Opens a node in process (no listening socket) and returns its request harness. */
export async function startFaceHarness(options: HarnessOptions = {}): Promise<FaceHarness> {
  const scratch = options.dir === undefined ? tempDir('keyhold-harness-') : null;
  const dir = options.dir ?? scratch!.dir;
  const identities = new WeakMap<object, PeerIdentity>();
  const server = await KeyholdServer.open(
    {
      log: new EventLog(),
      ...options.server,
      dir,
      address: '127.0.0.1:0',
      hsmKey: HsmKey.parse(options.hsmKey ?? TEST_HSM_KEY),
    },
    {
      // Callers of in-memory connections are named by the test; TLS clients by their certificate.
      peer: (socket) =>
        identities.get(socket) ??
        (socket instanceof TLSSocket ? peerIdentityOfTlsSocket(socket) : NO_CERTIFICATE),
    },
  );
  if (options.listen === true) {
    await server.listen('127.0.0.1:0', undefined);
  } else {
    // As `listen` does: the config file's predefined keys exist before the first request.
    await server.kes.createKeys();
  }
  // The lean server's connection handling, fed through its 'secureConnection' event; it never
  // listens, so it has no TLS context to use and its timeout clock never starts.
  const http = new Http1Server({}, server.pipeline, server.httpTimeouts);
  http.on('rejected', (status: number, socket: TLSSocket, head: RequestHead | null) =>
    server.pipeline.rejected(socket, status, head?.method, head?.url),
  );
  const sockets = new Set<MemorySocket>();
  let nextPort = 40_000;

  const connect = (as: Caller): MemorySocket => {
    const socket = new MemorySocket(nextPort++);
    identities.set(socket, peerOf(as));
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    http.emit('secureConnection', socket);
    return socket;
  };

  return {
    server,
    dir,
    endpoint: options.listen === true ? server.address : '',
    rootIdentity: server.rootIdentity,
    rootApiKey: server.rootApiKey?.toText() ?? '',
    request: (request) => {
      const socket = connect(request.as ?? '');
      const answer = readAnswer(socket, request.method === 'HEAD', request.stream === true);
      socket.send(requestBytes(request));
      return answer;
    },
    exchange: (bytes, as = '') => {
      const socket = connect(as);
      socket.send(Buffer.from(bytes));
      return socket.quiet();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await server.close();
      scratch?.remove();
    },
  };
}

/** The bytes of a request as a well-behaved HTTP/1.1 client sends it. */
function requestBytes(request: HarnessRequest): Buffer {
  const body = request.body === undefined ? undefined : Buffer.from(request.body);
  // Given headers replace the defaults of the same name (in any case).
  const headers = new Map<string, [string, string | number]>([['host', ['Host', 'keyhold.test']]]);
  if (body !== undefined) headers.set('content-length', ['Content-Length', body.length]);
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    headers.set(name.toLowerCase(), [name, value]);
  }
  let head = `${request.method} ${request.path} HTTP/1.1\r\n`;
  for (const [name, value] of headers.values()) head += `${name}: ${String(value)}\r\n`;
  head += '\r\n';
  const bytes = Buffer.from(head, 'latin1');
  return body === undefined ? bytes : Buffer.concat([bytes, body]);
}

/**
 * The server's side of an in-memory connection: what the server writes is collected for the
 * test, what the test sends is pushed to the server.
 */
class MemorySocket extends Duplex {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort: number;
  readonly written: Buffer[] = [];
  /** The server ended or destroyed its side. */
  ended = false;
  readonly #listeners = new Set<() => void>();

  constructor(port: number) {
    super({ allowHalfOpen: true });
    this.remotePort = port;
    this.once('finish', () => this.#end());
    this.once('close', () => this.#end());
  }

  setNoDelay(): this {
    return this;
  }

  send(bytes: Buffer): void {
    this.push(bytes);
  }

  /** Calls `listener` after each write and at the end, until it returns true. */
  watch(listener: () => boolean): void {
    if (listener()) return;
    const wrapped = (): void => {
      if (listener()) this.#listeners.delete(wrapped);
    };
    this.#listeners.add(wrapped);
  }

  /** Everything written until the server closes, or until nothing more comes (a macrotask). */
  quiet(): Promise<Buffer> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const arm = (): void => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          this.destroy();
          resolve(Buffer.concat(this.written));
        }, 50);
      };
      arm();
      this.watch(() => {
        if (this.ended) {
          if (timer) clearTimeout(timer);
          resolve(Buffer.concat(this.written));
          return true;
        }
        arm();
        return false;
      });
    });
  }

  override _read(): void {
    // Input is pushed by `send`.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.written.push(Buffer.from(chunk));
    callback();
    this.#notify();
  }

  #end(): void {
    this.ended = true;
    this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

/** How long `request` waits for an answer. */
const ANSWER_MS = 30_000;

/** Waits for one complete response on `socket` (after any 1xx) and parses it. */
function readAnswer(
  socket: MemorySocket,
  head: boolean,
  stream: boolean,
): Promise<HarnessResponse> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (error: Error | null, answer?: HarnessResponse): true => {
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(answer!);
      return true;
    };
    // A handler that never answers fails the test that sent it instead of hanging the file.
    const timer = setTimeout(() => {
      const got = Buffer.concat(socket.written).toString('latin1');
      finish(new Error(`no whole answer within ${String(ANSWER_MS)} ms; got: ${got}`));
    }, ANSWER_MS);
    socket.watch(() => {
      if (done) return true;
      const all = Buffer.concat(socket.written);
      let parsed: HarnessResponse | null;
      try {
        parsed = parseResponse(all, head, stream, socket.ended);
      } catch (error) {
        return finish(error instanceof Error ? error : new Error(String(error)));
      }
      if (parsed) return finish(null, parsed);
      if (socket.ended) {
        const got = all.toString('latin1');
        return finish(new Error(`connection closed before a whole response; got: ${got}`));
      }
      return false;
    });
  });
}

/** One response from the start of `data`, or null when more bytes are needed. */
function parseResponse(
  data: Buffer,
  head: boolean,
  stream: boolean,
  ended: boolean,
): HarnessResponse | null {
  let start = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', start, 'latin1');
    if (end === -1) return null;
    const lines = data.toString('latin1', start, end).split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!status) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
    const code = Number(status[1]);
    const bodyStart = end + 4;
    if (code >= 100 && code < 200) {
      start = bodyStart;
      continue;
    }
    const headers: IncomingHttpHeaders = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'set-cookie') (headers['set-cookie'] ??= []).push(value);
      else
        headers[name] = headers[name] === undefined ? value : `${String(headers[name])}, ${value}`;
    }
    const rest = data.subarray(bodyStart);
    // A stream's head is its answer (log streams send events only when there are some); an
    // error answer is read whole.
    const streaming = stream && code === 200;
    let body: Buffer | null;
    if (head || code === 204 || code === 304) body = Buffer.alloc(0);
    else if (headers['transfer-encoding'] !== undefined) body = dechunk(rest, streaming);
    else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      body = rest.length >= length ? rest.subarray(0, length) : null;
    } else body = ended || streaming ? rest : null;
    if (body === null && streaming) body = Buffer.alloc(0);
    if (body === null) return null;
    const raw = data.subarray(
      start,
      bodyStart + (streaming ? rest.length : rawLength(rest, body, headers)),
    );
    const text = body.toString();
    return {
      status: code,
      headers,
      body,
      raw,
      text,
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
      json: <T>() => JSON.parse(text) as T,
    };
  }
}

/** How many bytes of `rest` the body took on the wire. */
function rawLength(rest: Buffer, body: Buffer, headers: IncomingHttpHeaders): number {
  if (headers['transfer-encoding'] === undefined) return body.length;
  const end = rest.indexOf('0\r\n\r\n', 0, 'latin1');
  return end === -1 ? rest.length : end + 5;
}

/** A chunked body, or null until its last chunk (with `partial`: whatever whole chunks came). */
function dechunk(data: Buffer, partial: boolean): Buffer | null {
  const pieces: Buffer[] = [];
  let at = 0;
  for (;;) {
    const line = data.indexOf('\r\n', at, 'latin1');
    if (line === -1) break;
    const size = parseInt(data.toString('latin1', at, line), 16);
    if (Number.isNaN(size)) throw new Error('bad chunk size');
    if (size === 0) return Buffer.concat(pieces);
    const start = line + 2;
    if (data.length < start + size + 2) break;
    pieces.push(data.subarray(start, start + size));
    at = start + size + 2;
  }
  return partial && pieces.length > 0 ? Buffer.concat(pieces) : null;
}
