// Whole request and response bodies of the KMS command API: frames plus the command table's
// messages. The server decodes requests and encodes replies; the SDK does the opposite.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import {
  type CommandOf,
  type KmsCommand,
  type KmsCommandName,
  type RequestOf,
  type ResponseOf,
  commandByCode,
  kmsCommand,
} from './commands.ts';
import { encodeFlatFrames, flatCodecOf } from './flat-codec.ts';
import {
  DEFAULT_MAX_FRAMES,
  FRAME_HEADER_SIZE,
  type FrameLimits,
  decodeFrames,
  decodeSingleFrame,
  encodeFrames,
} from './frame.ts';
import { type MessageCodec, decodeMessage } from './message-codec.ts';
import { KmsWireError, answerTooLarge } from './wire-error.ts';

/** A decoded request body, discriminated by `name`: `requests` has one message per frame. */
export type DecodedKmsRequest = {
  [N in KmsCommandName]: {
    readonly name: N;
    readonly command: CommandOf<N>;
    readonly requests: RequestOf<N>[];
  };
}[KmsCommandName];

// The table's codecs are a union of differently typed objects; at this generic layer each one is
// used only with messages of its own type, which the exported signatures guarantee.
type AnyCodec = MessageCodec<unknown>;

/**
 * Decodes a command request body (server side). Throws KmsWireError for any malformed body:
 * the frame errors of decodeFrames, UNKNOWN_COMMAND (code not in KMS_COMMANDS),
 * UNSUPPORTED_COMMAND (known code Keyhold does not serve, status 501), NOT_BATCHABLE (several
 * frames of a command kms-go never batches, e.g. writes), BAD_MESSAGE (a payload that is not the
 * command's request message). Zero-length payloads decode to the message's defaults.
 */
export function decodeKmsRequest(body: Buffer, limits: FrameLimits = {}): DecodedKmsRequest {
  return decodeFlatRequest(body, limits) ?? decodeFramedRequest(body, limits);
}

/**
 * The common case of {@link decodeKmsRequest}, or undefined: well-formed frames of one supported
 * command with a flat codec (KEY:GENERATE, KEY:ENCRYPT, KEY:DECRYPT, KEY:MAC) whose every
 * payload the flat codec takes, decoded straight from the body, without a Frame and a payload
 * view per frame. Anything else, errors included, is left to {@link decodeFramedRequest}, which
 * decides and words the error; it gives the same answer (command-codec.test.ts).
 */
export function decodeFlatRequest(
  body: Buffer,
  limits: FrameLimits = {},
): DecodedKmsRequest | undefined {
  if (body.length < FRAME_HEADER_SIZE || limits.expectCommand !== undefined) return undefined;
  const code = (body[0]! << 8) | body[1]!;
  const command = commandByCode(code);
  if (command === undefined || !command.supported) return undefined;
  const flat = flatCodecOf(command.request as AnyCodec);
  if (flat === undefined) return undefined;
  const most = command.batchable ? (limits.maxFrames ?? DEFAULT_MAX_FRAMES) : 1;
  const requests: unknown[] = [];
  let offset = 0;
  while (offset < body.length) {
    if (requests.length >= most || body.length - offset < FRAME_HEADER_SIZE) return undefined;
    if (((body[offset]! << 8) | body[offset + 1]!) !== code) return undefined;
    const start = offset + FRAME_HEADER_SIZE;
    const end = start + body.readUInt32BE(offset + 2);
    if (end > body.length) return undefined;
    const message = flat.tryDecode(body, start, end);
    if (message === undefined) return undefined;
    requests.push(message);
    offset = end;
  }
  return { name: command.name, command, requests } as DecodedKmsRequest;
}

/** {@link decodeKmsRequest} by way of the frames, for every body (and every error). */
export function decodeFramedRequest(body: Buffer, limits: FrameLimits = {}): DecodedKmsRequest {
  const frames = decodeFrames(body, limits);
  if (frames.length === 0) throw new KmsWireError('EMPTY_BODY', 'body carries no frame');
  const code = frames[0]!.cmd;
  const command = commandByCode(code);
  if (command === undefined) {
    throw new KmsWireError('UNKNOWN_COMMAND', `unknown command code ${code}`);
  }
  if (!command.supported) {
    throw new KmsWireError(
      'UNSUPPORTED_COMMAND',
      `command ${command.name} (${code}) is not supported by this server`,
    );
  }
  if (!command.batchable && frames.length > 1) {
    throw new KmsWireError(
      'NOT_BATCHABLE',
      `command ${command.name} takes exactly one frame per request, got ${frames.length}`,
    );
  }
  const codec = command.request as AnyCodec;
  const flat = flatCodecOf(codec);
  const requests = frames.map(
    (frame, i) =>
      flat?.tryDecode(frame.payload, 0, frame.payload.length) ??
      decodeMessage(codec, frame.payload, `${command.name} request in frame ${i}`),
  );
  return { name: command.name, command, requests } as DecodedKmsRequest;
}

/**
 * Encodes a command request body (SDK side): one frame per message. Batchable commands take one
 * or more messages, all others exactly one. Throws RangeError on a wrong message count.
 */
export function encodeKmsRequest<N extends KmsCommandName>(
  name: N,
  requests: readonly RequestOf<N>[],
): Buffer {
  const command: KmsCommand = kmsCommand(name);
  const max = command.batchable ? Infinity : 1;
  if (requests.length < 1 || requests.length > max) {
    throw new RangeError(
      `${name} takes ${command.batchable ? 'one or more messages' : 'exactly one message'}, ` +
        `got ${requests.length}`,
    );
  }
  return encodeMessages(command.code, command.request as AnyCodec, requests);
}

/**
 * Encodes the reply body of a successful command (server side): empty for commands without a
 * response payload (pass `[]`), one frame per request for batchable commands (same order), one
 * frame otherwise. Every frame repeats the command code, as kms-go requires. The body must be
 * sent with an explicit Content-Length and without gzip (kms-go rejects unknown lengths).
 * Throws KmsWireError ANSWER_TOO_LARGE, before the body is allocated, when it would be longer
 * than `maxBytes`.
 */
export function encodeKmsResponse<N extends KmsCommandName>(
  name: N,
  responses: readonly ResponseOf<N>[],
  maxBytes = Infinity,
): Buffer {
  const command: KmsCommand = kmsCommand(name);
  if (command.reply === 'none') {
    if (responses.length !== 0) throw new RangeError(`${name} has no response payload`);
    return Buffer.alloc(0);
  }
  if (command.reply === 'per-request' ? responses.length < 1 : responses.length !== 1) {
    throw new RangeError(`${name} reply needs ${command.reply} messages, got ${responses.length}`);
  }
  return encodeMessages(command.code, command.response as AnyCodec, responses, maxBytes);
}

/**
 * Decodes the reply body of a successful (HTTP 200) command (SDK side), with kms-go's rules:
 * `none` → [] whatever the body; `per-request` → exactly `requestCount` frames, each carrying the
 * command's code; `single` → one frame and no trailing bytes; `first` → one or more frames, only
 * the first is returned. Throws KmsWireError (UNEXPECTED_COMMAND, FRAME_COUNT_MISMATCH,
 * TRAILING_BYTES, BAD_MESSAGE and the frame errors).
 */
export function decodeKmsResponse<N extends KmsCommandName>(
  name: N,
  body: Buffer,
  requestCount = 1,
): ResponseOf<N>[] {
  const command: KmsCommand = kmsCommand(name);
  if (command.reply === 'none') return [];
  const codec = command.response as AnyCodec;
  const what = `${name} response`;
  switch (command.reply) {
    case 'single': {
      const frame = decodeSingleFrame(body, command.code);
      return [decodeMessage(codec, frame.payload, what)] as ResponseOf<N>[];
    }
    case 'first': {
      const frames = decodeFrames(body, { expectCommand: command.code });
      return [decodeMessage(codec, frames[0]!.payload, what)] as ResponseOf<N>[];
    }
    case 'per-request': {
      const frames = decodeFrames(body, {
        expectCommand: command.code,
        maxFrames: requestCount,
        allowEmpty: true,
      });
      if (frames.length !== requestCount) {
        throw new KmsWireError(
          'FRAME_COUNT_MISMATCH',
          `${name} reply carries ${frames.length} frames for ${requestCount} requests`,
        );
      }
      return frames.map((frame, i) =>
        decodeMessage(codec, frame.payload, `${what} in frame ${i}`),
      ) as ResponseOf<N>[];
    }
  }
}

// One writer for every body: finish() hands out a copy of the bytes and resets it, so its grown
// buffer is reused instead of allocated per call. Encoding is synchronous, so calls never interleave.
const writer = new BinaryWriter();

function encodeMessages(
  code: number,
  codec: AnyCodec,
  messages: readonly unknown[],
  maxBytes = Infinity,
): Buffer {
  const flat = flatCodecOf(codec);
  if (flat) {
    return encodeFlatFrames(code, flat, messages as readonly Record<string, unknown>[], maxBytes);
  }
  try {
    let size = 0;
    const payloads = messages.map((message) => {
      const payload = codec.encode(message, writer).finish();
      size += FRAME_HEADER_SIZE + payload.length;
      if (size > maxBytes) throw answerTooLarge(maxBytes);
      return payload;
    });
    return encodeFrames(code, payloads);
  } catch (error) {
    writer.finish(); // drop a half-written message so the next body starts clean
    throw error;
  }
}
