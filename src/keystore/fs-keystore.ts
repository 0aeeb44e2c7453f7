// KES's `fs` key store: a directory with one file per key, named like the key, mode 0600,
// holding the KES stored-key text. A new key is written to a hidden temporary file and then
// linked to its name, so it appears complete or not at all, and only if the name was free.

import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyStore } from './keystore.ts';
import { KeyExistsError, KeyNotFoundError, StoreUnreachableError } from './keystore.ts';

/** Largest value read back (KES's fs store reads at most 1 MiB). */
const MAX_VALUE = 1 << 20;

export class FsKeyStore implements KeyStore {
  readonly description: string;
  readonly #dir: string;

  private constructor(dir: string) {
    this.#dir = dir;
    this.description = `fs ${dir}`;
  }

  /** Opens (creating, 0755 as KES does, if missing) the directory. */
  static async open(dir: string): Promise<FsKeyStore> {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const info = await stat(dir);
    if (!info.isDirectory()) throw new Error(`fs keystore: '${dir}' is not a directory`);
    return new FsKeyStore(dir);
  }

  async create(name: string, value: string): Promise<void> {
    const file = this.#file(name);
    const temp = join(this.#dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(value);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temp, file);
    } catch (error) {
      if (code(error) === 'EEXIST') throw new KeyExistsError(name);
      throw error;
    } finally {
      await unlink(temp).catch(() => undefined);
    }
    await syncDir(this.#dir);
  }

  async get(name: string): Promise<string> {
    const file = this.#file(name);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (error) {
      if (code(error) === 'ENOENT') throw new KeyNotFoundError(name);
      throw error;
    }
    if (bytes.length > MAX_VALUE) throw new Error(`fs keystore: '${name}' is larger than 1 MiB`);
    return bytes.toString('utf8');
  }

  async delete(name: string): Promise<void> {
    try {
      await unlink(this.#file(name));
    } catch (error) {
      if (code(error) === 'ENOENT') throw new KeyNotFoundError(name);
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const entries = await readdir(this.#dir, { withFileTypes: true });
    // Hidden files are Keyhold's temporary files (key names never start with a dot here).
    return entries
      .filter((e) => e.isFile() && !e.name.startsWith('.') && e.name.startsWith(prefix))
      .map((e) => e.name);
  }

  async status(): Promise<void> {
    try {
      await stat(this.#dir);
    } catch (error) {
      throw new StoreUnreachableError(`fs keystore: ${(error as Error).message}`);
    }
  }

  async close(): Promise<void> {}

  /** KES's fs store refuses names with a path separator or a dot (no `..`, no hidden files). */
  #file(name: string): string {
    if (name === '' || /[/\\.]/.test(name)) {
      throw new Error(`fs keystore: key name '${name}' contains '/', '\\' or '.'`);
    }
    return join(this.#dir, name);
  }
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

/** Makes a new directory entry durable. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some file systems cannot fsync a directory; the entry is still there.
  } finally {
    await handle.close();
  }
}
