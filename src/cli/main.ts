#!/usr/bin/env node
// The `keyhold` command: dispatches to one command per verb, minkms-style (`keyhold add-key`),
// plus `keyhold server`, `keyhold hsm`, `keyhold identity` and the `keyhold kes …` group.

import { COMMANDS } from './commands.ts';
import { parse, UsageError } from './command.ts';
import { print, printError } from './output.ts';

const USAGE = `Usage: keyhold <command> [options] [arguments]

Keyhold is a key management server for object storage, compatible with MinIO KMS and KES.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(16)} ${c.summary}`).join('\n')}

Run 'keyhold <command> --help' for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    print(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    const { VERSION } = await import('../version.ts');
    print(VERSION);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    printError(`unknown command '${name}'. See 'keyhold --help'`);
    return 2;
  }
  try {
    const args = parse(command, rest);
    if (args === 'help') {
      print(command.usage);
      return 0;
    }
    return await command.run(args);
  } catch (error) {
    if (error instanceof UsageError) {
      printError(`${error.message}. See 'keyhold ${command.name} --help'`);
      return 2;
    }
    printError(error instanceof Error ? error.message : String(error));
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
