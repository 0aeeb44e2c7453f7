// Strict standard base64 (RFC 4648 §4, with padding) as Go's encoding/base64.StdEncoding reads it;
// Buffer.from(s, 'base64') silently skips invalid characters, which would hide corrupt input.

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes padded standard base64. Returns undefined for any other text (URL alphabet, missing
 * padding, stray characters). Like Go's non-strict decoder, non-zero trailing bits are accepted.
 */
export function decodeStdBase64(text: string): Buffer | undefined {
  if (!STD_BASE64.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}
