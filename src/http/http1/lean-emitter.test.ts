// LeanEmitter against node:events' EventEmitter: the same sequences of on / once / off / emit
// give the same calls, in the same order, with the same `this`, on both.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { LeanEmitter } from './lean-emitter.ts';

interface Emitter {
  on(event: string, listener: (...args: never[]) => void): unknown;
  once(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  removeAllListeners(event?: string): unknown;
  emit(event: string, ...args: unknown[]): boolean;
  listenerCount(event: string): number;
}

/** Runs one script on an emitter; returns what happened, in order. */
function script(emitter: Emitter): string[] {
  const log: string[] = [];
  const named = (name: string) =>
    function (this: unknown, ...args: unknown[]): void {
      log.push(`${name}(${args.join(',')})${this === emitter ? '' : ' wrong this'}`);
    };
  const a = named('a');
  const b = named('b');
  const c = named('c');
  emitter.on('x', a);
  emitter.once('x', b);
  emitter.on('x', a);
  emitter.on('y', c);
  log.push(`count x ${String(emitter.listenerCount('x'))}`);
  log.push(`emit x ${String(emitter.emit('x', 1, 2))}`);
  log.push(`emit x ${String(emitter.emit('x', 3))}`);
  emitter.off('x', a);
  log.push(`count x ${String(emitter.listenerCount('x'))}`);
  log.push(`emit x ${String(emitter.emit('x'))}`);
  // A once-listener removed by the listener it was given for.
  emitter.once('z', b);
  emitter.off('z', b);
  log.push(`emit z ${String(emitter.emit('z'))}`);
  // Listeners added or removed during an emit do not change that emit.
  const adder = (): void => {
    log.push('adder');
    emitter.on('w', c);
    emitter.off('w', late);
  };
  const late = named('late');
  emitter.on('w', adder);
  emitter.on('w', late);
  log.push(`emit w ${String(emitter.emit('w', 'p'))}`);
  log.push(`emit w ${String(emitter.emit('w', 'q'))}`);
  emitter.removeAllListeners('w');
  log.push(`count w ${String(emitter.listenerCount('w'))}`);
  log.push(`emit nothing ${String(emitter.emit('nothing'))}`);
  try {
    emitter.emit('error', new Error('boom'));
  } catch (error) {
    log.push(`threw ${(error as Error).message}`);
  }
  emitter.on('error', named('e'));
  log.push(`emit error ${String(emitter.emit('error', 'handled'))}`);
  emitter.removeAllListeners();
  log.push(`count y ${String(emitter.listenerCount('y'))}`);
  log.push(`emit y ${String(emitter.emit('y'))}`);
  return log;
}

test('LeanEmitter calls what EventEmitter calls, in the same order', () => {
  const expected = script(new EventEmitter() as unknown as Emitter);
  assert.ok(expected.length > 15);
  assert.deepEqual(script(new LeanEmitter()), expected);
});
