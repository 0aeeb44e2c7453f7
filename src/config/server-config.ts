// The server config file: KES's format (docs/protocol/kes.md) plus a `keyhold:` section. A real
// KES config loads unchanged; a `keystore:` section selects the KES gateway mode (src/keystore/);
// what Keyhold does not use (TLS proxy) is reported as a warning, and every invalid value is an error naming file, line and column.

import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Node } from 'yaml';
import { HsmKey } from '../crypto/index.ts';
import { parseIdentity } from '../identity/index.ts';
import { isValidName } from '../model/names.ts';
import { KES_ROUTE_PATHS } from '../protocol/kes/index.ts';
import { readClusterSection } from './cluster-config.ts';
import type { ClusterFileSection } from './cluster-config.ts';
import { readKeyStoreConfig } from './keystore-config.ts';
import type { KeyStoreConfig } from './keystore-config.ts';
import { ConfigError, ConfigSource } from './config-source.ts';
import { parseGoDuration } from './go-duration.ts';
import type { KesApiOverride, KesStaticPolicy } from './kes-settings.ts';
import { parseSlogLevel } from './slog-level.ts';

/** The `tls:` section. Paths are as written (relative ones resolve against the working directory, as in KES). */
export interface TlsConfig {
  readonly key: string;
  readonly cert: string;
  /** Password of an encrypted private key. */
  readonly password?: string;
  /** `auth: on`: verify client certificates against `ca`. */
  readonly verifyClients: boolean;
  /** CA certificate file, or directory of them. */
  readonly ca?: string;
  /** `file:line:col` of the `key`, `cert` and `ca` values, for errors found when reading them. */
  readonly where: { readonly key: string; readonly cert: string; readonly ca: string };
}

/** The `keyhold:` section: what a KES config cannot say. */
export interface KeyholdConfig {
  /** State directory (the command line's DIR wins). */
  readonly state?: string;
  /** `hsm:aes256:…` (usually `${KEYHOLD_HSM_KEY}`). */
  readonly hsmKey?: HsmKey;
  /** File holding the HSM key. */
  readonly hsmKeyFile?: string;
  /** Enclave of KES requests that name none; config-file policies and keys live there. */
  readonly enclave?: string;
  /** NDJSON audit log file. */
  readonly auditLog?: string;
  /**
   * `ndjson_listings`: true answers KES listings as NDJSON always, false as JSON unless the
   * client asks for NDJSON; absent, NDJSON unless the client asks for JSON.
   */
  readonly ndjsonListings?: boolean;
  /** `cluster: etcd: …`: the etcd cluster this node belongs to (cluster-config.ts). */
  readonly cluster?: ClusterFileSection;
  /**
   * `keystore_probe_interval`: milliseconds between the key store probes that decide the KES
   * gateway's offline mode (default 10 s, as KES).
   */
  readonly keystoreProbeInterval?: number;
}

export interface ServerConfig {
  readonly file: string;
  /** `HOST:PORT`; the command line's `--address` wins. */
  readonly address?: string;
  /** `admin.identity` as written: a hex (or `h1:`) identity, or e.g. `disabled`. */
  readonly admin: string;
  /** The admin as the server takes it: an identity, or `disabled`. */
  readonly adminIdentity: string;
  readonly tls?: TlsConfig;
  readonly policies: readonly KesStaticPolicy[];
  readonly api: ReadonlyMap<string, KesApiOverride>;
  /** `cache.expiry` in milliseconds (used in KES gateway mode, where keys are fetched). */
  readonly cache: { readonly any: number; readonly unused: number; readonly offline: number };
  readonly log: { readonly error: number; readonly audit: number };
  readonly keys: readonly string[];
  /** The external key store of the KES gateway mode; absent: keys in the sealed state. */
  readonly keystore?: KeyStoreConfig;
  readonly keyhold: KeyholdConfig;
  /** Warnings, each `file:line:col: message`. */
  readonly warnings: readonly string[];
}

export { ConfigError } from './config-source.ts';

const TOP = [
  'version',
  'address',
  'admin',
  'tls',
  'api',
  'policy',
  'cache',
  'log',
  'keys',
  'keystore',
  'keyhold',
  'root',
] as const;

/** Reads and validates a config file; throws ConfigError (`file:line:col: …`) if it is not usable. */
export async function loadServerConfig(
  file: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<ServerConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${file}: cannot read the config file: ${(error as Error).message}`);
  }
  return parseServerConfig(file, text, env);
}

/** Validates config text (see loadServerConfig). */
export function parseServerConfig(
  file: string,
  text: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ServerConfig {
  const src = ConfigSource.parse(file, text, env);
  const root = src.root;
  if (src.isNull(root)) src.fail(root, 'the config file is empty');
  const top = src.fields(root, 'the config file', TOP);

  const version = top.get('version');
  if (version) {
    const v = src.text(version.value, 'version');
    if (v !== '' && v !== 'v1')
      src.fail(version.value, `invalid server config version '${v}': expected 'v1'`);
  }

  let address: string | undefined;
  const addressEntry = top.get('address');
  if (addressEntry) {
    const text = src.text(addressEntry.value, 'address').trim();
    if (text !== '') {
      checkAddress(src, addressEntry.value, text);
      address = text;
    }
  }

  const rootEntry = top.get('root');
  if (rootEntry) {
    src.warn(
      rootEntry.keyNode,
      "'root' is from KES v0.17 and earlier and is ignored: use 'admin.identity'",
    );
  }

  const { admin, adminIdentity } = readAdmin(src, top.get('admin')?.value ?? null, root);
  const tls = readTls(src, top.get('tls')?.value ?? null);
  const policies = readPolicies(src, top.get('policy')?.value ?? null, adminIdentity);
  const api = readApi(src, top.get('api')?.value ?? null);
  const cache = readCache(src, top.get('cache')?.value ?? null);
  const log = readLog(src, top.get('log')?.value ?? null);
  const keys = readKeys(src, top.get('keys')?.value ?? null);
  const keystore = readKeyStoreConfig(src, top.get('keystore')?.value ?? null);
  const keyhold = readKeyhold(src, top.get('keyhold')?.value ?? null);

  return {
    file,
    ...(address === undefined ? {} : { address }),
    admin,
    adminIdentity,
    ...(tls ? { tls } : {}),
    policies,
    api,
    cache,
    log,
    keys,
    ...(keystore ? { keystore } : {}),
    keyhold,
    warnings: src.warnings,
  };
}

function checkAddress(src: ConfigSource, node: Node | null, text: string): void {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) src.fail(node, `invalid address '${text}': expected HOST:PORT`);
  const host = m[1] ?? m[2] ?? '';
  if (host !== '' && isIP(host) === 0) {
    src.fail(node, `invalid address '${text}': the host must be an IP address`);
  }
  if (Number(m[3]) > 65535) src.fail(node, `invalid address '${text}': port out of range`);
}

function readAdmin(
  src: ConfigSource,
  node: Node | null,
  root: Node | null,
): { admin: string; adminIdentity: string } {
  const fields = src.fields(node, "'admin'", ['identity']);
  const entry = fields.get('identity');
  const admin = entry ? src.text(entry.value, 'admin.identity').trim() : '';
  if (admin === '')
    src.fail(entry?.value ?? node ?? root, 'invalid admin identity: no admin identity');
  try {
    return { admin, adminIdentity: parseIdentity(admin).toH1() };
  } catch {
    if (admin !== 'disabled') {
      src.warn(
        entry?.value ?? null,
        `admin identity '${admin}' is not an identity (64 lowercase hex digits): the admin is disabled`,
      );
    }
    return { admin, adminIdentity: 'disabled' };
  }
}

function readTls(src: ConfigSource, node: Node | null): TlsConfig | undefined {
  const fields = src.fields(node, "'tls'", ['key', 'cert', 'password', 'auth', 'ca', 'proxy']);
  const key = src.text(fields.get('key')?.value ?? null, 'tls.key').trim();
  const cert = src.text(fields.get('cert')?.value ?? null, 'tls.cert').trim();
  const password = src.text(fields.get('password')?.value ?? null, 'tls.password');
  const authEntry = fields.get('auth');
  const auth = src.text(authEntry?.value ?? null, 'tls.auth').trim();
  const ca = src.text(fields.get('ca')?.value ?? null, 'tls.ca').trim();
  const proxy = fields.get('proxy');
  if (proxy && !src.isNull(proxy.value)) {
    src.warn(proxy.keyNode, 'tls.proxy is ignored (as in KES, which parses but does not use it)');
  }
  if (key === '' && cert === '') {
    // Keyhold extension: without a certificate the server keeps a self-signed one.
    if (auth.toLowerCase() === 'on' || ca !== '') {
      src.fail(node, 'invalid tls config: no private key');
    }
    return undefined;
  }
  if (key === '') src.fail(fields.get('key')?.value ?? node, 'invalid tls config: no private key');
  if (cert === '')
    src.fail(fields.get('cert')?.value ?? node, 'invalid tls config: no certificate');
  const lower = auth.toLowerCase();
  if (lower !== '' && lower !== 'on' && lower !== 'off') {
    src.fail(authEntry?.value ?? null, `invalid tls config: invalid auth '${auth}'`);
  }
  return {
    key,
    cert,
    ...(password === '' ? {} : { password }),
    verifyClients: lower === 'on',
    ...(ca === '' ? {} : { ca }),
    where: {
      key: src.where(fields.get('key')?.value ?? null),
      cert: src.where(fields.get('cert')?.value ?? null),
      ca: src.where(fields.get('ca')?.value ?? null),
    },
  };
}

function readPolicies(src: ConfigSource, node: Node | null, admin: string): KesStaticPolicy[] {
  const policies: KesStaticPolicy[] = [];
  const owner = new Map<string, string>();
  for (const entry of src.entries(node, "'policy'")) {
    const name = entry.key;
    if (!isValidName(name)) src.fail(entry.keyNode, `invalid policy name '${name}'`);
    const what = `policy '${name}'`;
    const fields = src.fields(entry.value, what, ['allow', 'deny', 'paths', 'identities']);
    // Patterns are never env-substituted (as in KES: a policy must say what it grants).
    const patterns = (key: string): string[] =>
      src.items(fields.get(key)?.value ?? null, `${what} ${key}`).map((item) => {
        const pattern = src.text(item, `${what} ${key} entry`, false);
        if (pattern.slice(0, -1).includes('*')) {
          src.warn(
            item,
            `pattern '${pattern}' has '*' before its end: KES patterns are prefixes ('*' only last), so this one matches only itself`,
          );
        }
        return pattern;
      });
    // `paths:` is the allow list of KES ≤ v0.14 and of its own documentation's examples.
    const allow = [...new Set([...patterns('allow'), ...patterns('paths')])];
    const deny = patterns('deny');
    const identities: string[] = [];
    for (const item of src.items(fields.get('identities')?.value ?? null, `${what} identities`)) {
      const identity = src.text(item, `${what} identity`).trim();
      if (identity === '') continue;
      if (!isValidName(identity)) src.fail(item, `invalid identity '${identity}' in ${what}`);
      let h1: string | undefined;
      try {
        h1 = parseIdentity(identity).toH1();
      } catch {
        src.warn(
          item,
          `identity '${identity}' in ${what} is not a hex identity (64 lowercase hex digits): no client can have it`,
        );
      }
      if (h1 !== undefined && h1 === admin) {
        src.fail(item, `identity '${identity}' in ${what} is the admin identity`);
      }
      const previous = owner.get(identity);
      if (previous !== undefined) {
        src.fail(
          item,
          `cannot assign policy '${name}' to '${identity}': identity already has a policy ('${previous}')`,
        );
      }
      owner.set(identity, name);
      identities.push(identity);
    }
    policies.push({ name, allow, deny, dialect: 'prefix', identities });
  }
  return policies;
}

function readApi(src: ConfigSource, node: Node | null): Map<string, KesApiOverride> {
  const known = new Set(KES_ROUTE_PATHS);
  const out = new Map<string, KesApiOverride>();
  for (const entry of src.entries(node, "'api'")) {
    const fields = src.fields(entry.value, `api '${entry.key}'`, ['skip_auth', 'timeout']);
    const skipAuth = src.bool(fields.get('skip_auth')?.value ?? null, 'skip_auth') ?? false;
    const timeoutNode = fields.get('timeout')?.value ?? null;
    const timeout = readDuration(src, timeoutNode, 'timeout');
    if (timeout !== undefined && timeout < 0) {
      src.fail(
        timeoutNode,
        `invalid timeout '${src.text(timeoutNode, 'timeout')}': must not be negative`,
      );
    }
    if (!known.has(entry.key)) {
      src.warn(
        entry.keyNode,
        `unknown API path '${entry.key}' (ignored): keys must match a route exactly, e.g. '/v1/key/create/'`,
      );
      continue;
    }
    // Upstream: a timeout of 0 keeps the route's default.
    out.set(entry.key, timeout ? { skipAuth, timeout } : { skipAuth });
  }
  return out;
}

function readDuration(src: ConfigSource, node: Node | null, what: string): number | undefined {
  const text = src.text(node, what).trim();
  if (text === '') return undefined;
  const ms = parseGoDuration(text);
  if (ms === undefined) {
    src.fail(node, `invalid ${what} '${text}': expected a duration such as '30s', '5m' or '1h30m'`);
  }
  return ms;
}

function readCache(
  src: ConfigSource,
  node: Node | null,
): { any: number; unused: number; offline: number } {
  const fields = src.fields(node, "'cache'", ['expiry']);
  const expiry = src.fields(fields.get('expiry')?.value ?? null, "'cache.expiry'", [
    'any',
    'unused',
    'offline',
  ]);
  const read = (key: 'any' | 'unused' | 'offline', fallback: number): number => {
    const value = expiry.get(key)?.value ?? null;
    const ms = readDuration(src, value, `cache expiry`);
    if (ms !== undefined && ms < 0) {
      src.fail(
        value,
        `invalid cache expiry '${src.text(value, 'cache expiry')}': must not be negative`,
      );
    }
    return ms ?? fallback;
  };
  return { any: read('any', 300_000), unused: read('unused', 30_000), offline: read('offline', 0) };
}

function readLog(src: ConfigSource, node: Node | null): { error: number; audit: number } {
  const fields = src.fields(node, "'log'", ['error', 'audit']);
  const read = (key: 'error' | 'audit'): number => {
    const value = fields.get(key)?.value ?? null;
    const text = src.text(value, `log.${key}`);
    const level = parseSlogLevel(text);
    if (level === undefined) {
      src.fail(value, `invalid log level '${text}': expected on, off, DEBUG, INFO, WARN or ERROR`);
    }
    return level;
  };
  return { error: read('error'), audit: read('audit') };
}

function readKeys(src: ConfigSource, node: Node | null): string[] {
  const names: string[] = [];
  for (const item of src.items(node, "'keys'")) {
    const fields = src.fields(item, 'a key', ['name']);
    const nameNode = fields.get('name')?.value ?? item;
    const name = src.text(fields.get('name')?.value ?? null, 'key name').trim();
    if (!isValidName(name)) src.fail(nameNode, `invalid key name '${name}'`);
    if (names.includes(name)) {
      src.fail(nameNode, `invalid key config: key '${name}' is defined multiple times`);
    }
    names.push(name);
  }
  return names;
}

function readKeyhold(src: ConfigSource, node: Node | null): KeyholdConfig {
  const fields = src.fields(node, "'keyhold'", [
    'state',
    'hsm_key',
    'hsm_key_file',
    'enclave',
    'audit_log',
    'ndjson_listings',
    'cluster',
    'keystore_probe_interval',
  ]);
  const text = (key: string): string =>
    src.text(fields.get(key)?.value ?? null, `keyhold.${key}`).trim();
  const state = text('state');
  const hsmText = text('hsm_key');
  let hsmKey: HsmKey | undefined;
  if (hsmText !== '') {
    try {
      hsmKey = HsmKey.parse(hsmText);
    } catch (error) {
      // The parser's message never repeats the key.
      src.fail(
        fields.get('hsm_key')?.value ?? null,
        `invalid keyhold.hsm_key: ${(error as Error).message}`,
      );
    }
  }
  const hsmKeyFile = text('hsm_key_file');
  if (hsmKey && hsmKeyFile !== '') {
    src.fail(
      fields.get('hsm_key_file')?.value ?? null,
      'keyhold.hsm_key and keyhold.hsm_key_file are mutually exclusive',
    );
  }
  const enclave = text('enclave');
  if (enclave !== '' && !isValidName(enclave)) {
    src.fail(fields.get('enclave')?.value ?? null, `invalid enclave name '${enclave}'`);
  }
  const auditLog = text('audit_log');
  const ndjson = src.bool(fields.get('ndjson_listings')?.value ?? null, 'keyhold.ndjson_listings');
  const cluster = readClusterSection(src, fields.get('cluster')?.value ?? null);
  const probeNode = fields.get('keystore_probe_interval')?.value ?? null;
  const probe = readDuration(src, probeNode, 'keyhold.keystore_probe_interval');
  if (probe !== undefined && probe < 100) {
    src.fail(probeNode, 'invalid keyhold.keystore_probe_interval: at least 100ms');
  }
  return {
    ...(state === '' ? {} : { state }),
    ...(hsmKey ? { hsmKey } : {}),
    ...(hsmKeyFile === '' ? {} : { hsmKeyFile }),
    ...(enclave === '' ? {} : { enclave }),
    ...(auditLog === '' ? {} : { auditLog }),
    ...(ndjson === undefined ? {} : { ndjsonListings: ndjson }),
    ...(cluster === undefined ? {} : { cluster }),
    ...(probe === undefined ? {} : { keystoreProbeInterval: probe }),
  };
}
