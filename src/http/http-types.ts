// The request and response surface the pipeline and every handler use. Node's IncomingMessage
// and ServerResponse satisfy it structurally, and so does the lean HTTP/1.1 server, so the
// faces run unchanged on either.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';

export interface HttpRequest {
  readonly method?: string | undefined;
  /** `1.1` or `1.0`. */
  readonly httpVersion: string;
  /** The request target as received (path and query). */
  readonly url?: string | undefined;
  /** Header names in lower case; repeated headers as Node joins them. */
  readonly headers: IncomingHttpHeaders;
  readonly socket: Socket;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  /** 'close': the request is done with, after 'end' or when the connection closed before it. */
  on(event: 'end' | 'close', listener: () => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  /** Starts (or restarts) the flow of 'data' events; without a 'data' listener, discards the body. */
  resume(): this;
  /** Stops the flow of 'data' events until `resume()` (back-pressure for a streamed body). */
  pause(): this;
}

export interface HttpResponse {
  statusCode: number;
  readonly headersSent: boolean;
  readonly req: HttpRequest;
  setHeader(name: string, value: number | string | readonly string[]): this;
  writeHead(status: number, headers?: OutgoingHttpHeaders): this;
  /** Sends headers now (streams). */
  flushHeaders(): void;
  /**
   * Sends `100 Continue` to a client that sent `Expect: 100-continue` and waits for it before
   * sending the body: called when the body is about to be read, never for a refused request.
   */
  writeContinue(): void;
  /** Writes a body chunk; false when the client is not keeping up (wait for 'drain'). */
  write(chunk: Uint8Array | string): boolean;
  end(chunk?: Uint8Array | string): this;
  /** Closes the connection after `ms` of inactivity on this response. */
  setTimeout(ms: number, callback: () => void): this;
  destroy(): this;
  once(event: 'finish' | 'close' | 'drain', listener: () => void): this;
  /** 'close' comes once per response (the pipeline listens with `on`: no once-wrapper). */
  on(event: 'close', listener: () => void): this;
}
