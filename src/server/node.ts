// Starting a Keyhold node: one process (`workers: 0`), or a primary that owns the state plus
// `workers` processes serving requests (node:cluster). The same entry runs in every process.

import cluster from 'node:cluster';
import { KeyholdServer } from './keyhold-server.ts';
import type { ServerOptions } from './server-options.ts';
import type { Root } from './root-identity.ts';
import type { CertificateFiles } from './server-certificate.ts';
import { Primary } from './workers/primary.ts';
import { runWorker } from './workers/worker.ts';

/** What the starting process learns about the node it started (for the banner). */
export interface RunningNode {
  readonly address: string;
  readonly root: Root;
  readonly certificateFiles: CertificateFiles;
  readonly certificateCreated: boolean;
  readonly workers: number;
  close(): Promise<void>;
}

/**
 * Starts the node. In a worker process this serves until shutdown and then resolves null; in the
 * primary (or the single process) it resolves once the node listens.
 */
export async function startNode(
  options: ServerOptions,
  workers: number,
): Promise<RunningNode | null> {
  if (cluster.isWorker) {
    await runWorker(options);
    return null;
  }
  // A KES gateway is stateless over its key store: one process (its cache is per process).
  if (workers === 0 || options.gateway) {
    const server = await KeyholdServer.start(options);
    return {
      address: server.address,
      root: { apiKey: server.rootApiKey, identity: server.rootIdentity },
      certificateFiles: server.certificateFiles,
      certificateCreated: server.certificateCreated,
      workers: 0,
      close: () => server.close(),
    };
  }
  const primary = await Primary.start(options, workers);
  primary.log.info(`serving with ${workers} worker processes`);
  return {
    address: primary.address,
    root: primary.root,
    certificateFiles: primary.certificate.files,
    certificateCreated: primary.certificate.created,
    workers,
    close: () => primary.close(),
  };
}
