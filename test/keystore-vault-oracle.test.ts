// An independent check that the local Vault used by the key store tests behaves like Vault: the
// `node-vault` client (written against real Vault, unrelated to Keyhold) logs in with AppRole,
// writes, reads, lists and deletes K/V v2 entries, renews its token and reads health, and sees
// Vault's errors where Vault gives them.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import vaultClient from 'node-vault';
import { FakeVault } from './helpers/vault-server.ts';

describe('local Vault, driven by node-vault', () => {
  let vault: FakeVault;
  before(async () => {
    vault = await FakeVault.start({
      mounts: { '': { kv: 'kv2', 'auth/approle': 'approle' } },
      roles: { '|approle': [{ roleId: 'r', secretId: 's', ttl: 60, renewable: true }] },
    });
  });
  after(() => vault.stop());

  it('AppRole login, K/V v2 with check-and-set, list, delete, renew-self, health', async () => {
    const client = vaultClient({
      endpoint: vault.endpoint,
      requestOptions: { ca: vault.ca },
    });
    const login = (await client.approleLogin({ role_id: 'r', secret_id: 's' })) as {
      auth: { client_token: string; lease_duration: number; renewable: boolean };
    };
    assert.match(login.auth.client_token, /^hvs\./);
    assert.equal(login.auth.renewable, true);
    assert.ok(login.auth.lease_duration > 0 && login.auth.lease_duration <= 60);

    const written = (await client.write('kv/data/app/k', {
      data: { k: 'v1' },
      options: { cas: 0 },
    })) as { data: { version: number } };
    assert.equal(written.data.version, 1);
    await assert.rejects(
      client.write('kv/data/app/k', { data: { k: 'v2' }, options: { cas: 0 } }),
      /check-and-set parameter did not match the current version/,
    );
    const read = (await client.read('kv/data/app/k?version=1')) as {
      data: { data: { k: string }; metadata: { version: number } };
    };
    assert.equal(read.data.data.k, 'v1');
    // node-vault lists with the method LIST, which Node's HTTP parser cannot accept: the local
    // Vault serves the GET `?list=true` form KES (since 2024) and Keyhold send.
    const listed = (await client.read('kv/metadata/app?list=true')) as {
      data: { keys: string[] };
    };
    assert.deepEqual(listed.data.keys, ['k']);
    await client.delete('kv/metadata/app/k');
    await assert.rejects(
      client.read('kv/data/app/k'),
      (error: { response?: { statusCode: number } }) => {
        assert.equal(error.response?.statusCode, 404);
        return true;
      },
    );

    const renewed = (await client.tokenRenewSelf()) as { auth: { client_token: string } };
    assert.equal(renewed.auth.client_token, login.auth.client_token);
    const health = (await client.health()) as { initialized: boolean; sealed: boolean };
    assert.deepEqual([health.initialized, health.sealed], [true, false]);

    client.token = 'hvs.revoked';
    await assert.rejects(client.read('kv/data/app/k'), /permission denied/);
    await assert.rejects(
      client.approleLogin({ role_id: 'r', secret_id: 'wrong' }),
      /invalid role or secret ID/,
    );
  });
});
