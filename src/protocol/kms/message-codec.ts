// Strict protobuf decoding and encoding on top of the generated ts-proto codecs: invalid UTF-8,
// unterminated or malformed fields and early stops all become a KmsWireError instead of a partial message.
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import type { MessageFns } from './pb/keyhold/kms/v1/request.ts';
import { KmsWireError } from './wire-error.ts';

/** The generated codec object of one message type (e.g. `GenerateKeyRequest`). */
export type MessageCodec<T> = MessageFns<T>;

/** The message type a codec object encodes (e.g. `MessageOf<typeof GenerateKeyRequest>`). */
export type MessageOf<C> = C extends MessageFns<infer T> ? T : never;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// proto3 `string` fields must hold valid UTF-8 (Go's proto.Unmarshal rejects anything else), so the
// reader gets a fatal decoder instead of the default one that substitutes U+FFFD.
function decodeUtf8Strict(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/**
 * Decodes one protobuf message. Throws KmsWireError('BAD_MESSAGE') naming `what` when the bytes are
 * not a well-formed encoding: truncated fields, lengths past the end, illegal tags (field 0, wire
 * types 6/7), unmatched end-group tags, invalid UTF-8 in strings, or nesting deeper than 100.
 * Unknown fields are skipped, as every protobuf decoder does. Returned `bytes` fields are copies.
 */
export function decodeMessage<T>(codec: MessageCodec<T>, payload: Uint8Array, what: string): T {
  const reader = new BinaryReader(payload, decodeUtf8Strict);
  let message: T;
  try {
    // ts-proto's generated loop stops silently at a zero tag or an end-group tag and returns what it
    // has so far; Go's decoder refuses both. One cheap pass over the top-level tags catches them.
    while (reader.pos < reader.len) {
      const [fieldNo, wireType] = reader.tag();
      reader.skip(wireType, fieldNo);
    }
    reader.pos = 0;
    message = codec.decode(reader);
  } catch (error) {
    throw new KmsWireError('BAD_MESSAGE', `malformed ${what}: ${reasonOf(error)}`, {
      cause: error,
    });
  }
  if (reader.pos !== payload.length) {
    throw new KmsWireError(
      'BAD_MESSAGE',
      `malformed ${what}: decoding stopped at byte ${reader.pos} of ${payload.length}`,
    );
  }
  return message;
}

/** Encodes one protobuf message; `writer` may be passed to reuse its buffer across calls. */
export function encodeMessage<T>(
  codec: MessageCodec<T>,
  message: T,
  writer: BinaryWriter = new BinaryWriter(),
): Uint8Array {
  return codec.encode(message, writer).finish();
}

function reasonOf(error: unknown): string {
  if (error instanceof TypeError && /decode|encoded data/i.test(error.message)) {
    return 'string field is not valid UTF-8';
  }
  if (error instanceof Error) {
    return error.message === 'cant skip wire type 4'
      ? 'end-group tag without a group'
      : error.message;
  }
  return String(error);
}
