// The sealing contract the store depends on: seal/open small blobs bound to associated data.
// The store seals its records with the REK and the REK with a key derived from the HSM key.

/**
 * Seals and opens small blobs with associated data (an AEAD such as AES-256-GCM). `open` must
 * throw when the blob or the associated data was altered, or the key is not the one that sealed.
 */
export interface Sealer {
  seal(plaintext: Uint8Array, aad: Uint8Array): Buffer;
  open(sealed: Uint8Array, aad: Uint8Array): Buffer;
}
