// One HTTPS request with a JSON (or text) body and a JSON answer, for the cloud stores whose REST
// APIs Keyhold speaks directly (Azure Key Vault, GCP Secret Manager). A failure to get any answer
// is StoreUnreachableError, which the gateway treats as "store unreachable" (offline caching).

import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { StoreUnreachableError } from './keystore.ts';

export interface JsonAnswer {
  readonly status: number;
  /** The body parsed as a JSON object; undefined when empty or not JSON. */
  readonly json: Record<string, unknown> | undefined;
  readonly text: string;
  /** The `WWW-Authenticate` header, if any (Azure's challenge names the tenant). */
  readonly challenge?: string;
}

export interface JsonRequest {
  readonly method: string;
  readonly url: URL;
  /** A string is sent as is; anything else as JSON. */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  /** Trusted CAs (PEM) instead of the system's. */
  readonly ca?: string | readonly string[];
  /** Names the store in errors, e.g. `azure`. */
  readonly store: string;
}

/** How long a store may take to answer before the request counts as unreachable. */
const ANSWER_TIMEOUT_MS = 30_000;

export function jsonRequest(r: JsonRequest): Promise<JsonAnswer> {
  const { method, url, body } = r;
  const payload =
    body === undefined
      ? undefined
      : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const send = url.protocol === 'http:' ? httpRequest : request;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method,
        timeout: ANSWER_TIMEOUT_MS,
        ...(r.ca ? { ca: r.ca as string[] } : {}),
        headers: {
          ...r.headers,
          ...(payload
            ? {
                'Content-Length': payload.length,
                ...(typeof body === 'string' ? {} : { 'Content-Type': 'application/json' }),
              }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json: Record<string, unknown> | undefined;
          try {
            json = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
          } catch {
            json = undefined;
          }
          const challenge = res.headers['www-authenticate'];
          resolve({ status: res.statusCode ?? 0, json, text, ...(challenge ? { challenge } : {}) });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s`)),
    );
    req.on('error', (error) =>
      reject(
        new StoreUnreachableError(`${r.store}: ${method} ${url.origin}: ${error.message}`, {
          cause: error,
        }),
      ),
    );
    req.end(payload);
  });
}

/** Retries of a throttled (429) or failing (5xx) answer, 200 ms × attempt apart. */
const RETRIES = 3;

/**
 * One call with a bearer token, as the cloud stores want it: a 401 renews the token once (after
 * `onUnauthorized` has read the answer, e.g. Azure's challenge naming the tenant), and a 429 or
 * 5xx is retried up to three times.
 */
export async function callWithBearer(
  bearer: (renew: boolean) => Promise<string>,
  send: (authorization: string) => Promise<JsonAnswer>,
  onUnauthorized: (answer: JsonAnswer) => void = () => undefined,
): Promise<JsonAnswer> {
  for (let attempt = 0; ; attempt++) {
    const answer = await send(`Bearer ${await bearer(attempt > 0)}`);
    if (answer.status === 401 && attempt === 0) {
      onUnauthorized(answer);
      continue;
    }
    if ((answer.status === 429 || answer.status >= 500) && attempt < RETRIES) {
      await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1)));
      continue;
    }
    return answer;
  }
}
