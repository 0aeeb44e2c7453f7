// Command codec: the binary encoding of key commands, the JSON records of earlier releases (still
// in existing logs), and clear errors for damaged records.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Command } from './commands.ts';
import { decodeCommand, encodeCommand } from './commands.ts';

const by = 'h1:Rvxa7nj8zkL48CeDkN6LhpX-K7KK6uhIhpBOcTHNhWw';

const create: Command = {
  op: 'key.create',
  enclave: 'default',
  name: 'key-00000001',
  type: 'ChaCha20',
  key: Buffer.alloc(32, 7),
  hmacKey: Buffer.alloc(32, 8),
  imported: true,
  addVersion: true,
  at: 1_700_000_000_123,
  by,
};

describe('command codec', () => {
  it('encodes key commands in binary and round-trips every variant', () => {
    const variants: Command[] = [
      create,
      { ...create, type: 'AES256', hmacKey: null, imported: false, addVersion: false },
      { ...create, enclave: 'ünïcode', name: 'x'.repeat(80) },
      { op: 'key.delete', enclave: 'e', name: 'k', version: 0, all: true },
      { op: 'key.delete', enclave: 'e', name: 'k', version: 4_000_000_000, all: false },
    ];
    for (const command of variants) {
      const encoded = encodeCommand(command);
      assert.equal(encoded[0], 0x02);
      assert.deepEqual(decodeCommand(encoded), command);
    }
    assert.ok(encodeCommand(create).length < 160);
  });

  it('reads the JSON records of earlier releases', () => {
    const lines = readFileSync(
      new URL('../../../src/state/testdata/commands-v1.ndjson', import.meta.url),
      'utf8',
    )
      .trim()
      .split('\n');
    const commands = lines.map((line) => decodeCommand(Buffer.from(line)));
    assert.equal(commands.length, 16);
    assert.deepEqual(commands[2], {
      op: 'key.create',
      enclave: 'e1',
      name: 'k1',
      type: 'AES256',
      key: Buffer.alloc(32, 1),
      hmacKey: Buffer.alloc(32, 2),
      imported: false,
      addVersion: false,
      at: 1_700_000_000_100,
      by,
    });
    // Re-encoded key commands are binary and mean the same.
    for (const command of commands)
      assert.deepEqual(decodeCommand(encodeCommand(command)), command);
  });

  it('refuses truncated, padded and unknown binary records with a clear error', () => {
    const encoded = encodeCommand(create);
    for (let n = 1; n < encoded.length; n++) {
      assert.throws(() => decodeCommand(encoded.subarray(0, n)), /invalid command truncated at/);
    }
    assert.throws(
      () => decodeCommand(Buffer.concat([encoded, Buffer.from([0])])),
      /1 unexpected bytes after the end/,
    );
    assert.throws(() => decodeCommand(Buffer.from([2, 9])), /unknown binary command 9/);
    const flags = Buffer.from(encoded);
    flags[2] = 0xff;
    assert.throws(() => decodeCommand(flags), /unknown key.create flags 255/);
  });
});
