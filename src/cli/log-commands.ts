// `keyhold logs [HOST[:PORT]]`: follows a server's event log (POST /v1/debug/log) until Ctrl-C
// or -n records, filtered by level and message, optionally replaying history with --since.

import { LOG_LEVELS } from '../sdk/index.ts';
import type { LogLevelName, LogRecord } from '../sdk/index.ts';
import type { Command, ParsedArgs } from './command.ts';
import { stringOption, UsageError } from './command.ts';
import { clientFromArgs, defineClientCommand, integerOption } from './client-options.ts';
import { formatTime, print } from './output.ts';
import { io } from './io.ts';

const UNITS: Record<string, number> = {
  s: 1000,
  sec: 1000,
  second: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
};

/**
 * Parses --since: an ISO date or time (`2026-01-02`, `2026-01-02T03:04:05Z`), `today`,
 * `yesterday`, or an age such as `90s`, `15m`, `2h`, `3d`, `3 days ago`.
 */
export function parseSince(text: string, now: Date = new Date()): Date {
  const t = text.trim().toLowerCase();
  if (t === 'today' || t === 'yesterday') {
    const day = new Date(now);
    day.setHours(0, 0, 0, 0);
    if (t === 'yesterday') day.setDate(day.getDate() - 1);
    return day;
  }
  const age = /^(\d+)\s*([a-z]+?)s?(?:\s+ago)?$/.exec(t);
  if (age && UNITS[age[2]!] !== undefined) {
    return new Date(now.getTime() - Number(age[1]) * UNITS[age[2]!]!);
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const date = new Date(text.trim());
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new UsageError(
    `--since must be a date, a time, 'today', or an age like '15m' or '3 days ago', got '${text}'`,
  );
}

function levelOf(args: ParsedArgs): LogLevelName {
  const text = (stringOption(args, 'level') ?? 'INFO').toUpperCase();
  if (!(text in LOG_LEVELS)) {
    throw new UsageError(`--level must be DEBUG, INFO, WARN or ERROR, got '${text}'`);
  }
  return text as LogLevelName;
}

function levelLabel(level: number): string {
  if (level >= LOG_LEVELS.ERROR) return 'ERROR';
  if (level >= LOG_LEVELS.WARN) return 'WARN';
  if (level >= LOG_LEVELS.INFO) return 'INFO';
  return 'DEBUG';
}

function printRecord(record: LogRecord, json: boolean): void {
  if (json) {
    io().stdout.write(
      JSON.stringify({
        time: record.time?.toISOString() ?? null,
        level: levelLabel(record.level),
        message: record.message,
      }) + '\n',
    );
  } else {
    print(`${formatTime(record.time)} ${levelLabel(record.level).padEnd(5)} ${record.message}`);
  }
}

export const logsCommand: Command = defineClientCommand({
  name: 'logs',
  summary: "Follow a server's log",
  synopsis: '[HOST[:PORT]] [--level LEVEL] [--message TEXT] [--since WHEN] [-n N] [options]',
  description: `Prints the log records of one server as they happen, until Ctrl-C or until -n records
were printed. HOST[:PORT] picks the server (default: -s). With --since, records kept since
then are printed first. Requires SysAdmin.`,
  options: {
    level: { type: 'string', short: 'l' },
    message: { type: 'string', short: 'm' },
    since: { type: 'string' },
    records: { type: 'string', short: 'n' },
  },
  optionsUsage: `  -l, --level LEVEL    minimum level: DEBUG, INFO (default), WARN or ERROR
  -m, --message TEXT   only records whose message contains TEXT
      --since WHEN     first replay records since WHEN: a date or time, 'today', or an
                       age such as 15m, 2h, '3 days ago'
  -n, --records N      stop after N records`,
  positionals: [0, 1],
  client: (args) => clientFromArgs(args, args.positionals[0]),
  async run({ client, args, json }) {
    const since = stringOption(args, 'since');
    const limit = integerOption(args, 'records', 1);
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let count = 0;
    try {
      const stream = await client.logs({
        level: levelOf(args),
        message: stringOption(args, 'message'),
        since: since === undefined ? undefined : parseSince(since),
        signal: controller.signal,
      });
      io().stderr.write(`Following the log of ${stream.host} (Ctrl-C to stop)\n`);
      for await (const record of stream) {
        printRecord(record, json);
        if (limit !== undefined && ++count >= limit) break;
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    return 0;
  },
});

export const LOG_COMMANDS: readonly Command[] = [logsCommand];
