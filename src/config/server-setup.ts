// From a config file to a running server's options, and back again on SIGHUP: the parts a
// reload may change (KES policies and settings, TLS material, log levels) are Reloadables the
// server reads per request or subscribes to; the rest needs a restart and is reported as such.

import cluster from 'node:cluster';
import { readFile } from 'node:fs/promises';
import { HsmKey } from '../crypto/index.ts';
import { ConfigError } from './config-source.ts';
import { kesSettings } from './kes-settings.ts';
import type { KesSettings } from './kes-settings.ts';
import { Reloadable } from './reloadable.ts';
import { loadServerConfig } from './server-config.ts';
import type { ServerConfig } from './server-config.ts';
import { loadTlsMaterial } from './tls-material.ts';
import type { GatewayConfig } from './keystore-config.ts';
import type { TlsMaterial } from './tls-material.ts';

/**
 * Where the configuration's messages go: the server's event log (src/observe/event-log.ts), which
 * the caller makes, so that configuration depends on no part of the server.
 */
export interface ConfigLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The server options a config file decides (the command line may still override some). */
export interface ConfiguredOptions<L extends ConfigLog = ConfigLog> {
  readonly dir?: string;
  readonly address?: string;
  readonly hsmKey?: HsmKey;
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly adminIdentity: string;
  readonly defaultEnclave?: string;
  readonly auditFile?: string;
  readonly kes: Reloadable<KesSettings>;
  readonly tlsConfig?: Reloadable<TlsMaterial>;
  readonly log: L;
  /** A `keystore:` section: KES gateway mode over that store. */
  readonly gateway?: GatewayConfig;
}

export interface ConfiguredServer<L extends ConfigLog = ConfigLog> {
  readonly config: ServerConfig;
  readonly options: ConfiguredOptions<L>;
  /** Re-reads the file and applies what can change at run time; never throws (logs instead). */
  reload(): Promise<void>;
}

/** The KES face settings a config file gives. */
export function kesSettingsOf(config: ServerConfig): KesSettings {
  return kesSettings({
    policies: config.policies,
    api: config.api,
    errorLevel: config.log.error,
    auditLevel: config.log.audit,
    verifyClientCertificates: config.tls?.verifyClients ?? false,
    listingFormat:
      config.keyhold.ndjsonListings === undefined
        ? 'auto'
        : config.keyhold.ndjsonListings
          ? 'ndjson'
          : 'json',
    adminLabel: config.admin,
    keys: config.keys,
  });
}

/**
 * Loads `file` and builds the options it decides. `openLog` makes the log, given the error level
 * the config file sets now and after each reload (a line below it is not printed). Warnings go to
 * that log (and so to stderr, once: worker processes load the same file quietly).
 */
export async function configureServer<L extends ConfigLog>(
  file: string,
  openLog: (errorLevel: () => number) => L,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<ConfiguredServer<L>> {
  let config = await loadServerConfig(file, env);
  let errorLevel = config.log.error;
  const log = openLog(() => errorLevel);
  if (!cluster.isWorker) for (const warning of config.warnings) log.warn(warning);
  const hsmKey = config.keyhold.hsmKey ?? (await readHsmKeyFile(config));
  const kes = new Reloadable(kesSettingsOf(config));
  const tlsConfig = config.tls ? new Reloadable(await loadTlsMaterial(config.tls)) : undefined;
  const options: ConfiguredOptions<L> = {
    ...(config.keyhold.state === undefined ? {} : { dir: config.keyhold.state }),
    ...(config.address === undefined ? {} : { address: config.address }),
    ...(hsmKey ? { hsmKey } : {}),
    ...(config.tls ? { tls: { cert: config.tls.cert, key: config.tls.key } } : {}),
    adminIdentity: config.adminIdentity,
    ...(config.keyhold.enclave === undefined ? {} : { defaultEnclave: config.keyhold.enclave }),
    ...(config.keyhold.auditLog === undefined ? {} : { auditFile: config.keyhold.auditLog }),
    kes,
    ...(tlsConfig ? { tlsConfig } : {}),
    log,
    ...(config.keystore
      ? {
          gateway: {
            keystore: config.keystore,
            cache: config.cache,
            ...(config.keyhold.keystoreProbeInterval === undefined
              ? {}
              : { probeInterval: config.keyhold.keystoreProbeInterval }),
          },
        }
      : {}),
  };

  const reload = async (): Promise<void> => {
    try {
      const next = await loadServerConfig(file, env);
      const material = next.tls ? await loadTlsMaterial(next.tls) : undefined;
      for (const warning of next.warnings) if (!cluster.isWorker) log.warn(warning);
      for (const change of restartOnly(config, next)) {
        if (!cluster.isWorker) log.warn(`${file}: ${change} changed: takes effect after a restart`);
      }
      errorLevel = next.log.error;
      kes.set(kesSettingsOf(next));
      if (material && tlsConfig) tlsConfig.set(material);
      config = next;
      if (!cluster.isWorker) log.info(`${file}: configuration reloaded`);
    } catch (error) {
      const message = error instanceof ConfigError ? error.message : String(error);
      log.error(`reload failed, keeping the previous configuration: ${message}`);
    }
  };
  return { config, options, reload };
}

/**
 * Reloads on SIGHUP. In the primary of a worker pool the signal is passed on to every worker,
 * each of which reloads its own copy of the file. Returns the function that stops listening.
 */
export function reloadOnSighup(reload: () => Promise<void>): () => void {
  const onSignal = (): void => {
    if (cluster.isPrimary) {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
    }
    void reload();
  };
  process.on('SIGHUP', onSignal);
  return () => process.off('SIGHUP', onSignal);
}

async function readHsmKeyFile(config: ServerConfig): Promise<HsmKey | undefined> {
  const path = config.keyhold.hsmKeyFile;
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `${config.file}: cannot read keyhold.hsm_key_file '${path}': ${(error as Error).message}`,
    );
  }
  try {
    return HsmKey.parse(text.trim());
  } catch (error) {
    throw new ConfigError(
      `${config.file}: invalid HSM key in '${path}': ${(error as Error).message}`,
    );
  }
}

/** What differs between two configs that a reload cannot apply. */
function restartOnly(before: ServerConfig, after: ServerConfig): string[] {
  const out: string[] = [];
  if (before.address !== after.address) out.push('address');
  if (before.adminIdentity !== after.adminIdentity) out.push('admin.identity');
  if ((before.tls === undefined) !== (after.tls === undefined)) out.push('tls (added or removed)');
  if (JSON.stringify(before.keystore) !== JSON.stringify(after.keystore)) out.push('keystore');
  if (JSON.stringify(before.cache) !== JSON.stringify(after.cache)) out.push('cache');
  const a = before.keyhold;
  const b = after.keyhold;
  if (a.state !== b.state) out.push('keyhold.state');
  if (a.enclave !== b.enclave) out.push('keyhold.enclave');
  if (a.auditLog !== b.auditLog) out.push('keyhold.audit_log');
  if (a.keystoreProbeInterval !== b.keystoreProbeInterval) {
    out.push('keyhold.keystore_probe_interval');
  }
  if (clusterValues(a.cluster) !== clusterValues(b.cluster)) out.push('keyhold.cluster');
  if (a.hsmKeyFile !== b.hsmKeyFile || (a.hsmKey === undefined) !== (b.hsmKey === undefined)) {
    out.push('the HSM key');
  }
  return out;
}

/** The values of a cluster section, without their positions in the file. */
function clusterValues(section: ServerConfig['keyhold']['cluster']): string {
  if (section === undefined) return '';
  const values: [string, unknown][] = [];
  for (const [field, sourced] of Object.entries(section) as [string, { value: unknown }][]) {
    values.push([field, sourced.value]);
  }
  return JSON.stringify(values);
}
