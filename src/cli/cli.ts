// The whole CLI as a function: `main(argv, io)` runs one `keyhold …` command line with the given
// output streams, standard input and environment, and returns the exit code instead of exiting.
// The `keyhold` binary (main.ts) calls it with the process's own; tests call it in-process.

import { COMMANDS } from './commands.ts';
import { commandList, runCommands } from './command.ts';
import { withIo } from './io.ts';
import type { CliIo } from './io.ts';
import { print } from './output.ts';

const USAGE = `Usage: keyhold <command> [options] [arguments]

Keyhold is a key management server for object storage, compatible with MinIO KMS and KES.

Commands:
${commandList(COMMANDS)}

Run 'keyhold <command> --help' for a command's options.
`;

/** Runs the command line `argv` (without the program name) and resolves with its exit code. */
export function main(argv: readonly string[], cliIo: CliIo): Promise<number> {
  return withIo(cliIo, async () => {
    const first = argv[0];
    if (first === '--version' || first === 'version') {
      const { VERSION } = await import('../version.ts');
      print(VERSION);
      return 0;
    }
    return runCommands('keyhold', USAGE, COMMANDS, argv);
  });
}
