// The one error type of the KMS wire codecs: a malformed frame, message or log stream, with a
// stable code and a precise message that is safe to return to the client (it never quotes payload bytes).

/** What went wrong while decoding (or refusing to encode) KMS wire data. */
export const WIRE_ERROR_CODES = [
  'EMPTY_BODY',
  'TRUNCATED_HEADER',
  'LENGTH_PAST_END',
  'TRAILING_BYTES',
  'TOO_MANY_FRAMES',
  'MIXED_COMMANDS',
  'UNEXPECTED_COMMAND',
  'UNKNOWN_COMMAND',
  'UNSUPPORTED_COMMAND',
  'NOT_BATCHABLE',
  'FRAME_COUNT_MISMATCH',
  'UNEXPECTED_PAYLOAD',
  'BAD_MESSAGE',
  'RECORD_TOO_LARGE',
  'TRUNCATED_STREAM',
  'ANSWER_TOO_LARGE',
] as const;

export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

/**
 * Thrown by every decoder in src/protocol/kms for hostile or malformed input. `status` is the HTTP
 * status a server should answer with (400, or 501 for a known command Keyhold does not implement);
 * `message` names the frame/offset/field at fault and never contains payload bytes.
 */
export class KmsWireError extends Error {
  readonly code: WireErrorCode;
  readonly status: number;

  constructor(code: WireErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KmsWireError';
    this.code = code;
    this.status = code === 'UNSUPPORTED_COMMAND' ? 501 : 400;
  }
}

/** The error for a reply body longer than the `maxBytes` its encoder was given. */
export function answerTooLarge(maxBytes: number): KmsWireError {
  return new KmsWireError(
    'ANSWER_TOO_LARGE',
    `the answer would be larger than ${String(maxBytes)} bytes: send fewer frames per request`,
  );
}
