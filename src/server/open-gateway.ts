// Start of a node in KES gateway mode: connect to the key store (refusing to start when it
// cannot be reached, as KES does), then the root identity and server certificate as usual.

import type { GatewayConfig } from '../config/keystore-config.ts';
import { messageOf } from '../keystore/keystore.ts';
import { openKeyStore } from '../keystore/open-keystore.ts';
import { EventLog } from '../observe/event-log.ts';
import { Gateway } from './gateway-owner.ts';
import { resolveRoot } from './root-identity.ts';
import type { Root } from './root-identity.ts';
import { loadServerCertificate } from './server-certificate.ts';
import type { LoadedCertificate } from './server-certificate.ts';
import type { ServerOptions } from './server-options.ts';

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
