// The KMS API request bodies the benchmarks send: `KEY:GENERATE` of n data keys of the key
// 'bench', bound to an object's associated data as MinIO binds them.

import { encodeKmsRequest } from '../src/protocol/kms/index.ts';

/** The associated data of every benchmark data key. */
export const BENCH_CONTEXT = Buffer.from('{"bucket":"bucket/object"}');

/** A `KEY:GENERATE` request for `frames` data keys of 32 bytes of the key 'bench'. */
export function generateRequest(frames: number): Buffer {
  return encodeKmsRequest(
    'KEY:GENERATE',
    Array.from({ length: frames }, () => ({
      name: 'bench',
      version: 0,
      associatedData: BENCH_CONTEXT,
      length: 32,
    })),
  );
}
