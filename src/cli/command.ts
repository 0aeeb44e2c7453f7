// The CLI's command model: a command is a name, a usage text and a run function over parsed
// arguments. A ~60-line dispatcher on node:util parseArgs.

import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** A runnable command. `run` returns the process exit code. */
export interface Command {
  readonly name: string;
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

/** Parses `argv` for a command; `--help` is always accepted. */
export function parse(command: Command, argv: string[]): ParsedArgs | 'help' {
  if (command.rawArgs === true) return { values: {}, positionals: argv };
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
