// Where a node finds its etcd cluster: ClusterConfig, plain data the cluster engine consumes,
// merged from `keyhold server` flags, KEYHOLD_ETCD_* environment variables and the config file's
// `keyhold: cluster: etcd:` section, field by field, in that order of precedence (flag > env >
// file; docs/config.md). Every bad value is one clear line naming where it came from; the etcd
// password never appears in an error, a log line or `describeClusterConfig`.

import { accessSync, constants } from 'node:fs';
import type { Node } from 'yaml';
import type { ConfigSource } from './config-source.ts';
import { parseGoDuration } from './go-duration.ts';

/** TLS towards etcd: a CA to verify etcd's certificate, a client certificate and key. */
export interface ClusterTlsConfig {
  /** PEM file of the CA that signs etcd's server certificates (default: the system's CAs). */
  readonly ca?: string;
  /** PEM file of the client certificate (with `key`). */
  readonly cert?: string;
  /** PEM file of the client certificate's private key (with `cert`). */
  readonly key?: string;
}

/** How a node reaches its etcd cluster. Absent (undefined) means a single node without etcd. */
export interface ClusterConfig {
  /** etcd client URLs, `http://HOST:PORT` or `https://HOST:PORT`, at least one. */
  readonly endpoints: readonly string[];
  /** Key prefix of this Keyhold cluster in etcd: starts and ends with `/` (default `/keyhold/`). */
  readonly prefix: string;
  readonly tls?: ClusterTlsConfig;
  readonly username?: string;
  readonly password?: string;
  /**
   * Trimming the log in etcd (docs/cluster.md, "Trimming the log"): a pass every `interval` ms,
   * which trims once `threshold` entries are old enough. Absent fields take the engine's defaults.
   */
  readonly trim?: { readonly interval?: number; readonly threshold?: number };
}

/** The prefix when none is configured. */
export const DEFAULT_ETCD_PREFIX = '/keyhold/';

/** etcd's client port, used when an endpoint names none. */
export const DEFAULT_ETCD_PORT = 2379;

/** The environment variables read, each for one field. */
export const CLUSTER_ENV = {
  endpoints: 'KEYHOLD_ETCD_ENDPOINTS',
  prefix: 'KEYHOLD_ETCD_PREFIX',
  username: 'KEYHOLD_ETCD_USERNAME',
  password: 'KEYHOLD_ETCD_PASSWORD',
  ca: 'KEYHOLD_ETCD_CA',
  cert: 'KEYHOLD_ETCD_CERT',
  key: 'KEYHOLD_ETCD_KEY',
  trimInterval: 'KEYHOLD_ETCD_TRIM_INTERVAL',
  trimThreshold: 'KEYHOLD_ETCD_TRIM_THRESHOLD',
} as const;

type Field = keyof typeof CLUSTER_ENV;

/** The `keyhold server` flags read, each for one field (no password flag: see docs/cli.md). */
export const CLUSTER_FLAGS = {
  endpoints: 'etcd',
  prefix: 'etcd-prefix',
  username: 'etcd-username',
  ca: 'etcd-ca',
  cert: 'etcd-cert',
  key: 'etcd-key',
  trimInterval: 'etcd-trim-interval',
  trimThreshold: 'etcd-trim-threshold',
} as const satisfies Partial<Record<Field, string>>;

/** Flag values as the command line gave them (undefined: not given). */
export type ClusterFlags = { readonly [F in keyof typeof CLUSTER_FLAGS]?: string | undefined };

/** A configured value and where it came from (for errors). */
interface Sourced<T> {
  readonly value: T;
  /** e.g. `--etcd`, `KEYHOLD_ETCD_PREFIX`, `config.yaml:12:7: keyhold.cluster.etcd.prefix`. */
  readonly from: string;
}

/** The config file's `keyhold.cluster.etcd` section, each value already checked on its own. */
export interface ClusterFileSection {
  readonly endpoints?: Sourced<readonly string[]>;
  readonly prefix?: Sourced<string>;
  readonly ca?: Sourced<string>;
  readonly cert?: Sourced<string>;
  readonly key?: Sourced<string>;
  readonly username?: Sourced<string>;
  readonly password?: Sourced<string>;
  readonly trimInterval?: Sourced<string>;
  readonly trimThreshold?: Sourced<string>;
}

/** A cluster setting that cannot be used; the message is one line and holds no password. */
export class ClusterConfigError extends Error {
  override readonly name = 'ClusterConfigError';
}

/** Hides `user:password@` in a URL-ish text so an error can quote it. */
function redactUserinfo(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/@]*@/i, '$1***@');
}

/**
 * Normalizes one etcd endpoint to `scheme://host:port`. The scheme is required (http:// or
 * https://, never guessed: plain text must be a choice); the port defaults to 2379. Throws a
 * message (without the source) for anything else.
 */
export function parseEtcdEndpoint(text: string): string {
  const trimmed = text.trim();
  const shown = `'${redactUserinfo(trimmed)}'`;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    throw new Error(
      `etcd endpoint ${shown} needs a scheme: http://${redactUserinfo(trimmed)} or https://… (with TLS)`,
    );
  }
  if (scheme !== 'http' && scheme !== 'https') {
    throw new Error(`etcd endpoint ${shown}: the scheme must be http:// or https://`);
  }
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new Error(`etcd endpoint ${shown} is not a URL`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error(
      `etcd endpoint ${shown}: put credentials in the etcd username and password settings, not in the URL`,
    );
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new Error(`etcd endpoint ${shown}: expected SCHEME://HOST[:PORT] without a path`);
  }
  if (url.hostname === '') throw new Error(`etcd endpoint ${shown} has no host`);
  const port = url.port === '' ? DEFAULT_ETCD_PORT : Number(url.port);
  return `${scheme}://${url.hostname}:${port}`;
}

/** Splits a comma-separated endpoint list, normalizes each and drops duplicates. */
export function parseEtcdEndpoints(text: string | readonly string[]): string[] {
  const parts = (typeof text === 'string' ? text.split(',') : text.flatMap((t) => t.split(',')))
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw new Error('no etcd endpoint given');
  return [...new Set(parts.map(parseEtcdEndpoint))];
}

/** Checks a key prefix: starts and ends with `/`, printable ASCII without spaces. */
export function checkEtcdPrefix(prefix: string): string {
  if (!prefix.startsWith('/') || !prefix.endsWith('/') || prefix.length < 2) {
    throw new Error(`etcd prefix '${prefix}' must start and end with '/' (e.g. /keyhold/)`);
  }
  if (!/^[\x21-\x7e]+$/.test(prefix)) {
    throw new Error(`etcd prefix '${prefix}' may only hold printable ASCII without spaces`);
  }
  return prefix;
}

function checkUsername(name: string): string {
  if (name === '' || /[\s:]/.test(name)) {
    throw new Error(`etcd username '${name}' must be non-empty, without spaces or ':'`);
  }
  return name;
}

function checkReadable(path: string): string {
  try {
    accessSync(path, constants.R_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new Error(`cannot read '${path}' (${code})`, { cause: error });
  }
  return path;
}

/** A trim interval: a Go duration of at least one second (e.g. `5m`). */
function checkTrimInterval(text: string): string {
  const ms = /^[+-]/.test(text) ? undefined : parseGoDuration(text, true);
  if (ms === undefined) throw new Error(`invalid duration '${text}' (examples: 5m, 30s, 1h)`);
  if (!(ms >= 1000) || !Number.isFinite(ms)) {
    throw new Error(`the trim interval must be at least 1s (got '${text}')`);
  }
  return text;
}

/** A trim threshold: a whole number of log entries, at least 1. */
function checkTrimThreshold(text: string): string {
  if (!/^[0-9]+$/.test(text) || !(Number(text) >= 1) || !Number.isSafeInteger(Number(text))) {
    throw new Error(
      `the trim threshold must be a whole number of log entries, at least 1 (got '${text}')`,
    );
  }
  return text;
}

const CHECKS: { readonly [F in Exclude<Field, 'endpoints'>]: (text: string) => string } = {
  prefix: checkEtcdPrefix,
  username: checkUsername,
  // The password is not checked against anything; it must only be non-empty.
  password: (text) => {
    if (text === '') throw new Error('the etcd password is empty');
    return text;
  },
  ca: checkReadable,
  cert: checkReadable,
  key: checkReadable,
  trimInterval: checkTrimInterval,
  trimThreshold: checkTrimThreshold,
};

/** Checks a single value, prefixing an error with its source (`--etcd-prefix: …`). */
function checked<T>(from: string, read: () => T): Sourced<T> {
  try {
    return { value: read(), from };
  } catch (error) {
    throw new ClusterConfigError(`${from}: ${(error as Error).message}`);
  }
}

const FILE_FIELDS = ['endpoints', 'prefix', 'tls', 'username', 'password', 'trim'] as const;

/**
 * Reads `keyhold: cluster:` of a config file: `etcd: {endpoints, prefix, tls: {ca, cert, key},
 * username, password, trim: {interval, threshold}}`. `endpoints` is a list or a comma-separated string; every value may be
 * a `${ENV}` reference. Errors name `file:line:col`.
 */
export function readClusterSection(
  src: ConfigSource,
  node: Node | null,
): ClusterFileSection | undefined {
  const cluster = src.fields(node, "'keyhold.cluster'", ['etcd']);
  const etcd = cluster.get('etcd')?.value ?? null;
  if (src.isNull(etcd)) return undefined;
  const fields = src.fields(etcd, "'keyhold.cluster.etcd'", FILE_FIELDS);
  const tls = src.fields(fields.get('tls')?.value ?? null, "'keyhold.cluster.etcd.tls'", [
    'ca',
    'cert',
    'key',
  ]);
  const out: { -readonly [F in keyof ClusterFileSection]: ClusterFileSection[F] } = {};
  const one = (
    field: Exclude<Field, 'endpoints'>,
    node: Node | null | undefined,
    name: string,
  ): void => {
    if (node === undefined || src.isNull(node)) return;
    const text = src.text(node, name);
    if (text === '' && field !== 'password') return;
    try {
      out[field] = {
        value: CHECKS[field](field === 'password' ? text : text.trim()),
        from: `${src.where(node)}: ${name}`,
      };
    } catch (error) {
      src.fail(node, `${name}: ${(error as Error).message}`);
    }
  };
  const endpointsNode = fields.get('endpoints')?.value ?? null;
  if (!src.isNull(endpointsNode)) {
    const name = 'keyhold.cluster.etcd.endpoints';
    const texts = src.isList(endpointsNode)
      ? src.items(endpointsNode, name).map((item) => src.text(item, name))
      : [src.text(endpointsNode, name)];
    try {
      out.endpoints = {
        value: parseEtcdEndpoints(texts),
        from: `${src.where(endpointsNode)}: ${name}`,
      };
    } catch (error) {
      src.fail(endpointsNode, `${name}: ${(error as Error).message}`);
    }
  }
  one('prefix', fields.get('prefix')?.value, 'keyhold.cluster.etcd.prefix');
  one('username', fields.get('username')?.value, 'keyhold.cluster.etcd.username');
  one('password', fields.get('password')?.value, 'keyhold.cluster.etcd.password');
  for (const f of ['ca', 'cert', 'key'] as const) {
    one(f, tls.get(f)?.value, `keyhold.cluster.etcd.tls.${f}`);
  }
  const trim = src.fields(fields.get('trim')?.value ?? null, "'keyhold.cluster.etcd.trim'", [
    'interval',
    'threshold',
  ]);
  one('trimInterval', trim.get('interval')?.value, 'keyhold.cluster.etcd.trim.interval');
  one('trimThreshold', trim.get('threshold')?.value, 'keyhold.cluster.etcd.trim.threshold');
  return out;
}

/** Where the cluster settings come from; each may be absent. */
export interface ClusterSources {
  readonly flags?: ClusterFlags;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly file?: ClusterFileSection | undefined;
}

/**
 * Merges the sources field by field (flag > env > file) into a ClusterConfig, or undefined when
 * no source sets anything (a single node). Throws ClusterConfigError (one line, no password).
 */
export function resolveClusterConfig(sources: ClusterSources): ClusterConfig | undefined {
  const flags = sources.flags ?? {};
  const env = sources.env ?? {};
  const file = sources.file ?? {};
  const pick = <T>(
    field: Field,
    parse: (text: string) => T,
    fromFile: Sourced<T> | undefined,
  ): Sourced<T> | undefined => {
    const flag =
      field in CLUSTER_FLAGS ? CLUSTER_FLAGS[field as keyof typeof CLUSTER_FLAGS] : undefined;
    const flagValue = flag === undefined ? undefined : flags[field as keyof ClusterFlags];
    if (flagValue !== undefined) return checked(`--${flag}`, () => parse(flagValue));
    const envValue = env[CLUSTER_ENV[field]];
    if (envValue !== undefined && envValue !== '') {
      return checked(CLUSTER_ENV[field], () =>
        parse(field === 'password' ? envValue : envValue.trim()),
      );
    }
    return fromFile;
  };
  const endpoints = pick('endpoints', parseEtcdEndpoints, file.endpoints);
  const prefix = pick('prefix', CHECKS.prefix, file.prefix);
  const username = pick('username', CHECKS.username, file.username);
  const password = pick('password', CHECKS.password, file.password);
  const ca = pick('ca', CHECKS.ca, file.ca);
  const cert = pick('cert', CHECKS.cert, file.cert);
  const key = pick('key', CHECKS.key, file.key);
  const trimInterval = pick('trimInterval', CHECKS.trimInterval, file.trimInterval);
  const trimThreshold = pick('trimThreshold', CHECKS.trimThreshold, file.trimThreshold);

  const others = [prefix, username, password, ca, cert, key, trimInterval, trimThreshold].filter(
    (s) => s !== undefined,
  );
  if (endpoints === undefined) {
    const [first] = others;
    if (first === undefined) return undefined;
    throw new ClusterConfigError(
      `${first.from} is set but no etcd endpoints are: give --etcd URL[,URL…], ${CLUSTER_ENV.endpoints} or keyhold.cluster.etcd.endpoints`,
    );
  }
  if ((cert === undefined) !== (key === undefined)) {
    const [given, missing] = cert ? [cert, 'key'] : [key!, 'certificate'];
    throw new ClusterConfigError(
      `${given.from} is set without the client ${missing}: the etcd client certificate and key go together (--etcd-cert/--etcd-key, ${CLUSTER_ENV.cert}/${CLUSTER_ENV.key}, tls.cert/tls.key)`,
    );
  }
  if ((username === undefined) !== (password === undefined)) {
    const from = (username ?? password)!.from;
    throw new ClusterConfigError(
      username
        ? `${from} is set without a password: set ${CLUSTER_ENV.password} or keyhold.cluster.etcd.password`
        : `${from} is set without a username: set --etcd-username, ${CLUSTER_ENV.username} or keyhold.cluster.etcd.username`,
    );
  }
  const schemes = new Set(endpoints.value.map((e) => e.slice(0, e.indexOf(':'))));
  if (schemes.size > 1) {
    throw new ClusterConfigError(
      `${endpoints.from}: the etcd endpoints mix http:// and https://; use one scheme for all`,
    );
  }
  const tlsGiven = ca ?? cert;
  if (tlsGiven && schemes.has('http')) {
    throw new ClusterConfigError(
      `${tlsGiven.from} is set but the etcd endpoints (${endpoints.from}) use http://: use https:// endpoints for TLS`,
    );
  }
  const tls: ClusterTlsConfig = {
    ...(ca ? { ca: ca.value } : {}),
    ...(cert ? { cert: cert.value } : {}),
    ...(key ? { key: key.value } : {}),
  };
  return {
    endpoints: endpoints.value,
    prefix: prefix?.value ?? DEFAULT_ETCD_PREFIX,
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
    ...(username ? { username: username.value } : {}),
    ...(password ? { password: password.value } : {}),
    ...(trimInterval || trimThreshold
      ? {
          trim: {
            ...(trimInterval ? { interval: parseGoDuration(trimInterval.value, true)! } : {}),
            ...(trimThreshold ? { threshold: Number(trimThreshold.value) } : {}),
          },
        }
      : {}),
  };
}

/** One line for banners and logs: endpoints, prefix, TLS and user, never the password. */
export function describeClusterConfig(config: ClusterConfig): string {
  const parts = [`etcd ${config.endpoints.join(',')}`, `prefix ${config.prefix}`];
  if (config.tls?.cert) parts.push('TLS client certificate');
  else if (config.endpoints[0]?.startsWith('https:')) parts.push('TLS');
  if (config.username !== undefined) parts.push(`user ${config.username}`);
  return parts.join(', ');
}
