// The `keystore:` section of a KES config file: each backend's fields and defaults as KES
// documents them, and clear errors (file:line:col) for what cannot be served.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseServerConfig } from '../src/config/server-config.ts';

const ADMIN = 'admin:\n  identity: disabled\n';
const parse = (text: string, env: Record<string, string> = {}) =>
  parseServerConfig('c.yml', ADMIN + text, env);
const errorOf = (text: string): string => {
  try {
    parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  return 'no error';
};

describe('keystore config', () => {
  it('vault: KES defaults (engine kv, version v1, approle mount, ping 15s) and env references', () => {
    const config = parse(
      'keystore:\n  vault:\n    endpoint: https://v:8200\n    approle:\n      id: ${ID}\n      secret: ${SECRET}\n',
      { ID: 'role', SECRET: 'pw' },
    );
    assert.deepEqual(config.keystore, {
      kind: 'vault',
      endpoint: 'https://v:8200',
      engine: 'kv',
      version: 'v1',
      namespace: '',
      prefix: '',
      approle: { engine: 'approle', namespace: '', id: 'role', secret: 'pw' },
      tls: { key: '', cert: '', ca: '' },
      statusPing: 15_000,
    });
  });

  it('aws: a scheme-less endpoint gets https://; no credentials means the default chain', () => {
    const config = parse(
      'keystore:\n  aws:\n    secretsmanager:\n      endpoint: secretsmanager.us-east-2.amazonaws.com\n      region: us-east-2\n      kmskey: ""\n      credentials:\n        accesskey: ""\n        secretkey: ""\n',
    );
    assert.deepEqual(config.keystore, {
      kind: 'aws',
      endpoint: 'https://secretsmanager.us-east-2.amazonaws.com',
      region: 'us-east-2',
      kmsKey: '',
    });
  });

  it('refuses what it cannot serve, naming the place', () => {
    assert.match(
      errorOf('keystore:\n  fs:\n    path: /a\n  vault:\n    endpoint: x\n'),
      /^c\.yml:4:3: invalid keystore config: more than one keystore specified$/,
    );
    assert.match(
      errorOf('keystore:\n  entrust:\n    keycontrol:\n      endpoint: x\n'),
      /^c\.yml:4:3: keystore\.entrust is not supported by this Keyhold version/,
    );
    assert.match(
      errorOf('keystore:\n  vault:\n    endpoint: https://v\n'),
      /no authentication method/,
    );
    assert.match(
      errorOf(
        'keystore:\n  vault:\n    endpoint: https://v\n    version: v3\n    approle: {id: a, secret: b}\n',
      ),
      /^c\.yml:6:14: .*invalid K\/V version 'v3'/,
    );
    assert.match(
      errorOf('keystore:\n  aws:\n    secretsmanager:\n      endpoint: x\n'),
      /no region specified/,
    );
    assert.match(
      errorOf(
        'keystore:\n  aws:\n    secretsmanager:\n      endpoint: x\n      region: r\n      credentials:\n        accesskey: a\n',
      ),
      /credentials need both accesskey and secretkey/,
    );
    assert.match(errorOf('keystore:\n  fs:\n    path: ""\n'), /no path specified/);
  });

  it('an empty section, or only `kes`, is no gateway', () => {
    assert.equal(parse('keystore:\n').keystore, undefined);
    const kes = parse('keystore:\n  kes:\n    endpoint: x\n');
    assert.equal(kes.keystore, undefined);
    assert.match(kes.warnings[0]!, /keystore\.kes is ignored/);
  });
});
