import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterKeys, EtcdLayout } from './etcd-layout.ts';
import { decodeEntry, encodeEntry } from './log-entry.ts';
import { ancestorsOf } from './cluster-node.ts';

const keys = new ClusterKeys(new EtcdLayout('/keyhold/'), Buffer.alloc(32, 7));

describe('etcd layout and sealing', () => {
  it('a value opens only under the etcd key it was sealed for', () => {
    const sealed = keys.seal('/keyhold/log/aa', Buffer.from('entry'));
    assert.equal(keys.open('/keyhold/log/aa', sealed).toString(), 'entry');
    assert.throws(() => keys.open('/keyhold/log/bb', sealed), /not sealed for it/);
    assert.throws(() => keys.open('/other/log/aa', sealed), /not sealed for it/);
    const otherCluster = new ClusterKeys(new EtcdLayout('/keyhold/'), Buffer.alloc(32, 8));
    assert.throws(() => otherCluster.open('/keyhold/log/aa', sealed), /not sealed for it/);
  });

  it('names in etcd keys are HMACs: stable per cluster, different across clusters', () => {
    const marker = keys.marker('enclave/e/key/secret-name');
    assert.ok(!marker.includes('secret-name'));
    assert.equal(marker, keys.marker('enclave/e/key/secret-name'));
    const other = new ClusterKeys(new EtcdLayout('/keyhold/'), Buffer.alloc(32, 8));
    assert.notEqual(marker, other.marker('enclave/e/key/secret-name'));
    assert.ok(keys.member('10.0.0.1:7373').startsWith('/keyhold/member/'));
  });

  it('log entries round-trip', () => {
    const command = { op: 'key.delete', enclave: 'e', name: 'k', version: 0, all: true } as const;
    assert.deepEqual(decodeEntry(encodeEntry({ kind: 'command', command })), {
      kind: 'command',
      command,
    });
    const mark = { id: 'x', chunks: 2, sha256: 'ab' };
    assert.deepEqual(decodeEntry(encodeEntry({ kind: 'snapshot', mark })), {
      kind: 'snapshot',
      mark,
    });
  });

  it('a write compares its objects and all their ancestors', () => {
    assert.deepEqual(ancestorsOf(['enclave/e/key/k', 'identity']).sort(), [
      'enclave',
      'enclave/e',
      'enclave/e/key',
      'enclave/e/key/k',
      'identity',
    ]);
  });
});
