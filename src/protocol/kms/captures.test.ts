// Decodes every kms-go request capture (testdata/kms-go, recorded from the real kms-go SDK):
// command codes, every field the capture shows, batches, and byte-exact re-encoding.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { decodeKmsRequest, encodeKmsRequest } from './command-codec.ts';
import { type KmsCommandName, kmsCommand } from './commands.ts';
import { decodeFrames } from './frame.ts';
import type { MessageCodec } from './message-codec.ts';

// Tests run from dist/src/protocol/kms; the captures stay in the source tree.
const captureDir = new URL('../../../../src/protocol/kms/testdata/kms-go/', import.meta.url);

const ID = 'h1:Rvxa7nj8zkL48CeDkN6LhpX-K7KK6uhIhpBOcTHNhWw';
const hex = (s: string) => Buffer.from(s, 'hex');
const text = (s: string) => Buffer.from(s, 'utf8');

interface Expected {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly cmd?: KmsCommandName;
  readonly requests?: readonly Record<string, unknown>[];
}

const get = (path: string): Expected => ({ method: 'GET', path });
const cluster = (cmd: KmsCommandName, ...requests: Record<string, unknown>[]): Expected => ({
  method: 'POST',
  path: '/v1/kms',
  cmd,
  requests,
});
const enclave = (cmd: KmsCommandName, ...requests: Record<string, unknown>[]): Expected => ({
  method: 'POST',
  path: '/v1/kms/my-enclave',
  cmd,
  requests,
});

/** What each capture must decode to, written from its .txt field dump. */
const EXPECTED: Record<string, Expected> = {
  '001-version': get('/version'),
  '002-live': get('/v1/health/live'),
  '003-ready': get('/v1/health/ready'),
  '004-ready-write': get('/v1/health/ready?write'),
  '005-enclave-create': cluster('ENCLAVE:CREATE', { name: 'my-enclave' }),
  '006-enclave-delete': cluster('ENCLAVE:DELETE', { name: 'my-enclave' }),
  '007-enclave-status': cluster('ENCLAVE:STATUS', { name: 'my-enclave' }),
  '008-enclave-status-2': cluster('ENCLAVE:STATUS', { name: 'e1' }, { name: 'e2' }),
  '009-enclave-list': cluster('ENCLAVE:LIST', {}),
  '010-enclave-list-prefix': cluster('ENCLAVE:LIST', { prefix: 'my-', limit: 10 }),
  '011-key-create': enclave('KEY:CREATE', { name: 'my-key' }),
  '012-key-create-aes': enclave('KEY:CREATE', { name: 'my-key', type: 'AES256' }),
  '013-key-create-chacha-addversion': enclave('KEY:CREATE', {
    name: 'my-key',
    type: 'ChaCha20',
    addVersion: true,
  }),
  '014-key-import': enclave('KEY:IMPORT', {
    name: 'my-imported',
    type: 'AES256',
    key: hex('5e59ebfe73a0016139700ec602c9772f68280af99fb3a284d203600754fddf01'),
  }),
  '015-key-status': enclave('KEY:STATUS', { name: 'my-key' }),
  '016-key-status-v2': enclave('KEY:STATUS', { name: 'my-key', version: 2 }),
  '017-key-list': enclave('KEY:LIST', {}),
  '018-key-list-prefix': enclave('KEY:LIST', { prefix: 'my-' }),
  '019-key-delete': enclave('KEY:DELETE', { name: 'my-key' }),
  '020-key-delete-v3': enclave('KEY:DELETE', { name: 'my-key', version: 3 }),
  '021-key-delete-all': enclave('KEY:DELETE', { name: 'my-key', allVersions: true }),
  '022-key-generate': enclave('KEY:GENERATE', { name: 'my-key' }),
  '023-key-generate-ctx': enclave('KEY:GENERATE', {
    name: 'my-key',
    associatedData: text('{"bucket":"b1"}'),
  }),
  '024-key-generate-batch3': enclave(
    'KEY:GENERATE',
    { name: 'my-key' },
    { name: 'my-key' },
    { name: 'my-key' },
  ),
  '025-key-generate-len64': enclave('KEY:GENERATE', { name: 'my-key', length: 64 }),
  '026-key-encrypt': enclave('KEY:ENCRYPT', {
    name: 'my-key',
    plaintext: text('hello world'),
    associatedData: text('ctx'),
  }),
  '027-key-decrypt': enclave('KEY:DECRYPT', {
    name: 'my-key',
    ciphertext: hex('00010203040506070809'),
    associatedData: text('ctx'),
  }),
  '028-key-mac': enclave('KEY:MAC', { name: 'my-key', message: text('hello') }),
  '029-policy-create': enclave('POLICY:CREATE', {
    name: 'my-policy',
    allow: {
      'KEY:GENERATE': { rules: { 'my-key*': {} } },
      'KEY:DECRYPT': { rules: { 'my-key': {} } },
    },
    deny: { 'KEY:DELETE': { rules: { '*': {} } } },
  }),
  '030-policy-assign': enclave('POLICY:ASSIGN', { identity: ID, policy: 'my-policy' }),
  '031-policy-get': enclave('POLICY:GET', { name: 'my-policy' }),
  '032-policy-status': enclave('POLICY:STATUS', { name: 'my-policy' }),
  '033-policy-list': enclave('POLICY:LIST', {}),
  '034-policy-delete': enclave('POLICY:DELETE', { name: 'my-policy' }),
  '035-identity-create': enclave('IDENTITY:CREATE', { identity: ID, privilege: 'User' }),
  '036-identity-create-admin': enclave('IDENTITY:CREATE', { identity: ID, privilege: 'Admin' }),
  '037-identity-create-sa': enclave('IDENTITY:CREATE', {
    identity: ID,
    privilege: 'User',
    isServiceAccount: true,
    tags: { team: 'a' },
  }),
  '038-identity-get': enclave('IDENTITY:STATUS', { identity: ID }),
  '039-identity-list': enclave('IDENTITY:LIST', {}),
  '040-identity-delete': enclave('IDENTITY:DELETE', { identity: ID }),
  '041-cluster-status': cluster('CLUSTER:STATUS', {}),
  '042-cluster-addnode': cluster('CLUSTER:ADDNODE', { host: '10.0.0.2:7373' }),
  '043-cluster-removenode': cluster('CLUSTER:REMOVENODE', { host: '10.0.0.2:7373' }),
  '045-cluster-edit': cluster('CLUSTER:EDIT', { host: '127.0.0.1:7399', removeIds: [2, 3] }),
  '046-raw-generate': enclave('KEY:GENERATE', { name: 'my-key' }),
  '047-policy-status-2': enclave('POLICY:STATUS', { name: 'p1' }, { name: 'p2' }),
};

interface CaptureText {
  readonly method: string;
  readonly path: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly bodyHex: string;
  readonly frames: readonly { cmd: number; len: number; pb: string; fields: number[] }[];
}

function parseCaptureText(source: string): CaptureText {
  const lines = source.split('\n');
  const [method = '', path = ''] = (lines[0] ?? '').split(' ');
  const headers = new Map<string, string>();
  const frames: { cmd: number; len: number; pb: string; fields: number[] }[] = [];
  let bodyHex = '';
  for (const line of lines.slice(1)) {
    const header = /^([A-Za-z-]+): (.*)$/.exec(line);
    const body = /^# body-hex: ?([0-9a-f]*)$/.exec(line);
    const frame = /^# frame (\d+): cmd=(\d+) \([^)]*\) len=(\d+) pb=([0-9a-f]*)$/.exec(line);
    const field = /^# {3}field (\d+) /.exec(line); // top level: exactly three spaces
    if (header) headers.set(header[1]!.toLowerCase(), header[2]!);
    else if (body) bodyHex = body[1]!;
    else if (frame) {
      assert.equal(Number(frame[1]), frames.length, 'frames are listed in order');
      frames.push({ cmd: Number(frame[2]), len: Number(frame[3]), pb: frame[4]!, fields: [] });
    } else if (field) frames.at(-1)!.fields.push(Number(field[1]));
  }
  return { method, path, headers, bodyHex, frames };
}

/** Top-level field numbers of a protobuf encoding (a reader independent of the codec under test). */
function topLevelFields(bytes: Uint8Array): number[] {
  const fields: number[] = [];
  let pos = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
  };
  while (pos < bytes.length) {
    const tag = varint();
    fields.push(Math.floor(tag / 8));
    const wireType = tag & 7;
    if (wireType === 0) varint();
    else if (wireType === 2) {
      const length = varint(); // not `pos += varint()`: that would read pos before varint moves it
      pos += length;
    } else throw new Error(`unexpected wire type ${wireType}`);
  }
  return fields;
}

const captureNames = readdirSync(captureDir)
  .filter((f) => f.endsWith('.hex'))
  .map((f) => f.slice(0, -'.hex'.length))
  .sort();

test('every capture has an expectation and every expectation a capture', () => {
  assert.ok(captureNames.length >= 46, `found only ${captureNames.length} captures`);
  assert.deepEqual(captureNames, Object.keys(EXPECTED).sort());
});

for (const name of captureNames) {
  test(`capture ${name}`, () => {
    const expected = EXPECTED[name];
    assert.ok(expected, `capture ${name} is not covered by EXPECTED`);
    const body = hex(readFileSync(new URL(`${name}.hex`, captureDir), 'utf8').trim());
    const capture = parseCaptureText(readFileSync(new URL(`${name}.txt`, captureDir), 'utf8'));
    assert.equal(capture.method, expected.method);
    assert.equal(capture.path, expected.path);
    assert.equal(capture.bodyHex, body.toString('hex'), '.txt body-hex equals .hex');
    assert.equal(capture.headers.get('accept'), 'application/*');

    if (expected.cmd === undefined) {
      assert.equal(body.length, 0);
      assert.equal(capture.frames.length, 0);
      return;
    }
    assert.equal(capture.headers.get('content-type'), 'application/octet-stream');
    assert.equal(Number(capture.headers.get('content-length')), body.length);

    const command = kmsCommand(expected.cmd);
    assert.equal(
      expected.path === '/v1/kms',
      command.isCluster,
      'cluster commands omit the enclave',
    );

    const frames = decodeFrames(body);
    assert.equal(frames.length, capture.frames.length);
    frames.forEach((frame, i) => {
      const shown = capture.frames[i]!;
      assert.equal(frame.cmd, shown.cmd);
      assert.equal(frame.cmd, command.code);
      assert.equal(frame.payload.length, shown.len);
      assert.equal(frame.payload.toString('hex'), shown.pb);
    });

    const decoded = decodeKmsRequest(body);
    assert.equal(decoded.name, expected.cmd);
    assert.equal(decoded.command, command);
    const codec = command.request as MessageCodec<unknown>;
    const want = (expected.requests ?? []).map((partial) => codec.fromPartial(partial as never));
    assert.deepEqual(decoded.requests, want);

    // Every field the capture shows is understood by our schema: re-encoding what we decoded
    // gives back the same top-level fields and, byte for byte, the same body.
    decoded.requests.forEach((request, i) => {
      const payload = codec.encode(request).finish();
      assert.deepEqual(topLevelFields(payload), capture.frames[i]!.fields, `frame ${i} fields`);
    });
    const reencoded = encodeKmsRequest(expected.cmd, decoded.requests as never[]);
    assert.equal(reencoded.toString('hex'), body.toString('hex'));
  });
}
