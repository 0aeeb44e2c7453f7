// The list of every CLI command, in the order `keyhold --help` shows them.

import type { Command } from './command.ts';
import { hsmCommand } from './hsm.ts';
import { serverCommand } from './server.ts';
import { identityCommand } from './identity.ts';

export const COMMANDS: readonly Command[] = [serverCommand, hsmCommand, identityCommand];
