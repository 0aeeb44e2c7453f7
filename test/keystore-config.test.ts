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

  it('fortanix, gemalto, entrust: KES’s fields, env references and defaults', () => {
    const fortanix = parse(
      'keystore:\n  fortanix:\n    sdkms:\n      endpoint: https://sdkms.fortanix.com\n      group_id: g1\n      credentials:\n        key: ${KEY}\n      tls:\n        ca: /ca.pem\n',
      { KEY: 'YXBwOnNlY3JldA==' },
    );
    assert.deepEqual(fortanix.keystore, {
      kind: 'fortanix',
      endpoint: 'https://sdkms.fortanix.com',
      groupId: 'g1',
      apiKey: 'YXBwOnNlY3JldA==',
      ca: '/ca.pem',
    });
    const gemalto = parse(
      'keystore:\n  gemalto:\n    keysecure:\n      endpoint: https://ks\n      credentials:\n        token: ${T}\n',
      { T: 'refresh' },
    );
    assert.deepEqual(gemalto.keystore, {
      kind: 'gemalto',
      endpoint: 'https://ks',
      token: 'refresh',
      domain: '',
      retry: 5_000,
      ca: '',
    });
    const entrust = parse(
      'keystore:\n  entrust:\n    keycontrol:\n      endpoint: https://kc\n      vault_id: v\n      box_id: b\n      credentials:\n        username: u\n        password: " p w "\n      tls:\n        ca: /ca\n',
    );
    assert.deepEqual(entrust.keystore, {
      kind: 'entrust',
      endpoint: 'https://kc',
      vaultId: 'v',
      boxId: 'b',
      username: 'u',
      password: ' p w ',
      ca: '/ca',
    });
  });

  it('refuses what it cannot serve, naming the place', () => {
    assert.match(
      errorOf('keystore:\n  fs:\n    path: /a\n  vault:\n    endpoint: x\n'),
      /^c\.yml:4:3: invalid keystore config: more than one keystore specified$/,
    );
    assert.match(
      errorOf('keystore:\n  entrust:\n    keycontrol:\n      endpoint: x\n'),
      /^c\.yml:6:7: invalid entrust keycontrol keystore config: no vault_id specified$/,
    );
    assert.match(
      errorOf('keystore:\n  fortanix:\n    sdkms:\n      endpoint: https://f\n'),
      /invalid fortanix SDKMS keystore config: no API key specified/,
    );
    assert.match(
      errorOf('keystore:\n  gemalto:\n    keysecure:\n      credentials:\n        token: t\n'),
      /invalid gemalto keysecure keystore config: no endpoint specified/,
    );
    assert.match(
      errorOf(
        'keystore:\n  gemalto:\n    keysecure:\n      endpoint: e\n      credentials:\n        token: t\n        retry: soon\n',
      ),
      /^c\.yml:9:16: invalid credentials\.retry 'soon'/,
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
