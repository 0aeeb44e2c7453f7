// Terminal output helpers: aligned tables, JSON, and errors on stderr (of the current CliIo).

import { io } from './io.ts';

/** Prints rows as left-aligned columns; the first row is the header. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Writes a value as indented JSON followed by a newline. */
export function printJson(value: unknown): void {
  // Buffer.toJSON runs before a replacer sees the value, so bytes arrive as {type, data}.
  const bytes = (v: unknown): v is { type: 'Buffer'; data: number[] } =>
    typeof v === 'object' &&
    v !== null &&
    (v as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((v as { data?: unknown }).data);
  io().stdout.write(
    JSON.stringify(
      value,
      (_k, v: unknown) => (bytes(v) ? Buffer.from(v.data).toString('base64') : v),
      2,
    ) + '\n',
  );
}

export function print(text: string): void {
  io().stdout.write(text.endsWith('\n') ? text : text + '\n');
}

export function printError(text: string): void {
  io().stderr.write(`keyhold: ${text}\n`);
}

/** Formats a date for tables: ISO without milliseconds. */
export function formatTime(date: Date | undefined): string {
  return date ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : '';
}
