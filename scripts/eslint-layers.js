// The rule of arrows (docs/architecture.md, CONTRIBUTING.md) as two ESLint rules over src/:
// `keyhold/layers` lets a directory import only from the layers below it, and
// `keyhold/no-cycle` refuses a file that imports itself back through other files. Relative
// imports are resolved to files, so a name that recurs (api/kes, protocol/kes, sdk/kes, cli/kes)
// is never mistaken for another.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * The layers, lowest first. A unit imports only from units of lower layers (and from itself);
 * units of one layer do not import each other. A unit is a directory of src/ (api and protocol
 * count by protocol: api/kms and api/kes are separate units), or a file at the root of src/.
 */
export const LAYERS = [
  ['version.ts'],
  ['crypto'],
  ['identity'],
  ['model'],
  ['protocol/kms', 'protocol/kes'],
  ['observe'],
  ['store'],
  ['state'],
  ['config'],
  ['core'],
  ['cluster', 'keystore'],
  ['http'],
  ['api/kms', 'api/kes', 'console'],
  ['server'],
  ['cli'],
  ['index.ts'],
];

/** Units outside the column: what each may import (the SDK is a client and needs no server). */
const SIDE_UNITS = {
  sdk: ['version.ts', 'crypto', 'identity', 'protocol/kms', 'protocol/kes', 'model'],
};

const rank = new Map(LAYERS.flatMap((units, i) => units.map((unit) => [unit, i])));

/** May `from` import `to`? Unknown units (a new directory) must first be given a layer. */
function allowed(from, to) {
  if (from === to) return true;
  if (from in SIDE_UNITS) return SIDE_UNITS[from].includes(to);
  if (to === 'sdk') return from === 'cli' || from === 'index.ts';
  const a = rank.get(from);
  const b = rank.get(to);
  return a !== undefined && b !== undefined && b < a;
}

/** The unit of a path relative to src/ (`api/kes/kes-face.ts` → `api/kes`), or null outside. */
function unitOf(srcRelative) {
  if (srcRelative.startsWith('..')) return null;
  const parts = srcRelative.split(sep);
  if (parts.length === 1) return parts[0];
  if ((parts[0] === 'api' || parts[0] === 'protocol') && parts.length > 2) {
    return `${parts[0]}/${parts[1]}`;
  }
  return parts[0];
}

function resolveImport(file, specifier) {
  if (!specifier.startsWith('.')) return null;
  const target = resolve(dirname(file), specifier);
  if (existsSync(target)) return target;
  const ts = target.replace(/\.js$/, '.ts');
  return existsSync(ts) ? ts : target;
}

/** The repository (this file is in its scripts/), whatever directory ESLint runs in. */
const REPOSITORY = resolve(import.meta.dirname, '..');
const SRC = join(REPOSITORY, 'src');

/** Calls `check(node, specifier)` for every import, re-export and `import()` with a literal. */
function visitImports(check) {
  const source = (node) => {
    if (node.source && typeof node.source.value === 'string') check(node, node.source.value);
  };
  return {
    ImportDeclaration: source,
    ExportNamedDeclaration: source,
    ExportAllDeclaration: source,
    ImportExpression: source,
  };
}

const layers = {
  meta: {
    type: 'problem',
    docs: { description: 'a directory of src/ imports only from the layers below it' },
    messages: {
      up: 'src/{{from}} may not import src/{{to}}: imports point down the layers (see LAYERS in scripts/eslint-layers.js, docs/architecture.md)',
      unknown:
        'src/{{unit}} has no layer: add it to LAYERS in scripts/eslint-layers.js (and to docs/architecture.md)',
    },
    schema: [],
  },
  create(context) {
    const root = SRC;
    const from = unitOf(relative(root, context.filename));
    if (from === null) return {};
    return visitImports((node, specifier) => {
      const target = resolveImport(context.filename, specifier);
      if (target === null) return;
      const to = unitOf(relative(root, target));
      if (to === null) return;
      for (const unit of [from, to]) {
        if (!rank.has(unit) && !(unit in SIDE_UNITS)) {
          context.report({ node, messageId: 'unknown', data: { unit } });
          return;
        }
      }
      if (!allowed(from, to)) context.report({ node, messageId: 'up', data: { from, to } });
    });
  },
};

// The import graph of src/, read once per lint run (by a plain scan of the import lines: the
// cycle check must see every file, not only the one being linted).
let graph = null;

function importGraph(root) {
  if (graph?.root === root) return graph;
  const edges = new Map();
  const pattern = /(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const targets = new Set();
        for (const m of readFileSync(path, 'utf8').matchAll(pattern)) {
          const target = resolveImport(path, m[1]);
          if (target !== null) targets.add(target);
        }
        edges.set(path, targets);
      }
    }
  };
  walk(root);
  graph = { root, edges, cycles: stronglyConnected(edges) };
  return graph;
}

/** Tarjan's algorithm: file → its strongly connected component, for components of 2 or more. */
function stronglyConnected(edges) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const out = new Map();
  let next = 0;
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) for (const file of component) out.set(file, component);
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return out;
}

const noCycle = {
  meta: {
    type: 'problem',
    docs: { description: 'no file of src/ imports itself back through other files' },
    messages: {
      cycle:
        'import cycle: {{files}} import each other (move what they share into a file of its own)',
    },
    schema: [],
  },
  create(context) {
    const root = SRC;
    if (relative(root, context.filename).startsWith('..')) return {};
    const component = importGraph(root).cycles.get(context.filename);
    if (!component) return {};
    return visitImports((node, specifier) => {
      const target = resolveImport(context.filename, specifier);
      if (target === null || !component.includes(target)) return;
      const files = component.map((file) => relative(REPOSITORY, file)).sort();
      context.report({ node, messageId: 'cycle', data: { files: files.join(', ') } });
    });
  },
};

export default { rules: { layers, 'no-cycle': noCycle } };
