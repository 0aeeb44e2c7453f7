// One HTTP(S) request to an external key store's REST API, as the Vault, Fortanix, CipherTrust
// and Entrust clients send them: the body sent whole, the answer read whole up to a size limit (a
// hostile or broken store must not make the gateway buffer without bound), a time limit per
// attempt; and a `tls.ca` read as KES reads it. Retries are each client's own.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import type { Agent as HttpAgent, IncomingHttpHeaders } from 'node:http';
import { request as httpRequest } from 'node:http';
import type { Agent } from 'node:https';
import { request } from 'node:https';
import { join } from 'node:path';

/** The largest answer read from a store (a key store's answers are a few KiB). */
export const MAX_ANSWER = 32 << 20;

export interface StoreRequest {
  readonly method: string;
  readonly headers: Record<string, string | number>;
  readonly body?: Buffer;
  /** The agent for the URL's scheme. */
  readonly agent: Agent | HttpAgent;
  /** Milliseconds without progress before the attempt fails. */
  readonly timeout: number;
}

export interface StoreAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as UTF-8 text. */
  readonly text: string;
}

/** Sends one request; rejects on a network failure, the timeout, or an answer over MAX_ANSWER. */
export function exchange(url: URL, init: StoreRequest): Promise<StoreAnswer> {
  const send = url.protocol === 'http:' ? httpRequest : request;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      { method: init.method, headers: init.headers, agent: init.agent, timeout: init.timeout },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER) {
            req.destroy(new Error('answer larger than 32 MiB'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${String(init.timeout)} ms`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A CA file, or every file of a CA directory (as KES reads `tls.ca`). */
export function readCa(path: string): Buffer[] {
  if (!statSync(path).isDirectory()) return [readFileSync(path)];
  return readdirSync(path, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(path, e.name)));
}
