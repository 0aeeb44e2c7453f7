// KeySlab and the key-ring views over it: fields round-trip, deleted versions are zeroed and their
// stale views refused, SecretKeys are made lazily and kept in a bounded cache.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { SecretKey } from '../crypto/index.ts';
import { KeyRings } from './key-rings.ts';
import { KeySlab } from './key-slab.ts';
import { SecretKeyCache } from './secret-key-cache.ts';

const by = 'h1:Rvxa7nj8zkL48CeDkN6LhpX-K7KK6uhIhpBOcTHNhWw';

function fields(key = randomBytes(32), hmacKey: Buffer | null = randomBytes(32)) {
  return { type: 'AES256' as const, key, hmacKey, at: 1_700_000_000_123, by, imported: false };
}

describe('KeySlab', () => {
  it('stores every field of a version', () => {
    const slab = new KeySlab();
    const key = randomBytes(32);
    const id = slab.add({ ...fields(key, null), version: 7, type: 'ChaCha20', imported: true });
    assert.equal(slab.version(id), 7);
    assert.equal(slab.type(id), 'ChaCha20');
    assert.equal(slab.imported(id), true);
    assert.equal(slab.hmacKey(id), null);
    assert.equal(slab.createdAt(id), 1_700_000_000_123);
    assert.equal(slab.createdBy(id), by);
    assert.ok(slab.secretKey(id).equals(new SecretKey('ChaCha20', key)));
    assert.throws(() => slab.add({ ...fields(randomBytes(31)), version: 1 }), /32 bytes/);
  });

  it('spans slabs, zeroes freed records and reuses them', () => {
    const slab = new KeySlab();
    const ids = Array.from({ length: 20_000 }, (_, i) =>
      slab.add({ ...fields(Buffer.alloc(32, i % 251)), version: i + 1 }),
    );
    assert.equal(slab.count, 20_000);
    assert.equal(slab.version(ids[19_999]!), 20_000);
    assert.deepEqual(
      slab.secretKey(ids[12_345]!).exportKeyMaterial(),
      Buffer.alloc(32, 12_345 % 251),
    );
    const hmac = slab.hmacKey(ids[5]!)!;
    slab.free(ids[5]!);
    assert.deepEqual(hmac, Buffer.alloc(32), 'the HMAC key bytes are zeroed');
    assert.equal(slab.count, 19_999);
    const reused = slab.add({ ...fields(), version: 1 });
    assert.equal(reused, ids[5]);
  });

  it('never makes a SecretKey unless asked, and caches a bounded number', () => {
    const cache = new SecretKeyCache(2);
    const slab = new KeySlab(2);
    const ids = [1, 2, 3, 4].map((v) => slab.add({ ...fields(), version: v }));
    const hot = slab.secretKey(ids[0]!);
    for (const id of ids) {
      slab.secretKey(id);
      assert.equal(slab.secretKey(ids[0]!), hot, 'a hot key stays cached');
    }
    for (let i = 0; i < 10; i++) cache.set(i, hot);
    assert.ok(cache.size <= 4);
    assert.equal(cache.get(9), hot);
    assert.equal(cache.get(0), undefined);
  });
});

describe('KeyRings', () => {
  it('keeps one-version rings compact and numbers versions like before', () => {
    const slab = new KeySlab();
    const rings = new KeyRings(slab);
    assert.equal(rings.add('k', fields()), 1);
    assert.equal(rings.add('k', fields()), 2);
    assert.equal(rings.add('k', fields()), 3);
    rings.deleteVersion('k', 0);
    assert.equal(rings.get('k')?.highest, 3);
    assert.deepEqual(
      rings
        .get('k')
        ?.versions()
        .map((v) => v.version),
      [1, 2],
    );
    assert.equal(rings.add('k', fields()), 4);
    rings.deleteVersion('k', 1);
    rings.deleteVersion('k', 2);
    assert.equal(rings.get('k')?.versionCount, 1);
    assert.equal(rings.get('k')?.latest().version, 4);
    assert.equal(rings.hasVersion('k', 4), true);
    assert.equal(rings.hasVersion('k', 2), false);
    rings.deleteVersion('k', 4);
    assert.equal(rings.has('k'), false);
    assert.equal(slab.count, 0);
  });

  it('refuses to use a view of a version deleted (and its record reused) since it was read', () => {
    const slab = new KeySlab();
    const rings = new KeyRings(slab);
    rings.add('a', fields());
    const stale = rings.get('a')!.latest();
    rings.deleteRing('a');
    rings.add('b', fields());
    assert.throws(() => stale.key, /was deleted or replaced after it was read/);
    assert.throws(() => stale.hmacKey, /was deleted or replaced/);
    assert.equal(rings.get('b')?.latest().createdBy, by);
  });

  it('zeroes every key when cleared or wiped', () => {
    const slab = new KeySlab();
    const rings = new KeyRings(slab);
    rings.add('a', fields());
    const hmac = slab.hmacKey(0)!;
    rings.clear();
    assert.deepEqual(hmac, Buffer.alloc(32));
    rings.add('b', fields());
    const again = slab.hmacKey(0)!;
    slab.wipe();
    assert.deepEqual(again, Buffer.alloc(32));
  });
});
