// In-process CPU per request through the faces: a real node (sealed state in a temporary
// directory, the core, both faces, the pipeline, the chained audit file) served by the lean
// HTTP/1.1 server's connection code over in-memory keep-alive connections instead of TLS, as a
// User identity with a policy. What it leaves out (TLS, the socket write, workers) costs every
// scenario alike, so it resolves differences between the faces, and before/after a change, that
// the end-to-end bench on a shared machine cannot (docs/performance.md).
//
// `node dist/bench/faces.js [--requests N] [--rounds R] [--connections C] [--only TEXT]`: CPU µs
// per request (process.cpuUsage: every thread, so garbage collection's helpers count), rounds
// interleaved across the scenarios, median and every round printed.

import { Duplex } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HsmKey } from '../src/crypto/index.ts';
import { ApiKey } from '../src/identity/index.ts';
import type { PeerIdentity } from '../src/identity/index.ts';
import { Http1Server } from '../src/http/http1/index.ts';
import { EventLog } from '../src/observe/event-log.ts';
import { decodeKmsResponse, encodeKmsRequest } from '../src/protocol/kms/index.ts';
import { BENCH_CONTEXT, generateRequest } from './kms-requests.ts';
import { KeyholdServer } from '../src/server/keyhold-server.ts';
import { TEST_HSM_KEY } from '../test/helpers/server-process.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '7' },
    connections: { type: 'string', default: '8' },
    only: { type: 'string', default: '' },
  },
});
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);

/** The server's side of a keep-alive connection: each answer triggers the next request. */
class LoopSocket extends Duplex {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort: number;
  #request: Buffer = Buffer.alloc(0);
  #left = 0;
  #expect = 0;
  #got = 0;
  #done: (() => void) | null = null;
  answers: Buffer[] = [];
  keep = false;

  constructor(port: number) {
    super({ allowHalfOpen: true });
    this.remotePort = port;
  }

  setNoDelay(): this {
    return this;
  }

  /** Sends `request` `count` times, one at a time; resolves after the last answer. */
  run(request: Buffer, count: number, answerBytes: number): Promise<void> {
    this.#request = request;
    this.#left = count;
    this.#expect = answerBytes;
    this.#got = 0;
    return new Promise((resolve) => {
      this.#done = resolve;
      this.#next();
    });
  }

  #next(): void {
    if (this.#left === 0) {
      const done = this.#done;
      this.#done = null;
      done?.();
      return;
    }
    this.#left--;
    this.push(this.#request);
  }

  override _read(): void {
    // Input is pushed by #next.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    if (this.keep) this.answers.push(Buffer.from(chunk));
    callback();
    this.#got += chunk.length;
    if (this.#expect > 0 && this.#got >= this.#expect) {
      this.#got -= this.#expect;
      // A new read arrives in a later turn of the event loop, as from a real socket.
      setImmediate(() => this.#next());
    }
  }
}

/** A request as Go's client writes it (a GET without a body has no Content-Length or -Type). */
function requestBytes(method: string, path: string, body: Buffer, type: string): Buffer {
  const framing =
    method === 'GET'
      ? 'Accept: application/*\r\n'
      : `Content-Length: ${String(body.length)}\r\nAccept: application/*\r\n` +
        `Content-Type: ${type}\r\n`;
  const head =
    `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Go-http-client/1.1\r\n` +
    `${framing}Accept-Encoding: gzip\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-faces-bench-'));
  const caller = ApiKey.generate('k1');
  const identity = caller.identity;
  const peer: PeerIdentity = { leaf: identity, kes: { identity } };
  const server = await KeyholdServer.open(
    {
      log: new EventLog(),
      dir,
      address: '127.0.0.1:0',
      hsmKey: HsmKey.parse(TEST_HSM_KEY),
      auditFile: join(dir, 'audit.ndjson'),
    },
    { peer: () => peer },
  );
  const root = { identity: server.rootIdentity, root: true, rootIdentity: server.rootIdentity };
  const core = server.core;
  await core.createKey(root, 'default', { name: 'bench', type: 'AES256', addVersion: false });
  await core.createPolicy(root, 'default', {
    name: 'bench',
    allow: { 'KEY:GENERATE': ['bench'], 'KEY:DECRYPT': ['bench'] },
    deny: {},
  });
  await core.createIdentity(root, 'default', {
    identity: identity.toH1(),
    privilege: 'User',
    isServiceAccount: false,
    tags: {},
  });
  await core.assignPolicy(root, 'default', { policy: 'bench', identity: identity.toH1() });

  const http = new Http1Server({}, server.pipeline, server.httpTimeouts);
  const context = BENCH_CONTEXT;
  const b64 = context.toString('base64');

  // One answer first, to learn its length (and the ciphertext to decrypt).
  const probe = async (request: Buffer): Promise<Buffer> => {
    const socket = new LoopSocket(39_999);
    socket.keep = true;
    http.emit('secureConnection', socket);
    const answered = new Promise<void>((resolve) => {
      const check = (): void => {
        const all = Buffer.concat(socket.answers);
        const end = all.indexOf('\r\n\r\n');
        const length = /content-length: (\d+)/i.exec(all.toString('latin1'));
        if (end !== -1 && length && all.length >= end + 4 + Number(length[1])) resolve();
        else setTimeout(check, 5);
      };
      check();
    });
    void socket.run(request, 1, 0);
    await answered;
    socket.destroy();
    return Buffer.concat(socket.answers);
  };
  const bodyOf = (answer: Buffer): Buffer => answer.subarray(answer.indexOf('\r\n\r\n') + 4);
  const made = bodyOf(
    await probe(
      requestBytes('POST', '/v1/kms/default', generateRequest(1), 'application/octet-stream'),
    ),
  );
  const [dek] = decodeKmsResponse('KEY:GENERATE', made, 1);
  const ciphertext = dek!.ciphertext;

  const scenarios = [
    // The floor under every request: a route with no key work and no body.
    {
      name: 'KMS health/live',
      request: requestBytes('GET', '/v1/health/live', Buffer.alloc(0), ''),
      ops: 1,
    },
    {
      name: 'KES version',
      request: requestBytes('GET', '/version', Buffer.alloc(0), ''),
      ops: 1,
    },
    {
      name: 'KES generate',
      request: requestBytes(
        'POST',
        '/v1/key/generate/bench',
        Buffer.from(JSON.stringify({ context: b64 })),
        'application/json',
      ),
      ops: 1,
    },
    {
      name: 'KES decrypt',
      request: requestBytes(
        'POST',
        '/v1/key/decrypt/bench',
        Buffer.from(JSON.stringify({ ciphertext: ciphertext.toString('base64'), context: b64 })),
        'application/json',
      ),
      ops: 1,
    },
    {
      name: 'KMS KEY:GENERATE, 1 frame',
      request: requestBytes(
        'POST',
        '/v1/kms/default',
        generateRequest(1),
        'application/octet-stream',
      ),
      ops: 1,
    },
    {
      name: 'KMS KEY:DECRYPT, 1 frame',
      request: requestBytes(
        'POST',
        '/v1/kms/default',
        encodeKmsRequest('KEY:DECRYPT', [
          { name: 'bench', version: 0, ciphertext, associatedData: context },
        ]),
        'application/octet-stream',
      ),
      ops: 1,
    },
    {
      name: 'KMS KEY:GENERATE, 100 frames',
      request: requestBytes(
        'POST',
        '/v1/kms/default',
        generateRequest(100),
        'application/octet-stream',
      ),
      ops: 100,
    },
  ].filter((s) => values.only === '' || s.name.includes(values.only));

  const measured = new Map<string, number[]>();
  let port = 40_000;
  for (const s of scenarios) {
    const answer = await probe(s.request);
    if (!answer.toString('latin1').startsWith('HTTP/1.1 200 ')) {
      throw new Error(`${s.name}: ${answer.toString('latin1')}`);
    }
    Object.assign(s, { answerBytes: answer.length });
  }
  const runOnce = async (s: (typeof scenarios)[number], count: number): Promise<number> => {
    const sockets = Array.from({ length: CONNECTIONS }, () => new LoopSocket(port++));
    for (const socket of sockets) http.emit('secureConnection', socket);
    const per = Math.ceil(count / CONNECTIONS);
    const answerBytes = (s as unknown as { answerBytes: number }).answerBytes;
    const before = process.cpuUsage();
    await Promise.all(sockets.map((socket) => socket.run(s.request, per, answerBytes)));
    const used = process.cpuUsage(before);
    for (const socket of sockets) socket.destroy();
    return (used.user + used.system) / (per * CONNECTIONS * s.ops);
  };
  for (const s of scenarios) await runOnce(s, Math.min(REQUESTS, 5000)); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
    for (const s of order) {
      const micros = await runOnce(s, s.ops > 1 ? Math.ceil(REQUESTS / 20) : REQUESTS);
      measured.set(s.name, [...(measured.get(s.name) ?? []), micros]);
    }
  }
  const rows = scenarios.map((s) => {
    const all = measured.get(s.name)!;
    const sorted = [...all].sort((a, b) => a - b);
    return {
      scenario: s.name,
      median: sorted[Math.floor(sorted.length / 2)]!,
      rounds: all,
    };
  });
  for (const r of rows) {
    process.stdout.write(
      `${r.scenario.padEnd(32)} ${r.median.toFixed(2).padStart(8)} µs CPU per op   ` +
        `(${r.rounds.map((v) => v.toFixed(2)).join(' ')})\n`,
    );
  }
  process.stdout.write(JSON.stringify({ faces: rows }) + '\n');
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
