// Test helper: the web console's JSON API spoken over raw HTTPS, as the console's page speaks it
// (Origin, CSRF header, session cookie), and an API-key sign-in done with node:crypto the way
// the page does it with WebCrypto (docs/console.md#signing-in).

import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { signInMessage } from '../../src/console/sign-in-proof.ts';
import { parseApiKey } from '../../src/identity/index.ts';
import { rawRequest } from './raw-https.ts';
import type { RawResponse } from './raw-https.ts';

export const SESSION_COOKIE = '__Host-keyhold-session';

export interface ConsoleCall {
  readonly method?: 'GET' | 'POST';
  /** Under /console/api/. */
  readonly path: string;
  readonly body?: unknown;
  /** Raw body bytes instead of JSON. */
  readonly raw?: Buffer;
  readonly sid?: string;
  readonly csrf?: string;
  /** Default: `https://ENDPOINT`; null sends none. */
  readonly origin?: string | null;
  readonly contentType?: string;
  /** Sends this API key's client certificate (mTLS). */
  readonly apiKey?: string;
}

export interface ConsoleAnswer extends RawResponse {
  readonly json: Record<string, unknown>;
}

export async function consoleCall(endpoint: string, call: ConsoleCall): Promise<ConsoleAnswer> {
  const method = call.method ?? (call.body !== undefined || call.raw ? 'POST' : 'GET');
  const body =
    call.raw ?? (call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body)));
  const headers: Record<string, string> = { Host: endpoint };
  if (body) headers['Content-Type'] = call.contentType ?? 'application/json';
  const origin = call.origin === undefined ? `https://${endpoint}` : call.origin;
  if (origin !== null) headers.Origin = origin;
  if (call.sid !== undefined) headers.Cookie = `${SESSION_COOKIE}=${call.sid}`;
  if (call.csrf !== undefined) headers['X-Keyhold-CSRF'] = call.csrf;
  const res = await rawRequest(
    endpoint,
    call.apiKey ?? '',
    method,
    `/console/api/${call.path}`,
    body,
    headers,
  );
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(res.body.toString()) as Record<string, unknown>;
  } catch {
    json = {};
  }
  return { ...res, json };
}

/** The proof the console's page sends for `apiKey` (`k1:` or `k2:`) and `challenge`. */
export function proofFor(
  apiKey: string,
  host: string,
  challenge: string,
): { publicKey: string; signature: string; algorithm?: string } {
  if (apiKey.startsWith('k2:')) {
    // ECDSA as WebCrypto does it: the curve's own hash, the signature as r || s.
    const key = parseApiKey(apiKey);
    const curve = key.privateKey.asymmetricKeyDetails?.namedCurve;
    const hash = curve === 'secp521r1' ? 'sha512' : curve === 'secp384r1' ? 'sha384' : 'sha256';
    const signature = sign(hash, signInMessage(host, challenge), {
      key: key.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return {
      algorithm: 'ECDSA',
      publicKey: key.publicKey.export({ type: 'spki', format: 'der' }).toString('base64url'),
      signature: signature.toString('base64url'),
    };
  }
  const seed = Buffer.from(apiKey.slice(3), 'base64url');
  const key = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const signature = sign(null, signInMessage(host, challenge), key).toString('base64url');
  return { publicKey: jwk.x!, signature };
}

/** The session id a response's Set-Cookie carries, or ''. */
export function sessionIdOf(res: RawResponse): string {
  const cookies = res.headers['set-cookie'] ?? [];
  for (const c of cookies) {
    const m = new RegExp(`^${SESSION_COOKIE}=([^;]*)`).exec(c);
    if (m) return m[1]!;
  }
  return '';
}

/** Signs in with `apiKey` through challenge and proof; the session id and CSRF token. */
export async function signIn(
  endpoint: string,
  apiKey: string,
  sid?: string,
): Promise<{ sid: string; csrf: string; answer: ConsoleAnswer }> {
  const { json } = await consoleCall(endpoint, { path: 'challenge', body: {} });
  const challenge = json.challenge as string;
  const answer = await consoleCall(endpoint, {
    path: 'sign-in',
    body: { challenge, ...proofFor(apiKey, endpoint, challenge) },
    ...(sid === undefined ? {} : { sid }),
  });
  return {
    sid: sessionIdOf(answer),
    csrf: typeof answer.json.csrf === 'string' ? answer.json.csrf : '',
    answer,
  };
}
