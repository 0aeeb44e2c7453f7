// The objects a command changes, as read paths (`enclave/E`, `enclave/E/key/K`,
// `enclave/E/policy/P`, `identity/I`): what the wait rule keeps in flight after it is applied.
// Computed while applying, from the state, so that cascades (an identity's service accounts, an
// enclave's identities) are exact and the same on every node.

import type { Command } from '../state/commands.ts';
import type { State } from '../state/state.ts';

/** Applies `command` to `state` and returns the objects it changed. */
export function applyTracked(state: State, command: Command): string[] {
  const e = `enclave/${command.enclave}`;
  switch (command.op) {
    case 'enclave.create':
      state.apply(command);
      return [e];
    case 'key.create':
    case 'key.delete':
      state.apply(command);
      return [`${e}/key/${command.name}`];
    case 'policy.put':
    case 'policy.delete':
      state.apply(command);
      return [`${e}/policy/${command.name}`];
    case 'policy.assign':
    case 'identity.put':
      state.apply(command);
      return [`identity/${command.identity}`];
    case 'enclave.delete':
    case 'identity.delete': {
      const before = [...state.identities.values()];
      state.apply(command);
      const out = command.op === 'enclave.delete' ? [e] : [`identity/${command.identity}`];
      for (const record of before) {
        if (!state.identities.has(record.enclave, record.identity)) {
          out.push(`identity/${record.identity}`);
        }
      }
      return out;
    }
  }
}
