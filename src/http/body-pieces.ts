// A request body as an async sequence of pieces, read only as fast as they are consumed (the
// request is paused while a bounded amount waits), for handlers that must not hold a large body
// whole.

import { KeyholdError } from '../model/errors.ts';
import type { HttpRequest } from './http-types.ts';

/** Bytes received but not yet consumed at which the request is paused. */
const HIGH_WATER = 256 * 1024;

/**
 * Yields the body of `req` piece by piece. The request is paused while HIGH_WATER bytes wait to
 * be consumed, so a slow consumer slows the client down instead of buffering. Throws TOO_LARGE
 * once more than `limit` bytes arrived, and an ECONNRESET error when the connection ends before
 * the body does. Call it once per request, before any other reader.
 */
export async function* bodyPieces(req: HttpRequest, limit: number): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let queued = 0;
  let size = 0;
  // Set by the listeners while the loop below waits (an object, so the checks read them anew).
  const state: { ended: boolean; failure: Error | null } = { ended: false, failure: null };
  let wake: (() => void) | null = null;
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > limit) {
      state.failure ??= new KeyholdError('TOO_LARGE', 'request body too large');
      req.pause();
    } else {
      queue.push(chunk);
      queued += chunk.length;
      if (queued >= HIGH_WATER) req.pause();
    }
    notify();
  };
  const onEnd = (): void => {
    state.ended = true;
    notify();
  };
  const onClose = (): void => {
    if (!state.ended) state.failure ??= Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    notify();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', (error) => {
    state.failure ??= error;
    notify();
  });
  req.on('close', onClose);
  for (;;) {
    const piece = queue.shift();
    if (piece) {
      queued -= piece.length;
      yield piece;
      continue;
    }
    if (state.failure) throw state.failure;
    if (state.ended) return;
    req.resume();
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
  }
}
