// The etcd cluster settings: flag > env > file per field, the config file section with `${ENV}`
// references, and one clear error line for each bad value, none of which ever holds the password.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  ClusterConfigError,
  DEFAULT_ETCD_PREFIX,
  describeClusterConfig,
  parseEtcdEndpoint,
  resolveClusterConfig,
} from './cluster-config.ts';
import type { ClusterSources } from './cluster-config.ts';
import { ConfigError, parseServerConfig } from './server-config.ts';

const SECRET = 'hunter2-do-not-print';
const dir = mkdtempSync(join(tmpdir(), 'keyhold-cluster-config-'));
const CA = join(dir, 'ca.pem');
const CERT = join(dir, 'client.pem');
const KEY = join(dir, 'client.key');
for (const file of [CA, CERT, KEY]) writeFileSync(file, 'PEM\n');
after(() => rmSync(dir, { recursive: true, force: true }));

/** The cluster section of a config file whose `keyhold:` section is `keyhold`. */
function fileSection(keyhold: string, env: Record<string, string> = {}) {
  const text = `admin:\n  identity: disabled\nkeyhold:\n${keyhold}`;
  return parseServerConfig('c.yml', text, env).keyhold.cluster;
}

function fileError(keyhold: string, env: Record<string, string> = {}): string {
  try {
    fileSection(keyhold, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail('expected a ConfigError');
}

function resolveError(sources: ClusterSources): string {
  try {
    resolveClusterConfig(sources);
  } catch (error) {
    assert.ok(error instanceof ClusterConfigError, String(error));
    assert.doesNotMatch(error.message, /\n/, 'one line');
    assert.ok(!error.message.includes(SECRET), `password in: ${error.message}`);
    return error.message;
  }
  assert.fail('expected a ClusterConfigError');
}

describe('etcd endpoints', () => {
  it('are normalized to scheme://host:port, port 2379 by default', () => {
    assert.equal(parseEtcdEndpoint('http://10.0.0.1'), 'http://10.0.0.1:2379');
    assert.equal(
      parseEtcdEndpoint(' https://etcd.example.net:32379/ '),
      'https://etcd.example.net:32379',
    );
    assert.equal(parseEtcdEndpoint('http://[::1]:2379'), 'http://[::1]:2379');
  });

  it('without a scheme, with another scheme, a path or credentials are refused', () => {
    assert.throws(
      () => parseEtcdEndpoint('127.0.0.1:2379'),
      /needs a scheme: http:\/\/127\.0\.0\.1:2379 or https/,
    );
    assert.throws(
      () => parseEtcdEndpoint('unix:///run/etcd.sock'),
      /must be http:\/\/ or https:\/\//,
    );
    assert.throws(() => parseEtcdEndpoint('http://h:2379/v3'), /without a path/);
    assert.throws(() => parseEtcdEndpoint('http://h:99999'), /is not a URL/);
    const withCredentials = (() => {
      try {
        parseEtcdEndpoint(`http://root:${SECRET}@h:2379`);
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    assert.match(withCredentials, /'http:\/\/\*\*\*@h:2379': put credentials in the etcd username/);
    assert.ok(!withCredentials.includes(SECRET));
    // Without a scheme the credentials are hidden too.
    assert.throws(
      () => parseEtcdEndpoint(`root:${SECRET}@h:2379`),
      (e: Error) => !e.message.includes(SECRET) && /\*\*\*@h:2379/.test(e.message),
    );
  });
});

describe('resolving the cluster settings', () => {
  it('nothing set: a single node (undefined)', () => {
    assert.equal(resolveClusterConfig({}), undefined);
    assert.equal(
      resolveClusterConfig({ flags: {}, env: { KEYHOLD_ETCD_ENDPOINTS: '' } }),
      undefined,
    );
  });

  it('--etcd alone: endpoints split on commas, de-duplicated, default prefix', () => {
    assert.deepEqual(
      resolveClusterConfig({ flags: { endpoints: 'http://a:1, http://b ,http://a:1' } }),
      { endpoints: ['http://a:1', 'http://b:2379'], prefix: DEFAULT_ETCD_PREFIX },
    );
  });

  it('flag beats env beats file, field by field', () => {
    const file = fileSection(
      [
        '  cluster:',
        '    etcd:',
        '      endpoints: [http://file:1]',
        '      prefix: /file/',
        '      username: fileuser',
        `      password: ${SECRET}`,
      ].join('\n'),
    );
    const env = {
      KEYHOLD_ETCD_ENDPOINTS: 'http://env:1',
      KEYHOLD_ETCD_PREFIX: '/env/',
    };
    assert.deepEqual(resolveClusterConfig({ file }), {
      endpoints: ['http://file:1'],
      prefix: '/file/',
      username: 'fileuser',
      password: SECRET,
    });
    assert.deepEqual(resolveClusterConfig({ env, file }), {
      endpoints: ['http://env:1'],
      prefix: '/env/',
      username: 'fileuser',
      password: SECRET,
    });
    assert.deepEqual(
      resolveClusterConfig({
        flags: { endpoints: 'http://flag:1', username: 'flaguser' },
        env,
        file,
      }),
      { endpoints: ['http://flag:1'], prefix: '/env/', username: 'flaguser', password: SECRET },
    );
  });

  it('TLS files and credentials from the environment', () => {
    const config = resolveClusterConfig({
      env: {
        KEYHOLD_ETCD_ENDPOINTS: 'https://e1:2379,https://e2:2379',
        KEYHOLD_ETCD_CA: CA,
        KEYHOLD_ETCD_CERT: CERT,
        KEYHOLD_ETCD_KEY: KEY,
        KEYHOLD_ETCD_USERNAME: 'keyhold',
        KEYHOLD_ETCD_PASSWORD: SECRET,
      },
    });
    assert.deepEqual(config, {
      endpoints: ['https://e1:2379', 'https://e2:2379'],
      prefix: '/keyhold/',
      tls: { ca: CA, cert: CERT, key: KEY },
      username: 'keyhold',
      password: SECRET,
    });
    const line = describeClusterConfig(config);
    assert.equal(
      line,
      'etcd https://e1:2379,https://e2:2379, prefix /keyhold/, TLS client certificate, user keyhold',
    );
    assert.ok(!line.includes(SECRET));
  });

  it('each bad value is one line naming its source, never the password', () => {
    const endpoints = { endpoints: 'http://e:2379' };
    const withSecret = { KEYHOLD_ETCD_PASSWORD: SECRET };
    assert.match(
      resolveError({ flags: { endpoints: 'e:2379' } }),
      /^--etcd: etcd endpoint 'e:2379' needs a scheme/,
    );
    assert.match(
      resolveError({ env: { KEYHOLD_ETCD_ENDPOINTS: 'http://e/x' } }),
      /^KEYHOLD_ETCD_ENDPOINTS: etcd endpoint 'http:\/\/e\/x'/,
    );
    assert.match(resolveError({ flags: { endpoints: ' , ' } }), /^--etcd: no etcd endpoint given/);
    for (const prefix of ['keyhold', '/keyhold', 'keyhold/', '/', '/a b/']) {
      assert.match(
        resolveError({ flags: { ...endpoints, prefix } }),
        /^--etcd-prefix: etcd prefix '.*' (must start and end with '\/'|may only hold printable ASCII)/,
      );
    }
    assert.match(
      resolveError({ flags: { ...endpoints, cert: CERT } }),
      /^--etcd-cert is set without the client key: the etcd client certificate and key go together/,
    );
    assert.match(
      resolveError({ flags: { endpoints: 'https://e' }, env: { KEYHOLD_ETCD_KEY: KEY } }),
      /^KEYHOLD_ETCD_KEY is set without the client certificate/,
    );
    assert.match(
      resolveError({ flags: { ...endpoints, username: 'u' } }),
      /^--etcd-username is set without a password: set KEYHOLD_ETCD_PASSWORD/,
    );
    assert.match(
      resolveError({ flags: endpoints, env: withSecret }),
      /^KEYHOLD_ETCD_PASSWORD is set without a username/,
    );
    assert.match(
      resolveError({ env: { ...withSecret, KEYHOLD_ETCD_USERNAME: 'u' } }),
      /^KEYHOLD_ETCD_USERNAME is set but no etcd endpoints are: give --etcd URL/,
    );
    assert.match(
      resolveError({ flags: { endpoints: 'http://a,https://b' } }),
      /^--etcd: the etcd endpoints mix http:\/\/ and https:\/\//,
    );
    assert.match(
      resolveError({ flags: { ...endpoints, ca: CA } }),
      /^--etcd-ca is set but the etcd endpoints \(--etcd\) use http:\/\/: use https:\/\/ endpoints for TLS/,
    );
    assert.match(
      resolveError({ flags: { endpoints: 'https://e', ca: join(dir, 'missing.pem') } }),
      /^--etcd-ca: cannot read '.*missing\.pem' \(ENOENT\)/,
    );
    assert.match(
      resolveError({ flags: { endpoints: 'https://e', username: 'a b' }, env: withSecret }),
      /^--etcd-username: etcd username 'a b' must be non-empty/,
    );
  });
});

describe('the config file section keyhold.cluster.etcd', () => {
  it('reads endpoints as a list or a comma-separated string, with ${ENV} references', () => {
    const env = { ETCD_PASSWORD: SECRET, ETCD_CA: CA };
    const section = fileSection(
      [
        '  cluster:',
        '    etcd:',
        '      endpoints:',
        '        - https://etcd1.example.net:2379',
        '        - https://etcd2.example.net',
        '      prefix: /prod/keyhold/',
        '      tls:',
        '        ca: ${ETCD_CA}',
        `        cert: ${CERT}`,
        `        key: ${KEY}`,
        '      username: keyhold',
        '      password: ${ETCD_PASSWORD}',
      ].join('\n'),
      env,
    );
    assert.deepEqual(resolveClusterConfig({ file: section }), {
      endpoints: ['https://etcd1.example.net:2379', 'https://etcd2.example.net:2379'],
      prefix: '/prod/keyhold/',
      tls: { ca: CA, cert: CERT, key: KEY },
      username: 'keyhold',
      password: SECRET,
    });
    const comma = fileSection('  cluster:\n    etcd:\n      endpoints: http://a:1,http://b:2\n');
    assert.deepEqual(resolveClusterConfig({ file: comma })?.endpoints, [
      'http://a:1',
      'http://b:2',
    ]);
    assert.equal(fileSection('  cluster:\n    etcd:\n'), undefined);
  });

  it('errors name file:line:col and never the password', () => {
    assert.equal(
      fileError('  cluster:\n    etcd:\n      endpoints: [etcd1:2379]\n'),
      "c.yml:6:18: keyhold.cluster.etcd.endpoints: etcd endpoint 'etcd1:2379' needs a scheme: http://etcd1:2379 or https://… (with TLS)",
    );
    assert.equal(
      fileError('  cluster:\n    etcd:\n      prefix: keyhold\n'),
      "c.yml:6:15: keyhold.cluster.etcd.prefix: etcd prefix 'keyhold' must start and end with '/' (e.g. /keyhold/)",
    );
    assert.equal(
      fileError('  cluster:\n    etcd:\n      password: ${NOPE}\n'),
      "c.yml:6:17: referenced environment variable 'NOPE' not found",
    );
    const section = fileSection(`  cluster:\n    etcd:\n      password: ${SECRET}\n`);
    const message = resolveError({ file: section });
    assert.match(
      message,
      /^c\.yml:6:17: keyhold\.cluster\.etcd\.password is set but no etcd endpoints are/,
    );
    const tls = fileSection(
      `  cluster:\n    etcd:\n      endpoints: https://e\n      tls:\n        cert: ${CERT}\n`,
    );
    assert.match(
      resolveError({ file: tls }),
      /^c\.yml:8:15: keyhold\.cluster\.etcd\.tls\.cert is set without the client key/,
    );
  });

  it('unknown fields are warnings, as elsewhere in the file', () => {
    const config = parseServerConfig(
      'c.yml',
      'admin:\n  identity: disabled\nkeyhold:\n  cluster:\n    etcd:\n      endpoints: http://e\n      timeout: 5s\n',
      {},
    );
    assert.deepEqual(config.warnings, [
      "c.yml:7:7: unknown field 'timeout' in 'keyhold.cluster.etcd' (ignored)",
    ]);
  });
});

describe('log trimming settings', () => {
  it('come from the file, the environment or a flag, field by field', () => {
    const file = fileSection(
      [
        '  cluster:',
        '    etcd:',
        '      endpoints: http://e',
        '      trim:',
        '        interval: 10m',
        '        threshold: 5000',
      ].join('\n') + '\n',
    );
    assert.deepEqual(resolveClusterConfig({ file })?.trim, { interval: 600_000, threshold: 5000 });
    assert.deepEqual(
      resolveClusterConfig({
        file,
        env: { KEYHOLD_ETCD_TRIM_INTERVAL: '90s' },
        flags: { trimThreshold: '20' },
      })?.trim,
      { interval: 90_000, threshold: 20 },
    );
    // Unset: no trim field, the engine's defaults (5m, 10000).
    assert.equal(resolveClusterConfig({ flags: { endpoints: 'http://e' } })?.trim, undefined);
  });

  it('bad values are one line naming where they came from', () => {
    const endpoints = 'http://e';
    assert.equal(
      resolveError({ flags: { endpoints, trimInterval: '500ms' } }),
      "--etcd-trim-interval: the trim interval must be at least 1s (got '500ms')",
    );
    assert.equal(
      resolveError({ flags: { endpoints }, env: { KEYHOLD_ETCD_TRIM_INTERVAL: 'soon' } }),
      "KEYHOLD_ETCD_TRIM_INTERVAL: invalid duration 'soon' (examples: 5m, 30s, 1h)",
    );
    assert.equal(
      resolveError({ flags: { endpoints, trimThreshold: '0' } }),
      "--etcd-trim-threshold: the trim threshold must be a whole number of log entries, at least 1 (got '0')",
    );
    assert.match(
      fileError(
        '  cluster:\n    etcd:\n      endpoints: http://e\n      trim:\n        threshold: -3\n',
      ),
      /^c\.yml:8:20: keyhold\.cluster\.etcd\.trim\.threshold: the trim threshold must be a whole number/,
    );
    assert.match(
      resolveError({ flags: { trimInterval: '1m' } }),
      /^--etcd-trim-interval is set but no etcd endpoints are/,
    );
  });
});
