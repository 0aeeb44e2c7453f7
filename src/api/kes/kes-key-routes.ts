// KES key routes (docs/protocol/kes.md): create, import, describe, list, delete,
// generate, encrypt, decrypt, hmac, and the legacy bulk decrypt. Every operation goes through
// the core; this file only parses requests and writes KES's responses.

import { goPathMatch, isValidGlob } from '../../core/kes-path.ts';
import { randomPool } from '../../crypto/index.ts';
import type { KeyType } from '../../crypto/index.ts';
import { KeyholdError, badRequest } from '../../model/errors.ts';
import type { KeyRing } from '../../state/entities.ts';
import { latestVersion } from '../../state/entities.ts';
import {
  InvalidBodyError,
  base64Object,
  decodeFlatStruct,
  decodeStruct,
  goTime,
  parseFirstJsonValue,
} from './go-json.ts';
import type { Decoded, FieldKind } from './go-json.ts';
import { hexIdentity, slogText } from './kes-log-stream.ts';
import {
  authorizeOp,
  checkKeyName,
  goDuration,
  invalidPattern,
  listingPrefix,
  sendEmpty,
  sendJson,
  sendJsonBytes,
  streamNdjson,
  wantsNdjson,
} from './kes-request.ts';
import type { KesRequest, KesRouteSpec } from './kes-request.ts';

/** Upstream's body limit of the key routes: `mem.MB`, i.e. 10^6 bytes. */
export const KES_MAX_BODY = 1_000_000;
/** The most ciphertexts one legacy bulk decrypt may carry. */
export const MAX_BULK_ITEMS = 1000;
/** The most names one JSON listing returns. */
export const MAX_LIST_NAMES = 1024;

// Cipher names the import body accepts (current and legacy spellings).
const CIPHERS: ReadonlyMap<string, KeyType> = new Map([
  ['AES256', 'AES256'],
  ['AES256-GCM_SHA256', 'AES256'],
  ['ChaCha20', 'ChaCha20'],
  ['XCHACHA20-POLY1305', 'ChaCha20'],
]);

function decodeBody<S extends Record<string, FieldKind>>(
  body: Buffer,
  spec: S,
  message = 'invalid request body',
): Decoded<S> {
  try {
    return decodeFlatStruct(body, spec) ?? decodeStruct(parseFirstJsonValue(body), spec);
  } catch (error) {
    if (error instanceof InvalidBodyError) throw badRequest(message);
    throw error;
  }
}

const EMPTY = Buffer.alloc(0);

/** Prints KES's text audit line for a key change (create/import/delete), when enabled. */
function auditKeyChange(k: KesRequest, what: string): void {
  if (k.settings.auditLevel > 0) return;
  const line = slogText({ level: 0, time: new Date(), message: what });
  k.env.auditText(
    `${line} req.method=${k.req.method ?? ''} req.path=${k.caller.kes?.path ?? ''} ` +
      `req.ip=${k.req.socket.remoteAddress ?? ''} req.identity=${k.identityHex} res.code=200 ` +
      `res.time=${goDuration((Date.now() - k.started) / 1000)}`,
  );
}

function describeKey(ring: KeyRing): Record<string, string> {
  const version = latestVersion(ring);
  const out: Record<string, string> = {
    name: ring.name,
    algorithm: version.type,
    created_at: goTime(version.createdAt),
  };
  const by = hexIdentity(version.createdBy);
  if (by !== '') out.created_by = by;
  return out;
}

/** The NDJSON lines of every key of the enclave whose name satisfies `accept`, a page at a time. */
function* keyLines(
  k: KesRequest,
  prefix: string,
  accept: (name: string) => boolean,
): Generator<unknown[]> {
  let continueAt = '';
  do {
    const page = k.env.core.listKeys(k.caller, k.enclave, {
      prefix,
      continueAt,
      limit: MAX_LIST_NAMES,
    });
    yield page.items.filter((ring) => accept(ring.name)).map(describeKey);
    continueAt = page.continueAt;
  } while (continueAt !== '');
}

/** keyLines for keys in an external store (KES gateway mode): every page read up front. */
async function gatewayKeyLines(
  k: KesRequest,
  prefix: string,
  accept: (name: string) => boolean,
): Promise<unknown[][]> {
  const pages: unknown[][] = [];
  let continueAt = '';
  do {
    const page = await k.env.core.listKeyRings(k.caller, k.enclave, {
      prefix,
      continueAt,
      limit: MAX_LIST_NAMES,
    });
    pages.push(page.items.filter((ring) => accept(ring.name)).map(describeKey));
    continueAt = page.continueAt;
  } while (continueAt !== '');
  return pages;
}

async function listKeys(k: KesRequest): Promise<void> {
  const pattern = k.resource;
  const prefix = listingPrefix(pattern);
  if (wantsNdjson(k)) {
    // Legacy listings are Go path.Match globs; a plain or trailing-`*` pattern is a prefix.
    if (prefix === undefined && !(pattern.length <= 80 && isValidGlob(pattern))) {
      throw invalidPattern(pattern);
    }
    const accept = prefix !== undefined ? () => true : (name: string) => goPathMatch(pattern, name);
    // In KES gateway mode the keys are read from the store first (an async walk).
    const pages = k.env.core.gateway
      ? (await gatewayKeyLines(k, prefix ?? '', accept))[Symbol.iterator]()
      : keyLines(k, prefix ?? '', accept);
    await streamNdjson(k.res, pages);
    return;
  }
  if (prefix === undefined) {
    throw invalidPattern(pattern);
  }
  // Upstream kms-go feeds `continue_at` back as the next prefix (kes.md §2.2, broken beyond
  // 1024 names); Keyhold also takes it as `?continue_at=`, which its own SDK sends.
  const page = await k.env.core.listKeyNames(k.caller, k.enclave, {
    prefix,
    continueAt: k.query.get('continue_at') ?? '',
    limit: MAX_LIST_NAMES,
  });
  const out: { names: string[]; continue_at?: string } = { names: page.items };
  if (page.continueAt !== '') out.continue_at = page.continueAt;
  sendJson(k.res, out);
}

async function importKey(k: KesRequest): Promise<void> {
  const name = k.resource;
  // Name and permission were checked before the body was read (the route's guard).
  const body = decodeBody(
    k.body,
    { key: 'bytes', cipher: 'string', bytes: 'bytes', algorithm: 'string', hmac_key: 'bytes' },
    'invalid import key request body',
  );
  // Legacy v0.22 clients send {"bytes","algorithm"}, where an empty algorithm meant AES256.
  const legacy = body.key === undefined && body.bytes !== undefined;
  const cipher = legacy ? body.algorithm || 'AES256' : (body.cipher ?? '');
  const key = (legacy ? body.bytes : body.key) ?? EMPTY;
  const type = CIPHERS.get(cipher);
  if (!type) throw new KeyholdError('NOT_ACCEPTABLE', `algorithm '${cipher}' is not supported`);
  if (key.length !== 32) {
    throw new KeyholdError('NOT_ACCEPTABLE', `invalid key size for '${cipher}'`);
  }
  // Keyhold extension: `hmac_key` keeps a migrated key's HMACs stable (import-fs sends it).
  // Without it the key gets a fresh HMAC key, as in KES, so /v1/key/hmac works on it.
  const hmacKey = body.hmac_key ?? randomPool.take(32);
  if (hmacKey.length !== 32) {
    throw new KeyholdError('NOT_ACCEPTABLE', `invalid HMAC key size: must be 32 bytes`);
  }
  await k.env.core.importKey(k.caller, k.enclave, { name, type, key, hmacKey });
  key.fill(0);
  hmacKey.fill(0);
  sendEmpty(k.res);
  auditKeyChange(k, `secret key '${name}' created`);
}

/**
 * Runs `op` on the request's key: at once, or in KES gateway mode once the key has been fetched
 * from the external store (the core's key operations are synchronous). Name and permission were
 * checked before the body was read (the route's guard).
 */
function withKey(
  k: KesRequest,
  command: string,
  op: (k: KesRequest) => void,
): Promise<void> | void {
  if (!k.env.core.gateway) {
    op(k);
    return;
  }
  return k.env.core.loadKey(k.caller, k.enclave, k.resource, command).then(() => {
    op(k);
  });
}

// The request bodies of the hot routes (decodeStruct caches what it derives from each).
const CONTEXT_BODY = { context: 'bytes' } as const;
const ENCRYPT_BODY = { plaintext: 'bytes', context: 'bytes' } as const;
const DECRYPT_BODY = { ciphertext: 'bytes', context: 'bytes' } as const;
const HMAC_BODY = { message: 'bytes' } as const;

function generate(k: KesRequest): void {
  // Upstream reads the body only when there is one; MinIO always sends a context.
  const context = k.body.length > 0 ? decodeBody(k.body, CONTEXT_BODY).context : EMPTY;
  const key = k.env.core.generate(k.caller, k.enclave, {
    name: k.resource,
    version: 0,
    associatedData: context ?? EMPTY,
    length: 32,
  });
  // Base64 needs no JSON escaping: the bytes encodeGoJson writes for the same object.
  sendJsonBytes(k.res, base64Object('plaintext', key.plaintext, 'ciphertext', key.ciphertext));
  key.plaintext.fill(0);
}

function encrypt(k: KesRequest): void {
  const body = decodeBody(k.body, ENCRYPT_BODY);
  const { ciphertext } = k.env.core.encrypt(k.caller, k.enclave, {
    name: k.resource,
    version: 0,
    plaintext: body.plaintext ?? EMPTY,
    associatedData: body.context ?? EMPTY,
  });
  sendJsonBytes(k.res, base64Object('ciphertext', ciphertext));
}

function decrypt(k: KesRequest): void {
  const body = decodeBody(k.body, DECRYPT_BODY);
  const plaintext = k.env.core.decrypt(k.caller, k.enclave, {
    name: k.resource,
    version: 0,
    ciphertext: body.ciphertext ?? EMPTY,
    associatedData: body.context ?? EMPTY,
  });
  sendJsonBytes(k.res, base64Object('plaintext', plaintext));
  plaintext.fill(0);
}

async function bulkDecrypt(k: KesRequest): Promise<void> {
  const name = k.resource;
  // Name and permission were checked before the body was read (the route's guard).
  await k.env.core.loadKey(k.caller, k.enclave, name, 'KEY:DECRYPT');
  let items: unknown;
  try {
    items = parseFirstJsonValue(k.body);
  } catch {
    throw badRequest('invalid request body');
  }
  if (items !== null && !Array.isArray(items)) throw badRequest('invalid request body');
  const list = (items ?? []) as unknown[];
  if (list.length > MAX_BULK_ITEMS) throw badRequest('too many ciphertexts');
  const requests = list.map((item) => {
    try {
      return decodeStruct(item, { ciphertext: 'bytes', context: 'bytes' });
    } catch {
      throw badRequest('invalid request body');
    }
  });
  const out: { plaintext: string }[] = [];
  for (const request of requests) {
    const plaintext = k.env.core.decrypt(k.caller, k.enclave, {
      name,
      version: 0,
      ciphertext: request.ciphertext ?? EMPTY,
      associatedData: request.context ?? EMPTY,
    });
    out.push({ plaintext: plaintext.toString('base64') });
    plaintext.fill(0);
  }
  sendJson(k.res, out);
}

function hmac(k: KesRequest): void {
  const body = decodeBody(k.body, HMAC_BODY);
  const { mac } = k.env.core.mac(k.caller, k.enclave, {
    name: k.resource,
    version: 0,
    message: body.message ?? EMPTY,
  });
  sendJsonBytes(k.res, base64Object('hmac', mac));
}

/** The key routes of both eras. */
export function keyRoutes(): KesRouteSpec[] {
  const base = { auth: 'policy', metrics: true, timeout: 15, maxBody: 0 } as const;
  return [
    {
      ...base,
      method: 'PUT',
      path: '/v1/key/create/',
      handle: async (k) => {
        await k.env.core.createKey(k.caller, k.enclave, {
          name: k.resource,
          type: 'AES256',
          addVersion: false,
        });
        sendEmpty(k.res);
        auditKeyChange(k, `secret key '${k.resource}' created`);
      },
    },
    {
      ...base,
      method: 'PUT',
      path: '/v1/key/import/',
      maxBody: KES_MAX_BODY,
      guard: { check: checkKeyName, command: 'KEY:IMPORT' },
      handle: importKey,
    },
    {
      ...base,
      method: 'GET',
      path: '/v1/key/describe/',
      handle: async (k) => {
        checkKeyName(k.resource);
        authorizeOp(k, 'KEY:STATUS', k.resource);
        await k.env.core.loadKey(k.caller, k.enclave, k.resource, 'KEY:STATUS');
        const { ring } = k.env.core.keyStatus(k.caller, k.enclave, {
          name: k.resource,
          version: 0,
        });
        sendJson(k.res, describeKey(ring));
      },
    },
    { ...base, method: 'GET', path: '/v1/key/list/', aliases: ['/v1/key/list'], handle: listKeys },
    {
      ...base,
      method: 'DELETE',
      path: '/v1/key/delete/',
      handle: async (k) => {
        await k.env.core.deleteKey(k.caller, k.enclave, {
          name: k.resource,
          version: 0,
          allVersions: true,
        });
        sendEmpty(k.res);
        auditKeyChange(k, `secret key '${k.resource}' deleted`);
      },
    },
    {
      ...base,
      method: 'PUT',
      path: '/v1/key/generate/',
      maxBody: KES_MAX_BODY,
      guard: { check: checkKeyName, command: 'KEY:GENERATE' },
      handle: (k) => withKey(k, 'KEY:GENERATE', generate),
    },
    {
      ...base,
      method: 'PUT',
      path: '/v1/key/encrypt/',
      maxBody: KES_MAX_BODY,
      guard: { check: checkKeyName, command: 'KEY:ENCRYPT' },
      handle: (k) => withKey(k, 'KEY:ENCRYPT', encrypt),
    },
    {
      ...base,
      method: 'PUT',
      path: '/v1/key/decrypt/',
      maxBody: KES_MAX_BODY,
      guard: { check: checkKeyName, command: 'KEY:DECRYPT' },
      handle: (k) => withKey(k, 'KEY:DECRYPT', decrypt),
    },
    {
      ...base,
      method: 'PUT',
      path: '/v1/key/hmac/',
      maxBody: KES_MAX_BODY,
      guard: { check: checkKeyName, command: 'KEY:MAC' },
      handle: (k) => withKey(k, 'KEY:MAC', hmac),
    },
    {
      ...base,
      method: 'POST',
      path: '/v1/key/bulk/decrypt/',
      maxBody: 4 * KES_MAX_BODY,
      legacy: true,
      guard: { check: checkKeyName, command: 'KEY:DECRYPT' },
      handle: bulkDecrypt,
    },
  ];
}
