#!/usr/bin/env node
// Builds the web console (web/console/) into dist/console/: one bundled, minified script
// (preact + htm + the views, by esbuild), the style sheet and the page. Part of `npm run build`.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'console');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'web', 'console', 'app.js')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  minify: true,
  target: ['chrome110', 'firefox115', 'safari17'],
  legalComments: 'eof',
  logLevel: 'warning',
});
for (const file of ['index.html', 'app.css']) {
  copyFileSync(join(root, 'web', 'console', file), join(out, file));
}
