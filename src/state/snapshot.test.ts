// Snapshot codec: binary round trips, the JSON format 1 of earlier releases (a payload written by
// that release), and clear errors for truncated, corrupted and malformed payloads.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import type { Command } from './commands.ts';
import { decodeCommand } from './commands.ts';
import type { KeyVersion } from './entities.ts';
import { SnapshotFormatError, decodeSnapshot, encodeSnapshot } from './snapshot.ts';
import { State } from './state.ts';

const by = 'h1:Rvxa7nj8zkL48CeDkN6LhpX-K7KK6uhIhpBOcTHNhWw';
const by2 = 'h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const testdata = (name: string): Buffer =>
  readFileSync(new URL(`../../../src/state/testdata/${name}`, import.meta.url));

/** The commands that produced testdata/snapshot-v1.payload (and commands-v1.ndjson). */
function fixtureCommands(): Command[] {
  return testdata('commands-v1.ndjson')
    .toString()
    .trim()
    .split('\n')
    .map((line) => decodeCommand(Buffer.from(line)));
}

function build(commands: readonly Command[]): State {
  const state = new State();
  for (const command of commands) {
    state.check(command);
    state.apply(command);
  }
  return state;
}

/** Everything observable about a state, key material included, for deep comparison. */
function describeState(state: State): unknown {
  const version = (v: KeyVersion): unknown => ({
    version: v.version,
    type: v.type,
    key: v.key.exportKeyMaterial().toString('hex'),
    hmacKey: v.hmacKey?.toString('hex') ?? null,
    createdAt: v.createdAt.getTime(),
    createdBy: v.createdBy,
    imported: v.imported,
  });
  return {
    commit: state.commit,
    enclaves: [...state.enclaves.values()].map((e) => ({
      name: e.name,
      createdAt: e.createdAt.getTime(),
      createdBy: e.createdBy,
      keys: e.keys.page('', '', 1000).items.map((ring) => ({
        name: ring.name,
        highest: ring.highest,
        versions: ring.versions().map(version),
      })),
      policies: [...e.policies.values()].map((p) => ({ ...p, createdAt: p.createdAt.getTime() })),
    })),
    identities: [...state.identities.values()].map((i) => ({
      ...i,
      createdAt: i.createdAt.getTime(),
    })),
  };
}

function reseal(payload: Buffer): Buffer {
  const copy = Buffer.from(payload);
  copy.writeUInt32LE(crc32(copy.subarray(20)), 16);
  return copy;
}

describe('snapshot codec', () => {
  it('reads the JSON format 1 written by earlier releases', () => {
    const state = decodeSnapshot(testdata('snapshot-v1.payload'));
    assert.deepEqual(describeState(state), describeState(build(fixtureCommands())));
    const k1 = state.keyRing('e1', 'k1');
    assert.equal(k1.highest, 3);
    assert.deepEqual(
      k1.versions().map((v) => v.version),
      [1, 3],
    );
    assert.equal(k1.latest().key.exportKeyMaterial().toString('hex'), '05'.repeat(32));
    assert.equal(k1.version(1)?.hmacKey?.toString('hex'), '02'.repeat(32));
    assert.equal(k1.version(1)?.createdBy, by);
    assert.equal(k1.latest().createdAt.getTime(), 1_700_000_000_300);
    const imported = state.keyRing('e1', 'imported').latest();
    assert.equal(imported.type, 'ChaCha20');
    assert.equal(imported.imported, true);
    assert.equal(imported.hmacKey, null);
    const gone = state.keyRing('e2', 'gone');
    assert.equal(gone.highest, 2);
    assert.equal(gone.latest().version, 1);
    assert.deepEqual(state.enclave('e1').policies.get('p1')?.allow, {
      'KEY:GENERATE': ['k*'],
      'KEY:DECRYPT': ['k1'],
    });
    assert.equal(state.identities.get('e1', by2)?.policy, 'p1');
    assert.equal(state.commit, 16);
  });

  it('round-trips every field through the binary format, byte for byte', () => {
    const state = build(fixtureCommands());
    const payload = encodeSnapshot(state);
    assert.equal(payload.subarray(0, 4).toString('latin1'), 'KHSS');
    const copy = decodeSnapshot(payload);
    assert.deepEqual(describeState(copy), describeState(state));
    assert.deepEqual(encodeSnapshot(copy), payload);
    // A JSON-era state re-encodes to the same binary payload.
    assert.deepEqual(encodeSnapshot(decodeSnapshot(testdata('snapshot-v1.payload'))), payload);
  });

  it('keeps listings sorted and the state usable after a round trip', () => {
    const state = build([{ op: 'enclave.create', enclave: 'e', at: 1, by }]);
    const names = Array.from({ length: 3000 }, (_, i) => `k${String((i * 7919) % 3000)}`);
    for (const name of names) {
      state.apply({
        op: 'key.create',
        enclave: 'e',
        name,
        type: 'AES256',
        key: randomBytes(32),
        hmacKey: randomBytes(32),
        imported: false,
        addVersion: false,
        at: 1_700_000_000_000,
        by,
      });
    }
    const copy = decodeSnapshot(encodeSnapshot(state));
    const listed: string[] = [];
    let continueAt = '';
    do {
      const page = copy.enclave('e').keys.page('', continueAt, 1000);
      listed.push(...page.items.map((r) => r.name));
      continueAt = page.continueAt;
    } while (continueAt !== '');
    assert.deepEqual(listed, [...names].sort());
    // New keys and deletions after loading still list correctly.
    copy.apply({ op: 'key.delete', enclave: 'e', name: 'k1', version: 0, all: true });
    copy.apply({
      op: 'key.create',
      enclave: 'e',
      name: 'k1a',
      type: 'ChaCha20',
      key: randomBytes(32),
      hmacKey: null,
      imported: true,
      addVersion: false,
      at: 5,
      by: by2,
    });
    assert.deepEqual(
      copy
        .enclave('e')
        .keys.page('k1', '', 4)
        .items.map((r) => r.name),
      ['k10', 'k100', 'k1000', 'k1001'],
    );
    assert.equal(copy.keyRing('e', 'k1a').latest().createdBy, by2);
    const sealed = copy.keyRing('e', 'k5').latest().key.seal(Buffer.from('x'));
    assert.deepEqual(state.keyRing('e', 'k5').latest().key.open(sealed), Buffer.from('x'));
  });

  it('refuses a truncated payload at every length with a clear error', () => {
    const payload = encodeSnapshot(build(fixtureCommands()));
    for (let n = 0; n < payload.length; n++) {
      assert.throws(
        () => decodeSnapshot(payload.subarray(0, n)),
        (error: unknown) =>
          error instanceof SnapshotFormatError &&
          /invalid snapshot: (not a Keyhold snapshot|truncated)/.test(error.message),
        `length ${n}`,
      );
    }
    assert.throws(
      () => decodeSnapshot(Buffer.concat([payload, Buffer.from([0])])),
      /trailing bytes/,
    );
  });

  it('detects any corrupted byte', () => {
    const payload = encodeSnapshot(build(fixtureCommands()));
    for (let i = 20; i < payload.length; i += 7) {
      const bad = Buffer.from(payload);
      bad[i] = bad[i]! ^ 0x10;
      assert.throws(() => decodeSnapshot(bad), /checksum mismatch \(the payload is corrupted\)/);
    }
    const magic = Buffer.from(payload);
    magic[0] = 0x4c;
    assert.throws(() => decodeSnapshot(magic), /not a Keyhold snapshot/);
    const version = Buffer.from(payload);
    version.writeUInt16LE(3, 4);
    assert.throws(() => decodeSnapshot(version), /unsupported snapshot format version 3/);
  });

  it('refuses well-checksummed but malformed content, naming the offset', () => {
    const state = build([
      { op: 'enclave.create', enclave: 'e', at: 1, by },
      ...['a', 'b'].map((name): Command => ({
        op: 'key.create',
        enclave: 'e',
        name,
        type: 'AES256',
        key: Buffer.alloc(32, 1),
        hmacKey: null,
        imported: false,
        addVersion: false,
        at: 2,
        by,
      })),
    ]);
    const payload = encodeSnapshot(state);
    // Rename key 'b' to 'a': out of order (a duplicate).
    const bAt = payload.lastIndexOf(Buffer.from([1, 0, 0x62]));
    const duplicate = Buffer.from(payload);
    duplicate[bAt + 2] = 0x61;
    assert.throws(
      () => decodeSnapshot(reseal(duplicate)),
      /invalid snapshot: key 'a' in enclave 'e' out of order or without versions \(at byte \d+\)/,
    );
    // Version 0 of key 'b' (its record follows name, u32 highest and u16 count).
    const recordAt = bAt + 3 + 4 + 2;
    const version0 = Buffer.from(payload);
    version0.writeUInt32LE(0, recordAt + 72);
    assert.throws(() => decodeSnapshot(reseal(version0)), /bad version 0 of key 'b'/);
    const creator = Buffer.from(payload);
    creator.writeUInt32LE(9, recordAt + 76);
    assert.throws(() => decodeSnapshot(reseal(creator)), /bad creator or flags of key 'b'/);
    const flags = Buffer.from(payload);
    flags[recordAt + 80] = 0x80;
    assert.throws(() => decodeSnapshot(reseal(flags)), /bad creator or flags of key 'b'/);
  });

  it('refuses a damaged JSON snapshot with a clear error', () => {
    const json = testdata('snapshot-v1.payload');
    assert.throws(
      () => decodeSnapshot(json.subarray(0, json.length - 10)),
      /^SnapshotFormatError|invalid snapshot/,
    );
    const badKey = Buffer.from(json.toString().replace('"key":"AQEB', '"key":"AQ'));
    assert.throws(() => decodeSnapshot(badKey), /invalid snapshot: .*32 bytes/);
  });
});
