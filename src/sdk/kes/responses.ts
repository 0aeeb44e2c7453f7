// The KES API's response bodies as typed values, decoded leniently across the current and
// legacy server eras (docs/protocol/kes.md) so that one client reads both.

import { KesResponseError } from './errors.ts';

/** The algorithms of KES keys. Legacy spellings are mapped onto these. */
export type KesAlgorithm = 'AES256' | 'ChaCha20';

/** `GET /v1/key/describe/{name}`. */
export interface KesKeyInfo {
  readonly name: string;
  /** Absent when the server did not say. */
  readonly algorithm?: KesAlgorithm;
  readonly createdAt?: Date;
  readonly createdBy?: string;
  /** Legacy servers only: hex of the first 16 bytes of SHA-256(key). */
  readonly id?: string;
}

/** `GET /v1/status`. Absent numbers were zero (the server omits them). */
export interface KesStatus {
  readonly version: string;
  readonly os: string;
  readonly arch: string;
  /** Seconds since the server started. */
  readonly uptime: number;
  readonly numCpu: number;
  readonly numCpuUsed: number;
  readonly memHeapUsed: number;
  readonly memStackUsed: number;
  /**
   * Keystore latency in nanoseconds, as kms-go reads it (a Go Duration). Keyhold sends
   * nanoseconds; upstream KES sends milliseconds in this field, so its values read 10^6 too small.
   */
  readonly keystoreLatency: number;
  readonly keystoreUnreachable: boolean;
  readonly keystoreUnavailable: boolean;
}

/** `GET /version`. */
export interface KesVersion {
  readonly version: string;
  readonly commit: string;
}

/** One entry of `GET /v1/api`. */
export interface KesApiRoute {
  readonly method: string;
  readonly path: string;
  /** Largest request body in bytes. */
  readonly maxBody: number;
  /** Seconds; 0 = none. */
  readonly timeout: number;
}

/** `POST /v1/key/generate/{name}`: a data key and its ciphertext. `plaintext` is SECRET. */
export interface KesDataKey {
  readonly plaintext: Buffer;
  readonly ciphertext: Buffer;
}

/** `GET /v1/policy/describe/{name}`. */
export interface KesPolicyInfo {
  readonly name: string;
  readonly createdAt?: Date;
  readonly createdBy?: string;
}

/** `GET /v1/policy/read/{name}`: the path patterns the policy allows and denies. */
export interface KesPolicy extends KesPolicyInfo {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

/** `GET /v1/identity/describe/{identity}`. */
export interface KesIdentityInfo {
  readonly identity: string;
  readonly isAdmin: boolean;
  /** Name of the assigned policy ('' for the admin). */
  readonly policy: string;
  readonly createdAt?: Date;
  readonly createdBy?: string;
}

/** `GET /v1/identity/self/describe`: the caller's identity and, if it has one, its policy. */
export interface KesSelfInfo extends KesIdentityInfo {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

/** One `GET /v1/log/audit` event. */
export interface KesAuditEvent {
  readonly time: Date;
  readonly request: { readonly ip: string; readonly path: string; readonly identity: string };
  /**
   * `time` is the response time as the server sent it: milliseconds for current KES and Keyhold,
   * nanoseconds for legacy KES.
   */
  readonly response: { readonly code: number; readonly time: number };
}

/** One `GET /v1/log/error` event. */
export interface KesErrorEvent {
  readonly message: string;
}

type Json = Record<string, unknown>;

/** Parses a JSON object body; KesResponseError names the route on failure. */
export function jsonObject(body: Buffer, what: string): Json {
  const value = jsonValue(body, what);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KesResponseError(`invalid ${what} response: not a JSON object`);
  }
  return value as Json;
}

/** Parses any JSON body. */
export function jsonValue(body: Buffer | string, what: string): unknown {
  try {
    return JSON.parse(body.toString()) as unknown;
  } catch {
    throw new KesResponseError(`invalid ${what} response: not JSON`);
  }
}

export function str(o: Json, field: string, what: string): string {
  const v = o[field];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string')
    throw new KesResponseError(`invalid ${what} response: '${field}' is not a string`);
  return v;
}

export function num(o: Json, field: string, what: string): number {
  const v = o[field];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number')
    throw new KesResponseError(`invalid ${what} response: '${field}' is not a number`);
  return v;
}

export function bool(o: Json, field: string): boolean {
  return o[field] === true;
}

/** Standard base64 bytes; an empty or absent field fails. */
export function bytes(o: Json, field: string, what: string): Buffer {
  const v = str(o, field, what);
  if (v === '' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
    throw new KesResponseError(`invalid ${what} response: '${field}' is not base64`);
  }
  return Buffer.from(v, 'base64');
}

/** An RFC 3339 time; absent, empty and Go's zero time are `undefined`. */
export function time(o: Json, field: string, what: string): Date | undefined {
  const v = str(o, field, what);
  if (v === '' || v.startsWith('0001-01-01T00:00:00')) return undefined;
  const date = new Date(v);
  if (Number.isNaN(date.getTime()))
    throw new KesResponseError(`invalid ${what} response: '${field}' is not a time`);
  return date;
}

const ALGORITHMS: ReadonlyMap<string, KesAlgorithm> = new Map([
  ['AES256', 'AES256'],
  ['AES256-GCM_SHA256', 'AES256'],
  ['ChaCha20', 'ChaCha20'],
  ['XCHACHA20-POLY1305', 'ChaCha20'],
]);

export function decodeKeyInfo(o: Json): KesKeyInfo {
  const what = 'describe key';
  const algorithm = str(o, 'algorithm', what);
  const mapped = ALGORITHMS.get(algorithm);
  if (algorithm !== '' && mapped === undefined) {
    throw new KesResponseError(`invalid ${what} response: unknown algorithm '${algorithm}'`);
  }
  return optional({
    name: str(o, 'name', what),
    algorithm: mapped,
    createdAt: time(o, 'created_at', what),
    createdBy: str(o, 'created_by', what) || undefined,
    id: str(o, 'id', what) || undefined,
  });
}

export function decodeStatus(o: Json): KesStatus {
  const what = 'status';
  return {
    version: str(o, 'version', what),
    os: str(o, 'os', what),
    arch: str(o, 'arch', what),
    uptime: num(o, 'uptime', what),
    numCpu: num(o, 'num_cpu', what),
    numCpuUsed: num(o, 'num_cpu_used', what),
    memHeapUsed: num(o, 'mem_heap_used', what),
    memStackUsed: num(o, 'mem_stack_used', what),
    keystoreLatency: num(o, 'keystore_latency', what),
    keystoreUnreachable: bool(o, 'keystore_unreachable'),
    keystoreUnavailable: bool(o, 'keystore_unavailable') || bool(o, 'keystore_unreachable'),
  };
}

/** The status in the JSON shape of `kes status --json` (kms-go's `State`, zero fields omitted). */
export function encodeKesStatus(s: KesStatus): Json {
  const out: Json = {};
  const put = (k: string, v: string | number | boolean): void => {
    if (v !== '' && v !== 0 && v !== false) out[k] = v;
  };
  put('version', s.version);
  put('os', s.os);
  put('arch', s.arch);
  put('uptime', s.uptime);
  put('num_cpu', s.numCpu);
  put('num_cpu_used', s.numCpuUsed);
  put('mem_heap_used', s.memHeapUsed);
  put('mem_stack_used', s.memStackUsed);
  put('keystore_latency', s.keystoreLatency);
  put('keystore_unreachable', s.keystoreUnreachable);
  put('keystore_unavailable', s.keystoreUnavailable);
  return out;
}

export function decodeApiRoutes(value: unknown): KesApiRoute[] {
  const what = 'API';
  if (!Array.isArray(value))
    throw new KesResponseError(`invalid ${what} response: not a JSON array`);
  return value.map((item: unknown) => {
    if (typeof item !== 'object' || item === null) {
      throw new KesResponseError(`invalid ${what} response: an entry is not an object`);
    }
    const o = item as Json;
    return {
      method: str(o, 'method', what),
      path: str(o, 'path', what),
      maxBody: num(o, 'max_body', what),
      timeout: num(o, 'timeout', what),
    };
  });
}

export function decodePolicyInfo(o: Json): KesPolicyInfo {
  const what = 'describe policy';
  return optional({
    name: str(o, 'name', what),
    createdAt: time(o, 'created_at', what),
    createdBy: str(o, 'created_by', what) || undefined,
  });
}

export function decodePolicy(o: Json, name: string): KesPolicy {
  const what = 'read policy';
  return {
    ...decodePolicyInfo(o),
    name: str(o, 'name', what) || name,
    allow: patterns(o.allow, 'allow', what),
    deny: patterns(o.deny, 'deny', what),
  };
}

export function decodeIdentityInfo(o: Json, identity: string): KesIdentityInfo {
  const what = 'describe identity';
  return optional({
    identity: str(o, 'identity', what) || identity,
    isAdmin: bool(o, 'admin'),
    policy: typeof o.policy === 'string' ? o.policy : '',
    createdAt: time(o, 'created_at', what),
    createdBy: str(o, 'created_by', what) || undefined,
  });
}

/**
 * Accepts the three self-describe shapes: kms-go's flat one (`policy` a name, `allow`/`deny`
 * beside it), current KES's (`policy` an object with `allow`/`deny`) and v0.22's (`policy_name`
 * plus a `policy` object with pattern arrays).
 */
export function decodeSelfInfo(o: Json): KesSelfInfo {
  const what = 'describe self';
  const policy = o.policy;
  let policyName = str(o, 'policy_name', what);
  let allow = patterns(o.allow, 'allow', what);
  let deny = patterns(o.deny, 'deny', what);
  if (typeof policy === 'string') {
    policyName ||= policy;
  } else if (typeof policy === 'object' && policy !== null) {
    const p = policy as Json;
    policyName ||= str(p, 'name', what);
    allow = [...allow, ...patterns(p.allow, 'allow', what)];
    deny = [...deny, ...patterns(p.deny, 'deny', what)];
  }
  return optional({
    identity: str(o, 'identity', what),
    isAdmin: bool(o, 'admin'),
    policy: policyName,
    createdAt: time(o, 'created_at', what),
    createdBy: str(o, 'created_by', what) || undefined,
    allow,
    deny,
  });
}

export function decodeAuditEvent(o: Json): KesAuditEvent {
  const what = 'audit log';
  const request = (o.request ?? {}) as Json;
  const response = (o.response ?? {}) as Json;
  return {
    time: time(o, 'time', what) ?? new Date(0),
    request: {
      ip: str(request, 'ip', what),
      path: str(request, 'path', what),
      identity: str(request, 'identity', what),
    },
    response: { code: num(response, 'code', what), time: num(response, 'time', what) },
  };
}

export function decodeErrorEvent(o: Json): KesErrorEvent {
  return { message: str(o, 'message', 'error log') };
}

/** Current servers send `{"pattern": {}}` objects, legacy ones arrays of strings. */
function patterns(value: unknown, field: string, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) {
    if (!value.every((v) => typeof v === 'string')) {
      throw new KesResponseError(`invalid ${what} response: '${field}' holds a non-string`);
    }
    return value;
  }
  if (typeof value === 'object') return Object.keys(value);
  throw new KesResponseError(
    `invalid ${what} response: '${field}' is neither an object nor an array`,
  );
}

/** Drops `undefined` members, for `exactOptionalPropertyTypes`. */
function optional<T extends object>(value: { [K in keyof T]: T[K] | undefined }): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as T;
}
