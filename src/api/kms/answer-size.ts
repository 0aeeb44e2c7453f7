// How large a KMS command's answer can get, known from its request frames before any work is
// done, so a batch whose answer would be too large is refused instead of produced.

import { CIPHERTEXT_OVERHEAD } from '../../crypto/index.ts';
import { MAX_DATA_KEY_LENGTH } from '../../core/core.ts';
import type { DecodedKmsRequest } from '../../protocol/kms/index.ts';

/** Frame header plus the most a message's framing (field tags and length varints) adds. */
const FRAME_OVERHEAD = 6 + 16;

/**
 * An upper bound in bytes of the answer to `decoded` if it succeeds, for the commands whose
 * answers grow with what the request asks for (data keys, ciphertexts, plaintexts, MACs); 0 for
 * the others, whose answers are bounded when encoded. A data key length the core will refuse
 * counts as the longest allowed.
 */
export function answerBound(decoded: DecodedKmsRequest): number {
  let total = 0;
  switch (decoded.name) {
    case 'KEY:GENERATE':
      for (const r of decoded.requests) {
        const length = r.length === 0 ? 32 : Math.min(r.length, MAX_DATA_KEY_LENGTH);
        total += FRAME_OVERHEAD + 2 * length + CIPHERTEXT_OVERHEAD;
      }
      return total;
    case 'KEY:ENCRYPT':
      for (const r of decoded.requests) {
        total += FRAME_OVERHEAD + r.plaintext.length + CIPHERTEXT_OVERHEAD;
      }
      return total;
    case 'KEY:DECRYPT':
      // A plaintext is never longer than its ciphertext, in any format.
      for (const r of decoded.requests) total += FRAME_OVERHEAD + r.ciphertext.length;
      return total;
    case 'KEY:MAC':
      return decoded.requests.length * (FRAME_OVERHEAD + 32);
    default:
      return 0;
  }
}
