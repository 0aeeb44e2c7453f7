// POST /v1/debug/log: streams the server's event log as `uint32 length || LogRecord` frames
// (docs/protocol/kms.md), history first when `since` is set, then live events. A subscriber
// that cannot keep up loses events instead of slowing the server.

import type { HttpRequest, HttpResponse } from '../../http/http-types.ts';
import { KeyholdError } from '../../model/errors.ts';
import {
  CONTENT_TYPE_PROTOBUF,
  KmsWireError,
  decodeLogRequest,
  encodeLogRecord,
} from '../../protocol/kms/index.ts';
import type { EventLog, LogEvent } from '../../observe/event-log.ts';

export function streamLog(req: HttpRequest, res: HttpResponse, body: Buffer, log: EventLog): void {
  let request;
  try {
    request = decodeLogRequest(body);
  } catch (error) {
    if (error instanceof KmsWireError) throw new KeyholdError('BAD_REQUEST', error.message);
    throw error;
  }
  const { level, message } = request;
  const wanted = (event: LogEvent): boolean =>
    event.level >= level && (message === '' || event.message.includes(message));

  res.writeHead(200, { 'Content-Type': CONTENT_TYPE_PROTOBUF });
  res.flushHeaders();
  let blocked = false;
  const send = (event: LogEvent): void => {
    if (blocked || !wanted(event)) return;
    const frame = encodeLogRecord({
      level: event.level,
      time: event.time,
      message: event.message,
      trace: [],
    });
    if (!res.write(frame)) {
      blocked = true;
      res.once('drain', () => {
        blocked = false;
      });
    }
  };
  if (request.since) for (const event of log.since(request.since)) send(event);
  const unsubscribe = log.subscribe(send);
  req.socket.once('close', unsubscribe);
  res.once('close', unsubscribe);
}
