// Every message of docs/protocol/kms.md against that table: field number, wire type, signed
// (zigzag) encodings and JSON name of each field, then full binary and JSON round trips.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, type MessageCodec } from './message-codec.ts';
import * as messages from './messages.ts';
import { KmsWireError } from './wire-error.ts';

type Kind =
  | 'string'
  | 'bytes'
  | 'bool'
  | 'uint32'
  | 'sint32'
  | 'uint64'
  | 'sint64'
  | 'timestamp'
  | 'duration'
  | 'map'
  | 'message'
  | 'repeated'
  | 'packed';

type Field = readonly [prop: string, num: number, kind: Kind, json: string, sample?: unknown];

const VARINT_KINDS: readonly Kind[] = ['bool', 'uint32', 'sint32', 'uint64', 'sint64'];
const DATE = new Date('2024-03-26T17:52:38.123Z');
const DURATION = { seconds: 90, nanos: 5 };
const RULES = {
  'KEY:GENERATE': { rules: { 'my-key*': {} } },
  'KEY:DECRYPT': { rules: { '*': {} } },
};

function sampleOf(kind: Kind): unknown {
  switch (kind) {
    case 'string':
      return 'sample-ü';
    case 'bytes':
      return Buffer.from([0, 1, 2, 255]);
    case 'bool':
      return true;
    case 'uint32':
      return 4_000_000_000;
    case 'sint32':
      return -3;
    case 'uint64':
      return 2 ** 40 + 1;
    case 'sint64':
      return -2;
    case 'timestamp':
      return DATE;
    case 'duration':
      return DURATION;
    case 'repeated':
      return ['a', 'b'];
    case 'packed':
      return [2, 3, 300];
    case 'map':
    case 'message':
      throw new Error(`${kind} fields need an explicit sample`);
  }
}

const name = ['name', 1, 'string', 'name'] as const;
const version2 = ['version', 2, 'uint32', 'version'] as const;
const createdAt = (n: number) => ['createdAt', n, 'timestamp', 'created_at'] as const;
const createdBy = (n: number) => ['createdBy', n, 'string', 'created_by'] as const;
const continueAt = ['continueAt', 2, 'string', 'continue_at'] as const;

/** docs/protocol/kms.md: [TS property, field number, kind, JSON name, sample]. */
const TABLE: Record<string, readonly Field[]> = {
  ClusterStatusRequest: [],
  ListRequest: [
    ['prefix', 1, 'string', 'prefix'],
    ['continueAt', 2, 'string', 'continue_at'],
    ['limit', 3, 'uint32', 'limit'],
  ],
  AddClusterNodeRequest: [['host', 1, 'string', 'host']],
  RemoveClusterNodeRequest: [
    ['host', 1, 'string', 'host'],
    ['deleteClusterOnHost', 2, 'bool', 'delete_cluster_on_host'],
  ],
  EditClusterRequest: [
    ['host', 1, 'string', 'host'],
    ['removeIds', 2, 'packed', 'remove'],
  ],
  AddHSMRequest: [name, ['overwrite', 2, 'bool', 'overwrite']],
  RemoveHSMRequest: [name],
  CreateEnclaveRequest: [name],
  DeleteEnclaveRequest: [name],
  EnclaveStatusRequest: [name],
  LogRequest: [
    ['level', 1, 'sint32', 'level'],
    ['message', 2, 'string', 'message'],
    ['since', 3, 'timestamp', 'since'],
    ['traceLevel', 4, 'sint32', 'trace_level'],
  ],
  CreateKeyRequest: [name, ['type', 2, 'string', 'type'], ['addVersion', 3, 'bool', 'add_version']],
  ImportKeyRequest: [name, ['type', 2, 'string', 'type'], ['key', 3, 'bytes', 'key']],
  DeleteKeyRequest: [name, version2, ['allVersions', 3, 'bool', 'all_versions']],
  KeyStatusRequest: [name, version2],
  EncryptRequest: [
    name,
    version2,
    ['plaintext', 3, 'bytes', 'plaintext'],
    ['associatedData', 4, 'bytes', 'associated_data'],
  ],
  GenerateKeyRequest: [
    name,
    version2,
    ['associatedData', 3, 'bytes', 'associated_data'],
    ['length', 4, 'uint32', 'length'],
  ],
  MACRequest: [name, version2, ['message', 3, 'bytes', 'message']],
  DecryptRequest: [
    name,
    version2,
    ['ciphertext', 3, 'bytes', 'ciphertext'],
    ['associatedData', 4, 'bytes', 'associated_data'],
  ],
  CreatePolicyRequest: [
    name,
    ['allow', 2, 'map', 'allow', RULES],
    ['deny', 3, 'map', 'deny', { 'KEY:DELETE': { rules: { x: {} } } }],
  ],
  Rule: [],
  RuleSet: [['rules', 1, 'map', 'rules', { 'a*': {}, b: {} }]],
  PolicyRequest: [name],
  DeletePolicyRequest: [name],
  AssignPolicyRequest: [
    ['identity', 1, 'string', 'identity'],
    ['policy', 2, 'string', 'policy'],
  ],
  CreateIdentityRequest: [
    ['identity', 1, 'string', 'identity'],
    ['privilege', 2, 'string', 'privilege'],
    ['isServiceAccount', 3, 'bool', 'service_account'],
    ['tags', 4, 'map', 'tags', { team: 'a', env: 'prod' }],
  ],
  IdentityRequest: [['identity', 1, 'string', 'identity']],
  DeleteIdentityRequest: [['identity', 1, 'string', 'identity']],

  ErrResponse: [['message', 1, 'string', 'message']],
  VersionResponse: [
    ['version', 1, 'string', 'version'],
    ['commit', 2, 'string', 'commit'],
    ['apiVersion', 3, 'string', 'api_version'],
    ['host', 4, 'string', 'host'],
    ['fips140', 5, 'bool', 'fips140'],
  ],
  ServerStatusResponse: [
    ['version', 1, 'string', 'version'],
    ['apiVersion', 2, 'string', 'api_version'],
    ['host', 3, 'string', 'host'],
    ['uptime', 4, 'duration', 'uptime'],
    ['role', 5, 'string', 'role'],
    ['commit', 6, 'uint64', 'commit'],
    ['nodes', 7, 'map', 'nodes', { 1: 'a:7373', 300: 'b:7373' }],
    ['nodeId', 8, 'uint32', 'node_id'],
    ['leaderId', 9, 'sint64', 'leader_id'],
    ['lastHeartbeat', 10, 'duration', 'last_heartbeat'],
    ['heartbeatInterval', 11, 'duration', 'heartbeat_interval'],
    ['electionTimeout', 12, 'duration', 'election_timeout'],
    ['os', 13, 'string', 'sys_os'],
    ['arch', 14, 'string', 'sys_cpu_arch'],
    ['cpus', 15, 'uint32', 'sys_cpu_num'],
    ['usableCpus', 16, 'uint32', 'sys_cpu_used'],
    ['heapMemInUse', 17, 'uint64', 'sys_mem_heap_used'],
    ['stackMemInUse', 18, 'uint64', 'sys_mem_stack_used'],
    ['hsms', 19, 'repeated', 'hsm'],
    ['configuredHsms', 20, 'repeated', 'hsm_active'],
  ],
  ClusterStatusResponse: [
    ['nodesUp', 1, 'map', 'nodes_up', { 2: { host: 'a:7373', role: 'Leader', leaderId: 2 } }],
    ['nodesDown', 2, 'map', 'nodes_down', { 3: 'c:7373' }],
  ],
  ProfileStatusResponse: [
    ['started', 1, 'timestamp', 'started'],
    ['cpu', 2, 'bool', 'cpu'],
    ['heap', 3, 'bool', 'heap'],
    ['goroutine', 4, 'bool', 'goroutine'],
    ['thread', 5, 'bool', 'thread'],
    ['blockRate', 6, 'uint32', 'block_rate'],
    ['mutexFraction', 7, 'uint32', 'mutex_frac'],
  ],
  EnclaveStatusResponse: [name, createdAt(2), createdBy(3)],
  ListEnclavesResponse: [
    ['enclaves', 1, 'message', 'enclaves', [{ name: 'e1', createdAt: DATE }, { name: 'e2' }]],
    continueAt,
  ],
  KeyStatusResponse: [name, version2, ['type', 3, 'string', 'type'], createdAt(4), createdBy(5)],
  ListKeysResponse: [
    ['keys', 1, 'message', 'keys', [{ name: 'k', version: 1, type: 'AES256' }]],
    continueAt,
  ],
  EncryptResponse: [
    ['version', 1, 'uint32', 'version'],
    ['ciphertext', 2, 'bytes', 'ciphertext'],
  ],
  DecryptResponse: [['plaintext', 1, 'bytes', 'plaintext']],
  GenerateKeyResponse: [
    ['version', 1, 'uint32', 'version'],
    ['plaintext', 2, 'bytes', 'plaintext'],
    ['ciphertext', 3, 'bytes', 'ciphertext'],
  ],
  MACResponse: [
    ['version', 1, 'uint32', 'version'],
    ['mac', 2, 'bytes', 'mac'],
  ],
  PolicyStatusResponse: [name, createdAt(4), createdBy(5)],
  PolicyResponse: [
    name,
    ['allow', 2, 'map', 'allow', RULES],
    ['deny', 3, 'map', 'deny', RULES],
    createdAt(4),
    createdBy(5),
  ],
  ListPoliciesResponse: [
    ['policies', 1, 'message', 'policies', [{ name: 'p', createdBy: 'h1:x' }]],
    continueAt,
  ],
  IdentityResponse: [
    ['identity', 1, 'string', 'identity'],
    ['privilege', 2, 'uint32', 'privilege', 3],
    ['policy', 3, 'string', 'policy'],
    createdAt(4),
    createdBy(5),
    ['isServiceAccount', 6, 'bool', 'is_service_account'],
    ['serviceAccounts', 7, 'repeated', 'service_accounts'],
    ['tags', 8, 'map', 'tags', { team: 'a' }],
  ],
  ListIdentitiesResponse: [
    ['identities', 1, 'message', 'identities', [{ identity: 'h1:x', privilege: 1 }]],
    continueAt,
  ],
  LogRecord: [
    ['level', 1, 'sint32', 'level', -4],
    ['time', 2, 'timestamp', 'time'],
    ['message', 3, 'string', 'message'],
    ['trace', 4, 'message', 'trace', [{ function: 'main.run', file: 'main.go', line: 42 }, {}]],
  ],
  LogRecord_StackFrame: [
    ['function', 1, 'string', 'function'],
    ['file', 2, 'string', 'file'],
    ['line', 3, 'uint32', 'line'],
  ],
};

const codecs = messages as unknown as Record<string, MessageCodec<Record<string, unknown>>>;

function readVarint(bytes: Uint8Array, start: number): [value: number, next: number] {
  let value = 0;
  let pos = start;
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[pos++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, pos];
  }
}

const zigzag = (n: number) => (n >= 0 ? 2 * n : -2 * n - 1);

test('the table covers every exported message', () => {
  const exported = Object.keys(messages)
    .filter((k) => k !== 'Duration')
    .sort();
  assert.deepEqual(exported, Object.keys(TABLE).sort());
});

for (const [messageName, fields] of Object.entries(TABLE)) {
  const codec = codecs[messageName]!;
  const sample = (field: Field): unknown => field[4] ?? sampleOf(field[2]);

  test(`${messageName}: field numbers, wire types and JSON names`, () => {
    for (const field of fields) {
      const [prop, num, kind, json] = field;
      const message = codec.fromPartial({ [prop]: sample(field) } as never);
      const bytes = codec.encode(message).finish();
      const [tag, next] = readVarint(bytes, 0);
      const wireType = VARINT_KINDS.includes(kind) ? 0 : 2;
      assert.equal(tag, num * 8 + wireType, `${messageName}.${prop}: tag`);
      if (kind === 'sint32' || kind === 'sint64' || kind === 'uint64' || kind === 'uint32') {
        const value = sample(field) as number;
        const want = kind.startsWith('s') ? zigzag(value) : value;
        assert.equal(readVarint(bytes, next)[0], want, `${messageName}.${prop}: ${kind} encoding`);
      }
      const jsonForm = codec.toJSON(message) as Record<string, unknown>;
      assert.deepEqual(Object.keys(jsonForm), [json], `${messageName}.${prop}: JSON name`);
    }
  });

  test(`${messageName}: binary and JSON round trips`, () => {
    const full = codec.fromPartial(
      Object.fromEntries(fields.map((field) => [field[0], sample(field)])) as never,
    );
    assert.deepEqual(Object.keys(full).sort(), fields.map((f) => f[0]).sort(), 'no extra fields');
    const bytes = codec.encode(full).finish();
    assert.deepEqual(decodeMessage(codec, bytes, messageName), full);
    assert.deepEqual(codec.fromJSON(JSON.parse(JSON.stringify(codec.toJSON(full)))), full);
    // Zero values are not written (proto3), and decode back to the defaults.
    const empty = codec.create();
    assert.equal(codec.encode(empty).finish().length, 0);
    assert.deepEqual(decodeMessage(codec, new Uint8Array(0), messageName), empty);
  });
}

test('decodeMessage turns garbage into BAD_MESSAGE naming the message', () => {
  const { GenerateKeyRequest, VersionResponse } = messages;
  const cases: [string, string][] = [
    ['0a', 'truncated length'],
    ['0a05616263', 'string past end'],
    ['0aff', 'unterminated length varint'],
    ['10ffffffffffffffffffff01', 'varint longer than 10 bytes'],
    ['0000', 'field number 0'],
    ['0c', 'end-group without start'],
    ['0f', 'wire type 7'],
    ['0e', 'wire type 6'],
    ['0a02c328', 'invalid UTF-8 in a string'],
    ['1b', 'start-group without end'],
    ['15010203', 'fixed32 past end'],
  ];
  for (const [hexBytes, why] of cases) {
    assert.throws(
      () => decodeMessage(GenerateKeyRequest, Buffer.from(hexBytes, 'hex'), 'GenerateKeyRequest'),
      (error: unknown) =>
        error instanceof KmsWireError &&
        error.code === 'BAD_MESSAGE' &&
        error.message.startsWith('malformed GenerateKeyRequest: '),
      why,
    );
  }
  // Unknown fields (any valid wire type) and wrong wire types for known fields are skipped, as in Go.
  assert.deepEqual(
    decodeMessage(VersionResponse, Buffer.from('0a01763801' + '4d01020304' + '1801', 'hex'), 'v'),
    VersionResponse.fromPartial({ version: 'v' }),
  );
});

test('nesting deeper than 100 levels is refused, not a stack overflow', () => {
  const { RuleSet } = messages;
  // rules map entry (field 1) → value RuleSet? Rule is empty, so nest through unknown groups instead.
  const depth = 5000;
  const deep = Buffer.concat([Buffer.alloc(depth, 0x0b), Buffer.alloc(depth, 0x0c)]);
  assert.throws(() => decodeMessage(RuleSet, deep, 'RuleSet'), KmsWireError);
});
