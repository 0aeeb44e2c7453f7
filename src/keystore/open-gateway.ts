// Start of a node in KES gateway mode: connect to the key store (refusing to start when it
// cannot be reached, as KES does), then the root identity and server certificate as usual.

import type { CacheExpiry } from './key-cache.ts';
import type { KeyStoreConfig } from './keystore-config.ts';
import { EventLog } from '../server/event-log.ts';
import type { ServerOptions } from '../server/keyhold-server.ts';
import { resolveRoot } from '../server/root-identity.ts';
import type { Root } from '../server/root-identity.ts';
import { loadServerCertificate } from '../server/server-certificate.ts';
import type { LoadedCertificate } from '../server/server-certificate.ts';
import { Gateway } from './gateway.ts';
import { messageOf } from './keystore.ts';
import { openKeyStore } from './open-keystore.ts';

/** What `keystore:` and `cache:` of a config file give a server. */
export interface GatewayConfig {
  readonly keystore: KeyStoreConfig;
  readonly cache: CacheExpiry;
  /** Milliseconds between offline probes (KES: 10 s). */
  readonly probeInterval?: number;
}

export interface GatewayNode {
  readonly log: EventLog;
  readonly root: Root;
  readonly owner: Gateway;
  readonly certificate: LoadedCertificate;
}

export async function openGatewayNode(
  options: ServerOptions,
  config: GatewayConfig,
): Promise<GatewayNode> {
  const log = options.log ?? new EventLog();
  const root = resolveRoot(options.hsmKey, options.adminIdentity);
  const store = await openKeyStore(config.keystore, {
    onError: (message) => log.error(message),
  }).catch((error: unknown) => {
    throw new Error(`cannot connect to the key store: ${messageOf(error)}`, { cause: error });
  });
  try {
    await store.status();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw new Error(`key store ${store.description} is not usable: ${messageOf(error)}`, {
      cause: error,
    });
  }
  const owner = new Gateway({
    store,
    cache: config.cache,
    enclave: options.defaultEnclave ?? 'default',
    rootIdentity: root.identity,
    log,
    ...(config.probeInterval === undefined ? {} : { probeInterval: config.probeInterval }),
  });
  try {
    const certificate = await loadServerCertificate(options.dir, options.tls, options.publicHost);
    log.info(`KES gateway mode: keys in ${store.description}`);
    return { log, root, owner, certificate };
  } catch (error) {
    await owner.close().catch(() => undefined);
    throw error;
  }
}
