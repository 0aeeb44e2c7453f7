// Test helpers for the KMS API through the SDK: assert an exact (status, message) error, make a
// client for an API key against a started server, and run tasks with bounded concurrency.

import assert from 'node:assert/strict';
import { KmsApiError, KmsClient } from '../../src/sdk/index.ts';
import type { KmsClientOptions, KmsErrorValue } from '../../src/sdk/index.ts';

/** Asserts that `promise` rejects with a KmsApiError of exactly this status and message. */
export async function rejectsWith(
  promise: Promise<unknown>,
  expected: KmsErrorValue | { status: number; message: RegExp },
): Promise<KmsApiError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof KmsApiError, `expected a KmsApiError, got ${String(caught)}`);
  const got = { status: caught.status, message: caught.message };
  if (expected.message instanceof RegExp) {
    assert.equal(got.status, expected.status, `status of '${got.message}'`);
    assert.match(got.message, expected.message);
  } else {
    assert.deepEqual(got, { status: expected.status, message: expected.message });
  }
  return caught;
}

/** A client for `apiKey` at `endpoint`, not verifying the self-signed server certificate. */
export function clientFor(
  endpoint: string | readonly string[],
  apiKey: string,
  options: Partial<KmsClientOptions> = {},
): KmsClient {
  return new KmsClient({
    endpoints: endpoint,
    apiKey,
    tls: { insecure: true },
    timeout: 10_000,
    ...options,
  });
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function inParallel<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}
