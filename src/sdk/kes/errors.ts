// Errors of the KES client, all KeyholdErrors (switch on `code`): API errors as (status, message)
// values parsed the way kms-go/kes parses them (docs/protocol/kes.md), the kms-go error
// catalogue, connection errors and undecodable answers.

import { KeyholdError, answerCode } from '../../model/errors.ts';
import { KES_API_ERRORS } from '../../protocol/kes/index.ts';
import type { KesApiErrorName } from '../../protocol/kes/index.ts';

const KES_ERROR = Symbol.for('keyhold.sdk.kes.KesError');
const CONNECTION_ERROR = Symbol.for('keyhold.sdk.kes.KesConnectionError');

/**
 * An error answered by a KES server: an HTTP status and the server's message. Two KesErrors are
 * the same error when status and message are equal (kms-go's `kes.Error` is a comparable struct
 * and MinIO relies on `errors.Is` with it), so compare with {@link KesError.is}, not `===`.
 * `instanceof` also works across duplicate copies of this module (a `Symbol.for` brand).
 */
export class KesError extends KeyholdError {
  override readonly name = 'KesError';
  override readonly status: number;

  /** `code` is the kind the answer stands for (KEY_NOT_FOUND, …; HTTP_ERROR if it has none). */
  constructor(status: number, message: string) {
    super(answerCode('kes', status, message), message);
    this.status = status;
  }

  /** Same status and exact message as `other`. */
  is(other: { readonly status: number; readonly message: string }): boolean {
    return this.status === other.status && this.message === other.message;
  }

  /** True when `value` is a KesError equal to `other` (false for any other value). */
  static matches(value: unknown, other: KesError): boolean {
    return value instanceof KesError && value.is(other);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && KES_ERROR in value;
  }

  get [KES_ERROR](): true {
    return true;
  }
}

/**
 * The request never got an HTTP answer from any endpoint (refused, reset, timed out, TLS
 * failure). `cause` is the last endpoint's error; `endpoints` lists what was tried.
 */
export class KesConnectionError extends KeyholdError {
  override readonly name = 'KesConnectionError';
  readonly endpoints: readonly string[];

  /** Code CONNECTION_FAILED. */
  constructor(endpoints: readonly string[], cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('CONNECTION_FAILED', `kes: connection error: ${reason}`, { cause });
    this.endpoints = endpoints;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && CONNECTION_ERROR in value;
  }

  get [CONNECTION_ERROR](): true {
    return true;
  }
}

/** A server answer the client cannot decode (not the JSON the route promises). Code INVALID_RESPONSE. */
export class KesResponseError extends KeyholdError {
  override readonly name = 'KesResponseError';

  constructor(message: string, options?: ErrorOptions) {
    super('INVALID_RESPONSE', message, options);
  }
}

/**
 * kms-go/kes's error catalogue (src/protocol/kes/errors.ts) as KesErrors: the exact (status,
 * message) pairs servers answer and clients compare against (MinIO's startup depends on
 * keyNotFound, keyExists and notAllowed).
 */
export const KES_ERRORS = Object.freeze(
  Object.fromEntries(
    Object.entries(KES_API_ERRORS).map(([name, { status, message }]) => [
      name,
      new KesError(status, message),
    ]),
  ) as { readonly [Name in KesApiErrorName]: KesError },
);

/** Largest error body read, as kms-go (1 MiB). */
export const MAX_ERROR_BODY = 1 << 20;

/**
 * Turns a non-2xx response into a KesError as kms-go's `parseKesErrorResponse` does: with a
 * `Content-Type` starting `application/json`, the body's `error` field if non-empty, else its
 * `message`; otherwise the raw body text (first {@link MAX_ERROR_BODY} bytes) with one trailing
 * newline removed. Legacy servers' `400 key does already exist` and `403 prohibited by policy`
 * become keyExists and notAllowed. An empty message falls back to the HTTP reason phrase.
 */
export function parseKesErrorResponse(
  status: number,
  contentType: string | undefined,
  body: Buffer,
): KesError {
  const text = body.subarray(0, MAX_ERROR_BODY).toString('utf8');
  let message: string | undefined;
  if (contentType?.startsWith('application/json') === true) {
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === 'object' && value !== null) {
        const fields = value as { error?: unknown; message?: unknown };
        if (typeof fields.error === 'string' && fields.error !== '') message = fields.error;
        else if (typeof fields.message === 'string') message = fields.message;
      }
    } catch {
      // kms-go fails with the decode error here; a readable raw body is more useful.
    }
  }
  message ??= text.endsWith('\n') ? text.slice(0, -1) : text;
  if (status === 400 && message === 'key does already exist')
    message = KES_ERRORS.keyExists.message;
  if (status === 403 && message === 'prohibited by policy') message = KES_ERRORS.notAllowed.message;
  if (message === '') message = `HTTP ${status}`;
  return new KesError(status, message);
}
