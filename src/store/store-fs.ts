// The file-system calls the store makes, as one replaceable object: production uses node:fs;
// tests wrap it to count fsyncs or to inject ENOSPC/EIO at a chosen call.

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';

/** The subset of node:fs the store uses. Every call may reject with a Node errno error. */
export interface StoreFs {
  /** mkdir -p with the given mode for directories it creates. */
  mkdir(path: string, mode: number): Promise<void>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Buffer>;
  stat(
    path: string,
  ): Promise<{ readonly ino: number; readonly mode: number; isDirectory(): boolean }>;
  /** Opens a file (or, with flags 'r', a directory for fsync) and returns its descriptor. */
  open(path: string, flags: string, mode?: number): Promise<number>;
  /** Writes at `position` (pwrite); resolves with the number of bytes written, maybe fewer. */
  write(fd: number, data: Uint8Array, position: number): Promise<number>;
  fsync(fd: number): Promise<void>;
  fdatasync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  close(fd: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Hard link; rejects with EEXIST when `to` exists (used to create a file with content atomically). */
  link(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

function settle<T>(resolve: (value: T) => void, reject: (error: Error) => void) {
  return (error: NodeJS.ErrnoException | null, value: T): void => {
    if (error) reject(error);
    else resolve(value);
  };
}

/** The real file system. Descriptor calls run on libuv's thread pool, never on the event loop. */
export const nodeStoreFs: StoreFs = {
  async mkdir(path, mode) {
    await fsp.mkdir(path, { recursive: true, mode });
  },
  readdir: (path) => fsp.readdir(path),
  readFile: (path) => fsp.readFile(path),
  stat: (path) => fsp.stat(path),
  open: (path, flags, mode) =>
    new Promise((resolve, reject) => {
      fs.open(path, flags, mode, settle(resolve, reject));
    }),
  write: (fd, data, position) =>
    new Promise((resolve, reject) => {
      fs.write(fd, data, 0, data.length, position, (error, written) => {
        if (error) reject(error);
        else resolve(written);
      });
    }),
  fsync: (fd) =>
    new Promise((resolve, reject) => {
      fs.fsync(fd, (error) => {
        if (error) reject(error);
        else resolve();
      });
    }),
  fdatasync: (fd) =>
    new Promise((resolve, reject) => {
      fs.fdatasync(fd, (error) => {
        if (error) reject(error);
        else resolve();
      });
    }),
  ftruncate: (fd, length) =>
    new Promise((resolve, reject) => {
      fs.ftruncate(fd, length, (error) => {
        if (error) reject(error);
        else resolve();
      });
    }),
  close: (fd) =>
    new Promise((resolve, reject) => {
      fs.close(fd, (error) => {
        if (error) reject(error);
        else resolve();
      });
    }),
  rename: (from, to) => fsp.rename(from, to),
  link: (from, to) => fsp.link(from, to),
  unlink: (path) => fsp.unlink(path),
};

/** Writes all of `data` at `position`, looping over short writes. */
export async function writeAll(
  fsys: StoreFs,
  fd: number,
  data: Uint8Array,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const written = await fsys.write(fd, data.subarray(done), position + done);
    if (written <= 0) throw new Error(`write returned ${written}`);
    done += written;
  }
}

/** fsync on a directory, so that creates, renames and unlinks in it are durable. */
export async function fsyncDir(fsys: StoreFs, dir: string): Promise<void> {
  const fd = await fsys.open(dir, 'r');
  try {
    await fsys.fsync(fd);
  } finally {
    await fsys.close(fd);
  }
}

/**
 * Creates `path` atomically with `content`: write `path.tmp`, fsync, rename, fsync the directory.
 * A crash leaves either no file or the whole file (plus maybe a `.tmp` that open removes).
 */
export async function writeFileAtomic(
  fsys: StoreFs,
  dir: string,
  path: string,
  content: Uint8Array,
): Promise<void> {
  const tmp = `${path}.tmp`;
  const fd = await fsys.open(tmp, 'w', 0o600);
  try {
    await writeAll(fsys, fd, content, 0);
    await fsys.fsync(fd);
  } finally {
    await fsys.close(fd);
  }
  await fsys.rename(tmp, path);
  await fsyncDir(fsys, dir);
}
