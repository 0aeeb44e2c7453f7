#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli/main.js and every module it imports, the server's
// included) into dist/cli/: keyhold.js plus a chunk per lazily imported part (the cluster, each
// key store), so that a process loads a few files instead of a few hundred modules. Every process
// pays that at start, and a server starts one per worker: with one worker a start costs about
// 0.36 s of CPU bundled against 0.65 s unbundled (docs/architecture.md#the-bundled-cli). Part of
// `npm run build`, after tsc; `package.json`'s bin is dist/cli/keyhold.js.
//
// Packages stay outside the bundle (loaded from node_modules as usual) except the small ones
// every server start needs, listed in BUNDLED; the cloud SDKs and etcd's gRPC client read files
// relative to their own location and load only when used.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'cli');
/** Packages bundled in: loaded by every server start, and plain JavaScript without file reads. */
const BUNDLED = new Set(['prom-client', 'yaml', 'tdigest', 'bintrees']);

/** The package name of a bare import specifier (`@scope/name/x` → `@scope/name`). */
function packageOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * A module that finds files next to itself (the native addon, package.json, the console's
 * assets) does so through `import.meta.url`, which in a bundle is the bundle's own URL: each such
 * use becomes the URL the module had in dist/src, relative to dist/cli/.
 */
const ownLocation = {
  name: 'own-location',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      const from = relative(out, args.path).split(sep).join('/');
      return {
        contents: source.replaceAll(
          'import.meta.url',
          `new URL(${JSON.stringify(from)}, import.meta.url).href`,
        ),
        loader: 'js',
        resolveDir: dirname(args.path),
      };
    });
  },
};

const externalPackages = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || BUNDLED.has(packageOf(args.path))) return undefined;
      return { path: args.path, external: true };
    });
  },
};

rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: { keyhold: join(root, 'dist', 'src', 'cli', 'main.js') },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // The bundled packages are CommonJS and `require` Node's own modules.
  banner: {
    js: "import { createRequire as __keyholdRequire } from 'node:module'; const require = __keyholdRequire(import.meta.url);",
  },
  plugins: [externalPackages, ownLocation],
  logLevel: 'warning',
});
