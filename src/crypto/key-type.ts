// The two secret-key (and ciphertext) algorithms, with the exact names upstream uses.

/** Key types as named by the KMS and KES APIs: `AES256` (AES-256-GCM) and `ChaCha20`. */
export const KEY_TYPES = ['AES256', 'ChaCha20'] as const;

/** `AES256` = AES-256-GCM under HMAC-SHA256 sub-keys; `ChaCha20` = ChaCha20-Poly1305 under HChaCha20. */
export type KeyType = (typeof KEY_TYPES)[number];

/** True for exactly `AES256` and `ChaCha20` (case-sensitive). */
export function isKeyType(value: unknown): value is KeyType {
  return value === 'AES256' || value === 'ChaCha20';
}
