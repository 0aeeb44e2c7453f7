// Loaded into each test file's process by scripts/run-tests.js (`--import`): at exit, writes the
// CPU seconds the file used, its own and those of every process it started and waited for
// (servers, etcd, Chromium), to the file KEYHOLD_TEST_CPU_OUT names. Linux only (/proc);
// elsewhere it does nothing. CPU time, unlike wall time, hardly changes on a busy machine.
import { readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';

const out = process.env.KEYHOLD_TEST_CPU_OUT;
// Not inherited by the processes the tests start.
delete process.env.KEYHOLD_TEST_CPU_OUT;
if (out !== undefined) {
  process.on('exit', () => {
    try {
      // Fields after the command name: utime, stime, cutime, cstime are the 12th to 15th.
      const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
      const ticks = fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0);
      // USER_HZ: 100 on every Linux architecture Node runs on.
      writeFileSync(out, String(ticks / 100));
    } catch {
      // no /proc: no figure
    }
  });
}
