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

const files = find(root)
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no test files found under dist/ (did the build run?)');
  process.exit(1);
}

const args = [
  '--enable-source-maps',
  '--test',
  '--test-reporter=spec',
  '--test-concurrency=3',
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
