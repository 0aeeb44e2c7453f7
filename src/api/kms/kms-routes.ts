// The KMS API face (docs/protocol/kms.md): the framed command endpoint, version, health,
// metrics, backup/restore and the log stream. Errors are answered in the KMS API's format.

import type { ClusterControl } from '../../core/cluster-control.ts';
import type { HttpResponse } from '../../http/http-types.ts';
import type { Core } from '../../core/core.ts';
import { redactSecrets } from '../../identity/index.ts';
import { KeyholdError } from '../../model/errors.ts';
import {
  CONTENT_TYPE_JSON,
  CONTENT_TYPE_PROTOBUF,
  KmsWireError,
  acceptsProtobuf,
  decodeKmsRequest,
  encodeVersionBody,
  encodeErrorBody,
  encodeKmsResponse,
} from '../../protocol/kms/index.ts';
import type { KmsCommandName } from '../../protocol/kms/index.ts';
import type { VersionResponse } from '../../protocol/kms/pb/keyhold/kms/v1/response.ts';
import { bodyPieces } from '../../http/body-pieces.ts';
import type { EventLog } from '../../observe/event-log.ts';
import { MAX_BACKUP_BYTES } from '../../state/backup.ts';
import type { Route } from '../../http/route.ts';
import { streamLog } from './log-stream-route.ts';
import type { HandlerContext } from './command-handlers.ts';
import { answerBound } from './answer-size.ts';
import { HANDLERS } from './command-handlers.ts';

/** The largest accepted command body: room for 10,000 batched frames of ordinary size. */
export const MAX_KMS_BODY = 16 * 1024 * 1024;
/** The largest accepted backup (PUT /v1/db). */
export const MAX_BACKUP_BODY = MAX_BACKUP_BYTES;
/** The most frames one request may carry. */
export const MAX_KMS_FRAMES = 10_000;
/**
 * The largest answer a command may produce (docs/protocol/kms.md#answer-size): 10,000 frames of
 * default 32-byte data keys answer ~1.2 MB, 10,000 decrypted 32-byte keys ~0.4 MB; 1,900 data
 * keys of the longest length (1024 bytes) fit. MinIO sends one frame per request.
 */
export const MAX_KMS_ANSWER = 4 * 1024 * 1024;

export interface KmsFaceOptions {
  readonly core: Core;
  /** Enclave used when a request names none (`/v1/kms` with an enclave command). */
  readonly defaultEnclave: string;
  readonly version: () => VersionResponse;
  /** Cluster membership: CLUSTER:STATUS, ADDNODE and REMOVENODE. */
  readonly cluster: ClusterControl;
  /** True when writes can be accepted (`/v1/health/ready?write`). */
  readonly writable: () => boolean;
  /** True when reads can be served (`/v1/health/ready`; absent: always). */
  readonly readable?: () => boolean;
  /** A sealed backup of the whole state (GET /v1/db). */
  readonly backup: () => Promise<Buffer>;
  /** Replaces the state with a sealed backup received piece by piece (PUT /v1/db). */
  readonly restore: (backup: AsyncIterable<Uint8Array>) => Promise<void>;
  /** The server's event log, streamed by POST /v1/debug/log. */
  readonly log: EventLog;
  /** Prometheus text of the metrics registry, with its content type. */
  readonly metrics: () => Promise<{ contentType: string; body: string }>;
}

const TIMEOUT = 15_000;

/**
 * Writes an error as the KMS API does: protobuf ErrResponse unless JSON was asked for. Messages
 * quote what the client sent (names, prefixes, privileges); anything in them that looks like a
 * secret (an API key pasted where a name goes) is redacted.
 */
export function writeKmsError(res: HttpResponse, error: KeyholdError): void {
  const { status, message: quoted } = error.wire('kms');
  const message = redactSecrets(quoted);
  const accept = res.req.headers.accept ?? '';
  const type = accept.includes(CONTENT_TYPE_JSON) ? CONTENT_TYPE_JSON : CONTENT_TYPE_PROTOBUF;
  const { contentType, body } = encodeErrorBody(message, type);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': body.length });
  res.end(body);
}

function send(res: HttpResponse, body: Buffer, contentType = CONTENT_TYPE_PROTOBUF): void {
  res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': body.length });
  res.end(body);
}

/** Sends a command's answer, refusing one larger than MAX_KMS_ANSWER before it is encoded. */
function answer(res: HttpResponse, name: KmsCommandName, responses: unknown[]): void {
  let body: Buffer;
  try {
    body = encodeKmsResponse(name, responses as never[], MAX_KMS_ANSWER);
  } catch (error) {
    throw wireError(error);
  }
  send(res, body);
}

/** A codec error as the client-facing error it stands for. */
function wireError(error: unknown): unknown {
  return error instanceof KmsWireError
    ? new KeyholdError(
        error.code === 'UNSUPPORTED_COMMAND' ? 'NOT_IMPLEMENTED' : 'BAD_REQUEST',
        error.message,
      )
    : error;
}

function sendEmpty(res: HttpResponse): void {
  res.writeHead(200, { 'Content-Length': 0 });
  res.end();
}

/** Builds the KMS face's routes. */
export function kmsRoutes(options: KmsFaceOptions): Route[] {
  const { core } = options;
  // Callers that could run no command where a route acts are refused before its body is read.
  type Authorize = NonNullable<Route['authorize']>;
  const commandScope: Authorize = (caller, resource) =>
    core.authorizeScope(caller, resource === '' ? options.defaultEnclave : resource);
  const sysAdmin =
    (what: string): Authorize =>
    (caller) =>
      core.authorizeCluster(caller, what);

  // Synchronous for everything but writes: the answer is produced while the request is
  // dispatched, so the connection sees a full socket before it starts the next request.
  const command: Route['handle'] = ({ res, caller, resource, body }) => {
    if (resource.includes('/')) throw new KeyholdError('ENCLAVE_NOT_FOUND');
    let decoded;
    try {
      decoded = decodeKmsRequest(body, { maxFrames: MAX_KMS_FRAMES });
    } catch (error) {
      throw wireError(error);
    }
    const bound = answerBound(decoded);
    if (bound > MAX_KMS_ANSWER) {
      throw new KeyholdError(
        'BAD_REQUEST',
        `${decoded.name} batch of ${String(decoded.requests.length)} frames would answer up to ` +
          `${String(bound)} bytes, more than ${String(MAX_KMS_ANSWER)}: send fewer frames per request`,
      );
    }
    const ctx: HandlerContext = {
      core,
      caller,
      enclave: resource === '' && !decoded.command.isCluster ? options.defaultEnclave : resource,
      cluster: options.cluster,
    };
    // The table is keyed by name; each entry takes exactly the request type decoded for that name.
    const handler = HANDLERS[decoded.name] as (
      ctx: HandlerContext,
      requests: unknown[],
    ) => unknown[] | Promise<unknown[]>;
    const responses = handler(ctx, decoded.requests);
    const name = decoded.name;
    if (responses instanceof Promise) return responses.then((r) => answer(res, name, r));
    answer(res, name, responses);
  };

  const base = { face: 'kms', prefix: false, maxBody: 0, timeout: TIMEOUT } as const;
  return [
    {
      ...base,
      method: 'POST',
      path: '/v1/kms',
      maxBody: MAX_KMS_BODY,
      authorize: commandScope,
      handle: command,
    },
    {
      ...base,
      method: 'POST',
      path: '/v1/kms/',
      prefix: true,
      maxBody: MAX_KMS_BODY,
      authorize: commandScope,
      handle: command,
    },
    {
      ...base,
      method: 'GET',
      path: '/version',
      handle: ({ req, res }) => {
        // Protobuf only when asked for; kms-go's `Accept: application/*` gets protojson.
        const { contentType, body } = encodeVersionBody(
          options.version(),
          acceptsProtobuf(req.headers.accept) ||
            req.headers['content-type'] === CONTENT_TYPE_PROTOBUF,
        );
        send(res, body, contentType);
      },
    },
    { ...base, method: 'GET', path: '/v1/health/live', handle: ({ res }) => sendEmpty(res) },
    {
      ...base,
      method: 'GET',
      path: '/v1/health/ready',
      handle: ({ res, query }) => {
        if (options.readable && !options.readable()) throw new KeyholdError('UNAVAILABLE');
        if (query.has('write') && !options.writable()) throw new KeyholdError('UNAVAILABLE');
        sendEmpty(res);
      },
    },
    {
      ...base,
      method: 'GET',
      path: '/v1/health/metrics',
      authorize: sysAdmin('METRICS'),
      handle: async ({ res }) => {
        const { contentType, body } = await options.metrics();
        send(res, Buffer.from(body), contentType);
      },
    },
    {
      ...base,
      method: 'GET',
      path: '/v1/db',
      timeout: 0,
      authorize: sysAdmin('DB:BACKUP'),
      handle: async ({ res }) => {
        send(res, await options.backup());
      },
    },
    {
      ...base,
      method: 'PUT',
      path: '/v1/db',
      timeout: 0,
      maxBody: MAX_BACKUP_BODY,
      authorize: sysAdmin('DB:RESTORE'),
      // Streamed to the state owner: a worker never holds a whole backup.
      streamBody: true,
      handle: async ({ req, res }) => {
        await options.restore(bodyPieces(req, MAX_BACKUP_BODY));
        sendEmpty(res);
      },
    },
    {
      ...base,
      method: 'POST',
      path: '/v1/debug/log',
      timeout: 0,
      maxBody: 64 * 1024,
      authorize: sysAdmin('DEBUG:LOG'),
      handle: ({ req, res, body }) => {
        streamLog(req, res, body, options.log);
      },
    },
  ];
}
