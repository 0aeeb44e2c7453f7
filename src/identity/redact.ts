// Blanks what looks like a secret in text the server would show or log (error messages, audit
// paths): API keys, HSM keys and MinIO KMS secret keys, pasted where a name or an identity goes.

import { InvalidApiKeyError, parseApiKey } from './api-key.ts';

/** What replaces the secret part; the prefix before it stays, so readers see what was sent. */
export const REDACTED = '[redacted]';

// In a raw URL path the colon and the base64 characters may come percent-encoded.
const COLON = '(?::|%3[Aa])';
const BODY = '(?:[A-Za-z0-9+/=_-]|%[0-9A-Fa-f]{2})+';
const BASE64_CHAR = '(?:[A-Za-z0-9+/]|%2[BbFf])';
const SECRET = new RegExp(
  // `k1:`, `k2:` (and later versions), `kes:v1:` API keys; `hsm:<algorithm>:` HSM keys.
  `((?:k\\d+|kes${COLON}v1|hsm${COLON}[A-Za-z0-9-]+)${COLON})${BODY}` +
    // MinIO's `MINIO_KMS_SECRET_KEY`: `<name>:` + standard base64 of 32 bytes.
    `|(${COLON})${BASE64_CHAR}{43}(?:=|%3[Dd])`,
  'g',
);

/**
 * `text` with the secret part of every API key (`k1:`, `k2:`, `kes:v1:`), HSM key (`hsm:…:`)
 * and MinIO KMS secret key (`name:` + 44 base64 characters) replaced by {@link REDACTED},
 * including percent-encoded ones. Text without `:` or `%` is returned as is (the common case,
 * checked first because request paths go through here).
 */
export function redactSecrets(text: string): string {
  // Two searches cost less than a RegExp test (request paths come here every request).
  if (!text.includes(':') && !text.includes('%')) return text;
  return text.replace(SECRET, (_match, prefix?: string, colon?: string) => {
    return (prefix ?? colon ?? '') + REDACTED;
  });
}

/**
 * `text` given where an identity is expected, as a message may quote it: {@link redactSecrets},
 * and wholly {@link REDACTED} if it parses as an API key without its prefix (KES accepts a
 * `kes:v1:` key as bare standard base64, which looks like any other text; a `k1:` or `k2:` body
 * pasted alone is a secret all the same). Only text already refused as an identity comes here,
 * so redacting what merely could be a key body hides nobody's real identity.
 */
export function redactIdentityText(text: string): string {
  const redacted = redactSecrets(text);
  if (redacted !== text) return redacted;
  const bare = ['', 'k1:', 'k2:'].some((prefix) => isApiKeyText(prefix + text));
  return bare ? REDACTED : text;
}

function isApiKeyText(text: string): boolean {
  try {
    parseApiKey(text);
    return true;
  } catch (error) {
    if (error instanceof InvalidApiKeyError) return false;
    throw error;
  }
}
