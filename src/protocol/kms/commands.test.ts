// The command table against docs/protocol/kms.md whole request/response bodies: round
// trips of every command, kms-go's reply rules, and hostile bodies (fuzzed: only KmsWireError).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decodeKmsRequest,
  decodeKmsResponse,
  encodeKmsRequest,
  encodeKmsResponse,
} from './command-codec.ts';
import {
  KMS_COMMANDS,
  type KmsCommandName,
  commandByCode,
  commandLabel,
  kmsCommand,
  parseCommandName,
} from './commands.ts';
import { encodeFrames } from './frame.ts';
import type { MessageCodec } from './message-codec.ts';
import {
  ClusterStatusResponse,
  GenerateKeyRequest,
  GenerateKeyResponse,
  KeyStatusRequest,
  ListKeysResponse,
  ListRequest,
} from './messages.ts';
import { KmsWireError, type WireErrorCode } from './wire-error.ts';

/** §4.3: code → [name, write, cluster-level, batchable (×N)]. */
const SPEC: Record<number, readonly [string, boolean, boolean, boolean]> = {
  1: ['CLUSTER:ADDNODE', true, true, false],
  2: ['CLUSTER:REMOVENODE', true, true, false],
  3: ['CLUSTER:STATUS', false, true, false],
  4: ['CLUSTER:EDIT', true, true, false],
  5: ['CLUSTER:ADDHSM', true, true, false],
  6: ['CLUSTER:REMOVEHSM', true, true, false],
  101: ['ENCLAVE:CREATE', true, true, false],
  102: ['ENCLAVE:DELETE', true, true, false],
  103: ['ENCLAVE:STATUS', false, true, true],
  104: ['ENCLAVE:LIST', false, true, false],
  201: ['KEY:CREATE', true, false, false],
  202: ['KEY:DELETE', true, false, false],
  203: ['KEY:IMPORT', true, false, false],
  204: ['KEY:STATUS', false, false, true],
  205: ['KEY:ENCRYPT', false, false, true],
  206: ['KEY:DECRYPT', false, false, true],
  207: ['KEY:GENERATE', false, false, true],
  208: ['KEY:LIST', false, false, false],
  209: ['KEY:LISTVERSIONS', false, false, false],
  210: ['KEY:MAC', false, false, true],
  301: ['POLICY:CREATE', true, false, false],
  302: ['POLICY:DELETE', true, false, false],
  303: ['POLICY:ASSIGN', true, false, false],
  304: ['POLICY:GET', false, false, true],
  305: ['POLICY:STATUS', false, false, true],
  306: ['POLICY:LIST', false, false, false],
  401: ['IDENTITY:CREATE', true, false, false],
  402: ['IDENTITY:DELETE', true, false, false],
  403: ['IDENTITY:STATUS', false, false, true],
  404: ['IDENTITY:LIST', false, false, false],
};

function throwsWire(fn: () => unknown, code: WireErrorCode, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof KmsWireError, `expected KmsWireError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (message) assert.match(error.message, message);
    return true;
  });
}

test('the table matches §4.3 exactly', () => {
  assert.deepEqual(
    KMS_COMMANDS.map((c) => c.code),
    Object.keys(SPEC).map(Number),
  );
  for (const c of KMS_COMMANDS) {
    const [name, isWrite, isCluster, batchable] = SPEC[c.code]!;
    assert.deepEqual(
      [c.name, c.isWrite, c.isCluster, c.batchable],
      [name, isWrite, isCluster, batchable],
    );
    assert.equal(
      c.reply === 'per-request',
      c.batchable,
      `${c.name}: batchable iff per-request reply`,
    );
    assert.equal(c.reply === 'none', c.response === null, `${c.name}: reply none iff no response`);
    assert.equal(c.supported, c.code !== 209, `${c.name}: only KEY:LISTVERSIONS is unsupported`);
    assert.equal(commandByCode(c.code), c);
    assert.equal(kmsCommand(c.name), c);
  }
  // Writes never produce a payload; list commands reply with a single frame.
  for (const c of KMS_COMMANDS.filter((x) => x.isWrite)) assert.equal(c.reply, 'none');
  for (const c of KMS_COMMANDS.filter((x) => x.name.endsWith(':LIST'))) {
    assert.equal(c.reply, 'single');
    assert.equal(c.request, ListRequest);
  }
  assert.equal(kmsCommand('CLUSTER:STATUS').reply, 'first');
});

test('parseCommandName is case-insensitive and exact otherwise', () => {
  assert.equal(parseCommandName('KEY:GENERATE')?.code, 207);
  assert.equal(parseCommandName('key:generate')?.code, 207);
  assert.equal(parseCommandName('Identity:Status')?.code, 403);
  assert.equal(parseCommandName('key:listversions')?.code, 209);
  for (const bad of ['', 'KEY', 'KEY:GENERATE ', ' KEY:GENERATE', 'IDENTITY:GET', 'KEY:*', '207']) {
    assert.equal(parseCommandName(bad), undefined, JSON.stringify(bad));
  }
  assert.equal(commandLabel(207), 'KEY:GENERATE');
  assert.equal(commandLabel(7), '!INVALID:7');
});

/** A populated request and response of every command, to round-trip through whole bodies. */
function samples(name: KmsCommandName): { requests: unknown[]; responses: unknown[] } {
  const command = kmsCommand(name);
  const request = (command.request as MessageCodec<unknown>).fromPartial({
    name: 'n',
    identity: 'h1:x',
    host: 'h:1',
    prefix: 'p',
    limit: 5,
  } as never);
  const count = command.batchable ? 3 : 1;
  const requests = Array.from({ length: count }, () => request);
  if (command.response === null) return { requests, responses: [] };
  const response = (command.response as MessageCodec<unknown>).fromPartial({
    name: 'n',
    version: 2,
    continueAt: 'c',
    ciphertext: Buffer.from('ct'),
    nodesDown: { 4: 'd:1' },
  } as never);
  return { requests, responses: Array.from({ length: count }, () => response) };
}

for (const command of KMS_COMMANDS.filter((c) => c.supported)) {
  test(`${command.name}: request and response bodies round-trip`, () => {
    const { requests, responses } = samples(command.name);
    const body = encodeKmsRequest(command.name, requests as never[]);
    const decoded = decodeKmsRequest(body);
    assert.equal(decoded.name, command.name);
    assert.deepEqual(decoded.requests, requests);

    const reply = encodeKmsResponse(command.name, responses as never[]);
    if (command.reply === 'none') assert.equal(reply.length, 0);
    assert.deepEqual(decodeKmsResponse(command.name, reply, requests.length), responses);
  });
}

test('decoded requests narrow by name to their message type', () => {
  const decoded = decodeKmsRequest(encodeKmsRequest('KEY:GENERATE', [GenerateKeyRequest.create()]));
  if (decoded.name === 'KEY:GENERATE') {
    const typed: GenerateKeyRequest[] = decoded.requests; // compile-time check of the union
    const reply: Buffer = encodeKmsResponse(decoded.name, [GenerateKeyResponse.create()]);
    assert.equal(typed.length, 1);
    assert.equal(reply.length, 6);
  } else {
    assert.fail(`decoded as ${decoded.name}`);
  }
});

test('wrong message counts are programming errors (RangeError)', () => {
  assert.throws(() => encodeKmsRequest('KEY:STATUS', []), RangeError);
  assert.equal(encodeKmsRequest('KEY:STATUS', [KeyStatusRequest.create({ name: 'k' })]).length, 9);
  const list = ListRequest.create();
  assert.throws(() => encodeKmsRequest('KEY:LIST', [list, list]), RangeError);
  assert.throws(() => encodeKmsResponse('KEY:CREATE', [{}] as never[]), RangeError);
  assert.throws(() => encodeKmsResponse('KEY:LIST', []), RangeError);
  assert.throws(() => encodeKmsResponse('KEY:GENERATE', []), RangeError);
});

test('a reply longer than maxBytes is refused before it is allocated', () => {
  const key = GenerateKeyResponse.create({
    version: 1,
    plaintext: Buffer.alloc(32),
    ciphertext: Buffer.alloc(76),
  });
  const one = encodeKmsResponse('KEY:GENERATE', [key]).length;
  assert.equal(encodeKmsResponse('KEY:GENERATE', [key, key], 2 * one).length, 2 * one);
  throwsWire(
    () => encodeKmsResponse('KEY:GENERATE', [key, key], 2 * one - 1),
    'ANSWER_TOO_LARGE',
    /larger than \d+ bytes/,
  );
  // The generated codecs' path (not the flat one) is bounded the same way.
  const status = { name: 'k'.repeat(100), version: 1, type: 'AES256', createdBy: '' };
  const statuses = Array.from({ length: 50 }, () => status);
  const size = encodeKmsResponse('KEY:STATUS', statuses as never[]).length;
  throwsWire(
    () => encodeKmsResponse('KEY:STATUS', statuses as never[], size - 1),
    'ANSWER_TOO_LARGE',
  );
});

test('server side: unknown, unsupported, unbatchable and malformed requests', () => {
  throwsWire(
    () => decodeKmsRequest(encodeFrames(7, [new Uint8Array(0)])),
    'UNKNOWN_COMMAND',
    /code 7$/,
  );
  throwsWire(() => decodeKmsRequest(encodeFrames(0xffff, [])), 'EMPTY_BODY');
  const listVersions = () => decodeKmsRequest(encodeFrames(209, [new Uint8Array(0)]));
  throwsWire(listVersions, 'UNSUPPORTED_COMMAND', /KEY:LISTVERSIONS \(209\) is not supported/);
  assert.throws(listVersions, (e: unknown) => e instanceof KmsWireError && e.status === 501);
  const create = new Uint8Array(Buffer.from('0a016b', 'hex'));
  throwsWire(
    () => decodeKmsRequest(encodeFrames(201, [create, create])),
    'NOT_BATCHABLE',
    /KEY:CREATE takes exactly one frame per request, got 2/,
  );
  throwsWire(
    () => decodeKmsRequest(encodeFrames(207, [create, Buffer.from('0a05', 'hex')])),
    'BAD_MESSAGE',
    /malformed KEY:GENERATE request in frame 1: /,
  );
  throwsWire(
    () => decodeKmsRequest(encodeFrames(207, [create]), { maxFrames: 0 }),
    'TOO_MANY_FRAMES',
  );
  throwsWire(() => decodeKmsRequest(Buffer.alloc(0), { allowEmpty: true }), 'EMPTY_BODY');
  // Zero-length payloads are valid messages with every field at its default.
  assert.deepEqual(decodeKmsRequest(encodeFrames(207, [new Uint8Array(0)])).requests, [
    GenerateKeyRequest.create(),
  ]);
});

test('SDK side: reply rules of kms-go', () => {
  const gen = GenerateKeyResponse.create({ version: 1, plaintext: Buffer.alloc(32, 1) });
  const two = encodeKmsResponse('KEY:GENERATE', [gen, gen]);
  assert.equal(decodeKmsResponse('KEY:GENERATE', two, 2).length, 2);
  throwsWire(() => decodeKmsResponse('KEY:GENERATE', two, 3), 'FRAME_COUNT_MISMATCH');
  throwsWire(() => decodeKmsResponse('KEY:GENERATE', two, 1), 'TOO_MANY_FRAMES');
  throwsWire(() => decodeKmsResponse('KEY:GENERATE', Buffer.alloc(0), 1), 'FRAME_COUNT_MISMATCH');
  throwsWire(
    () => decodeKmsResponse('KEY:ENCRYPT', two, 2),
    'UNEXPECTED_COMMAND',
    /frame 0 carries command 207, expected command 205/,
  );

  const list = encodeKmsResponse('KEY:LIST', [ListKeysResponse.create({ continueAt: 'k9' })]);
  assert.equal(decodeKmsResponse('KEY:LIST', list)[0]!.continueAt, 'k9');
  throwsWire(() => decodeKmsResponse('KEY:LIST', Buffer.concat([list, list])), 'TRAILING_BYTES');

  const status = encodeKmsResponse('CLUSTER:STATUS', [
    ClusterStatusResponse.create({ nodesDown: { 2: 'b:7373' } }),
  ]);
  const twice = Buffer.concat([status, encodeFrames(3, [new Uint8Array(0)])]);
  assert.deepEqual(decodeKmsResponse('CLUSTER:STATUS', twice)[0]!.nodesDown, { 2: 'b:7373' });

  // Commands without a response payload ignore whatever body came back.
  assert.deepEqual(decodeKmsResponse('KEY:CREATE', Buffer.from('garbage')), []);
});

test('fuzz: arbitrary bodies decode or throw KmsWireError, never anything else', () => {
  const isWireError = (body: Uint8Array) => {
    try {
      decodeKmsRequest(Buffer.from(body), { maxFrames: 64 });
    } catch (error) {
      if (!(error instanceof KmsWireError)) throw error;
    }
    return true;
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), isWireError), { numRuns: 3000 });

  // Well-framed bodies of real command codes with random payloads reach the message decoders.
  const codes = KMS_COMMANDS.map((c) => c.code);
  const framed = fc
    .tuple(
      fc.constantFrom(...codes),
      fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 4 }),
    )
    .map(([code, payloads]) => encodeFrames(code, payloads));
  fc.assert(fc.property(framed, isWireError), { numRuns: 3000 });

  // And every reply decoder on random bodies.
  const replies = fc.tuple(
    fc.constantFrom(...KMS_COMMANDS.map((c) => c.name)),
    fc.uint8Array({ maxLength: 128 }),
  );
  fc.assert(
    fc.property(replies, ([name, body]) => {
      try {
        decodeKmsResponse(name, Buffer.from(body), 2);
      } catch (error) {
        if (!(error instanceof KmsWireError)) throw error;
      }
    }),
    { numRuns: 3000 },
  );
});
