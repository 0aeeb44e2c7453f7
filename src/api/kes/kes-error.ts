// KES error responses, byte for byte (docs/protocol/kes.md): `{"message":"…"\n}` with
// `Content-Type: application/json` — clients compare (status, message) exactly.

import { redactSecrets } from '../../identity/index.ts';
import type { KeyholdError } from '../../model/errors.ts';
import type { HttpResponse } from '../../http/http-types.ts';
import { goJsonString } from './go-json.ts';

/** The body KES writes for an error: the prefix, `json.Encoder` output of the message, `}`. */
export function kesErrorBody(message: string): Buffer {
  return Buffer.from(`{"message":${goJsonString(message)}\n}`);
}

/**
 * Writes `error` as the KES API does. A body over the route's limit is a 400 decoding error
 * upstream (Go's max-bytes reader makes the JSON decoder fail), so TOO_LARGE is answered that way.
 * Messages quote what the client sent (names, identities); anything in them that looks like a
 * secret is redacted, the rest stays byte for byte.
 */
export function writeKesError(res: HttpResponse, error: KeyholdError): void {
  let { status, message } = error.wire('kes');
  message = redactSecrets(message);
  if (error.code === 'TOO_LARGE') {
    status = 400;
    message = (res.req.url ?? '').startsWith('/v1/key/import/')
      ? 'invalid import key request body'
      : 'invalid request body';
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = kesErrorBody(message);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}
