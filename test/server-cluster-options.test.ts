// `keyhold server DIR` with bad etcd cluster settings (flag, environment or config file) exits 1
// with one clear line naming the setting, never the etcd password, and creates nothing in DIR.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI, TEST_HSM_KEY, tempDir } from './helpers/server-process.ts';

const SECRET = 'etcd-secret-not-for-logs';
const tmp = tempDir('keyhold-cluster-options-');
after(() => tmp.remove());

function server(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'server', ...args, '--address', '127.0.0.1:0'],
      {
        env: { PATH: process.env.PATH ?? '', KEYHOLD_HSM_KEY: TEST_HSM_KEY, ...env },
        timeout: 30_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function refused(args: string[], env: Record<string, string>, expected: RegExp) {
  const dir = join(tmp.dir, `d${Math.random().toString(36).slice(2)}`);
  const { code, stdout, stderr } = await server([dir, ...args], env);
  assert.equal(code, 1, stderr);
  assert.equal(stdout, '');
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${stderr}`);
  assert.match(lines[0]!, expected);
  assert.ok(!stderr.includes(SECRET), 'the password never shows');
  assert.equal(existsSync(dir), false, 'nothing created before the settings are valid');
}

describe('keyhold server with bad etcd settings', () => {
  it('--etcd with a bad URL', async () => {
    await refused(
      ['--etcd', 'etcd1:2379'],
      {},
      /^keyhold: --etcd: etcd endpoint 'etcd1:2379' needs a scheme/,
    );
    await refused(
      ['--etcd', `http://root:${SECRET}@etcd1:2379`],
      {},
      /^keyhold: --etcd: etcd endpoint 'http:\/\/\*\*\*@etcd1:2379': put credentials in the etcd username and password settings/,
    );
  });

  it('--etcd-prefix not starting and ending with /', async () => {
    await refused(
      ['--etcd', 'http://127.0.0.1:2379', '--etcd-prefix', 'keyhold'],
      {},
      /^keyhold: --etcd-prefix: etcd prefix 'keyhold' must start and end with '\/'/,
    );
  });

  it('an etcd username from the environment without its password', async () => {
    await refused(
      ['--etcd', 'https://127.0.0.1:2379'],
      { KEYHOLD_ETCD_PASSWORD: SECRET },
      /^keyhold: KEYHOLD_ETCD_PASSWORD is set without a username/,
    );
  });

  it('a client certificate in the config file without its key', async () => {
    const cert = join(tmp.dir, 'client.pem');
    writeFileSync(cert, 'PEM\n');
    const config = join(tmp.dir, 'config.yaml');
    writeFileSync(
      config,
      [
        'admin:',
        '  identity: disabled',
        'keyhold:',
        '  cluster:',
        '    etcd:',
        '      endpoints: [https://127.0.0.1:2379]',
        '      tls:',
        `        cert: ${cert}`,
        '      username: keyhold',
        '      password: ${ETCD_PASSWORD}',
        '',
      ].join('\n'),
    );
    await refused(
      ['--config', config],
      { ETCD_PASSWORD: SECRET },
      /^keyhold: .*config\.yaml:8:15: keyhold\.cluster\.etcd\.tls\.cert is set without the client key/,
    );
  });
});
