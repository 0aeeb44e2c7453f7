#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js), each in its own node process under node's
// test runner (spec reporter), several files at a time, the longest first; prints each file's
// output when it ends with its wall and CPU time, the slowest files, and a closing count
// ("tests: N passed, N failed, N skipped"); fails when a test failed or none ran.
import { spawn } from 'node:child_process';
import { clearInterval, setInterval } from 'node:timers';
import console from 'node:console';
import process from 'node:process';
import { Buffer } from 'node:buffer';
import { URL } from 'node:url';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';

const root = 'dist';
const SERVER_SUITES = '--server-suites';
const LIST = '--list';
const serverSuites = process.argv.includes(SERVER_SUITES);
const only = process.argv.slice(2).filter((arg) => arg !== SERVER_SUITES && arg !== LIST);

function find(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...find(path));
    else if (entry.name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

// Files start in this order, then the rest by name. The longest go first so that none of them
// starts last and runs alone at the end while the other slots sit idle. Keep it in step with the
// "slowest files" list this script prints at the end of a whole run.
const LONGEST_FIRST = [
  'test/etcd-harness.test.js',
  'test/cluster-model.test.js',
  'test/keystore-gateway.test.js',
  'test/cluster-log-trim.test.js',
  'test/cluster-etcd-faults.test.js',
  'test/cluster-linearizable.test.js',
  'test/cluster-etcd.test.js',
  'test/http1-differential.test.js',
  'test/console-browser.test.js',
  'test/fuzz/fuzz.test.js',
  'test/cluster-bootstrap.test.js',
  'test/cluster-workers.test.js',
  'test/cluster-catch-up.test.js',
  'test/keystore-gemalto.test.js',
  'test/cluster-log-trim-reload.test.js',
  'test/bounded-cost.test.js',
  'test/body-authorization.test.js',
  'test/keystore-entrust.test.js',
  'test/server-durability.test.js',
  'test/soak.test.js',
  'test/keystore-aws.test.js',
  'test/silent-connections.test.js',
  'test/sdk-kms.test.js',
  'test/workers-consistency.test.js',
];
const rank = (file) => {
  const i = LONGEST_FIRST.findIndex((slow) => file.endsWith(slow));
  return i === -1 ? LONGEST_FIRST.length : i;
};
// --server-suites: only the files that start `keyhold server` processes, whose imports reach
// test/helpers/server-process.ts (directly or through a harness), and that leave the HTTP
// implementation to KEYHOLD_TEST_HTTP (no '--http' of their own). CI runs them a second time with
// KEYHOLD_TEST_HTTP=node (.ci/run).
const SERVER_PROCESS = join(root, 'test', 'helpers', 'server-process.js');
// The in-process harness imports server-process.ts for its constants only: it starts no process.
const reaches = new Map([[join(root, 'test', 'helpers', 'face-harness.js'), false]]);
function reachesServerProcess(file) {
  if (file === SERVER_PROCESS) return true;
  if (reaches.has(file)) return reaches.get(file);
  reaches.set(file, false); // an import cycle adds nothing
  let source;
  try {
    source = readFileSync(file, 'utf8');
  } catch {
    return false; // a package or a file outside dist/
  }
  const specifiers = /(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const [, specifier] of source.matchAll(specifiers)) {
    if (reachesServerProcess(normalize(join(dirname(file), specifier)))) {
      reaches.set(file, true);
      return true;
    }
  }
  return false;
}
const isServerSuite = (file) =>
  reachesServerProcess(file) && !readFileSync(file, 'utf8').includes("'--http'");

const files = find(root)
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .filter((f) => !serverSuites || isServerSuite(f))
  .sort()
  .sort((a, b) => rank(a) - rank(b));
// Files at a time: most wait on processes, sockets, etcd and timeouts rather than compute (the
// whole suite used about one core of two at 3 files at a time), so 2 per core keep a machine
// busy most of the time. At a fixed 3 per core it was 10 % faster still on 2 cores, but
// timing-sensitive cluster and etcd tests failed now and then: instead, up to one more file per
// core starts while the cores sat idle for the last second (Linux: /proc/stat), which is when the
// files running wait rather than compute. KEYHOLD_TEST_CONCURRENCY=N runs exactly N at a time
// (e.g. 1 to time files).
const fixed = process.env.KEYHOLD_TEST_CONCURRENCY;
const concurrency = Number(fixed ?? String(2 * availableParallelism()));
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error('run-tests: KEYHOLD_TEST_CONCURRENCY must be a positive integer');
  process.exit(1);
}
const maxConcurrency = fixed === undefined ? concurrency + availableParallelism() : concurrency;
/** Idle share of all cores since the previous call, from /proc/stat (null where unreadable). */
let lastCpu = null;
function idleShare() {
  let fields;
  try {
    fields = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
  } catch {
    return null;
  }
  // user nice system idle iowait irq softirq steal: idle and iowait are idle time.
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = fields[3] + fields[4];
  const previous = lastCpu;
  lastCpu = { total, idle };
  if (previous === null || total === previous.total) return null;
  return (idle - previous.idle) / (total - previous.total);
}
/** Idle share above which one more file may start beside the usual `concurrency`. */
const IDLE_TO_ADD = 0.3;

if (files.length === 0) {
  console.error('run-tests: no test files found under dist/ (did the build run?)');
  process.exit(1);
}

// --list: print the files that would run, in order, and run none.
if (process.argv.includes(LIST)) {
  for (const file of files) console.log(file);
  process.exit(0);
}

const COUNTS = ['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];

const CPU_PROBE = new URL('./test-cpu.js', import.meta.url).href;
const scratch = mkdtempSync(join(tmpdir(), 'run-tests-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/**
 * Runs one file in its own process (as `node --test` runs each file) with the spec reporter and
 * resolves to its exit code, wall time, CPU time, the counts of its summary and its output.
 */
function runFile(file, index) {
  const cpuOut = join(scratch, `${String(index)}.cpu`);
  const args = [
    '--enable-source-maps',
    '--test-reporter=spec',
    // A file whose tests all finished ends even if a client library left a handle open (etcd3's
    // gRPC channels reconnect to stopped members for a while): a leak must not hang CI.
    '--test-force-exit',
    '--import',
    CPU_PROBE,
    file,
  ];
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // One worker process per test server unless a test picks (test/helpers/server-process.ts).
      env: { KEYHOLD_TEST_WORKERS: '1', ...process.env, KEYHOLD_TEST_CPU_OUT: cpuOut },
    });
    const chunks = [];
    child.stdout.on('data', (chunk) => chunks.push(chunk));
    child.stderr.on('data', (chunk) => chunks.push(chunk));
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const output = Buffer.concat(chunks).toString();
      const counts = {};
      for (const name of COUNTS) {
        const found = new RegExp(`^ℹ ${name} (\\d+)$`, 'm').exec(output);
        counts[name] = found ? Number(found[1]) : 0;
      }
      let cpu = NaN;
      try {
        cpu = Number(readFileSync(cpuOut, 'utf8'));
      } catch {
        // no figure (not Linux, or the process was killed)
      }
      resolve({ file, code: code ?? (signal ? 1 : 0), seconds, cpu, counts, output });
    });
  });
}

const startedAll = process.hrtime.bigint();
const results = [];
let next = 0;
let running = 0;
let mostAtOnce = 0;
let finishAll;
const allDone = new Promise((resolve) => (finishAll = resolve));
function startNext() {
  const index = next++;
  const file = files[index];
  running++;
  mostAtOnce = Math.max(mostAtOnce, running);
  void runFile(file, index).then((result) => {
    running--;
    results.push(result);
    const mark = result.code === 0 ? '✔' : '✖';
    process.stdout.write(`▶ ${file}\n${result.output}`);
    process.stdout.write(
      `${mark} ${file}: ${String(result.counts.tests)} tests, ${result.seconds.toFixed(1)} s` +
        `${Number.isNaN(result.cpu) ? '' : `, ${result.cpu.toFixed(1)} s CPU`}` +
        `${result.code === 0 ? '' : ` (exit code ${String(result.code)})`}\n\n`,
    );
    if (next < files.length && running < concurrency) startNext();
    else if (running === 0 && next >= files.length) finishAll();
  });
}
while (next < files.length && running < concurrency) startNext();
// Beside the usual `concurrency` files, one more at a time while the cores sit idle.
const sampler =
  maxConcurrency > concurrency
    ? setInterval(() => {
        const idle = idleShare();
        if (idle !== null && idle > IDLE_TO_ADD && running < maxConcurrency && next < files.length)
          startNext();
      }, 1000)
    : null;
idleShare();
await allDone;
if (sampler) clearInterval(sampler);
const wall = Number(process.hrtime.bigint() - startedAll) / 1e9;

const total = Object.fromEntries(
  COUNTS.map((name) => [name, results.reduce((sum, r) => sum + r.counts[name], 0)]),
);
const failedFiles = results.filter((r) => r.code !== 0);
const slowest = [...results].sort((a, b) => b.seconds - a.seconds).slice(0, 10);
const cpuOf = (r) => (Number.isNaN(r.cpu) ? '' : `${r.cpu.toFixed(1).padStart(6)} s CPU`);
console.log(
  `run-tests: the ${String(slowest.length)} slowest files (wall time, at most ${String(mostAtOnce)} at a time; CPU time of the file and the processes it started):`,
);
for (const r of slowest)
  console.log(`  ${r.seconds.toFixed(1).padStart(6)} s  ${cpuOf(r)}  ${r.file}`);
const cpuTotal = results.reduce((sum, r) => sum + (Number.isNaN(r.cpu) ? 0 : r.cpu), 0);
console.log(
  `run-tests: ${String(results.length)} files, ${String(total.tests)} tests, ` +
    `${wall.toFixed(1)} s wall, at most ${String(mostAtOnce)} files at a time, ${cpuTotal.toFixed(1)} s CPU`,
);
for (const r of failedFiles)
  console.log(`run-tests: failed: ${r.file} (exit code ${String(r.code)})`);
// The plain closing line ("N passed, N failed") that CI reads.
// A file that failed without a failing test (it crashed, or timed out) counts as one failure.
const failed = Math.max(total.fail + total.cancelled, failedFiles.length);
console.log(
  `tests: ${String(total.pass)} passed, ${String(failed)} failed, ${String(total.skipped)} skipped`,
);
if (failedFiles.length > 0) process.exit(1);
if (total.tests === 0) {
  console.error('run-tests: the test runner ran no test');
  process.exit(1);
}
