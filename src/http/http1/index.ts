// The lean HTTP/1.1-over-TLS server for Keyhold's hot path (docs/http1.md).

export { createHttp1Server, Http1Server } from './server.ts';
export type { Http1Listener, Http1ServerOptions } from './server.ts';
export { Http1Request } from './request.ts';
export { Http1Response } from './response.ts';
export { Http1Parser, ParseError } from './parser.ts';
export type { ParserHandler, ParserLimits, RequestHead } from './parser.ts';
