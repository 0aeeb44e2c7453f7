// The list of every CLI command, in the order `keyhold --help` shows them.

import type { Command } from './command.ts';
import { hsmCommand } from './hsm.ts';
import { serverCommand } from './server.ts';
import { identityCommand } from './identity.ts';
import { ENCLAVE_COMMANDS } from './enclave-commands.ts';
import { KEY_COMMANDS } from './key-commands.ts';
import { POLICY_COMMANDS } from './policy-commands.ts';
import { IDENTITY_COMMANDS } from './identity-commands.ts';
import { CLUSTER_COMMANDS } from './cluster-commands.ts';
import { BACKUP_COMMANDS } from './backup-commands.ts';
import { LOG_COMMANDS } from './log-commands.ts';
import { auditCommand } from './audit-commands.ts';
import { kesCommand } from './kes/kes-command.ts';

export const COMMANDS: readonly Command[] = [
  serverCommand,
  hsmCommand,
  identityCommand,
  ...ENCLAVE_COMMANDS,
  ...KEY_COMMANDS,
  ...POLICY_COMMANDS,
  ...IDENTITY_COMMANDS,
  ...CLUSTER_COMMANDS,
  ...BACKUP_COMMANDS,
  ...LOG_COMMANDS,
  auditCommand,
  kesCommand,
];
