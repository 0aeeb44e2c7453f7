// The start of a cluster node's process: the root identity, the cluster replica and the server
// certificate — what `openOwnedNode` does for a single node (local-owner.ts).

import { mkdir } from 'node:fs/promises';
import type { EtcdOptions } from '../cluster/etcd-client.ts';
import type { Replicas } from '../cluster/cluster-node.ts';
import { EventLog } from '../observe/event-log.ts';
import { ClusterOwner } from './cluster-owner.ts';
import { resolveRoot } from './root-identity.ts';
import type { Root } from './root-identity.ts';
import { loadServerCertificate } from './server-certificate.ts';
import type { LoadedCertificate } from './server-certificate.ts';
import type { ServerOptions } from './server-options.ts';

export async function openClusterNode(
  options: ServerOptions,
  etcd: EtcdOptions,
  replicas?: Replicas,
): Promise<{ log: EventLog; root: Root; owner: ClusterOwner; certificate: LoadedCertificate }> {
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  const log = options.log ?? new EventLog();
  const root = resolveRoot(options.hsmKey, options.adminIdentity);
  const owner = await ClusterOwner.open({
    dir: options.dir,
    hsmKey: options.hsmKey,
    etcd,
    log,
    defaultEnclave: options.defaultEnclave ?? 'default',
    rootIdentity: root.identity,
    ...(options.clusterTiming ? { node: options.clusterTiming } : {}),
    ...(replicas ? { replicas } : {}),
  });
  try {
    const certificate = await loadServerCertificate(options.dir, options.tls, options.publicHost);
    return { log, root, owner, certificate };
  } catch (error) {
    await owner.close().catch(() => undefined);
    throw error;
  }
}
