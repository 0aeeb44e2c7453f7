// Test helper: file-system faults in a real server process without root. Compiles the
// LD_PRELOAD shim test/fixtures/fault-fs/fault-fs.c with gcc and arms or ends its faults (EIO on
// fsync, ENOSPC on write) for one directory through a trigger file, while the process runs.

import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(
  new URL('../../../test/fixtures/fault-fs/fault-fs.c', import.meta.url),
);

/** What `apt-get` line installs the compiler, for the one loud skip line. */
export const FAULT_FS_INSTALL = 'apt-get install gcc libc6-dev';

export type FaultKind = 'eio' | 'enospc' | 'both';

export interface FaultFs {
  /** Environment for a process whose faults hit `dir` (absolute): preload, directory, trigger. */
  env(dir: string): Record<string, string>;
  /** Turns `kind` on (replacing whatever was on): effective at the next intercepted call. */
  arm(kind: FaultKind): void;
  /** Ends every fault. */
  end(): void;
}

/** Compiles the shim into `work` and returns its switch, or null when gcc is missing. */
export function faultFs(work: string): FaultFs | null {
  const lib = join(work, 'fault-fs.so');
  try {
    execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-o', lib, SOURCE, '-ldl'], {
      stdio: 'pipe',
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const trigger = join(work, 'fault-trigger');
  return {
    env: (dir) => ({
      LD_PRELOAD: lib,
      KEYHOLD_FAULT_DIR: dir,
      KEYHOLD_FAULT_TRIGGER: trigger,
      // libuv can submit file I/O through io_uring, which no preload sees; keep it on syscalls.
      UV_USE_IO_URING: '0',
    }),
    arm: (kind) => writeFileSync(trigger, kind),
    end: () => rmSync(trigger, { force: true }),
  };
}
