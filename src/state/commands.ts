// State-changing commands: small, versioned, deterministic records. Everything non-deterministic
// (key material, timestamps, who) is chosen before a command is logged, never while applying, so
// the same log yields the same state on every node and after every restart.

import type { KeyType } from '../crypto/index.ts';
import type { Privilege } from '../model/privilege.ts';
import type { RuleMap } from './entities.ts';

interface Stamp {
  /** Milliseconds since the epoch, chosen by the node that accepted the request. */
  readonly at: number;
  /** `h1:` identity of the caller. */
  readonly by: string;
}

export type Command =
  | ({ readonly op: 'enclave.create'; readonly enclave: string } & Stamp)
  | { readonly op: 'enclave.delete'; readonly enclave: string }
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
    } & Stamp)
  | { readonly op: 'identity.delete'; readonly enclave: string; readonly identity: string };

export type CommandOp = Command['op'];

/** Format version of the encoding below; bump on any incompatible change. */
const FORMAT = 1;

/** Encodes a command for the log. Buffers become base64 strings. */
export function encodeCommand(command: Command): Buffer {
  return Buffer.from(
    JSON.stringify({ v: FORMAT, ...command }, (_key, value: unknown) =>
      isBufferJson(value) ? { $b: Buffer.from(value.data).toString('base64') } : value,
    ),
  );
}

/** Decodes a logged command; throws on an unknown format version or malformed record. */
export function decodeCommand(bytes: Uint8Array): Command {
  const parsed = JSON.parse(Buffer.from(bytes).toString('utf8'), (_key, value: unknown) =>
    isEncodedBuffer(value) ? Buffer.from(value.$b, 'base64') : value,
  ) as { v?: unknown } & Command;
  if (parsed.v !== FORMAT)
    throw new Error(`unsupported command format version ${String(parsed.v)}`);
  const { v: _v, ...command } = parsed;
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
