// Exclusive lock on a store directory: a `LOCK` file naming the owning process, created
// atomically; a lock whose owner is gone (dead pid, reused pid, earlier boot) is taken over.

import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describeError, StoreError } from './errors.ts';
import { writeAll, type StoreFs } from './store-fs.ts';

/** Name of the lock file inside the store directory. */
export const LOCK_NAME = 'LOCK';

/** Directories this process holds, so a second open in the same process fails too. */
const held = new Set<string>();

interface Owner {
  readonly pid: number;
  readonly start: string | undefined;
  readonly boot: string | undefined;
}

/**
 * The lock on one store directory. At most one holder across processes and within this one.
 * Limits: a takeover of a stale lock can race with a second process taking it over at the same
 * instant (a window of microseconds after a crash); locks are advisory, and only Keyhold honours
 * them.
 */
export class DirLock {
  readonly #fs: StoreFs;
  readonly #key: string;
  readonly #path: string;
  #released = false;

  private constructor(fsys: StoreFs, key: string, path: string) {
    this.#fs = fsys;
    this.#key = key;
    this.#path = path;
  }

  /** Takes the lock on `dir` or throws `locked` naming the process that holds it. */
  static async acquire(fsys: StoreFs, dir: string): Promise<DirLock> {
    const key = resolve(dir);
    const path = join(dir, LOCK_NAME);
    if (held.has(key)) {
      throw new StoreError('locked', `${dir} is already open in this process (${path})`, {
        file: path,
      });
    }
    held.add(key);
    try {
      await takeLock(fsys, dir, path);
    } catch (error) {
      held.delete(key);
      throw error;
    }
    return new DirLock(fsys, key, path);
  }

  /** Removes the lock file. Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    try {
      await this.#fs.unlink(this.#path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    } finally {
      held.delete(this.#key);
    }
  }
}

async function takeLock(fsys: StoreFs, dir: string, path: string): Promise<void> {
  const me = await describeProcess(process.pid);
  const content = Buffer.from(`pid=${me.pid} start=${me.start ?? '-'} boot=${me.boot ?? '-'}\n`);
  const tmp = join(dir, `${LOCK_NAME}.${process.pid}.tmp`);
  for (let attempt = 0; attempt < 3; attempt++) {
    const fd = await ioStep(path, () => fsys.open(tmp, 'w', 0o600));
    try {
      await ioStep(path, () => writeAll(fsys, fd, content, 0));
    } finally {
      await fsys.close(fd);
    }
    let exists = false;
    try {
      await fsys.link(tmp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        await fsys.unlink(tmp).catch(() => undefined);
        throw ioError(path, error);
      }
      exists = true;
    }
    await fsys.unlink(tmp).catch(() => undefined);
    if (!exists) return;

    let ino: number;
    let owner: Owner | null;
    try {
      ino = (await fsys.stat(path)).ino;
      owner = parseOwner((await fsys.readFile(path)).toString('latin1'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw ioError(path, error);
    }
    if (owner !== null && !(await isStale(owner))) {
      throw new StoreError(
        'locked',
        `${dir} is in use by another Keyhold process (pid ${owner.pid}, lock file ${path})`,
        { file: path },
      );
    }
    try {
      if ((await fsys.stat(path)).ino === ino) await fsys.unlink(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(path, error);
    }
  }
  throw new StoreError('locked', `could not take the lock ${path}: it keeps changing`, {
    file: path,
  });
}

async function ioStep<T>(path: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw ioError(path, error);
  }
}

function ioError(path: string, error: unknown): StoreError {
  return new StoreError('io', `cannot lock ${path}: ${describeError(error)}`, {
    file: path,
    cause: error,
  });
}

function parseOwner(text: string): Owner | null {
  const fields = new Map<string, string>();
  for (const part of text.trim().split(/\s+/)) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const pid = Number(fields.get('pid'));
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  const known = (value: string | undefined) =>
    value === undefined || value === '-' ? undefined : value;
  return { pid, start: known(fields.get('start')), boot: known(fields.get('boot')) };
}

/** A lock is stale when its owner cannot still be running: see the cases below. */
async function isStale(owner: Owner): Promise<boolean> {
  const now = await describeProcess(owner.pid);
  // Written before the last reboot: every process of that boot is gone.
  if (owner.boot !== undefined && now.boot !== undefined && owner.boot !== now.boot) return true;
  // Our own pid but not in `held`: a previous incarnation with the same pid (a container's pid 1).
  if (owner.pid === process.pid) return true;
  if (!isAlive(owner.pid)) return true;
  // The pid was reused by a process that started at another time.
  return owner.start !== undefined && now.start !== undefined && owner.start !== now.start;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Linux start time (clock ticks since boot) of `pid` and the boot id; undefined elsewhere. */
async function describeProcess(pid: number): Promise<Owner> {
  let start: string | undefined;
  let boot: string | undefined;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'latin1');
    // comm (field 2) may contain spaces and parentheses: count fields after its last ')'.
    start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    start = undefined;
  }
  try {
    boot = (await readFile('/proc/sys/kernel/random/boot_id', 'latin1')).trim() || undefined;
  } catch {
    boot = undefined;
  }
  return { pid, start, boot };
}
