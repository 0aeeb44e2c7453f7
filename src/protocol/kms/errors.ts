// The KMS API's error values (kms-go `Err*`: exact status and message, compared by MinIO) as a
// view of the error catalogue, the SDK's error for an answer, and the error body codec shared by
// the server (encode) and the SDK (decode), selected by Content-Type.
import { CATALOGUE, KeyholdError, answerCode } from '../../model/errors.ts';
import { ErrResponse } from './pb/keyhold/kms/v1/response.ts';
import { decodeMessage, encodeMessage } from './message-codec.ts';

/** An HTTP status with the exact message a kms-go client compares against. */
export interface KmsErrorValue {
  readonly status: number;
  readonly message: string;
}

/**
 * The errors kms-go defines (kms/error.go), by their kms-go names: the KMS view of catalogue
 * entries (src/model/error-catalogue.ts). Go callers, MinIO among them, match with errors.Is,
 * which compares status *and* message, so both are wire protocol.
 */
export const KMS_API_ERRORS = {
  permission: CATALOGUE.PERMISSION.kms,
  enclaveExists: CATALOGUE.ENCLAVE_EXISTS.kms,
  enclaveNotFound: CATALOGUE.ENCLAVE_NOT_FOUND.kms,
  keyExists: CATALOGUE.KEY_EXISTS.kms,
  keyNotFound: CATALOGUE.KEY_NOT_FOUND.kms,
  policyNotFound: CATALOGUE.POLICY_NOT_FOUND.kms,
  identityNotFound: CATALOGUE.IDENTITY_NOT_FOUND.kms,
  decrypt: CATALOGUE.DECRYPT.kms,
} as const satisfies Record<string, KmsErrorValue>;

export type KmsApiErrorName = keyof typeof KMS_API_ERRORS;

/** Content-Type of a protobuf ErrResponse body (and of every command body). */
export const CONTENT_TYPE_PROTOBUF = 'application/octet-stream';
/** Content-Type of a protojson `{"message":"..."}` body. */
export const CONTENT_TYPE_JSON = 'application/json';
/** Content-Type of a plain-text body (the message as UTF-8). */
export const CONTENT_TYPE_TEXT = 'text/plain; charset=utf-8';

/** The three error body forms kms-go reads. */
export type ErrorBodyType =
  typeof CONTENT_TYPE_PROTOBUF | typeof CONTENT_TYPE_JSON | typeof CONTENT_TYPE_TEXT;

/** kms-go reads at most this many bytes of an error body (5 KiB); longer messages are cut. */
export const MAX_ERROR_BODY_BYTES = 5 * 1024;

/**
 * An error answered by a KMS server: the HTTP status and the message from the body. `code` is
 * the kind the answer stands for (KEY_NOT_FOUND for 404 `key does not exist`, …; HTTP_ERROR for
 * an answer with no kind).
 */
export class KmsApiError extends KeyholdError {
  override readonly status: number;

  constructor(status: number, message: string) {
    super(answerCode('kms', status, message), message);
    this.name = 'KmsApiError';
    this.status = status;
  }

  /** True iff status and message both equal `value`'s (Go's errors.Is on kms.Error). */
  is(value: KmsErrorValue): boolean {
    return this.status === value.status && this.message === value.message;
  }
}

/**
 * Encodes an error body. Send it with exactly the returned `contentType` as the Content-Type
 * header: kms-go compares the header verbatim, so `application/json; charset=utf-8` would make it
 * show the raw JSON text as the message. Protobuf is the default (what kms-go asks for).
 */
export function encodeErrorBody(
  message: string,
  type: ErrorBodyType = CONTENT_TYPE_PROTOBUF,
): { contentType: ErrorBodyType; body: Buffer } {
  let body: Buffer;
  switch (type) {
    case CONTENT_TYPE_PROTOBUF: {
      const bytes = encodeMessage(ErrResponse, { message });
      body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      break;
    }
    case CONTENT_TYPE_JSON:
      body = Buffer.from(JSON.stringify(ErrResponse.toJSON({ message })));
      break;
    case CONTENT_TYPE_TEXT:
      body = Buffer.from(message);
      break;
  }
  return { contentType: type, body };
}

/**
 * Reads the message of an error body as kms-go does: the first MAX_ERROR_BODY_BYTES bytes;
 * protobuf ErrResponse for `application/octet-stream`, protojson for `application/json`,
 * anything else as text. Media-type parameters and case are ignored (kms-go is stricter). A body
 * that does not parse as its declared type yields the parse error's text, like kms-go.
 */
export function decodeErrorBody(contentType: string | undefined, body: Uint8Array): string {
  const bytes = body.subarray(0, MAX_ERROR_BODY_BYTES);
  const mediaType = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (mediaType === CONTENT_TYPE_PROTOBUF) {
    try {
      return decodeMessage(ErrResponse, bytes, 'ErrResponse').message;
    } catch (error) {
      return (error as Error).message;
    }
  }
  if (mediaType === CONTENT_TYPE_JSON) {
    try {
      return readJsonMessage(JSON.parse(Buffer.from(bytes).toString('utf8')));
    } catch (error) {
      return `malformed JSON error body: ${(error as Error).message}`;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Builds the KmsApiError for a non-200 reply (SDK side). */
export function errorFromResponse(
  status: number,
  contentType: string | undefined,
  body: Uint8Array,
): KmsApiError {
  return new KmsApiError(status, decodeErrorBody(contentType, body));
}

// protojson accepts the JSON name ("message") and upstream's proto field name ("Message").
// Unknown members are ignored (protojson would reject them; an SDK has no use for that).
function readJsonMessage(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('not a JSON object');
  }
  const record = value as Record<string, unknown>;
  const message = record['message'] ?? record['Message'];
  if (message === undefined || message === null) return '';
  if (typeof message !== 'string') throw new Error('"message" is not a string');
  return message;
}
