// The GET /version body: protobuf VersionResponse when the client asks for
// application/octet-stream, protojson otherwise (kms-go decodes by the reply's Content-Type).
import { VersionResponse } from './pb/keyhold/kms/v1/response.ts';
import { CONTENT_TYPE_JSON, CONTENT_TYPE_PROTOBUF } from './errors.ts';
import { decodeMessage, encodeMessage } from './message-codec.ts';
import { KmsWireError } from './wire-error.ts';

/**
 * True iff an Accept header names `application/octet-stream` itself (kms-go sends
 * `application/*` and reads either form, so it gets JSON).
 */
export function acceptsProtobuf(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept
    .split(',')
    .some((range) => range.split(';', 1)[0]!.trim().toLowerCase() === CONTENT_TYPE_PROTOBUF);
}

/**
 * Encodes a /version body. The JSON form always carries all five members, in this order:
 * `{"version","commit","api_version","host","fips140"}` (the documented minkms answer).
 */
export function encodeVersionBody(
  version: VersionResponse,
  asProtobuf: boolean,
): { contentType: typeof CONTENT_TYPE_PROTOBUF | typeof CONTENT_TYPE_JSON; body: Buffer } {
  if (asProtobuf) {
    const bytes = encodeMessage(VersionResponse, version);
    return {
      contentType: CONTENT_TYPE_PROTOBUF,
      body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    };
  }
  const json = {
    version: version.version,
    commit: version.commit,
    api_version: version.apiVersion,
    host: version.host,
    fips140: version.fips140,
  };
  return { contentType: CONTENT_TYPE_JSON, body: Buffer.from(JSON.stringify(json)) };
}

/**
 * Decodes a /version body by its Content-Type, as kms-go does: protobuf iff the media type is
 * `application/octet-stream`, else protojson (unknown members ignored, absent ones default).
 * Throws KmsWireError('BAD_MESSAGE') for a body that is neither.
 */
export function decodeVersionBody(
  contentType: string | undefined,
  body: Uint8Array,
): VersionResponse {
  const mediaType = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (mediaType === CONTENT_TYPE_PROTOBUF) {
    return decodeMessage(VersionResponse, body, 'VersionResponse');
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (error) {
    throw new KmsWireError(
      'BAD_MESSAGE',
      `malformed VersionResponse JSON: ${(error as Error).message}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KmsWireError('BAD_MESSAGE', 'malformed VersionResponse JSON: not an object');
  }
  return VersionResponse.fromJSON(value);
}
