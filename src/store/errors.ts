// The store's one error type: what went wrong (corruption, wrong HSM key, lock, I/O failure…),
// and for corruption the file and byte offset an operator has to look at.

/** Why a store operation failed. `docs/storage.md` says what an operator should do for each. */
export type StoreErrorCode =
  'corrupt' | 'wrong-key' | 'unsupported-version' | 'locked' | 'failed' | 'closed' | 'io';

/** Where the problem is, when it is in a file. */
export interface StoreErrorLocation {
  readonly file?: string;
  readonly offset?: number;
  readonly cause?: unknown;
}

/**
 * A store error. `file` and `offset` are set for `corrupt` (the first bad byte range found) and
 * name the file for `wrong-key`, `unsupported-version` and `locked`. The message never contains
 * key material or record contents.
 */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly file: string | undefined;
  readonly offset: number | undefined;

  constructor(code: StoreErrorCode, message: string, location: StoreErrorLocation = {}) {
    super(message, location.cause === undefined ? undefined : { cause: location.cause });
    this.name = 'StoreError';
    this.code = code;
    this.file = location.file;
    this.offset = location.offset;
  }
}

/** A damaged file: names the file and the byte offset of the first bad structure. */
export function corruption(file: string, offset: number, detail: string): StoreError {
  return new StoreError('corrupt', `corrupt store: ${file} at byte ${offset}: ${detail}`, {
    file,
    offset,
  });
}

/** Text of an unknown thrown value, for wrapping I/O errors. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== undefined && !error.message.includes(code)
      ? `${code}: ${error.message}`
      : error.message;
  }
  return String(error);
}
