// A command group with nested verbs (`keyhold kes key create …`): finds the verb by its words,
// parses that verb's own options, answers `--help` at every level, and maps usage errors to
// exit code 2 with a pointer to the right `--help`.

import { parseArgs } from 'node:util';
import type { Options, ParsedArgs } from '../command.ts';
import { UsageError } from '../command.ts';
import { print, printError } from '../output.ts';

/** One verb of a group, e.g. words `['key', 'create']`. */
export interface Verb {
  readonly words: readonly string[];
  /** One line for the group's verb list. */
  readonly summary: string;
  /** Full `--help` text. */
  readonly usage: string;
  readonly options: Options;
  run(args: ParsedArgs): Promise<number> | number;
}

/**
 * Runs `argv` against `verbs` under the command name `prefix` (e.g. `keyhold kes`). The verb is
 * the longest word sequence that matches the start of `argv`. Prints `groupUsage` for an empty
 * argv (exit 2) or `--help` (exit 0); prints the list of verbs under a partial match such as
 * `keyhold kes key`. Usage errors print `keyhold: … See '<prefix> <verb> --help'` and return 2.
 */
export async function runGroup(
  prefix: string,
  groupUsage: string,
  verbs: readonly Verb[],
  argv: readonly string[],
): Promise<number> {
  const first = argv[0];
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    print(groupUsage);
    return first === undefined ? 2 : 0;
  }
  const verb = findVerb(verbs, argv);
  if (verb === undefined) {
    const words = argv.filter((a) => !a.startsWith('-'));
    const partial = verbs.filter((v) => v.words[0] === words[0]);
    if (partial.length > 0) {
      const help = argv.includes('--help') || argv.includes('-h');
      const list = partial.map((v) => `  ${v.words.join(' ').padEnd(18)} ${v.summary}`).join('\n');
      const text = `Usage: ${prefix} ${words[0]!} <command> [options]\n\nCommands:\n${list}\n\nRun '${prefix} ${words[0]!} <command> --help' for a command's options.\n`;
      if (help) {
        print(text);
        return 0;
      }
      if (words.length > 1)
        printError(`unknown command '${prefix} ${words.slice(0, 2).join(' ')}'`);
      process.stderr.write(text);
      return 2;
    }
    printError(`unknown command '${prefix} ${first}'. See '${prefix} --help'`);
    return 2;
  }
  const name = `${prefix} ${verb.words.join(' ')}`;
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv.slice(verb.words.length),
        options: { ...verb.options, help: { type: 'boolean', short: 'h' } },
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    if (parsed.values.help === true) {
      print(verb.usage);
      return 0;
    }
    return await verb.run({ values: parsed.values, positionals: parsed.positionals });
  } catch (error) {
    if (error instanceof UsageError) {
      printError(`${error.message}. See '${name} --help'`);
      return 2;
    }
    throw error;
  }
}

function findVerb(verbs: readonly Verb[], argv: readonly string[]): Verb | undefined {
  let best: Verb | undefined;
  for (const verb of verbs) {
    if (verb.words.every((w, i) => argv[i] === w)) {
      if (best === undefined || verb.words.length > best.words.length) best = verb;
    }
  }
  return best;
}
