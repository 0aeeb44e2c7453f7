// Reads a store directory and works out what it holds: the REK, the newest usable snapshot, the
// records after it, and the repairs to make (torn tail, leftovers). Reads only; changes nothing.

import { join } from 'node:path';
import { corruption, describeError, StoreError } from './errors.ts';
import type { Manifest } from './manifest.ts';
import { decodeRekFile, type RekFile } from './rek-file.ts';
import type { Sealer } from './sealer.ts';
import { parseSegment, parseSegmentName, segmentName, type ParsedSegment } from './segment.ts';
import { decodeSnapshot, parseSnapshotName, snapshotName } from './snapshot-file.ts';
import type { StoreFs } from './store-fs.ts';
import { AesGcmSealer } from './aes-gcm-sealer.ts';

/** Name of the sealed root-key file. */
export const REK_NAME = 'rek';

const TMP_NAME = /^(?:rek|log-\d{1,20}\.wal|snapshot-\d{1,20}\.snap)\.tmp$/;

/** A segment that stays after recovery, with the last index it holds. */
export interface RetainedSegment {
  readonly name: string;
  readonly firstIndex: number;
  lastIndex: number;
  /** Bytes to keep: the file size, or less when a torn tail is cut. */
  readonly validBytes: number;
}

/** What a directory holds and what `Store.open` must repair before writing. */
export interface RecoveryPlan {
  /** Null for a directory without a store: the caller creates the REK. */
  readonly keys: RekFile | null;
  readonly snapshot: {
    readonly name: string;
    readonly index: number;
    readonly payload: Buffer;
  } | null;
  readonly records: { index: number; payload: Buffer }[];
  readonly lastIndex: number;
  /** Segments that still hold records after the snapshot, oldest first. */
  readonly segments: RetainedSegment[];
  /** A torn final write to cut off: the newest segment is truncated to `validBytes`. */
  readonly torn: { readonly name: string; readonly offset: number; readonly size: number } | null;
  /** Files to delete: segments and snapshots the snapshot supersedes, and `.tmp` leftovers. */
  readonly obsolete: string[];
  /** Snapshot files that failed validation but were not needed (kept for the operator). */
  readonly badSnapshots: string[];
  readonly warnings: string[];
}

async function read(fsys: StoreFs, path: string): Promise<Buffer> {
  try {
    return await fsys.readFile(path);
  } catch (error) {
    throw new StoreError('io', `cannot read ${path}: ${describeError(error)}`, {
      file: path,
      cause: error,
    });
  }
}

/**
 * Reads `dir` and returns the recovery plan, or throws a `StoreError`: `corrupt` naming file and
 * offset, `wrong-key`, `unsupported-version` or `io`. Never writes.
 */
export async function planRecovery(
  fsys: StoreFs,
  dir: string,
  rekSealer: Sealer,
): Promise<RecoveryPlan> {
  let names: string[];
  try {
    names = (await fsys.readdir(dir)).sort();
  } catch (error) {
    throw new StoreError('io', `cannot list ${dir}: ${describeError(error)}`, {
      file: dir,
      cause: error,
    });
  }
  const segmentNames: { name: string; firstIndex: number }[] = [];
  const snapshotNames: { name: string; index: number }[] = [];
  const obsolete: string[] = [];
  for (const name of names) {
    const first = parseSegmentName(name);
    const index = parseSnapshotName(name);
    if (first !== null) segmentNames.push({ name, firstIndex: first });
    else if (index !== null) snapshotNames.push({ name, index });
    else if (TMP_NAME.test(name)) obsolete.push(name);
  }
  segmentNames.sort((a, b) => a.firstIndex - b.firstIndex);
  snapshotNames.sort((a, b) => b.index - a.index);

  const rekPath = join(dir, REK_NAME);
  if (!names.includes(REK_NAME)) {
    if (segmentNames.length > 0 || snapshotNames.length > 0) {
      throw corruption(rekPath, 0, 'the root key file is missing but the directory holds data');
    }
    return {
      keys: null,
      snapshot: null,
      records: [],
      lastIndex: 0,
      segments: [],
      torn: null,
      obsolete,
      badSnapshots: [],
      warnings: [],
    };
  }
  const keys = decodeRekFile(await read(fsys, rekPath), rekPath, rekSealer);
  const sealer = new AesGcmSealer(keys.rek);
  try {
    const plan = await planWithKeys(fsys, dir, keys, sealer, segmentNames, snapshotNames, obsolete);
    if (keys.version !== 1 && keys.manifest === null) {
      plan.warnings.push(
        `${rekPath}: both copies of the manifest are damaged, so recovery could not check for ` +
          'lost files; a new manifest is written now',
      );
    } else if (keys.damagedSlots > 0) {
      plan.warnings.push(
        `${rekPath}: one copy of the manifest was damaged or torn by a crash; the other was used, ` +
          'and both are rewritten now',
      );
    }
    return plan;
  } catch (error) {
    keys.rek.fill(0);
    throw error;
  }
}

async function planWithKeys(
  fsys: StoreFs,
  dir: string,
  keys: RekFile,
  sealer: Sealer,
  segmentNames: { name: string; firstIndex: number }[],
  snapshotNames: { name: string; index: number }[],
  obsolete: string[],
): Promise<RecoveryPlan> {
  const warnings: string[] = [];
  const parsed: ParsedSegment[] = [];
  for (const [i, { name }] of segmentNames.entries()) {
    const data = await read(fsys, join(dir, name));
    parsed.push(
      parseSegment(data, {
        dir,
        name,
        storeId: keys.storeId,
        sealer,
        isLast: i === segmentNames.length - 1,
      }),
    );
  }

  // The newest snapshot that validates. An older one is acceptable only if the log still covers
  // everything up to the newer, damaged one (checked below), so nothing is lost.
  let snapshot: { name: string; index: number; payload: Buffer } | null = null;
  let damaged: { index: number; error: StoreError; name: string } | null = null;
  const badSnapshots: string[] = [];
  for (const { name, index } of snapshotNames) {
    try {
      const decoded = decodeSnapshot(
        await read(fsys, join(dir, name)),
        dir,
        name,
        keys.storeId,
        sealer,
      );
      snapshot = { name, index: decoded.index, payload: decoded.payload };
      break;
    } catch (error) {
      if (!(error instanceof StoreError) || error.code !== 'corrupt') throw error;
      damaged ??= { index, error, name };
      badSnapshots.push(name);
    }
  }
  const base = snapshot?.index ?? 0;

  // Every index after the snapshot must be present exactly once, in order.
  let previous: ParsedSegment | null = null;
  let lastIndex = base;
  let broken: StoreError | null = null;
  for (const segment of parsed) {
    const first = segment.firstIndex;
    const expected = previous === null ? null : previous.firstIndex + previous.records.length;
    if (expected !== null && first < expected) {
      throw corruption(
        segment.path,
        0,
        `segment starts at record ${first} but the previous segment already holds up to ` +
          `${expected - 1}`,
      );
    }
    const gapFrom = expected ?? 1;
    if (first > gapFrom) {
      const what = `records ${gapFrom}..${first - 1} are missing before ${segment.path}`;
      if (first - 1 > base) {
        broken ??=
          previous === null
            ? corruption(
                segment.path,
                0,
                `${what} (a segment was lost; the snapshot covers up to ${base})`,
              )
            : corruption(
                previous.path,
                previous.validBytes,
                `${what} (a segment was lost or cut short)`,
              );
      } else if (previous !== null) {
        warnings.push(`${what}; the snapshot at ${base} covers them`);
      }
    }
    lastIndex = Math.max(lastIndex, first + segment.records.length - 1);
    previous = segment;
  }

  if (damaged !== null) {
    // The damaged snapshot is needed unless the older state plus the log reach past it.
    if (broken !== null || lastIndex < damaged.index) throw damaged.error;
    warnings.push(
      `${damaged.error.message}; recovered from ${snapshot === null ? 'the log alone' : join(dir, snapshot.name)} ` +
        `and the log instead (nothing lost); the damaged snapshot is kept for inspection`,
    );
  }
  if (keys.manifest !== null) {
    const reached = broken === null ? lastIndex : contiguousEnd(base, parsed);
    warnings.push(
      ...checkManifest(keys.manifest, {
        dir,
        base,
        snapshotName: snapshot === null ? null : snapshot.name,
        reached,
        snapshots: snapshotNames,
        segments: segmentNames,
        newest: broken === null ? (parsed.at(-1) ?? null) : null,
        gap: broken !== null,
      }),
    );
  }
  if (broken !== null) throw broken;

  const records: { index: number; payload: Buffer }[] = [];
  const segments: RetainedSegment[] = [];
  for (const segment of parsed) {
    const name = segmentNames[parsed.indexOf(segment)]!.name;
    const segmentLast = segment.firstIndex + segment.records.length - 1;
    if (segmentLast <= base) {
      obsolete.push(name);
      for (const record of segment.records) record.payload.fill(0);
      continue;
    }
    for (const record of segment.records) {
      if (record.index > base) records.push({ index: record.index, payload: record.payload });
      else record.payload.fill(0);
    }
    segments.push({
      name,
      firstIndex: segment.firstIndex,
      lastIndex: segmentLast,
      validBytes: segment.validBytes,
    });
  }

  let torn: RecoveryPlan['torn'] = null;
  const newest = parsed.at(-1);
  const name = segmentNames.at(-1)?.name;
  if (newest?.torn && segments.at(-1)?.name === name && name !== undefined) {
    torn = { name, offset: newest.torn.offset, size: newest.size };
    warnings.push(
      `${newest.path}: cut off an incomplete final write at byte ${newest.torn.offset} ` +
        `(${newest.size - newest.torn.offset} bytes: ${newest.torn.reason}); a write cut short ` +
        `by a crash was never acknowledged; the records up to ${lastIndex} are intact`,
    );
  }
  for (const { name, index } of snapshotNames) {
    if (snapshot !== null && index < snapshot.index) obsolete.push(name);
  }
  return {
    keys,
    snapshot,
    records,
    lastIndex,
    segments,
    torn,
    obsolete,
    badSnapshots: badSnapshots.filter((name) => !obsolete.includes(name)),
    warnings,
  };
}

/** The last index reachable from `base` through segments without a gap. */
function contiguousEnd(base: number, segments: readonly ParsedSegment[]): number {
  let end = base;
  for (const segment of segments) {
    if (segment.firstIndex > end + 1) break;
    end = Math.max(end, segment.firstIndex + segment.records.length - 1);
  }
  return end;
}

/** What the manifest is checked against. */
interface Found {
  readonly dir: string;
  /** Index and name of the snapshot recovery starts from (0 and null: none). */
  readonly base: number;
  readonly snapshotName: string | null;
  /** The last index recovered without a gap. */
  readonly reached: number;
  readonly snapshots: readonly { readonly name: string; readonly index: number }[];
  readonly segments: readonly { readonly name: string; readonly firstIndex: number }[];
  /** The newest segment, when the log has no gap. */
  readonly newest: ParsedSegment | null;
  /** The log has a gap after the snapshot (reported by the caller unless something here is). */
  readonly gap: boolean;
}

function range(from: number, to: number): string {
  return from === to ? `record ${from} is` : `records ${from}..${to} (${to - from + 1}) are`;
}

/**
 * Checks that the files account for everything the manifest says the store wrote: the newest
 * segment exists, nothing acknowledged is missing, and a damaged end of the newest segment is
 * past the last acknowledged record (a torn write) rather than acknowledged data. Throws
 * `corrupt` naming the file, offset and missing indexes; returns warnings for what was lost
 * without losing data (a snapshot whose state the log still holds).
 */
function checkManifest(manifest: Manifest, found: Found): string[] {
  const { dir, base, reached } = found;
  const acknowledged = `the store had acknowledged records up to ${manifest.durable}`;
  const warnings: string[] = [];
  if (manifest.snapshot > base && !found.snapshots.some((s) => s.index >= manifest.snapshot)) {
    const path = join(dir, snapshotName(manifest.snapshot));
    if (reached < manifest.durable) {
      throw corruption(
        path,
        0,
        `the snapshot is missing: it held the state up to record ${manifest.snapshot}, and ` +
          `${acknowledged}, but the remaining files hold only ${reached === 0 ? 'none' : `up to ${reached}`}`,
      );
    }
    warnings.push(
      `${path} is missing; recovered from ${
        found.snapshotName === null ? 'the log alone' : join(dir, found.snapshotName)
      } and the log instead (nothing lost)`,
    );
  }
  if (manifest.segment > 0 && !found.segments.some((s) => s.firstIndex === manifest.segment)) {
    throw corruption(
      join(dir, segmentName(manifest.segment)),
      0,
      `the newest log segment is missing: it held the records from ${manifest.segment} on, and ` +
        acknowledged,
    );
  }
  if (found.gap) return warnings;
  const newest = found.newest;
  if (newest?.torn && reached + 1 <= manifest.durable) {
    throw corruption(
      newest.path,
      newest.torn.offset,
      `${newest.torn.reason}, but record ${reached + 1} was acknowledged (${acknowledged}): the ` +
        `file was cut short or damaged, not torn by a crash; ${range(reached + 1, manifest.durable)} lost`,
    );
  }
  if (reached < manifest.durable) {
    if (newest !== null && reached >= newest.firstIndex - 1) {
      throw corruption(
        newest.path,
        newest.validBytes,
        `the file ends after record ${reached}, but ${acknowledged}: it was cut short, and ` +
          `${range(reached + 1, manifest.durable)} missing`,
      );
    }
    throw corruption(
      dir,
      0,
      `${acknowledged}, but the files hold only ${reached === 0 ? 'none' : `up to ${reached}`}: ` +
        `${range(reached + 1, manifest.durable)} missing (a log segment was deleted)`,
    );
  }
  return warnings;
}
