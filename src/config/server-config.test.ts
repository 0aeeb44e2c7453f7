// The config file: the annotated example and KES-style fixtures load, `${ENV}` substitution,
// and every validation error names file:line:col.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parseGoDuration } from './go-duration.ts';
import { ConfigError, parseServerConfig } from './server-config.ts';
import { parseSlogLevel } from './slog-level.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ID = 'c84cc9b91ae2399b043da7eca616048d4b4200edf2ff418d8af3835911db945d';
const ID2 = '3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22';
const HSM = 'hsm:aes256:' + Buffer.alloc(32, 7).toString('base64');

/** The error message parsing `text` produces. */
function errorOf(text: string, env: Record<string, string> = {}): string {
  try {
    parseServerConfig('c.yml', text, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail('expected a ConfigError');
}

const BASE = 'admin:\n  identity: disabled\n';

describe('loading config files', () => {
  it('loads the annotated example at the repository root', () => {
    const config = parseServerConfig(
      'server-config.yaml',
      readFileSync(`${ROOT}server-config.yaml`, 'utf8'),
      { KEYHOLD_ADMIN_IDENTITY: ID, MINIO_IDENTITY: ID2, KEYHOLD_HSM_KEY: HSM },
    );
    assert.deepEqual(config.warnings, []);
    assert.equal(config.adminIdentity.startsWith('h1:'), true);
    assert.equal(config.address, '0.0.0.0:7373');
    assert.deepEqual(
      config.policies.map((p) => [p.name, p.identities]),
      [
        ['minio', [ID2]],
        ['monitoring', []],
      ],
    );
    assert.deepEqual(config.policies[1]!.allow, ['/v1/metrics', '/v1/status', '/v1/log/audit']);
    assert.deepEqual(config.keys, ['minio-default-key']);
    assert.equal(config.log.audit, 9);
    assert.equal(config.keyhold.enclave, 'default');
    assert.equal(config.keyhold.hsmKey?.toString(), HSM);
    assert.deepEqual(config.api.get('/v1/metrics'), { skipAuth: false, timeout: 15_000 });
  });

  it('loads KES-style files unchanged, with their key stores (gateway mode)', () => {
    const load = (
      name: string,
      env: Record<string, string> = {},
    ): ReturnType<typeof parseServerConfig> =>
      parseServerConfig(name, readFileSync(`${ROOT}test/fixtures/kes/${name}`, 'utf8'), env);
    const fs = load('fs.yml');
    assert.equal(fs.adminIdentity, 'disabled');
    assert.deepEqual(fs.keystore, { kind: 'fs', path: '/tmp/kes' });
    assert.deepEqual(fs.warnings, []);

    const api = load('custom-api.yml');
    assert.deepEqual(
      [...api.api],
      [
        ['/v1/status', { skipAuth: false, timeout: 17_000 }],
        ['/v1/metrics', { skipAuth: true, timeout: 22_000 }],
      ],
    );

    const vault = load('vault.yml', {
      KES_ADMIN_IDENTITY: ID,
      MINIO_IDENTITY: ID2,
      VAULT_APPROLE_ID: 'id',
      VAULT_APPROLE_SECRET: 'secret',
    });
    assert.equal(vault.policies[0]!.identities[0], ID2);
    assert.deepEqual(vault.policies[0]!.deny, ['/v1/key/generate/my-app-internal*']);
    assert.deepEqual(vault.warnings, []);
    assert.equal(vault.keystore?.kind === 'vault' ? vault.keystore.approle?.id : '', 'id');

    const legacy = load('legacy-paths.yml', { APP_IDENTITY: ID });
    assert.deepEqual(legacy.policies[0]!.allow, [
      '/v1/key/create/my-app*',
      '/v1/key/generate/my-app*',
      '/v1/key/decrypt/my-app*',
    ]);
  });

  it('reads keyhold.keystore_probe_interval (absent: the key cache default, 10 s)', () => {
    assert.equal(parseServerConfig('c.yml', BASE, {}).keyhold.keystoreProbeInterval, undefined);
    const set = parseServerConfig(
      'c.yml',
      `${BASE}keyhold:\n  keystore_probe_interval: 1.5s\n`,
      {},
    );
    assert.equal(set.keyhold.keystoreProbeInterval, 1500);
  });

  it('substitutes whole-value ${ENV} references, trimming spaces inside the braces', () => {
    const config = parseServerConfig(
      'c.yml',
      'admin:\n  identity: ${ ADMIN }\naddress: ${ADDR}\nlog:\n  error: ${LEVEL}\n' +
        'policy:\n  p:\n    allow: [ "${NOT_SUBSTITUTED}" ]\n    identities: [ "${ID}" ]\n',
      { ADMIN: ID, ADDR: '127.0.0.1:7000', LEVEL: 'WARN', ID: ID2, X: 'no' },
    ).policies;
    assert.deepEqual(config[0]!.allow, ['${NOT_SUBSTITUTED}']);
    assert.deepEqual(config[0]!.identities, [ID2]);
    assert.match(
      errorOf('admin:\n  identity: ${ADMIN}\nkeys:\n  - name: partial-${X}\n', { ADMIN: ID }),
      /^c\.yml:4:11: invalid key name 'partial-\$\{X\}'$/,
    );
  });

  it('keeps scalars as written (0123 stays 0123)', () => {
    const config = parseServerConfig('c.yml', `${BASE}keys:\n  - name: 0123\n`, {});
    assert.deepEqual(config.keys, ['0123']);
  });

  it('warns about unknown fields, non-hex identities and mid-pattern *', () => {
    const config = parseServerConfig(
      'c.yml',
      `${BASE}colour: blue\nroot: ${ID}\ntls:\n  proxy:\n    identities: []\n` +
        `policy:\n  p:\n    allow: [/v1/key/*/x]\n    identities: [not-hex]\n` +
        `api:\n  /v1/nothing:\n    timeout: 1s\n`,
      {},
    );
    assert.deepEqual(config.warnings, [
      "c.yml:3:1: unknown field 'colour' in the config file (ignored)",
      "c.yml:4:1: 'root' is from KES v0.17 and earlier and is ignored: use 'admin.identity'",
      'c.yml:6:3: tls.proxy is ignored (as in KES, which parses but does not use it)',
      "c.yml:10:13: pattern '/v1/key/*/x' has '*' before its end: KES patterns are prefixes ('*' only last), so this one matches only itself",
      "c.yml:11:18: identity 'not-hex' in policy 'p' is not a hex identity (64 lowercase hex digits): no client can have it",
      "c.yml:13:3: unknown API path '/v1/nothing' (ignored): keys must match a route exactly, e.g. '/v1/key/create/'",
    ]);
  });
});

describe('validation errors name file:line:col', () => {
  const cases: [string, string, Record<string, string>, RegExp][] = [
    ['YAML syntax', 'admin: [\n', {}, /^c\.yml:2:1: /],
    ['duplicate key', `${BASE}log: {}\nlog: {}\n`, {}, /^c\.yml:4:1: Map keys must be unique/],
    ['empty file', '', {}, /^c\.yml:1:1: the config file is empty$/],
    ['not a mapping', '- a\n', {}, /^c\.yml:1:1: the config file must be a mapping$/],
    [
      'version',
      `version: v2\n${BASE}`,
      {},
      /^c\.yml:1:10: invalid server config version 'v2': expected 'v1'$/,
    ],
    [
      'address',
      `address: localhost:7373\n${BASE}`,
      {},
      /^c\.yml:1:10: invalid address 'localhost:7373': the host must be an IP address$/,
    ],
    [
      'address port',
      `address: 0.0.0.0:99999\n${BASE}`,
      {},
      /^c\.yml:1:10: invalid address '0\.0\.0\.0:99999': port out of range$/,
    ],
    [
      'address form',
      `address: 7373\n${BASE}`,
      {},
      /^c\.yml:1:10: invalid address '7373': expected HOST:PORT$/,
    ],
    ['no admin', 'address: :7373\n', {}, /^c\.yml:1:1: invalid admin identity: no admin identity$/],
    [
      'empty admin',
      'admin:\n  identity: ""\n',
      {},
      /^c\.yml:2:13: invalid admin identity: no admin identity$/,
    ],
    [
      'missing env',
      'admin:\n  identity: ${NOPE}\n',
      {},
      /^c\.yml:2:13: referenced environment variable 'NOPE' not found$/,
    ],
    [
      'admin as list',
      'admin:\n  identity: [a]\n',
      {},
      /^c\.yml:2:13: admin\.identity must be a single value$/,
    ],
    [
      'tls no key',
      `${BASE}tls:\n  cert: c.pem\n`,
      {},
      /^c\.yml:4:3: invalid tls config: no private key$/,
    ],
    [
      'tls no cert',
      `${BASE}tls:\n  key: k.pem\n`,
      {},
      /^c\.yml:4:3: invalid tls config: no certificate$/,
    ],
    [
      'tls auth',
      `${BASE}tls:\n  key: k\n  cert: c\n  auth: maybe\n`,
      {},
      /^c\.yml:6:9: invalid tls config: invalid auth 'maybe'$/,
    ],
    [
      'policy name',
      `${BASE}policy:\n  bad.name:\n    allow: []\n`,
      {},
      /^c\.yml:4:3: invalid policy name 'bad\.name'$/,
    ],
    [
      'policy shape',
      `${BASE}policy:\n  p: [a]\n`,
      {},
      /^c\.yml:4:6: policy 'p' must be a mapping$/,
    ],
    [
      'allow shape',
      `${BASE}policy:\n  p:\n    allow: /v1/status\n`,
      {},
      /^c\.yml:5:12: policy 'p' allow must be a list$/,
    ],
    [
      'identity grammar',
      `${BASE}policy:\n  p:\n    identities: [a.b]\n`,
      {},
      /^c\.yml:5:18: invalid identity 'a\.b' in policy 'p'$/,
    ],
    [
      'identity twice',
      `${BASE}policy:\n  p:\n    identities: [${ID}]\n  q:\n    identities:\n      - ${ID}\n`,
      {},
      /^c\.yml:8:9: cannot assign policy 'q' to 'c84c.*': identity already has a policy \('p'\)$/,
    ],
    [
      'admin in a policy',
      `admin:\n  identity: ${ID}\npolicy:\n  p:\n    identities: [${ID}]\n`,
      {},
      /^c\.yml:5:18: identity 'c84c.*' in policy 'p' is the admin identity$/,
    ],
    [
      'skip_auth',
      `${BASE}api:\n  /v1/status:\n    skip_auth: perhaps\n`,
      {},
      /^c\.yml:5:16: invalid skip_auth 'perhaps': expected true or false$/,
    ],
    [
      'timeout',
      `${BASE}api:\n  /v1/status:\n    timeout: 15\n`,
      {},
      /^c\.yml:5:14: invalid timeout '15': expected a duration/,
    ],
    [
      'negative timeout',
      `${BASE}api:\n  /v1/status:\n    timeout: -1s\n`,
      {},
      /^c\.yml:5:14: invalid timeout '-1s': must not be negative$/,
    ],
    [
      'cache',
      `${BASE}cache:\n  expiry:\n    any: -5m\n`,
      {},
      /^c\.yml:5:10: invalid cache expiry '-5m': must not be negative$/,
    ],
    [
      'cache unit',
      `${BASE}cache:\n  expiry:\n    unused: 5 minutes\n`,
      {},
      /^c\.yml:5:13: invalid cache expiry '5 minutes'/,
    ],
    [
      'log level',
      `${BASE}log:\n  error: LOUD\n`,
      {},
      /^c\.yml:4:10: invalid log level 'LOUD': expected on, off/,
    ],
    [
      'key name',
      `${BASE}keys:\n  - name: my.key\n`,
      {},
      /^c\.yml:4:11: invalid key name 'my\.key'$/,
    ],
    [
      'key twice',
      `${BASE}keys:\n  - name: k\n  - name: k\n`,
      {},
      /^c\.yml:5:11: invalid key config: key 'k' is defined multiple times$/,
    ],
    ['keys shape', `${BASE}keys: k\n`, {}, /^c\.yml:3:7: 'keys' must be a list$/],
    [
      'hsm key',
      `${BASE}keyhold:\n  hsm_key: hsm:aes256:abc\n`,
      {},
      /^c\.yml:4:12: invalid keyhold\.hsm_key: /,
    ],
    [
      'hsm key twice',
      `${BASE}keyhold:\n  hsm_key: ${HSM}\n  hsm_key_file: /x\n`,
      {},
      /^c\.yml:5:17: keyhold\.hsm_key and keyhold\.hsm_key_file are mutually exclusive$/,
    ],
    ['enclave', `${BASE}keyhold:\n  enclave: -x\n`, {}, /^c\.yml:4:12: invalid enclave name '-x'$/],
    [
      'ndjson',
      `${BASE}keyhold:\n  ndjson_listings: sometimes\n`,
      {},
      /^c\.yml:4:20: invalid keyhold\.ndjson_listings 'sometimes'/,
    ],
    [
      'probe interval',
      `${BASE}keyhold:\n  keystore_probe_interval: 10ms\n`,
      {},
      /^c\.yml:4:28: invalid keyhold\.keystore_probe_interval: at least 100ms$/,
    ],
  ];
  for (const [name, text, env, expected] of cases) {
    it(name, () => {
      assert.match(errorOf(text, env), expected);
    });
  }

  it('never repeats an invalid HSM key in its message', () => {
    const secret = 'hsm:aes256:' + 'A'.repeat(40);
    assert.doesNotMatch(errorOf(`${BASE}keyhold:\n  hsm_key: ${secret}\n`), /AAAA/);
  });
});

describe('value grammars', () => {
  it('parses Go durations', () => {
    assert.equal(parseGoDuration('5m0s'), 300_000);
    assert.equal(parseGoDuration('1h30m'), 5_400_000);
    assert.equal(parseGoDuration('1.5s'), 1500);
    assert.equal(parseGoDuration('300ms'), 300);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('-2s'), -2000);
    for (const bad of ['', '15', 's', '5 m', '1d', '--1s'])
      assert.equal(parseGoDuration(bad), undefined, bad);
  });

  it('parses slog levels', () => {
    assert.equal(parseSlogLevel(''), 0);
    assert.equal(parseSlogLevel('on'), 0);
    assert.equal(parseSlogLevel('OFF'), 9);
    assert.equal(parseSlogLevel('debug'), -4);
    assert.equal(parseSlogLevel('INFO+2'), 2);
    assert.equal(parseSlogLevel('error-1'), 7);
    assert.equal(parseSlogLevel('12'), 12);
    assert.equal(parseSlogLevel('verbose'), undefined);
  });
});
