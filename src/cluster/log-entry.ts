// A cluster log entry (the sealed value of a `log/` key in etcd, and a record of the local copy):
// a state command, or the mark of an imported snapshot whose chunks lie under `snap/ID/`.

import { decodeCommand, encodeCommand } from '../state/commands.ts';
import type { Command } from '../state/commands.ts';

const COMMAND = 1;
const SNAPSHOT = 2;

/** A snapshot written in chunks (an import): applying it replaces the whole state. */
export interface SnapshotMark {
  readonly id: string;
  readonly chunks: number;
  /** Hex SHA-256 of the concatenated snapshot payload. */
  readonly sha256: string;
}

export type LogEntry =
  | { readonly kind: 'command'; readonly command: Command }
  | { readonly kind: 'snapshot'; readonly mark: SnapshotMark };

export function encodeEntry(entry: LogEntry): Buffer {
  if (entry.kind === 'command') {
    return Buffer.concat([Buffer.of(COMMAND), encodeCommand(entry.command)]);
  }
  return Buffer.concat([Buffer.of(SNAPSHOT), Buffer.from(JSON.stringify(entry.mark))]);
}

export function decodeEntry(bytes: Buffer): LogEntry {
  const kind = bytes[0];
  if (kind === COMMAND) return { kind: 'command', command: decodeCommand(bytes.subarray(1)) };
  if (kind === SNAPSHOT) {
    const mark = JSON.parse(bytes.subarray(1).toString('utf8')) as SnapshotMark;
    if (typeof mark.id !== 'string' || !Number.isSafeInteger(mark.chunks)) {
      throw new Error('invalid snapshot mark');
    }
    return { kind: 'snapshot', mark };
  }
  throw new Error(`unknown log entry kind ${String(kind)}`);
}
