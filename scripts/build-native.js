#!/usr/bin/env node
// Builds the optional native data-key crypto (native/) with node-gyp against the running Node's own
// headers, never downloading any: `npm install` / `npm ci` run it (the package's install script),
// and `npm run build` with --if-stale. It never fails the install: when the addon cannot be built,
// it prints one line and Keyhold uses node:crypto (docs/performance.md#native-data-key-crypto).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const native = join(root, 'native');
const addon = join(native, 'build', 'Release', 'keyhold_crypto.node');
const log = join(native, 'build', 'build.log');
const ifStale = process.argv.includes('--if-stale');

/** Prints the one line of the outcome. */
function say(text) {
  process.stdout.write(`keyhold: ${text}\n`);
}

function fallback(reason) {
  say(`native data-key crypto not built (${reason}); Keyhold uses node:crypto`);
  process.exit(0);
}

if (process.env.KEYHOLD_NATIVE_CRYPTO === '0') {
  if (!ifStale) fallback('KEYHOLD_NATIVE_CRYPTO=0');
  process.exit(0);
}

const sources = readdirSync(native)
  .filter((name) => name.endsWith('.c') || name === 'binding.gyp')
  .map((name) => join(native, name));
if (ifStale && existsSync(addon)) {
  const built = statSync(addon).mtimeMs;
  if (sources.every((file) => statSync(file).mtimeMs <= built)) process.exit(0);
}

// The headers of the Node that runs this script: npm's `nodedir` if set, else the install prefix
// (`<prefix>/include/node`, where Linux packages and the official tarballs put them). node-gyp is
// given that directory, so it never fetches headers from the network.
const nodedir = process.env.npm_config_nodedir || join(dirname(process.execPath), '..');
const headers = join(nodedir, 'include', 'node');
for (const header of ['node_api.h', join('openssl', 'evp.h'), join('openssl', 'sha.h')]) {
  if (!existsSync(join(headers, header))) fallback(`no ${header} in ${headers}`);
}

// npm puts its own node-gyp's path in npm_config_node_gyp for scripts; outside npm, look beside npm.
const gyp = [
  process.env.npm_config_node_gyp,
  join(
    dirname(process.execPath),
    '..',
    'lib',
    'node_modules',
    'npm',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  ),
].find((path) => path !== undefined && path !== '' && existsSync(path));
if (gyp === undefined) fallback('node-gyp not found: run it through npm');

const run = spawnSync(
  process.execPath,
  [gyp, 'rebuild', `--directory=${native}`, `--nodedir=${nodedir}`],
  { cwd: native, encoding: 'utf8', env: { ...process.env, npm_config_nodedir: nodedir } },
);
mkdirSync(dirname(log), { recursive: true });
writeFileSync(log, `${run.stdout ?? ''}${run.stderr ?? ''}${run.error ? String(run.error) : ''}`);
if (run.status !== 0 || !existsSync(addon)) {
  fallback(`node-gyp failed: see ${log}`);
}
say(`native data-key crypto built (${addon})`);
