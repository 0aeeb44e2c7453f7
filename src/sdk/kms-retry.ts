// How the KMS client retries, as kms-go does (docs/protocol/kms.md): every answer, whatever its
// status, is the server's word; a network error suspends the host and the request moves on to
// the next; a keep-alive socket the server had closed meanwhile is retried once at once on a
// fresh socket, since it says nothing about the host.
import { errorFromResponse, MAX_ERROR_BODY_BYTES } from '../protocol/kms/index.ts';
import type { KmsApiError } from '../protocol/kms/index.ts';
import { KmsConnectionError, KmsResponseError } from './errors.ts';
import type { OpenedResponse, RetryPolicy, Transport } from './transport.ts';

export const KMS_RETRY_POLICY: RetryPolicy = {
  afterError: (error, attempt) => (attempt === 0 && error.staleSocket === true ? 0 : undefined),
  afterStatus: () => undefined,
  failsHost: () => false,
  failoverMidBody: false,
  explicitEmptyLength: true,
  unreachable: (_tried, failures) => new KmsConnectionError(failures),
  tooLarge: (message) => new KmsResponseError(message),
};

/**
 * The KmsApiError of a non-200 opened reply, read as kms-go does (at most 5 KiB of the body,
 * decoded by its Content-Type).
 */
export async function errorOfOpened(
  transport: Transport,
  opened: OpenedResponse,
): Promise<KmsApiError> {
  const body = await transport.bodyOf(opened, 1024 * 1024);
  return errorFromResponse(
    opened.status,
    opened.headers['content-type'],
    body.subarray(0, MAX_ERROR_BODY_BYTES),
  );
}
