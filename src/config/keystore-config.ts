// The `keystore:` section of a KES config file (docs/keystores.md): which external store the
// KES gateway mode keeps its keys in, with the fields KES documents for each backend.

import type { Node } from 'yaml';
import type { ConfigSource } from '../config/config-source.ts';
import { parseGoDuration } from '../config/go-duration.ts';

export interface FsStoreConfig {
  readonly kind: 'fs';
  readonly path: string;
}

/** A Vault auth method's mount, namespace (`/` = root, '' = the keystore's) and credentials. */
export interface VaultAppRole {
  readonly engine: string;
  readonly namespace: string;
  readonly id: string;
  readonly secret: string;
}

export interface VaultKubernetes {
  readonly engine: string;
  readonly namespace: string;
  readonly role: string;
  /** The service account token, or (containing `/`) the file it is re-read from at each login. */
  readonly jwt: string;
}

export interface VaultStoreConfig {
  readonly kind: 'vault';
  readonly endpoint: string;
  readonly engine: string;
  readonly version: 'v1' | 'v2';
  readonly namespace: string;
  readonly prefix: string;
  readonly approle?: VaultAppRole;
  readonly kubernetes?: VaultKubernetes;
  /** Keyhold extension: a fixed token (development; KES has no static token). */
  readonly token?: string;
  readonly transit?: { readonly engine: string; readonly key: string };
  readonly tls: { readonly key: string; readonly cert: string; readonly ca: string };
  /** `status.ping`, milliseconds. */
  readonly statusPing: number;
}

export interface AwsStoreConfig {
  readonly kind: 'aws';
  /** With a scheme (`https://` added where the config has none). */
  readonly endpoint: string;
  readonly region: string;
  readonly kmsKey: string;
  /** Absent: the AWS SDK's default credential chain. */
  readonly credentials?: {
    readonly accessKey: string;
    readonly secretKey: string;
    readonly sessionToken: string;
  };
}

export interface AzureStoreConfig {
  readonly kind: 'azure';
  /** The vault URL, e.g. `https://my-vault.vault.azure.net`. */
  readonly endpoint: string;
  /** Client credentials (a service principal); absent: environment, then managed identity. */
  readonly credentials?: {
    readonly tenantId: string;
    readonly clientId: string;
    readonly clientSecret: string;
  };
  readonly managedIdentity?: { readonly clientId: string };
}

export interface GcpStoreConfig {
  readonly kind: 'gcp';
  readonly projectId: string;
  /** REST base URL (default `https://secretmanager.googleapis.com`; a `host:443` gains https). */
  readonly endpoint: string;
  readonly scopes: readonly string[];
  /** A service account; absent: the metadata server (GCE, GKE). */
  readonly credentials?: {
    readonly clientEmail: string;
    readonly clientId: string;
    readonly privateKeyId: string;
    readonly privateKey: string;
  };
}

export interface FortanixStoreConfig {
  readonly kind: 'fortanix';
  readonly endpoint: string;
  /** Group new keys are created in; '' = the app's default group. */
  readonly groupId: string;
  /** The DSM app's API key (base64 of `app-id:secret`), sent as `Authorization: Basic`. */
  readonly apiKey: string;
  /** CA file or directory; '' = the system's CAs. */
  readonly ca: string;
}

export interface GemaltoStoreConfig {
  readonly kind: 'gemalto';
  readonly endpoint: string;
  /** The CipherTrust / KeySecure refresh token. */
  readonly token: string;
  /** The domain the token belongs to; '' = the root domain. */
  readonly domain: string;
  /** Milliseconds between attempts after a failed re-authentication (KES: 5 s). */
  readonly retry: number;
  readonly ca: string;
}

export interface EntrustStoreConfig {
  readonly kind: 'entrust';
  readonly endpoint: string;
  readonly vaultId: string;
  /** The box's ID or name. */
  readonly boxId: string;
  readonly username: string;
  readonly password: string;
  readonly ca: string;
}

export type KeyStoreConfig =
  | FsStoreConfig
  | VaultStoreConfig
  | AwsStoreConfig
  | AzureStoreConfig
  | GcpStoreConfig
  | FortanixStoreConfig
  | GemaltoStoreConfig
  | EntrustStoreConfig;

const BACKENDS = ['fs', 'vault', 'aws', 'gcp', 'azure', 'fortanix', 'gemalto', 'entrust', 'kes'];

/**
 * Reads the section. Undefined when it is absent or empty; fails (file:line:col) on a section
 * that names no backend or several, on a backend Keyhold cannot serve yet, and on missing fields.
 */
export function readKeyStoreConfig(
  src: ConfigSource,
  node: Node | null,
): KeyStoreConfig | undefined {
  if (src.isNull(node)) return undefined;
  const fields = src.fields(node, "'keystore'", BACKENDS);
  const present = [...fields.values()].filter((e) => !src.isNull(e.value));
  if (present.length === 0) return undefined;
  if (present.length > 1) {
    src.fail(node, 'invalid keystore config: more than one keystore specified');
  }
  const entry = present[0]!;
  switch (entry.key) {
    case 'fs':
      return readFs(src, entry.value);
    case 'vault':
      return readVault(src, entry.value);
    case 'aws':
      return readAws(src, entry.value);
    case 'azure':
      return readAzure(src, entry.value);
    case 'gcp':
      return readGcp(src, entry.value);
    case 'fortanix':
      return readFortanix(src, entry.value);
    case 'gemalto':
      return readGemalto(src, entry.value);
    case 'entrust':
      return readEntrust(src, entry.value);
    case 'kes':
      src.warn(entry.keyNode, 'keystore.kes is ignored (as in KES, which no longer supports it)');
      return undefined;
    default:
      return src.fail(
        entry.keyNode,
        `keystore.${entry.key} is not supported by this Keyhold version; ` +
          `refusing to start rather than serve without the keys in that store`,
      );
  }
}

function readFs(src: ConfigSource, node: Node | null): FsStoreConfig {
  const fields = src.fields(node, "'keystore.fs'", ['path']);
  const path = src.text(fields.get('path')?.value ?? null, 'keystore.fs.path').trim();
  if (path === '') src.fail(node, 'invalid fs keystore config: no path specified');
  return { kind: 'fs', path };
}

function readVault(src: ConfigSource, node: Node | null): VaultStoreConfig {
  const what = "'keystore.vault'";
  const f = src.fields(node, what, [
    'endpoint',
    'engine',
    'version',
    'namespace',
    'prefix',
    'approle',
    'kubernetes',
    'token',
    'transit',
    'tls',
    'status',
  ]);
  const text = (fields: Map<string, { value: Node | null }>, key: string, label: string): string =>
    src.text(fields.get(key)?.value ?? null, label).trim();
  const endpoint = text(f, 'endpoint', 'keystore.vault.endpoint');
  if (endpoint === '') src.fail(node, 'invalid vault keystore config: no endpoint specified');
  const versionText = text(f, 'version', 'keystore.vault.version') || 'v1';
  if (versionText !== 'v1' && versionText !== 'v2') {
    src.fail(
      f.get('version')?.value ?? node,
      `invalid vault keystore config: invalid K/V version '${versionText}': expected v1 or v2`,
    );
  }
  let approle: VaultAppRole | undefined;
  const approleNode = f.get('approle')?.value ?? null;
  if (!src.isNull(approleNode)) {
    const a = src.fields(approleNode, "'keystore.vault.approle'", [
      'engine',
      'namespace',
      'id',
      'secret',
      'retry',
    ]);
    const id = text(a, 'id', 'approle.id');
    const secret = text(a, 'secret', 'approle.secret');
    if (id !== '' || secret !== '') {
      if (id === '') src.fail(approleNode, 'invalid vault keystore config: no AppRole ID');
      if (secret === '') src.fail(approleNode, 'invalid vault keystore config: no AppRole secret');
      approle = {
        engine: text(a, 'engine', 'approle.engine') || 'approle',
        namespace: text(a, 'namespace', 'approle.namespace'),
        id,
        secret,
      };
    }
  }
  let kubernetes: VaultKubernetes | undefined;
  const k8sNode = f.get('kubernetes')?.value ?? null;
  if (!src.isNull(k8sNode)) {
    const k = src.fields(k8sNode, "'keystore.vault.kubernetes'", [
      'engine',
      'namespace',
      'role',
      'jwt',
      'retry',
    ]);
    const role = text(k, 'role', 'kubernetes.role');
    const jwt = text(k, 'jwt', 'kubernetes.jwt');
    if (role !== '' || jwt !== '') {
      if (jwt === '') src.fail(k8sNode, 'invalid vault keystore config: no Kubernetes JWT');
      kubernetes = {
        engine: text(k, 'engine', 'kubernetes.engine') || 'kubernetes',
        namespace: text(k, 'namespace', 'kubernetes.namespace'),
        role,
        jwt,
      };
    }
  }
  const token = text(f, 'token', 'keystore.vault.token');
  const methods = [approle, kubernetes, token === '' ? undefined : token].filter(
    (m) => m !== undefined,
  );
  if (methods.length === 0) {
    src.fail(
      node,
      'invalid vault keystore config: no authentication method (approle or kubernetes)',
    );
  }
  if (methods.length > 1) {
    src.fail(node, 'invalid vault keystore config: more than one authentication method specified');
  }
  let transit: { engine: string; key: string } | undefined;
  const transitNode = f.get('transit')?.value ?? null;
  if (!src.isNull(transitNode)) {
    const t = src.fields(transitNode, "'keystore.vault.transit'", ['engine', 'key']);
    const key = text(t, 'key', 'transit.key');
    if (key === '') src.fail(transitNode, 'invalid vault keystore config: no transit key');
    transit = { engine: text(t, 'engine', 'transit.engine') || 'transit', key };
  }
  const tlsNode = f.get('tls')?.value ?? null;
  const t = src.fields(tlsNode, "'keystore.vault.tls'", ['key', 'cert', 'ca']);
  const tls = {
    key: text(t, 'key', 'keystore.vault.tls.key'),
    cert: text(t, 'cert', 'keystore.vault.tls.cert'),
    ca: text(t, 'ca', 'keystore.vault.tls.ca'),
  };
  if ((tls.key === '') !== (tls.cert === '')) {
    src.fail(tlsNode, 'invalid vault keystore config: tls.key and tls.cert go together');
  }
  const statusNode = f.get('status')?.value ?? null;
  const s = src.fields(statusNode, "'keystore.vault.status'", ['ping']);
  const pingNode = s.get('ping')?.value ?? null;
  const pingText = src.text(pingNode, 'status.ping').trim();
  let statusPing = 15_000;
  if (pingText !== '') {
    const ms = parseGoDuration(pingText);
    if (ms === undefined || ms < 0) src.fail(pingNode, `invalid status.ping '${pingText}'`);
    if (ms > 0) statusPing = ms;
  }
  return {
    kind: 'vault',
    endpoint,
    engine: text(f, 'engine', 'keystore.vault.engine') || 'kv',
    version: versionText,
    namespace: text(f, 'namespace', 'keystore.vault.namespace'),
    prefix: text(f, 'prefix', 'keystore.vault.prefix'),
    ...(approle ? { approle } : {}),
    ...(kubernetes ? { kubernetes } : {}),
    ...(token === '' ? {} : { token }),
    ...(transit ? { transit } : {}),
    tls,
    statusPing,
  };
}

function readAws(src: ConfigSource, node: Node | null): AwsStoreConfig {
  const top = src.fields(node, "'keystore.aws'", ['secretsmanager']);
  const smNode = top.get('secretsmanager')?.value ?? null;
  const f = src.fields(smNode, "'keystore.aws.secretsmanager'", [
    'endpoint',
    'region',
    'kmskey',
    'credentials',
  ]);
  const text = (fields: Map<string, { value: Node | null }>, key: string, label: string): string =>
    src.text(fields.get(key)?.value ?? null, label).trim();
  const endpointText = text(f, 'endpoint', 'keystore.aws.secretsmanager.endpoint');
  if (endpointText === '') {
    src.fail(smNode ?? node, 'invalid aws keystore config: no endpoint specified');
  }
  const region = text(f, 'region', 'keystore.aws.secretsmanager.region');
  if (region === '') src.fail(smNode ?? node, 'invalid aws keystore config: no region specified');
  // KES configs give the endpoint without a scheme (its Go SDK adds https://).
  const endpoint = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpointText)
    ? endpointText
    : `https://${endpointText}`;
  try {
    new URL(endpoint);
  } catch {
    src.fail(f.get('endpoint')?.value ?? null, `invalid aws endpoint '${endpointText}'`);
  }
  const c = src.fields(
    f.get('credentials')?.value ?? null,
    "'keystore.aws.secretsmanager.credentials'",
    ['accesskey', 'secretkey', 'token'],
  );
  const accessKey = text(c, 'accesskey', 'credentials.accesskey');
  const secretKey = text(c, 'secretkey', 'credentials.secretkey');
  const sessionToken = text(c, 'token', 'credentials.token');
  const anyCredential = accessKey !== '' || secretKey !== '' || sessionToken !== '';
  if (anyCredential && (accessKey === '' || secretKey === '')) {
    src.fail(
      f.get('credentials')?.value ?? null,
      'invalid aws keystore config: credentials need both accesskey and secretkey (or leave all empty for the default credential chain)',
    );
  }
  return {
    kind: 'aws',
    endpoint,
    region,
    kmsKey: text(f, 'kmskey', 'keystore.aws.secretsmanager.kmskey'),
    ...(anyCredential ? { credentials: { accessKey, secretKey, sessionToken } } : {}),
  };
}

function readAzure(src: ConfigSource, node: Node | null): AzureStoreConfig {
  const top = src.fields(node, "'keystore.azure'", ['keyvault']);
  const kvNode = top.get('keyvault')?.value ?? null;
  const f = src.fields(kvNode, "'keystore.azure.keyvault'", [
    'endpoint',
    'credentials',
    'managed_identity',
  ]);
  const text = (fields: Map<string, { value: Node | null }>, key: string, label: string): string =>
    src.text(fields.get(key)?.value ?? null, label).trim();
  const endpoint = text(f, 'endpoint', 'keystore.azure.keyvault.endpoint');
  if (endpoint === '')
    src.fail(kvNode ?? node, 'invalid azure keystore config: no endpoint specified');
  const credNode = f.get('credentials')?.value ?? null;
  const c = src.fields(credNode, "'keystore.azure.keyvault.credentials'", [
    'tenant_id',
    'client_id',
    'client_secret',
  ]);
  const tenantId = text(c, 'tenant_id', 'credentials.tenant_id');
  const clientId = text(c, 'client_id', 'credentials.client_id');
  const clientSecret = text(c, 'client_secret', 'credentials.client_secret');
  const anyCredential = tenantId !== '' || clientId !== '' || clientSecret !== '';
  if (anyCredential && (tenantId === '' || clientId === '' || clientSecret === '')) {
    src.fail(
      credNode,
      'invalid azure keystore config: credentials need tenant_id, client_id and client_secret',
    );
  }
  const miNode = f.get('managed_identity')?.value ?? null;
  const m = src.fields(miNode, "'keystore.azure.keyvault.managed_identity'", ['client_id']);
  const miClient = text(m, 'client_id', 'managed_identity.client_id');
  if (anyCredential && !src.isNull(miNode)) {
    src.fail(
      miNode,
      'invalid azure keystore config: credentials and managed_identity are exclusive',
    );
  }
  return {
    kind: 'azure',
    endpoint,
    ...(anyCredential ? { credentials: { tenantId, clientId, clientSecret } } : {}),
    ...(!src.isNull(miNode) ? { managedIdentity: { clientId: miClient } } : {}),
  };
}

function readGcp(src: ConfigSource, node: Node | null): GcpStoreConfig {
  const top = src.fields(node, "'keystore.gcp'", ['secretmanager']);
  const smNode = top.get('secretmanager')?.value ?? null;
  const f = src.fields(smNode, "'keystore.gcp.secretmanager'", [
    'project_id',
    'endpoint',
    'scopes',
    'credentials',
  ]);
  const text = (fields: Map<string, { value: Node | null }>, key: string, label: string): string =>
    src.text(fields.get(key)?.value ?? null, label).trim();
  const projectId = text(f, 'project_id', 'keystore.gcp.secretmanager.project_id');
  if (projectId === '')
    src.fail(smNode ?? node, 'invalid gcp keystore config: no project_id specified');
  let endpoint =
    text(f, 'endpoint', 'keystore.gcp.secretmanager.endpoint') || 'secretmanager.googleapis.com';
  // KES configs may give the gRPC form `host:443`.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint))
    endpoint = `https://${endpoint.replace(/:443$/, '')}`;
  const scopes = src
    .items(f.get('scopes')?.value ?? null, 'keystore.gcp.secretmanager.scopes')
    .map((item) => src.text(item, 'scope').trim())
    .filter((s) => s !== '');
  const c = src.fields(
    f.get('credentials')?.value ?? null,
    "'keystore.gcp.secretmanager.credentials'",
    ['client_email', 'client_id', 'private_key_id', 'private_key'],
  );
  const clientEmail = text(c, 'client_email', 'credentials.client_email');
  const privateKey = text(c, 'private_key', 'credentials.private_key').replace(/\\n/g, '\n');
  const any = clientEmail !== '' || privateKey !== '';
  if (any && (clientEmail === '' || privateKey === '')) {
    src.fail(
      f.get('credentials')?.value ?? null,
      'invalid gcp keystore config: credentials need client_email and private_key',
    );
  }
  return {
    kind: 'gcp',
    projectId,
    endpoint,
    scopes: scopes.length > 0 ? scopes : ['https://www.googleapis.com/auth/cloud-platform'],
    ...(any
      ? {
          credentials: {
            clientEmail,
            clientId: text(c, 'client_id', 'credentials.client_id'),
            privateKeyId: text(c, 'private_key_id', 'credentials.private_key_id'),
            privateKey,
          },
        }
      : {}),
  };
}

/** Reads `tls: {ca}` of a backend (the only TLS field these backends have). */
function readCaField(src: ConfigSource, node: Node | null, label: string): string {
  const t = src.fields(node, `'${label}'`, ['ca']);
  return src.text(t.get('ca')?.value ?? null, `${label}.ca`).trim();
}

function readFortanix(src: ConfigSource, node: Node | null): FortanixStoreConfig {
  const top = src.fields(node, "'keystore.fortanix'", ['sdkms']);
  const sdkmsNode = top.get('sdkms')?.value ?? null;
  const f = src.fields(sdkmsNode, "'keystore.fortanix.sdkms'", [
    'endpoint',
    'group_id',
    'credentials',
    'tls',
  ]);
  const text = (fields: Map<string, { value: Node | null }>, key: string, label: string): string =>
    src.text(fields.get(key)?.value ?? null, label).trim();
  const endpoint = text(f, 'endpoint', 'keystore.fortanix.sdkms.endpoint');
  if (endpoint === '') {
    src.fail(sdkmsNode ?? node, 'invalid fortanix SDKMS keystore config: no endpoint specified');
  }
  const credNode = f.get('credentials')?.value ?? null;
  const c = src.fields(credNode, "'keystore.fortanix.sdkms.credentials'", ['key']);
  const apiKey = text(c, 'key', 'keystore.fortanix.sdkms.credentials.key');
  if (apiKey === '') {
    src.fail(
      credNode ?? sdkmsNode ?? node,
      'invalid fortanix SDKMS keystore config: no API key specified',
    );
  }
  return {
    kind: 'fortanix',
    endpoint,
    groupId: text(f, 'group_id', 'keystore.fortanix.sdkms.group_id'),
    apiKey,
    ca: readCaField(src, f.get('tls')?.value ?? null, 'keystore.fortanix.sdkms.tls'),
  };
}

function readGemalto(src: ConfigSource, node: Node | null): GemaltoStoreConfig {
  const top = src.fields(node, "'keystore.gemalto'", ['keysecure']);
  const ksNode = top.get('keysecure')?.value ?? null;
  const f = src.fields(ksNode, "'keystore.gemalto.keysecure'", ['endpoint', 'credentials', 'tls']);
  const text = (fields: Map<string, { value: Node | null }>, key: string, label: string): string =>
    src.text(fields.get(key)?.value ?? null, label).trim();
  const endpoint = text(f, 'endpoint', 'keystore.gemalto.keysecure.endpoint');
  if (endpoint === '') {
    src.fail(ksNode ?? node, 'invalid gemalto keysecure keystore config: no endpoint specified');
  }
  const credNode = f.get('credentials')?.value ?? null;
  const c = src.fields(credNode, "'keystore.gemalto.keysecure.credentials'", [
    'token',
    'domain',
    'retry',
  ]);
  const token = text(c, 'token', 'keystore.gemalto.keysecure.credentials.token');
  if (token === '') {
    src.fail(
      credNode ?? ksNode ?? node,
      'invalid gemalto keysecure keystore config: no token specified',
    );
  }
  const retryNode = c.get('retry')?.value ?? null;
  const retryText = src.text(retryNode, 'credentials.retry').trim();
  let retry = 5_000;
  if (retryText !== '') {
    const ms = parseGoDuration(retryText);
    if (ms === undefined || ms < 0) src.fail(retryNode, `invalid credentials.retry '${retryText}'`);
    if (ms > 0) retry = ms;
  }
  return {
    kind: 'gemalto',
    endpoint,
    token,
    domain: text(c, 'domain', 'keystore.gemalto.keysecure.credentials.domain'),
    retry,
    ca: readCaField(src, f.get('tls')?.value ?? null, 'keystore.gemalto.keysecure.tls'),
  };
}

function readEntrust(src: ConfigSource, node: Node | null): EntrustStoreConfig {
  const top = src.fields(node, "'keystore.entrust'", ['keycontrol']);
  const kcNode = top.get('keycontrol')?.value ?? null;
  const f = src.fields(kcNode, "'keystore.entrust.keycontrol'", [
    'endpoint',
    'vault_id',
    'box_id',
    'credentials',
    'tls',
  ]);
  const text = (fields: Map<string, { value: Node | null }>, key: string, label: string): string =>
    src.text(fields.get(key)?.value ?? null, label).trim();
  const at = kcNode ?? node;
  const need = (value: string, what: string): string => {
    if (value === '')
      src.fail(at, `invalid entrust keycontrol keystore config: no ${what} specified`);
    return value;
  };
  const endpoint = need(text(f, 'endpoint', 'keystore.entrust.keycontrol.endpoint'), 'endpoint');
  const vaultId = need(text(f, 'vault_id', 'keystore.entrust.keycontrol.vault_id'), 'vault_id');
  const boxId = need(text(f, 'box_id', 'keystore.entrust.keycontrol.box_id'), 'box_id');
  const c = src.fields(
    f.get('credentials')?.value ?? null,
    "'keystore.entrust.keycontrol.credentials'",
    ['username', 'password'],
  );
  const username = need(text(c, 'username', 'credentials.username'), 'username');
  // The password is used as written (a leading or trailing space may be part of it).
  const password = src.text(c.get('password')?.value ?? null, 'credentials.password');
  need(password, 'password');
  return {
    kind: 'entrust',
    endpoint,
    vaultId,
    boxId,
    username,
    password,
    ca: readCaField(src, f.get('tls')?.value ?? null, 'keystore.entrust.keycontrol.tls'),
  };
}

/** `cache.expiry` of the config file, milliseconds; ≤ 0 disables that ticker. */
export interface CacheExpiry {
  readonly any: number;
  readonly unused: number;
  readonly offline: number;
}

/** What `keystore:` and `cache:` of a config file give a server (KES gateway mode). */
export interface GatewayConfig {
  readonly keystore: KeyStoreConfig;
  readonly cache: CacheExpiry;
  /** Milliseconds between offline probes (KES: 10 s). */
  readonly probeInterval?: number;
}
