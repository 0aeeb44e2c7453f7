// The frame codec of the KMS command API (POST /v1/kms[/{enclave}] bodies, both directions):
// frame := cmd:uint16 BE | len:uint32 BE | protobuf message (len bytes); a body is one or more frames.
import { KmsWireError } from './wire-error.ts';

/** Bytes of a frame header: command code (uint16 BE) and payload length (uint32 BE). */
export const FRAME_HEADER_SIZE = 6;

/** Largest payload one frame can describe (the length field is a uint32). */
export const MAX_FRAME_PAYLOAD = 0xffff_ffff;

/** Frames accepted in one body unless the caller passes its own limit. */
export const DEFAULT_MAX_FRAMES = 1000;

/** One decoded frame. `payload` is a view into the decoded body, not a copy. */
export interface Frame {
  readonly cmd: number;
  readonly payload: Buffer;
}

/** Bounds and expectations applied while splitting a body into frames. */
export interface FrameLimits {
  /** Most frames accepted; one more is TOO_MANY_FRAMES. Default DEFAULT_MAX_FRAMES. */
  readonly maxFrames?: number;
  /** Accept an empty body (zero frames). Default false: EMPTY_BODY. */
  readonly allowEmpty?: boolean;
  /** Every frame must carry this command code, else UNEXPECTED_COMMAND (a client reading a reply). */
  readonly expectCommand?: number;
}

/**
 * Splits a request or response body into frames. All frames must carry the same command code
 * (kms-go always repeats one command; mixing read and write commands in one request is refused).
 * Throws KmsWireError: EMPTY_BODY, TRUNCATED_HEADER (1-5 bytes left where a header should start),
 * LENGTH_PAST_END, TOO_MANY_FRAMES, MIXED_COMMANDS, UNEXPECTED_COMMAND. Work is bounded by
 * `maxFrames` headers, whatever the body claims.
 */
export function decodeFrames(body: Buffer, limits: FrameLimits = {}): Frame[] {
  const maxFrames = limits.maxFrames ?? DEFAULT_MAX_FRAMES;
  if (body.length === 0) {
    if (limits.allowEmpty === true) return [];
    throw new KmsWireError('EMPTY_BODY', 'body carries no frame');
  }
  const frames: Frame[] = [];
  let offset = 0;
  while (offset < body.length) {
    const index = frames.length;
    if (index >= maxFrames) {
      throw new KmsWireError(
        'TOO_MANY_FRAMES',
        `body carries more than ${maxFrames} frames (frame ${index} starts at byte ${offset})`,
      );
    }
    const frame = readFrame(body, offset, index);
    const first = frames[0]?.cmd ?? limits.expectCommand;
    if (first !== undefined && frame.cmd !== first) {
      throw frames.length === 0
        ? new KmsWireError(
            'UNEXPECTED_COMMAND',
            `frame 0 carries command ${frame.cmd}, expected command ${first}`,
          )
        : new KmsWireError(
            'MIXED_COMMANDS',
            `frame ${index} carries command ${frame.cmd} but frame 0 carries command ${first}: ` +
              'all frames of one body must repeat the same command',
          );
    }
    frames.push(frame);
    offset += FRAME_HEADER_SIZE + frame.payload.length;
  }
  return frames;
}

/**
 * Reads exactly one frame that must fill the whole body, as kms-go does for single-result
 * replies (ENCLAVE:LIST, KEY:LIST, POLICY:LIST, IDENTITY:LIST). Throws KmsWireError: EMPTY_BODY,
 * TRUNCATED_HEADER, LENGTH_PAST_END, UNEXPECTED_COMMAND, TRAILING_BYTES.
 */
export function decodeSingleFrame(body: Buffer, expectCommand?: number): Frame {
  if (body.length === 0) throw new KmsWireError('EMPTY_BODY', 'body carries no frame');
  const frame = readFrame(body, 0, 0);
  if (expectCommand !== undefined && frame.cmd !== expectCommand) {
    throw new KmsWireError(
      'UNEXPECTED_COMMAND',
      `frame 0 carries command ${frame.cmd}, expected command ${expectCommand}`,
    );
  }
  const end = FRAME_HEADER_SIZE + frame.payload.length;
  if (end !== body.length) {
    throw new KmsWireError(
      'TRAILING_BYTES',
      `${body.length - end} trailing bytes after the single frame (which ends at byte ${end})`,
    );
  }
  return frame;
}

function readFrame(body: Buffer, offset: number, index: number): Frame {
  const left = body.length - offset;
  if (left < FRAME_HEADER_SIZE) {
    throw new KmsWireError(
      'TRUNCATED_HEADER',
      `frame ${index} at byte ${offset}: truncated header (${left} of ${FRAME_HEADER_SIZE} bytes)`,
    );
  }
  const cmd = body.readUInt16BE(offset);
  const length = body.readUInt32BE(offset + 2);
  if (length > left - FRAME_HEADER_SIZE) {
    throw new KmsWireError(
      'LENGTH_PAST_END',
      `frame ${index} at byte ${offset}: payload length ${length} exceeds the ` +
        `${left - FRAME_HEADER_SIZE} bytes left in the body`,
    );
  }
  const start = offset + FRAME_HEADER_SIZE;
  return { cmd, payload: body.subarray(start, start + length) };
}

/**
 * Encodes frames that all carry `cmd`, one per payload, into a single buffer allocated once
 * (no per-frame concatenation). An empty `payloads` list gives an empty body. Throws RangeError
 * for a command code outside uint16 or a payload longer than MAX_FRAME_PAYLOAD.
 */
export function encodeFrames(cmd: number, payloads: readonly Uint8Array[]): Buffer {
  if (!Number.isInteger(cmd) || cmd < 0 || cmd > 0xffff) {
    throw new RangeError(`command code ${cmd} is not a uint16`);
  }
  let size = 0;
  for (const payload of payloads) {
    if (payload.length > MAX_FRAME_PAYLOAD) {
      throw new RangeError(`frame payload of ${payload.length} bytes exceeds the uint32 length`);
    }
    size += FRAME_HEADER_SIZE + payload.length;
  }
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const payload of payloads) {
    out.writeUInt16BE(cmd, offset);
    out.writeUInt32BE(payload.length, offset + 2);
    out.set(payload, offset + FRAME_HEADER_SIZE);
    offset += FRAME_HEADER_SIZE + payload.length;
  }
  return out;
}
