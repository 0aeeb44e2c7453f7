// Every error a client can see, on the server and in the SDK: one base class, KeyholdError, with
// a stable `code` naming its kind, an HTTP `status`, and the exact wire pair each face answers
// with (docs/architecture.md#errors). Faces never invent their own errors.

import { CATALOGUE, catalogueCodeOf } from './error-catalogue.ts';
import type { CatalogueCode, WireError } from './error-catalogue.ts';

export { CATALOGUE, catalogueCodeOf } from './error-catalogue.ts';
export type { CatalogueCode, CatalogueEntry, WireError } from './error-catalogue.ts';

/** The two wire faces. */
export type Face = 'kms' | 'kes';

/**
 * Kinds whose message is written where they are thrown (it says what is wrong, naming what the
 * client sent, and never contains key material); the kind fixes the status, and both faces
 * answer (status, message).
 */
export const MESSAGE_KINDS = {
  /** The request is malformed or asks for something impossible. */
  BAD_REQUEST: 400,
  /** No valid sign-in: the console's session ended, or a sign-in proof does not verify. */
  UNAUTHENTICATED: 401,
  /** Refused for the reason given (a cross-site request, an unknown identity). Missing rights are PERMISSION. */
  FORBIDDEN: 403,
  /** No such path. */
  NOT_FOUND: 404,
  /** The path exists with another method. */
  METHOD_NOT_ALLOWED: 405,
  /** An algorithm or key size the server does not offer. */
  NOT_ACCEPTABLE: 406,
  /** The operation conflicts with the node's setup or with concurrent writes. */
  CONFLICT: 409,
  /** A body over the route's limit (KES answers it as its 400 decoding error). */
  TOO_LARGE: 413,
  /** Not implemented by this server, or not in the mode it runs in. */
  NOT_IMPLEMENTED: 501,
  /** The external key store failed (KES gateway mode); never the store's own text. */
  BAD_GATEWAY: 502,
  /** Cannot serve this now, for the reason given (a node, a limit); retry later. */
  SERVICE_UNAVAILABLE: 503,
  /** The external key store cannot be reached (KES gateway mode). */
  GATEWAY_TIMEOUT: 504,
} as const;

/** A kind that carries its own message. */
export type MessageCode = keyof typeof MESSAGE_KINDS;

/**
 * Kinds only the SDK throws: the client side of a request. They have no status of their own
 * (HTTP_ERROR has the status of the answer it stands for) and are never written to a client.
 */
export const CLIENT_KINDS = [
  /** An argument refused before anything is sent (an endpoint, a policy document). */
  'INVALID_ARGUMENT',
  /** No endpoint gave an HTTP answer (refused, reset, timed out, TLS failure). */
  'CONNECTION_FAILED',
  /** An answer that breaks the protocol (a server bug, or not a Keyhold/KMS/KES server). */
  'INVALID_RESPONSE',
  /** An error answer with no kind of its own (an unknown status, or a 500 with its own text). */
  'HTTP_ERROR',
] as const;

export type ClientCode = (typeof CLIENT_KINDS)[number];

/** Every stable code, catalogue first. A code is never renamed or reused for another kind. */
export type ErrorCode = CatalogueCode | MessageCode | ClientCode;

export const ERROR_CODES: readonly ErrorCode[] = [
  ...(Object.keys(CATALOGUE) as CatalogueCode[]),
  ...(Object.keys(MESSAGE_KINDS) as MessageCode[]),
  ...CLIENT_KINDS,
];

const CODES = new Set<string>(ERROR_CODES);

/** True for a stable code (for values read from outside, such as another process). */
export function isErrorCode(value: string): value is ErrorCode {
  return CODES.has(value);
}

function isCatalogueCode(code: ErrorCode): code is CatalogueCode {
  return Object.hasOwn(CATALOGUE, code);
}

function isMessageCode(code: ErrorCode): code is MessageCode {
  return Object.hasOwn(MESSAGE_KINDS, code);
}

// undici's brand: `instanceof KeyholdError` holds across duplicate copies of this module.
const BRAND = Symbol.for('keyhold.error.KeyholdError');

/**
 * The base of every client-facing error. `code` is the stable kind to switch on; a catalogue
 * code selects its wire pair, any other kind answers its own message (which must never contain
 * key material). Errors of lower layers (crypto, store, codecs) are not KeyholdErrors: they are
 * mapped onto a kind where they cross (or become INTERNAL), so their text never reaches a client
 * by accident.
 */
export class KeyholdError extends Error {
  readonly code: ErrorCode;
  /**
   * The HTTP status: the kind's (a catalogue error's KMS status; {@link KeyholdError.wire} gives
   * each face's), or the answer's for an error the SDK received. Undefined without an answer.
   */
  readonly status: number | undefined;

  /** A catalogue error; `detail` is for logs only: the wire message is the catalogue's. */
  constructor(code: CatalogueCode, detail?: string, options?: ErrorOptions);
  /** Any kind with its message (required for every kind outside the catalogue). */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions);
  constructor(code: ErrorCode, message?: string, options?: ErrorOptions) {
    super(message ?? (isCatalogueCode(code) ? CATALOGUE[code].kms.message : code), options);
    this.name = 'KeyholdError';
    this.code = code;
    this.status = isCatalogueCode(code)
      ? CATALOGUE[code].kms.status
      : isMessageCode(code)
        ? MESSAGE_KINDS[code]
        : undefined;
  }

  /**
   * The (status, message) pair the given face answers with. A client-side error without an
   * answer is never sent: it would answer as INTERNAL.
   */
  wire(face: Face): WireError {
    if (isCatalogueCode(this.code)) return CATALOGUE[this.code][face];
    if (this.status === undefined) return CATALOGUE.INTERNAL[face];
    return { status: this.status, message: this.message };
  }

  static override [Symbol.hasInstance](this: unknown, value: unknown): boolean {
    if (this !== KeyholdError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && BRAND in value;
  }

  get [BRAND](): true {
    return true;
  }
}

/** Shorthand for a 400 with a precise message. */
export function badRequest(message: string): KeyholdError {
  return new KeyholdError('BAD_REQUEST', message);
}

/** Maps any thrown value to a KeyholdError; unknown faults become INTERNAL (their detail is logged, not sent). */
export function toKeyholdError(error: unknown): KeyholdError {
  return error instanceof KeyholdError ? error : new KeyholdError('INTERNAL');
}

/**
 * The error another process of the node reported as (code, message): the same kind, so the same
 * wire bytes. A code this build does not know, or a client-side one, becomes INTERNAL.
 */
export function reviveError(code: string, message: string): KeyholdError {
  if (!isErrorCode(code) || !(isCatalogueCode(code) || isMessageCode(code))) {
    return new KeyholdError('INTERNAL');
  }
  return new KeyholdError(code, message);
}

/**
 * The kind of an error answer a client received from `face`: the catalogue code with exactly
 * this (status, message), else the message kind of this status, else HTTP_ERROR.
 */
export function answerCode(face: Face, status: number, message: string): ErrorCode {
  const listed = catalogueCodeOf(face, status, message);
  if (listed !== undefined) return listed;
  for (const code of Object.keys(MESSAGE_KINDS) as MessageCode[]) {
    if (MESSAGE_KINDS[code] === status) return code;
  }
  return 'HTTP_ERROR';
}
