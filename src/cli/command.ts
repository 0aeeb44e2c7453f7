// The CLI's one command framework: a command is the words that name it, a usage text, its
// options and a run function over the parsed arguments. `runCommands` dispatches one level —
// `keyhold <command>` and `keyhold kes <command>` alike: it finds the command by its words
// (longest match), answers `--help` at every level, lists the commands under a partial match,
// and turns errors into exit codes the same way everywhere: 0 success, 1 a failure printed as
// `keyhold: <message>` (the message names the item that failed), 2 a usage error printed with a
// pointer to the right `--help`.

import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { io } from './io.ts';
import { print, printError } from './output.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** A runnable command. `run` returns the exit code. */
export interface Command {
  /** The words after the program or group name, e.g. `['add-key']`, `['key', 'create']`. */
  readonly words: readonly string[];
  /** One line for the command list. */
  readonly summary: string;
  /** Full `--help` text. */
  readonly usage: string;
  readonly options: Options;
  /**
   * A command group that parses per subcommand (`keyhold kes key create …`): `run` receives the
   * raw arguments as `positionals`, `options` is ignored, and `--help` is left to the group.
   */
  readonly rawArgs?: boolean;
  run(args: ParsedArgs): Promise<number> | number;
}

export interface ParsedArgs {
  readonly values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  readonly positionals: string[];
}

/** A usage error: printed with a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The command list of a usage text. */
export function commandList(commands: readonly Command[], width = 16): string {
  return commands.map((c) => `  ${c.words.join(' ').padEnd(width)} ${c.summary}`).join('\n');
}

const isHelp = (word: string | undefined): boolean =>
  word === '--help' || word === '-h' || word === 'help';

/**
 * Runs `argv` against `commands` under the name `prefix` (`keyhold`, `keyhold kes`). Prints
 * `usage` for an empty argv (exit 2) or `--help` (exit 0), and the list of commands under a
 * partial match such as `keyhold kes key`.
 */
export async function runCommands(
  prefix: string,
  usage: string,
  commands: readonly Command[],
  argv: readonly string[],
): Promise<number> {
  const first = argv[0];
  if (first === undefined || isHelp(first)) {
    print(usage);
    return first === undefined ? 2 : 0;
  }
  const command = findCommand(commands, argv);
  if (command === undefined) return unknownCommand(prefix, commands, argv);
  const name = `${prefix} ${command.words.join(' ')}`;
  const rest = argv.slice(command.words.length);
  try {
    const args =
      command.rawArgs === true ? { values: {}, positionals: rest } : parse(command, rest);
    if (args === 'help') {
      print(command.usage);
      return 0;
    }
    return await command.run(args);
  } catch (error) {
    if (error instanceof UsageError) {
      printError(`${error.message}. See '${name} --help'`);
      return 2;
    }
    printError(error instanceof Error ? error.message : String(error));
    return 1;
  }
}

function unknownCommand(prefix: string, commands: readonly Command[], argv: readonly string[]) {
  const words = argv.filter((a) => !a.startsWith('-'));
  const partial = commands.filter((c) => c.words.length > 1 && c.words[0] === words[0]);
  if (partial.length === 0) {
    printError(`unknown command '${prefix} ${argv[0]!}'. See '${prefix} --help'`);
    return 2;
  }
  const text = `Usage: ${prefix} ${words[0]!} <command> [options]\n\nCommands:\n${commandList(partial, 18)}\n\nRun '${prefix} ${words[0]!} <command> --help' for a command's options.\n`;
  if (argv.includes('--help') || argv.includes('-h')) {
    print(text);
    return 0;
  }
  if (words.length > 1) printError(`unknown command '${prefix} ${words.slice(0, 2).join(' ')}'`);
  io().stderr.write(text);
  return 2;
}

function findCommand(commands: readonly Command[], argv: readonly string[]): Command | undefined {
  let best: Command | undefined;
  for (const command of commands) {
    if (command.words.every((w, i) => argv[i] === w)) {
      if (best === undefined || command.words.length > best.words.length) best = command;
    }
  }
  return best;
}

/** Parses `argv` for a command; `--help` is always accepted. */
function parse(command: Command, argv: string[]): ParsedArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (parsed.values.help === true) return 'help';
  return { values: parsed.values, positionals: parsed.positionals };
}

/** Reads a string option. */
export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

/** Reads a boolean option. */
export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}
