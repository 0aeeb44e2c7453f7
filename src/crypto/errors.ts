// Error classes of the crypto core. Decryption has exactly one failure mode (NotAuthenticError);
// format errors for stored keys and HSM keys say what is wrong without echoing secret input.

/**
 * The only error `SecretKey.open` (and the AEAD primitive) ever throws: the input is malformed,
 * truncated, tampered with, or was sealed under another key or associated data. The cases are
 * deliberately indistinguishable. The message matches upstream's `ciphertext is not authentic`.
 */
export class NotAuthenticError extends Error {
  override readonly name = 'NotAuthenticError';

  constructor() {
    super('ciphertext is not authentic');
  }
}

/** A stored KES key value (keystore entry) cannot be parsed or encoded. Never contains key bytes. */
export class KeyValueFormatError extends Error {
  override readonly name = 'KeyValueFormatError';

  constructor(reason: string) {
    super(`invalid key value: ${reason}`);
  }
}

/** Which part of an `hsm:aes256:<base64>` text is wrong. */
export type HsmKeyFormatProblem = 'prefix' | 'base64' | 'length';

/** An HSM key text is malformed. `problem` says which part; the message never echoes the secret. */
export class HsmKeyFormatError extends Error {
  override readonly name = 'HsmKeyFormatError';
  readonly problem: HsmKeyFormatProblem;

  constructor(problem: HsmKeyFormatProblem, message: string) {
    super(message);
    this.problem = problem;
  }
}
