// Tests decoding of KES response bodies across the current and legacy server eras.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KesResponseError } from './errors.ts';
import {
  decodeApiRoutes,
  decodeKeyInfo,
  decodePolicy,
  decodeSelfInfo,
  decodeStatus,
  encodeKesStatus,
  jsonObject,
} from './responses.ts';

describe('KES response decoding', () => {
  it('maps legacy algorithm names and Go zero times', () => {
    const k = decodeKeyInfo({
      name: 'k',
      algorithm: 'XCHACHA20-POLY1305',
      created_at: '0001-01-01T00:00:00Z',
      id: 'abc',
    });
    assert.deepEqual(k, { name: 'k', algorithm: 'ChaCha20', id: 'abc' });
    const current = decodeKeyInfo({
      name: 'k',
      algorithm: 'AES256',
      created_at: '2024-01-12T10:39:20.886816Z',
      created_by: 'ab',
    });
    assert.equal(current.createdAt?.toISOString(), '2024-01-12T10:39:20.886Z');
    assert.throws(() => decodeKeyInfo({ name: 'k', algorithm: 'DES' }), KesResponseError);
  });

  it('reads status and writes it back in the kes --json shape', () => {
    const s = decodeStatus({ version: 'v', uptime: 5, num_cpu: 2, keystore_unreachable: true });
    assert.equal(s.keystoreUnavailable, true, 'unreachable implies unavailable');
    assert.deepEqual(encodeKesStatus(s), {
      version: 'v',
      uptime: 5,
      num_cpu: 2,
      keystore_unreachable: true,
      keystore_unavailable: true,
    });
    assert.throws(() => decodeStatus({ uptime: '5' }), /'uptime' is not a number/);
  });

  it('reads policies as pattern objects (current) and arrays (legacy)', () => {
    const current = decodePolicy(
      { allow: { '/v1/key/create/*': {} }, deny: { '/v1/key/delete/*': {} } },
      'p',
    );
    assert.deepEqual(
      [current.name, current.allow, current.deny],
      ['p', ['/v1/key/create/*'], ['/v1/key/delete/*']],
    );
    const legacy = decodePolicy({ name: 'q', allow: ['/v1/status'] }, 'p');
    assert.deepEqual([legacy.name, legacy.allow, legacy.deny], ['q', ['/v1/status'], []]);
    assert.throws(() => decodePolicy({ allow: 'x' }, 'p'), KesResponseError);
  });

  it('reads all three self-describe shapes', () => {
    const flat = decodeSelfInfo({
      identity: 'i',
      policy: 'p',
      allow: { '/a': {} },
      deny: { '/b': {} },
    });
    assert.deepEqual([flat.policy, flat.allow, flat.deny], ['p', ['/a'], ['/b']]);
    const current = decodeSelfInfo({ identity: 'i', policy: { name: 'p', allow: { '/a': {} } } });
    assert.deepEqual([current.policy, current.allow], ['p', ['/a']]);
    const legacy = decodeSelfInfo({
      identity: 'i',
      policy_name: 'p',
      policy: { allow: ['/a'], deny: ['/b'] },
    });
    assert.deepEqual([legacy.policy, legacy.allow, legacy.deny], ['p', ['/a'], ['/b']]);
    const admin = decodeSelfInfo({ identity: 'i', admin: true });
    assert.deepEqual([admin.isAdmin, admin.policy, admin.allow], [true, '', []]);
  });

  it('reads the route table and rejects non-objects', () => {
    assert.deepEqual(
      decodeApiRoutes([{ method: 'GET', path: '/v1/status', max_body: 0, timeout: 15 }]),
      [{ method: 'GET', path: '/v1/status', maxBody: 0, timeout: 15 }],
    );
    assert.throws(() => decodeApiRoutes({}), KesResponseError);
    assert.throws(() => jsonObject(Buffer.from('[1]'), 'x'), /not a JSON object/);
    assert.throws(() => jsonObject(Buffer.from('{'), 'x'), /not JSON/);
  });
});
