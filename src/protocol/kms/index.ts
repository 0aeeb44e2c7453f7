// Public surface of the KMS wire protocol shared by the server's KMS face and the TypeScript SDK:
// messages, frames, the command table, request/response bodies, errors, /version and the log stream.
export * from './messages.ts';
export * from './wire-error.ts';
export * from './message-codec.ts';
export * from './frame.ts';
export * from './commands.ts';
export * from './command-codec.ts';
export * from './errors.ts';
export * from './version.ts';
export * from './log-stream.ts';
