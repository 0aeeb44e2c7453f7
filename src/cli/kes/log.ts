// `keyhold kes log [--audit|--error]`: follows the server's audit or error log stream and prints
// each event as it arrives, until interrupted or the server ends the stream.

import { flag, UsageError } from '../command.ts';
import type { Command } from '../command.ts';
import { formatTime } from '../output.ts';
import type { KesAuditEvent, KesErrorEvent, KesLogStream } from '../../sdk/kes/index.ts';
import { clientFrom, CONNECTION_OPTIONS, CONNECTION_USAGE, failure } from './connection.ts';
import { io } from '../io.ts';

const AUDIT_COLUMNS = [20, 4, 64, 15] as const;

const log: Command = {
  words: ['log'],
  summary: 'Follow the audit or error log',
  usage: `Usage: keyhold kes log [options]

Follows the server's audit log (default) or error log and prints every event that happens
from now on, until interrupted (Ctrl-C) or the server closes the stream.

Options:
      --audit    the audit log: one line per request (time, status, identity, IP, path, latency)
      --error    the error log: the server's error messages
      --json     print each event as one line of JSON, as the server sent it

${CONNECTION_USAGE}
`,
  options: { ...CONNECTION_OPTIONS, audit: { type: 'boolean' }, error: { type: 'boolean' } },
  async run(args) {
    if (args.positionals.length > 0) throw new UsageError('expected no arguments');
    if (flag(args, 'audit') && flag(args, 'error')) {
      throw new UsageError('--audit and --error are mutually exclusive');
    }
    const audit = !flag(args, 'error');
    const json = flag(args, 'json');
    const client = clientFrom(args);
    let stream: KesLogStream<KesAuditEvent> | KesLogStream<KesErrorEvent>;
    try {
      stream = audit ? await client.auditLog() : await client.errorLog();
    } catch (error) {
      client.close();
      throw failure(`open the ${audit ? 'audit' : 'error'} log`, error);
    }
    const stop = (): void => stream.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      if (!json && audit) {
        write(row(['Time', 'Code', 'Identity', 'IP'], 'API', 'Latency') + '\n');
      }
      for await (const event of stream as AsyncIterable<KesAuditEvent | KesErrorEvent>) {
        if ('message' in event) write(json ? JSON.stringify(event) + '\n' : event.message + '\n');
        else write(json ? JSON.stringify(encodeAudit(event)) + '\n' : formatAudit(event) + '\n');
      }
    } catch (error) {
      throw failure(`read the ${audit ? 'audit' : 'error'} log`, error);
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      stream.close();
      client.close();
    }
    return 0;
  },
};

function write(text: string): void {
  io().stdout.write(text);
}

// Events arrive one by one, so columns have fixed widths instead of being measured.
function row(cells: readonly string[], path: string, latency: string): string {
  return cells.map((c, i) => c.padEnd(AUDIT_COLUMNS[i] ?? 0)).join('  ') + `  ${path}  ${latency}`;
}

function formatAudit(e: KesAuditEvent): string {
  return row(
    [
      formatTime(e.time),
      String(e.response.code),
      e.request.identity === '' ? '-' : e.request.identity,
      e.request.ip === '' ? '-' : e.request.ip,
    ],
    e.request.path,
    `${e.response.time}ms`,
  );
}

function encodeAudit(e: KesAuditEvent): Record<string, unknown> {
  return {
    time: e.time.toISOString(),
    request: {
      ...(e.request.ip !== '' ? { ip: e.request.ip } : {}),
      path: e.request.path,
      ...(e.request.identity !== '' ? { identity: e.request.identity } : {}),
    },
    response: { code: e.response.code, time: e.response.time },
  };
}

export const LOG_VERBS: readonly Command[] = [log];
