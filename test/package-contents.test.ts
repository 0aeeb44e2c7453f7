// What `npm pack` would publish: the compiled server, SDK and CLI with their protobuf sources and
// the native addon's sources (built on install), and nothing of the tests (no test files, no test
// support, no test data) nor of a local addon build.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const root = fileURLToPath(new URL('../..', import.meta.url));

it('the npm package ships no tests and no test support', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const [pack] = JSON.parse(out) as [{ files: { path: string }[] }];
  const paths = pack.files.map((f) => f.path);
  assert.ok(paths.includes('dist/cli/keyhold.js'), 'the bundled CLI, the package bin, is packed');
  assert.ok(
    paths.includes('dist/src/cli/main.js'),
    'the CLI entry point it is built from is packed',
  );
  assert.ok(paths.includes('dist/src/sdk/index.js'), 'the SDK is packed');
  for (const file of ['index.html', 'app.js', 'app.css']) {
    assert.ok(paths.includes(`dist/console/${file}`), `the web console's ${file} is packed`);
  }
  for (const file of ['native/binding.gyp', 'native/keyhold_crypto.c', 'scripts/build-native.js']) {
    assert.ok(paths.includes(file), `the native addon's ${file} is packed`);
  }
  assert.deepEqual(
    paths.filter((p) => p.startsWith('native/build/') || /\.(node|o)$/.test(p)),
    [],
    'no native build artefacts',
  );
  const leaked = paths.filter((p) => /(^|\/)(test|testdata)\/|\.test\.|test-support/.test(p));
  assert.deepEqual(leaked, []);
});
