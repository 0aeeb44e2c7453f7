#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with node's test runner and fails when
// none ran: Node 20's runner takes no globs and exits 0 on an empty run, so we list the files
// ourselves and read the summary it prints.
import { spawn } from 'node:child_process';
import console from 'node:console';
import process from 'node:process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = 'dist';
const only = process.argv.slice(2);

function find(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...find(path));
    else if (entry.name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

// The runner starts files in the order given, `--test-concurrency` at a time. The longest ones
// go first so that none of them starts last and runs alone at the end while the other slots
// sit idle (measured on a quiet machine: each of these takes 20-55 s, most files a few seconds).
const LONGEST_FIRST = [
  'test/cluster-model.test.js',
  'test/etcd-harness.test.js',
  'test/soak.test.js',
  'src/store/recovery.test.js',
  'test/server-durability.test.js',
  'test/keystore-gateway.test.js',
  'test/server-startup-failure.test.js',
  'test/http-head-deadline.test.js',
  'test/store-damage-sweep.test.js',
  'test/server-store-integrity.test.js',
  'test/cluster-etcd-faults.test.js',
  'test/console-browser.test.js',
  'test/cluster-workers.test.js',
  'test/sdk-kms.test.js',
  'test/audit-chain.test.js',
  'test/cli-cluster.test.js',
  'test/server-faults.test.js',
];
const rank = (file) => {
  const i = LONGEST_FIRST.findIndex((slow) => file.endsWith(slow));
  return i === -1 ? LONGEST_FIRST.length : i;
};
const files = find(root)
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .sort((a, b) => rank(a) - rank(b));
// Files at a time: most wait on processes, sockets and timeouts rather than computing, so a
// 2-core machine keeps 3 busy. KEYHOLD_TEST_CONCURRENCY overrides it (e.g. 1 to time files).
const concurrency = Number(process.env.KEYHOLD_TEST_CONCURRENCY ?? '3');
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error('run-tests: KEYHOLD_TEST_CONCURRENCY must be a positive integer');
  process.exit(1);
}
if (files.length === 0) {
  console.error('run-tests: no test files found under dist/ (did the build run?)');
  process.exit(1);
}

const args = [
  '--enable-source-maps',
  '--test',
  '--test-reporter=spec',
  `--test-concurrency=${String(concurrency)}`,
  // A file whose tests all finished ends even if a client library left a handle open (etcd3's
  // gRPC channels reconnect to stopped members for a while): a leak must not hang CI.
  '--test-force-exit',
  ...files,
];
const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4096);
});
child.on('close', (code) => {
  const tests = /tests (\d+)/.exec(tail);
  const count = tests ? Number(tests[1]) : 0;
  if (code === 0 && count === 0) {
    console.error('run-tests: the test runner ran no test');
    process.exit(1);
  }
  process.exit(code ?? 1);
});
