// Tests of endpoint parsing: scheme stripping, default port, IPv6, MinIO's ellipsis ranges,
// comma lists with duplicates, and the refusal of anything that is not HOST[:PORT].
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InvalidEndpointError,
  expandEllipses,
  normalizeEndpoint,
  parseEndpoints,
} from './endpoints.ts';

describe('normalizeEndpoint', () => {
  it('strips https:// and a trailing slash, and adds port 7373', () => {
    assert.equal(normalizeEndpoint('https://kms.example.net:7000/'), 'kms.example.net:7000');
    assert.equal(normalizeEndpoint('HTTPS://kms'), 'kms:7373');
    assert.equal(normalizeEndpoint(' 127.0.0.1:1 '), '127.0.0.1:1');
    assert.equal(normalizeEndpoint('[::1]'), '[::1]:7373');
    assert.equal(normalizeEndpoint('https://[fe80::1]:9000'), '[fe80::1]:9000');
  });

  it('refuses plain http, paths, user info, bad ports and bare IPv6', () => {
    for (const bad of [
      'http://kms:7373',
      'kms:7373/v1',
      'user@kms',
      'kms:0',
      'kms:65536',
      'kms:x',
      '::1',
      '',
      'kms?x',
    ]) {
      assert.throws(() => normalizeEndpoint(bad), InvalidEndpointError, bad);
    }
  });
});

describe('expandEllipses', () => {
  it('expands numeric ranges, keeps zero padding and multiplies several ranges', () => {
    assert.deepEqual(expandEllipses('kms{1...3}:7373'), ['kms1:7373', 'kms2:7373', 'kms3:7373']);
    assert.deepEqual(expandEllipses('n{08...10}'), ['n08', 'n09', 'n10']);
    assert.deepEqual(expandEllipses('r{1...2}n{1...2}'), ['r1n1', 'r1n2', 'r2n1', 'r2n2']);
    assert.deepEqual(expandEllipses('plain:1'), ['plain:1']);
  });

  it('refuses empty and huge ranges', () => {
    assert.throws(() => expandEllipses('n{3...1}'), /is empty/);
    assert.throws(() => expandEllipses('n{1...5000}'), /too large/);
    assert.throws(() => expandEllipses('a{1...100}b{1...100}'), /too many hosts/);
  });
});

describe('parseEndpoints', () => {
  it('splits a MINIO_KMS_SERVER list, expands and de-duplicates it', () => {
    assert.deepEqual(parseEndpoints('https://kms{1...2}.example.net:7373, kms1.example.net'), [
      'kms1.example.net:7373',
      'kms2.example.net:7373',
    ]);
    assert.deepEqual(parseEndpoints(['a:1,b:2', 'c']), ['a:1', 'b:2', 'c:7373']);
  });

  it('refuses an empty list', () => {
    assert.throws(() => parseEndpoints(' , '), /no KMS server endpoint/);
    assert.throws(() => parseEndpoints([]), /no KMS server endpoint/);
  });
});
