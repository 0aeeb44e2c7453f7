// The common part of the Fortanix, CipherTrust and Entrust stand-ins: an HTTPS server on
// 127.0.0.1 port 0 with its own self-signed certificate (the test CA a key store config names
// in `tls.ca`), the request log, the body read with a size limit, injected faults (the next N
// calls answer a status; a delay), and stop / listen again on the same port for outages.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificate } from '../../src/identity/index.ts';

export interface LoggedRequest {
  readonly method: string;
  /** Path and query as sent. */
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export interface StandInAnswer {
  readonly status: number;
  /** JSON value (sent as `application/json`), or text (sent as `text/plain`); none for 204. */
  readonly json?: unknown;
  readonly text?: string;
}

export abstract class TlsStandIn {
  readonly ca: string;
  readonly requests: LoggedRequest[] = [];
  /** Milliseconds each answer waits. */
  delay = 0;
  readonly #server: Server;
  #port = 0;
  #failures: { count: number; answer: StandInAnswer } | undefined;

  protected constructor(name: string) {
    const tls = createCertificate({
      keyType: 'p256',
      commonName: name,
      ips: ['127.0.0.1'],
      validFor: 24 * 3600_000,
    });
    this.ca = tls.cert;
    this.#server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      void this.#serve(req, res);
    });
  }

  get endpoint(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  /** Listens (again, on the same port after `stop`). */
  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /** The next `count` calls answer `answer` instead of being served. */
  fail(count: number, answer: StandInAnswer): void {
    this.#failures = { count, answer };
  }

  /** Serves one parsed request. */
  protected abstract handle(req: LoggedRequest): StandInAnswer | Promise<StandInAnswer>;

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > 1 << 20) {
        res.writeHead(413).end();
        return;
      }
      chunks.push(chunk);
    }
    const logged: LoggedRequest = {
      method: req.method ?? '',
      url: req.url ?? '/',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    this.requests.push(logged);
    if (this.delay > 0) await new Promise((r) => setTimeout(r, this.delay));
    let answer: StandInAnswer;
    if (this.#failures && this.#failures.count > 0) {
      this.#failures.count--;
      answer = this.#failures.answer;
    } else {
      try {
        answer = await this.handle(logged);
      } catch (error) {
        answer = { status: 500, text: `stand-in failure: ${(error as Error).message}` };
      }
    }
    if (answer.json !== undefined) {
      const text = JSON.stringify(answer.json);
      res.writeHead(answer.status, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(text),
      });
      res.end(text);
    } else if (answer.text !== undefined) {
      res.writeHead(answer.status, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': Buffer.byteLength(answer.text),
      });
      res.end(answer.text);
    } else {
      res.writeHead(answer.status).end();
    }
  }
}

/** A JSON object body with exactly the `allowed` keys (each optional), else undefined. */
export function strictJson(
  text: string,
  allowed: readonly string[],
): Record<string, unknown> | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  for (const key of Object.keys(body)) if (!allowed.includes(key)) return undefined;
  return body as Record<string, unknown>;
}

/** Strict standard base64 (what the real services' Go/Rust decoders accept). */
export function isBase64(text: unknown): text is string {
  return (
    typeof text === 'string' &&
    /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)
  );
}

/** A stand-in's CA certificate written to a PEM file, for the `tls.ca` of a key store config. */
export interface CaFile {
  readonly file: string;
  /** Deletes the file and its temporary directory. */
  remove(): void;
}

/**
 * Writes `ca` into a new temporary directory. Kept apart from the stand-in's own life: outage
 * tests stop and restart a stand-in while a server keeps reading this file.
 */
export function writeCaFile(ca: string): CaFile {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-stand-in-ca-'));
  const file = join(dir, 'ca.pem');
  writeFileSync(file, ca);
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
