// Lint configuration: typescript-eslint's type-checked rules over all TypeScript sources.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import layers from './scripts/eslint-layers.js';

const builtins = [
  'assert',
  'buffer',
  'child_process',
  'cluster',
  'crypto',
  'events',
  'fs',
  'fs/promises',
  'http',
  'http2',
  'https',
  'net',
  'os',
  'path',
  'process',
  'stream',
  'test',
  'timers',
  'tls',
  'url',
  'util',
  'worker_threads',
  'zlib',
  'dns',
  'readline',
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'src/protocol/kms/pb/', '.keyhold/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...builtins.map((name) => ({ name, message: `use 'node:${name}'` })),
            // The first AsyncLocalStorage scope (or hook) turns on async hooks for the rest of the
            // process: a JavaScript call on every socket write, timer and promise of a server
            // (docs/performance.md). Each use says why it is worth that, or where it never runs.
            {
              name: 'node:async_hooks',
              importNames: ['AsyncLocalStorage', 'createHook'],
              message: 'turns on async hooks process-wide: pass the value instead',
            },
          ],
        },
      ],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['describe', 'it', 'test', 'suite'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // Bitwise and index arithmetic on protocol bytes is checked by tests, not by this rule.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // V8 builds an object literal with an accessor in dictionary mode through its slow path;
      // one per request kept every request alive across scavenges (docs/performance.md).
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "ObjectExpression > Property[kind='get'], ObjectExpression > Property[kind='set']",
          message: 'no accessors in object literals: use a class (V8 makes such objects slow)',
        },
      ],
    },
  },
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  // The web console's sources run in the browser (bundled by scripts/build-console.js).
  {
    files: ['web/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'addEventListener',
          'atob',
          'btoa',
          'clearInterval',
          'clearTimeout',
          'crypto',
          'document',
          'EventSource',
          'fetch',
          'location',
          'navigator',
          'removeEventListener',
          'sessionStorage',
          'setInterval',
          'setTimeout',
          'TextEncoder',
          'URLSearchParams',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
  // The rule of arrows: each layer of src/ imports only from those below it, and no file
  // imports itself back (docs/architecture.md).
  {
    files: ['src/**/*.ts'],
    plugins: { keyhold: layers },
    rules: { 'keyhold/layers': 'error', 'keyhold/no-cycle': 'error' },
  },
);
