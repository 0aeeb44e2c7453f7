// Public surface of the crypto core: primitives and formats, no I/O.

export { AEAD_KEY_LENGTH, AEAD_NONCE_LENGTH, AEAD_TAG_LENGTH, aeadOpen, aeadSeal } from './aead.ts';
export {
  decodeStdBase64,
  decodeStdBase64Bytes,
  encodeStdBase64Into,
  stdBase64Length,
} from './base64.ts';
export {
  CIPHERTEXT_IV_LENGTH,
  CIPHERTEXT_OVERHEAD,
  parseCiphertext,
  type Ciphertext,
  type CiphertextFormat,
} from './ciphertext.ts';
export {
  HsmKeyFormatError,
  KeyValueFormatError,
  NotAuthenticError,
  type HsmKeyFormatProblem,
} from './errors.ts';
export { hchacha20 } from './hchacha20.ts';
export { HmacSha256, hmacSha256 } from './hmac-sha256.ts';
export { HSM_KEY_LABELS, HSM_KEY_LENGTH, HSM_KEY_PREFIX, HsmKey } from './hsm-key.ts';
export {
  encodeKesKeyValue,
  legacyKeyId,
  parseKesKeyValue,
  type KesKeyValue,
} from './kes-key-value.ts';
export { KEY_TYPES, isKeyType, type KeyType } from './key-type.ts';
export {
  auditChainNative,
  dataKeyCryptoInfo,
  type ChainLines,
  type DataKeyCryptoInfo,
} from './native-crypto.ts';
export { RANDOM_POOL_BLOCK_SIZE, RandomPool, randomPool } from './random-pool.ts';
export { SECRET_KEY_LENGTH, SecretKey, type DataKey } from './secret-key.ts';
