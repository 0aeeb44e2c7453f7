// The server's event log: leveled records to stderr, kept in a bounded history and fanned out
// to live subscribers (`/v1/debug/log`, KES `/v1/log/error`) without blocking the caller.

import { Multicast } from './multicast.ts';

/** Go slog levels, as the KMS log stream carries them. */
export const LEVELS = { DEBUG: -4, INFO: 0, WARN: 4, ERROR: 8 } as const;
export type LevelName = keyof typeof LEVELS;

export interface LogEvent {
  readonly level: number;
  readonly time: Date;
  readonly message: string;
}

export type LogSubscriber = (event: LogEvent) => void;

const HISTORY = 1000;

export class EventLog {
  readonly #history: LogEvent[] = [];
  /** Live subscribers (`/v1/debug/log`, KES `/v1/log/error`). */
  readonly stream = new Multicast<LogEvent>();
  readonly #write: ((line: string) => void) | null;

  /** @param write where formatted lines go (stderr by default; null = nowhere). */
  constructor(write: ((line: string) => void) | null = (line) => process.stderr.write(line)) {
    this.#write = write;
  }

  info(message: string): void {
    this.log(LEVELS.INFO, message);
  }

  warn(message: string): void {
    this.log(LEVELS.WARN, message);
  }

  error(message: string): void {
    this.log(LEVELS.ERROR, message);
  }

  log(level: number, message: string): void {
    const event: LogEvent = { level, time: new Date(), message };
    this.#history.push(event);
    if (this.#history.length > HISTORY) this.#history.shift();
    this.#write?.(`${event.time.toISOString()} ${levelName(level)} ${message}\n`);
    this.stream.publish(event);
  }

  /** Records since `since` (oldest first), from the bounded in-memory history. */
  since(since: Date): LogEvent[] {
    return this.#history.filter((e) => e.time >= since);
  }

  subscribe(subscriber: LogSubscriber): () => void {
    return this.stream.subscribe(subscriber);
  }
}

export function levelName(level: number): LevelName {
  if (level >= LEVELS.ERROR) return 'ERROR';
  if (level >= LEVELS.WARN) return 'WARN';
  if (level >= LEVELS.INFO) return 'INFO';
  return 'DEBUG';
}

/**
 * Where an event log writes when only lines at or above a level that may change (a config file's
 * error level, re-read on reload) are printed: to stderr.
 */
export function stderrFrom(minimum: () => number): (line: string) => void {
  return (line) => {
    if (lineLevel(line) >= minimum()) process.stderr.write(line);
  };
}

/** The level of a line EventLog wrote (`<time> <LEVEL> <message>`). */
function lineLevel(line: string): number {
  const name = line.split(' ', 2)[1] as keyof typeof LEVELS | undefined;
  return name !== undefined && name in LEVELS ? LEVELS[name] : LEVELS.INFO;
}
