// Shared set-up of the core's unit tests (not shipped: package.json leaves test-support out).

import type { Command } from '../state/commands.ts';
import { State } from '../state/state.ts';
import { Core } from './core.ts';

/** A syntactically valid identity for a test name. */
export const testIdentity = (name: string): string =>
  'h1:' +
  Buffer.concat([Buffer.from(name), Buffer.alloc(32)])
    .subarray(0, 32)
    .toString('base64url');

/**
 * A core over an empty in-memory state whose writes apply at once (the engine and the store are
 * tested on their own), at a fixed clock.
 */
export function memoryCore(): { core: Core; state: State } {
  const state = new State();
  const sink = {
    submit(command: Command): Promise<void> {
      state.check(command);
      state.apply(command);
      return Promise.resolve();
    },
  };
  return { core: new Core(state, sink, () => 1_700_000_000_000), state };
}
