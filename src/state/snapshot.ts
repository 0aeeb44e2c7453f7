// Snapshot codec: the whole state as one payload, so the log can be compacted, a worker can start
// from it and a backup can restore it. Binary, versioned, checksummed and built in chunks (format
// 2, docs/storage.md); the JSON format 1 of earlier releases is still read. Sealed by the store.

import { crc32 } from 'node:zlib';
import { isKeyType } from '../crypto/index.ts';
import type { KeyType } from '../crypto/index.ts';
import { PRIVILEGES } from '../model/privilege.ts';
import type { Privilege } from '../model/privilege.ts';
import { ByteReader, ChunkWriter, FormatError } from './binary.ts';
import type { RuleMap } from './entities.ts';
import { KNOWN_FLAGS, KeySlab, VERSION_AT, VERSION_BYTES, VERSION_FLAGS_AT } from './key-slab.ts';
import { State } from './state.ts';

/** `KHSS`: first bytes of a binary snapshot (a JSON one starts with `{`). */
const MAGIC = Buffer.from('KHSS', 'latin1');
const FORMAT = 2;
const JSON_FORMAT = 1;
/** magic(4) ‖ u16 format ‖ u16 version record size ‖ u32 body length low ‖ u32 high ‖ u32 crc32. */
const HEADER_BYTES = 20;
const WHAT = 'invalid snapshot';

export { FormatError as SnapshotFormatError } from './binary.ts';

/**
 * Serializes the complete state (including key material: the store, the backup or the process
 * pipe protects it) in the binary format 2. Keys are written in name order, so that the decoder
 * rebuilds the sorted listing without sorting.
 */
export function encodeSnapshot(state: State): Buffer {
  const chunks = encodeSnapshotChunks(state);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** `encodeSnapshot` as a list of chunks (about 1 MiB each) to write or send one after another. */
export function encodeSnapshotChunks(state: State): Buffer[] {
  const slab = state.keySlab;
  const w = new ChunkWriter(estimateSize(state));
  w.f64(state.commit);
  const creators = slab.creators;
  w.u32(creators.length);
  for (const creator of creators) w.str(creator);

  w.u32(state.enclaves.size);
  for (const e of state.enclaves.values()) {
    w.str(e.name);
    w.f64(e.createdAt.getTime());
    w.str(e.createdBy);
    w.u32(e.keys.size);
    e.keys.forEachSorted((name, highest, ids) => {
      w.str(name);
      w.u32(highest);
      w.u16(ids.length);
      for (const id of ids) {
        const [chunk, at] = w.reserve(VERSION_BYTES);
        slab.copyRecord(id, chunk, at);
      }
    });
    w.u32(e.policies.size);
    for (const p of e.policies.values()) {
      w.str(p.name);
      w.f64(p.createdAt.getTime());
      w.str(p.createdBy);
      w.longStr(JSON.stringify({ allow: p.allow, deny: p.deny }));
    }
  }

  w.u32(state.identities.size);
  for (const i of state.identities.values()) {
    w.str(i.identity);
    w.str(i.enclave);
    w.str(i.privilege);
    w.str(i.policy);
    w.f64(i.createdAt.getTime());
    w.str(i.createdBy);
    w.str(i.parent);
    w.longStr(JSON.stringify(i.tags));
  }

  const body = w.chunks();
  let crc = 0;
  let length = 0;
  for (const chunk of body) {
    crc = crc32(chunk, crc);
    length += chunk.length;
  }
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt16LE(FORMAT, 4);
  header.writeUInt16LE(VERSION_BYTES, 6);
  header.writeUInt32LE(length % 2 ** 32, 8);
  header.writeUInt32LE(Math.floor(length / 2 ** 32), 12);
  header.writeUInt32LE(crc, 16);
  return [header, ...body];
}

/** An upper bound of the key part of a snapshot, plus room for a modest rest. */
function estimateSize(state: State): number {
  let bytes = 64 * 1024 + state.keySlab.count * VERSION_BYTES;
  for (const creator of state.keySlab.creators) bytes += 2 + 3 * creator.length;
  for (const e of state.enclaves.values()) bytes += 256 + e.keys.size * 8 + e.keys.nameChars * 3;
  return bytes;
}

/**
 * Rebuilds a state from a snapshot of format 2 (binary) or 1 (JSON). Throws a SnapshotFormatError
 * naming the problem and its byte offset for a truncated, corrupted or unknown payload.
 */
export function decodeSnapshot(bytes: Uint8Array): State {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length > 0 && buf[0] === 0x7b) return decodeJsonSnapshot(buf);
  if (buf.length < HEADER_BYTES || !buf.subarray(0, 4).equals(MAGIC)) {
    throw new FormatError(
      `${WHAT}: not a Keyhold snapshot (${buf.length < HEADER_BYTES ? `only ${buf.length} bytes` : 'unknown leading bytes'})`,
    );
  }
  const format = buf.readUInt16LE(4);
  if (format !== FORMAT) throw new FormatError(`unsupported snapshot format version ${format}`);
  if (buf.readUInt16LE(6) !== VERSION_BYTES) {
    throw new FormatError(`${WHAT}: unexpected key version record size ${buf.readUInt16LE(6)}`);
  }
  const length = buf.readUInt32LE(8) + buf.readUInt32LE(12) * 2 ** 32;
  if (HEADER_BYTES + length !== buf.length) {
    throw new FormatError(
      `${WHAT}: ${HEADER_BYTES + length > buf.length ? 'truncated' : 'trailing bytes'}: header says ${HEADER_BYTES + length} bytes, got ${buf.length}`,
    );
  }
  if (crc32(buf.subarray(HEADER_BYTES)) !== buf.readUInt32LE(16)) {
    throw new FormatError(`${WHAT}: checksum mismatch (the payload is corrupted)`);
  }
  return decodeBody(new ByteReader(buf, WHAT, HEADER_BYTES), buf);
}

function decodeBody(r: ByteReader, buf: Buffer): State {
  const slab = new KeySlab();
  const state = new State(slab);
  state.commit = r.f64();
  if (!Number.isSafeInteger(state.commit) || state.commit < 0) {
    throw r.error(`bad commit index ${state.commit}`, r.offset - 8);
  }
  const creatorCount = r.u32();
  for (let i = 0; i < creatorCount; i++) slab.intern(r.str());
  if (slab.creators.length !== creatorCount) throw r.error('duplicate creator identity');

  const ids: number[] = [];
  const enclaveCount = r.u32();
  for (let e = 0; e < enclaveCount; e++) {
    const at = r.offset;
    const name = r.str();
    if (state.enclaves.has(name)) throw r.error(`duplicate enclave '${name}'`, at);
    const enclave = state.newEnclave(name, new Date(r.f64()), r.str());
    state.enclaves.set(name, enclave);

    const keyCount = r.u32();
    let previousName = '';
    for (let k = 0; k < keyCount; k++) {
      const keyAt = r.offset;
      const keyName = r.str();
      const highest = r.u32();
      const versions = r.u16();
      // Names are in strictly ascending order: no duplicates, and no sort needed to list them.
      if (keyName <= previousName || versions === 0) {
        throw r.error(
          `key '${keyName}' in enclave '${name}' out of order or without versions`,
          keyAt,
        );
      }
      previousName = keyName;
      ids.length = 0;
      let previous = 0;
      for (let v = 0; v < versions; v++) {
        const recordAt = r.take(VERSION_BYTES);
        const version = buf.readUInt32LE(recordAt + VERSION_AT.version);
        const creator = buf.readUInt32LE(recordAt + VERSION_AT.creator);
        const flags = buf[recordAt + VERSION_FLAGS_AT]!;
        if (version <= previous || version > highest) {
          throw r.error(`bad version ${version} of key '${keyName}'`, recordAt);
        }
        if (creator >= creatorCount || (flags & ~KNOWN_FLAGS) !== 0) {
          throw r.error(`bad creator or flags of key '${keyName}'`, recordAt);
        }
        previous = version;
        ids.push(slab.addRecord(buf, recordAt));
      }
      enclave.keys.load(keyName, highest, ids, true);
    }

    const policyCount = r.u32();
    for (let p = 0; p < policyCount; p++) {
      const policyAt = r.offset;
      const policyName = r.str();
      const createdAt = new Date(r.f64());
      const createdBy = r.str();
      const rules = parseJson(r, r.longStr(), policyAt) as { allow?: unknown; deny?: unknown };
      if (!isRuleMap(rules.allow) || !isRuleMap(rules.deny)) {
        throw r.error(`bad rules of policy '${policyName}'`, policyAt);
      }
      enclave.policies.set(policyName, {
        name: policyName,
        allow: rules.allow,
        deny: rules.deny,
        createdAt,
        createdBy,
      });
    }
  }

  const identityCount = r.u32();
  for (let i = 0; i < identityCount; i++) {
    const at = r.offset;
    const identity = r.str();
    const enclave = r.str();
    const privilege = r.str();
    const policy = r.str();
    const createdAt = new Date(r.f64());
    const createdBy = r.str();
    const parent = r.str();
    const tags = parseJson(r, r.longStr(), at);
    if (!isPrivilege(privilege) || !isStringMap(tags)) {
      throw r.error(`bad privilege or tags of identity '${identity}'`, at);
    }
    state.identities.set({
      identity,
      enclave,
      privilege,
      policy,
      createdAt,
      createdBy,
      parent,
      tags,
    });
  }
  r.end();
  return state;
}

// ── format 1 (JSON), written before the binary format ─────────────────────

interface VersionJson {
  version: number;
  type: KeyType;
  key: string;
  hmacKey: string | null;
  at: number;
  by: string;
  imported: boolean;
}
interface SnapshotJson {
  v: number;
  commit: number;
  enclaves: {
    name: string;
    at: number;
    by: string;
    keys: { name: string; highest: number; versions: VersionJson[] }[];
    policies: { name: string; allow: RuleMap; deny: RuleMap; at: number; by: string }[];
  }[];
  identities: {
    identity: string;
    enclave: string;
    privilege: Privilege;
    policy: string;
    at: number;
    by: string;
    parent: string;
    tags: Record<string, string>;
  }[];
}

function decodeJsonSnapshot(buf: Buffer): State {
  let json: SnapshotJson;
  try {
    json = JSON.parse(buf.toString('utf8')) as SnapshotJson;
  } catch (error) {
    throw new FormatError(`${WHAT}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (json.v !== JSON_FORMAT) {
    throw new FormatError(`unsupported snapshot format version ${String(json.v)}`);
  }
  try {
    const state = new State();
    state.commit = json.commit;
    for (const e of json.enclaves) {
      const enclave = state.newEnclave(e.name, new Date(e.at), e.by);
      state.enclaves.set(e.name, enclave);
      for (const k of e.keys) {
        const ids = [...k.versions]
          .sort((a, b) => a.version - b.version)
          .map((v) => {
            if (!isKeyType(v.type)) throw new Error(`bad key type of key '${k.name}'`);
            return state.keySlab.add({
              version: v.version,
              type: v.type,
              key: Buffer.from(v.key, 'base64'),
              hmacKey: v.hmacKey === null ? null : Buffer.from(v.hmacKey, 'base64'),
              at: v.at,
              by: v.by,
              imported: v.imported,
            });
          });
        if (ids.length === 0) throw new Error(`key '${k.name}' has no versions`);
        enclave.keys.load(k.name, k.highest, ids);
      }
      for (const p of e.policies) {
        enclave.policies.set(p.name, {
          name: p.name,
          allow: p.allow,
          deny: p.deny,
          createdAt: new Date(p.at),
          createdBy: p.by,
        });
      }
    }
    for (const i of json.identities) {
      state.identities.set({
        identity: i.identity,
        enclave: i.enclave,
        privilege: i.privilege,
        policy: i.policy,
        createdAt: new Date(i.at),
        createdBy: i.by,
        parent: i.parent,
        tags: i.tags,
      });
    }
    return state;
  } catch (error) {
    throw new FormatError(`${WHAT}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function parseJson(r: ByteReader, text: string, at: number): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw r.error('bad JSON field', at);
  }
}

function isPrivilege(value: string): value is Privilege {
  return (PRIVILEGES as readonly string[]).includes(value);
}

function isStringMap(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

function isRuleMap(value: unknown): value is RuleMap {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every(
      (v) => Array.isArray(v) && v.every((p: unknown) => typeof p === 'string'),
    )
  );
}
