// How the KES client retries, as kms-go/kes does (docs/protocol/kes.md): a transient network
// failure (reset, timeout) or a 503 is tried twice more on the same endpoint after a short
// back-off; any other network failure, or a 5xx other than 501, sidelines the endpoint and moves
// on; when every endpoint answered with such a 5xx, the last answer is the result. Also the
// client's TLS identity (an API key's derived certificate or a PEM pair).
import {
  ApiKey,
  clientCertificateForApiKey,
  identityOfCertificate,
  parseApiKey,
} from '../../identity/index.ts';
import type { RetryPolicy } from '../transport.ts';
import { KesConnectionError, KesResponseError } from './errors.ts';

/** TLS material of a client; `cert`/`key` and `apiKey` are alternatives. */
export interface KesTlsOptions {
  /** `kes:v1:…` (or `k1:…`) API key: the client presents the self-signed certificate it derives. */
  readonly apiKey?: string | ApiKey;
  /** Client certificate, PEM. */
  readonly cert?: string | Buffer;
  /** Client private key, PEM. SECRET. */
  readonly key?: string | Buffer;
  /** CA certificate(s), PEM, that the server's certificate must chain to (default: Node's roots). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Skip verification of the server's certificate (the `kes -k` flag). */
  readonly insecure?: boolean;
}

// kms-go retries a request on the same endpoint twice after a transient failure (retry.go).
const RETRIES = 2;
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'TRANSPORT_TIMEOUT',
]);

// A stale keep-alive socket the server already closed resets at once: retry immediately. Other
// transient failures wait 200 ms plus up to 800 ms of jitter (kms-go retry.go).
function backoff(code: string | undefined): number {
  if (code === 'ECONNRESET') return 0;
  return 200 + Math.floor(Math.random() * 800);
}

export const KES_RETRY_POLICY: RetryPolicy = {
  afterError: (error, attempt) =>
    attempt < RETRIES && error.code !== undefined && TRANSIENT_CODES.has(error.code)
      ? backoff(error.code)
      : undefined,
  afterStatus: (status, attempt) =>
    status === 503 && attempt < RETRIES ? backoff(undefined) : undefined,
  failsHost: (status) => status >= 500 && status !== 501,
  failoverMidBody: true,
  explicitEmptyLength: false,
  unreachable: (tried, failures) => new KesConnectionError(tried, failures.at(-1)?.error),
  tooLarge: (message) => new KesResponseError(`server response too large: ${message}`),
};

/** The client certificate and key to present, and the hex identity they give. */
export function kesCredentials(tls: KesTlsOptions): {
  cert?: string | Buffer;
  key?: string | Buffer;
  identity?: string | undefined;
} {
  const hasPem = tls.cert !== undefined || tls.key !== undefined;
  if (tls.apiKey !== undefined && hasPem) {
    throw new TypeError('use either an API key or a client certificate and key, not both');
  }
  if (tls.apiKey !== undefined) {
    const apiKey = typeof tls.apiKey === 'string' ? parseApiKey(tls.apiKey) : tls.apiKey;
    const generated = clientCertificateForApiKey(apiKey, { subject: 'hex' });
    return { cert: generated.cert, key: generated.key, identity: apiKey.identity.toHex() };
  }
  if (!hasPem) return {};
  if (tls.cert === undefined || tls.key === undefined) {
    throw new TypeError('a client certificate needs its private key, and a key its certificate');
  }
  return { cert: tls.cert, key: tls.key, identity: identityOfPem(tls.cert) };
}

/** Hex identity of the first certificate in a PEM text, or undefined when there is none. */
function identityOfPem(pem: string | Buffer): string | undefined {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(
    pem.toString(),
  );
  if (match === null) return undefined;
  return identityOfCertificate(Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64')).toHex();
}
