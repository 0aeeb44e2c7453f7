// The /v1/debug/log stream: the request is a bare protobuf LogRequest (no frame header) and the
// reply an endless sequence of `uint32 BE length || LogRecord`, each record at most 4096 bytes.
import { LogRecord } from './pb/keyhold/kms/v1/log.ts';
import { LogRequest } from './pb/keyhold/kms/v1/request.ts';
import { decodeMessage, encodeMessage } from './message-codec.ts';
import { KmsWireError } from './wire-error.ts';

/** Largest LogRecord encoding kms-go accepts (its read buffer is 4 KiB). */
export const MAX_LOG_RECORD_BYTES = 4096;
/** Bytes of the big-endian length before each record. */
export const LOG_LENGTH_PREFIX_SIZE = 4;

const EMPTY = Buffer.alloc(0);

/** Decodes the body of POST /v1/debug/log (a bare LogRequest). Throws KmsWireError('BAD_MESSAGE'). */
export function decodeLogRequest(body: Uint8Array): LogRequest {
  return decodeMessage(LogRequest, body, 'LogRequest');
}

/** Encodes the body of POST /v1/debug/log. */
export function encodeLogRequest(request: LogRequest): Buffer {
  return toBuffer(encodeMessage(LogRequest, request));
}

/**
 * Encodes one stream item: 4-byte big-endian length, then the LogRecord. A record whose encoding
 * exceeds MAX_LOG_RECORD_BYTES is shortened rather than sent, because kms-go ends the whole stream
 * on an oversized record: first its trace is dropped, then its message is cut (at a UTF-8 boundary).
 */
export function encodeLogRecord(record: LogRecord): Buffer {
  let payload = encodeMessage(LogRecord, record);
  if (payload.length > MAX_LOG_RECORD_BYTES && record.trace.length > 0) {
    record = { ...record, trace: [] };
    payload = encodeMessage(LogRecord, record);
  }
  if (payload.length > MAX_LOG_RECORD_BYTES) {
    const message = Buffer.from(record.message, 'utf8');
    let keep = Math.max(0, message.length - (payload.length - MAX_LOG_RECORD_BYTES));
    while (keep > 0 && (message[keep]! & 0xc0) === 0x80) keep--;
    payload = encodeMessage(LogRecord, {
      ...record,
      message: message.subarray(0, keep).toString('utf8'),
    });
  }
  if (payload.length > MAX_LOG_RECORD_BYTES) {
    throw new KmsWireError(
      'RECORD_TOO_LARGE',
      `log record of ${payload.length} bytes exceeds ${MAX_LOG_RECORD_BYTES} even without message`,
    );
  }
  const out = Buffer.allocUnsafe(LOG_LENGTH_PREFIX_SIZE + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, LOG_LENGTH_PREFIX_SIZE);
  return out;
}

/**
 * Incremental decoder for the log stream (SDK side): feed it the response body chunk by chunk,
 * whatever the chunk boundaries, and it returns the records completed so far. A length above
 * MAX_LOG_RECORD_BYTES throws RECORD_TOO_LARGE as soon as its prefix arrives (kms-go's
 * "log record too large"); a malformed record throws BAD_MESSAGE. After an error the decoder
 * stays failed and every later call throws the same error. Buffers at most one partial record.
 */
export class LogStreamDecoder {
  #pending: Buffer = EMPTY;
  #failure: KmsWireError | undefined;

  /** Bytes of an incomplete record currently buffered. */
  get pendingBytes(): number {
    return this.#pending.length;
  }

  /** Adds a chunk of the stream and returns every record it completes, in order. */
  push(chunk: Uint8Array): LogRecord[] {
    if (this.#failure !== undefined) throw this.#failure;
    const input = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let data = this.#pending.length === 0 ? input : Buffer.concat([this.#pending, input]);
    const records: LogRecord[] = [];
    try {
      while (data.length >= LOG_LENGTH_PREFIX_SIZE) {
        const length = data.readUInt32BE(0);
        if (length > MAX_LOG_RECORD_BYTES) {
          throw new KmsWireError(
            'RECORD_TOO_LARGE',
            `log record too large: ${length} bytes (at most ${MAX_LOG_RECORD_BYTES})`,
          );
        }
        const end = LOG_LENGTH_PREFIX_SIZE + length;
        if (data.length < end) break;
        records.push(
          decodeMessage(LogRecord, data.subarray(LOG_LENGTH_PREFIX_SIZE, end), 'LogRecord'),
        );
        data = data.subarray(end);
      }
    } catch (error) {
      this.#failure = error as KmsWireError;
      this.#pending = EMPTY;
      throw error;
    }
    // Copy the remainder so a small tail never pins a large chunk in memory.
    this.#pending = data.length === 0 ? EMPTY : Buffer.from(data);
    return records;
  }

  /** Declares the end of the stream; throws TRUNCATED_STREAM if a partial record is buffered. */
  end(): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#pending.length > 0) {
      throw new KmsWireError(
        'TRUNCATED_STREAM',
        `log stream ended inside a record (${this.#pending.length} bytes buffered)`,
      );
    }
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
