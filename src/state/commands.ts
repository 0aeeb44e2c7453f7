// State-changing commands: small, versioned, deterministic records. Everything non-deterministic
// (key material, timestamps, who) is chosen before a command is logged, never while applying, so
// the same log yields the same state on every node and after every restart.

import type { KeyType } from '../crypto/index.ts';
import type { Privilege } from '../model/privilege.ts';
import { ByteReader, ChunkWriter } from './binary.ts';
import type { RuleMap } from './entities.ts';

interface Stamp {
  /** Milliseconds since the epoch, chosen by the node that accepted the request. */
  readonly at: number;
  /** `h1:` identity of the caller. */
  readonly by: string;
}

export type Command =
  | ({ readonly op: 'enclave.create'; readonly enclave: string } & Stamp)
  | {
      readonly op: 'enclave.delete';
      readonly enclave: string;
      /**
       * Also delete the service accounts of the enclave's identities, transitively and in every
       * enclave (as identity.delete does). Absent in logs written before that rule, which replay
       * as they did: only the enclave's own identities go.
       */
      readonly cascade?: true;
    }
  | ({
      readonly op: 'key.create';
      readonly enclave: string;
      readonly name: string;
      readonly type: KeyType;
      /** Raw key material (sealed by the store, never logged in clear). */
      readonly key: Buffer;
      readonly hmacKey: Buffer | null;
      readonly imported: boolean;
      /** Add a version to an existing key instead of creating a new one. */
      readonly addVersion: boolean;
    } & Stamp)
  | {
      readonly op: 'key.delete';
      readonly enclave: string;
      readonly name: string;
      /** 0 = the latest version. */
      readonly version: number;
      readonly all: boolean;
    }
  | ({
      readonly op: 'policy.put';
      readonly enclave: string;
      readonly name: string;
      readonly allow: RuleMap;
      readonly deny: RuleMap;
    } & Stamp)
  | { readonly op: 'policy.delete'; readonly enclave: string; readonly name: string }
  | {
      readonly op: 'policy.assign';
      readonly enclave: string;
      readonly identity: string;
      readonly policy: string;
    }
  | ({
      readonly op: 'identity.put';
      readonly enclave: string;
      readonly identity: string;
      readonly privilege: Privilege;
      readonly parent: string;
      readonly tags: Record<string, string>;
      /**
       * Registers the identity in this enclave only, beside its records in other enclaves
       * (identities.ts). Absent in logs written while an identity lived in one enclave at most:
       * those replay as they did, replacing the identity's record wherever it was.
       */
      readonly scoped?: true;
    } & Stamp)
  | { readonly op: 'identity.delete'; readonly enclave: string; readonly identity: string };

export type CommandOp = Command['op'];

/** Format version of the JSON encoding (every op but the two below). */
const FORMAT = 1;
/** First byte of the binary encoding of `key.create` and `key.delete` (JSON starts with `{`). */
const BINARY = 0x02;
const OP_KEY_CREATE = 1;
const OP_KEY_DELETE = 2;
const KEY_CREATE_CHACHA20 = 1;
const KEY_CREATE_IMPORTED = 2;
const KEY_CREATE_ADD_VERSION = 4;
const KEY_CREATE_HMAC = 8;
const WHAT = 'invalid command';

/**
 * Encodes a command for the log and for workers. The frequent key commands are binary:
 * `0x02 ‖ op(1)`, then for key.create `flags(1) ‖ at f64 ‖ enclave ‖ name ‖ by ‖ key(32) ‖
 * [hmacKey(32)]`, for key.delete `all(1) ‖ version u32 ‖ enclave ‖ name` (strings: u16 length ‖
 * UTF-8; numbers little-endian). Every other command is JSON `{v:1,…}` with Buffers as base64.
 */
export function encodeCommand(command: Command): Buffer {
  if (command.op === 'key.create' || command.op === 'key.delete') {
    const w = new ChunkWriter(256);
    w.u8(BINARY);
    if (command.op === 'key.create') {
      w.u8(OP_KEY_CREATE);
      w.u8(
        (command.type === 'ChaCha20' ? KEY_CREATE_CHACHA20 : 0) |
          (command.imported ? KEY_CREATE_IMPORTED : 0) |
          (command.addVersion ? KEY_CREATE_ADD_VERSION : 0) |
          (command.hmacKey ? KEY_CREATE_HMAC : 0),
      );
      w.f64(command.at);
      w.str(command.enclave);
      w.str(command.name);
      w.str(command.by);
      w.bytes(command.key);
      if (command.hmacKey) w.bytes(command.hmacKey);
    } else {
      w.u8(OP_KEY_DELETE);
      w.u8(command.all ? 1 : 0);
      w.u32(command.version);
      w.str(command.enclave);
      w.str(command.name);
    }
    const chunks = w.chunks();
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }
  return Buffer.from(
    JSON.stringify({ v: FORMAT, ...command }, (_key, value: unknown) =>
      isBufferJson(value) ? { $b: Buffer.from(value.data).toString('base64') } : value,
    ),
  );
}

/** Decodes a logged command; throws on an unknown format version or malformed record. */
export function decodeCommand(bytes: Uint8Array): Command {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf[0] === BINARY) return decodeBinary(new ByteReader(buf, WHAT, 1));
  const parsed = JSON.parse(buf.toString('utf8'), (_key, value: unknown) =>
    isEncodedBuffer(value) ? Buffer.from(value.$b, 'base64') : value,
  ) as { v?: unknown } & Command;
  if (parsed.v !== FORMAT)
    throw new Error(`unsupported command format version ${String(parsed.v)}`);
  const { v: _v, ...command } = parsed;
  return command;
}

function decodeBinary(r: ByteReader): Command {
  const op = r.u8();
  let command: Command;
  if (op === OP_KEY_CREATE) {
    const flags = r.u8();
    if (flags > 15) throw r.error(`unknown key.create flags ${flags}`, r.offset - 1);
    const at = r.f64();
    const enclave = r.str();
    const name = r.str();
    const by = r.str();
    const key = r.bytes(32);
    command = {
      op: 'key.create',
      enclave,
      name,
      type: flags & KEY_CREATE_CHACHA20 ? 'ChaCha20' : 'AES256',
      key,
      hmacKey: flags & KEY_CREATE_HMAC ? r.bytes(32) : null,
      imported: (flags & KEY_CREATE_IMPORTED) !== 0,
      addVersion: (flags & KEY_CREATE_ADD_VERSION) !== 0,
      at,
      by,
    };
  } else if (op === OP_KEY_DELETE) {
    const all = r.u8();
    if (all > 1) throw r.error(`bad key.delete flag ${all}`, r.offset - 1);
    const version = r.u32();
    command = { op: 'key.delete', enclave: r.str(), name: r.str(), version, all: all === 1 };
  } else {
    throw r.error(`unknown binary command ${op}`, r.offset - 1);
  }
  r.end();
  return command;
}

/** The objects a command writes, e.g. `enclave/E/key/K` (used for replication and audit). */
export function footprint(command: Command): string {
  const e = `enclave/${command.enclave}`;
  switch (command.op) {
    case 'enclave.create':
    case 'enclave.delete':
      return e;
    case 'key.create':
    case 'key.delete':
      return `${e}/key/${command.name}`;
    case 'policy.put':
    case 'policy.delete':
      return `${e}/policy/${command.name}`;
    case 'policy.assign':
    case 'identity.put':
    case 'identity.delete':
      return `${e}/identity/${command.identity}`;
  }
}

function isBufferJson(value: unknown): value is { type: 'Buffer'; data: number[] } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((value as { data?: unknown }).data)
  );
}

function isEncodedBuffer(value: unknown): value is { $b: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { $b?: unknown }).$b === 'string' &&
    Object.keys(value).length === 1
  );
}
