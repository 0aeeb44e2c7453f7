// KES server routes: readiness, status, metrics, the route listing and the two log streams.
// (`/version` is served by the shared route of the KMS face; its JSON carries KES's fields.)

import { arch, availableParallelism, cpus, platform } from 'node:os';
import { KeyholdError } from '../../model/errors.ts';
import { VERSION } from '../../version.ts';
import { PROMETHEUS_TEXT, mergeKesCounts } from './kes-metrics.ts';
import { sendEmpty, sendJson } from './kes-request.ts';
import type { KesRequest, KesRouteSpec } from './kes-request.ts';

/** Status as kms-go's `State` decodes it (docs/protocol/kes.md). */
async function status(k: KesRequest): Promise<void> {
  k.env.core.authorizeKesPath(k.caller, k.enclave);
  // Keys live in the in-memory state: the "keystore" is always reachable; its latency is the
  // time of one state lookup, in nanoseconds (what kms-go reads; upstream sends milliseconds).
  let latency = k.env.core.keystoreLatency(k.enclave);
  // KES gateway mode: the external store's probe (kms-go needs `keystore_unavailable` beside
  // `keystore_unreachable`, or it fails to decode the answer).
  let store: Record<string, unknown> = {};
  if (k.env.core.gateway) {
    const health = await k.env.core.keyStoreHealth();
    latency = health.latencyMs * 1_000_000;
    if (health.unreachable) store = { keystore_unreachable: true, keystore_unavailable: true };
    else if (health.error !== undefined) store = { keystore_unavailable: true };
  }
  const memory = process.memoryUsage();
  sendJson(k.res, {
    version: VERSION,
    os: platform(),
    arch: goArch(arch()),
    uptime: Math.round((Date.now() - k.env.started.getTime()) / 1000),
    num_cpu: cpus().length,
    num_cpu_used: availableParallelism(),
    mem_heap_used: memory.heapUsed,
    mem_stack_used: 0,
    ...(latency > 0 ? { keystore_latency: latency } : {}),
    ...store,
  });
}

/** Node's architecture names as Go's GOARCH spells them. */
function goArch(name: string): string {
  return name === 'x64' ? 'amd64' : name === 'ia32' ? '386' : name;
}

/** The server routes. */
export function systemRoutes(): KesRouteSpec[] {
  const base = { auth: 'policy', metrics: false, timeout: 15, maxBody: 0 } as const;
  return [
    {
      ...base,
      method: 'GET',
      path: '/v1/ready',
      handle: async (k) => {
        k.env.core.authorizeKesPath(k.caller, k.enclave);
        if (k.env.core.gateway) {
          const health = await k.env.core.keyStoreHealth();
          if (health.unreachable)
            throw new KeyholdError('GATEWAY_TIMEOUT', 'key store is not reachable');
          if (health.error !== undefined)
            throw new KeyholdError('BAD_GATEWAY', 'key store is unavailable');
        }
        sendEmpty(k.res);
      },
    },
    { ...base, method: 'GET', path: '/v1/status', handle: status },
    {
      ...base,
      method: 'GET',
      path: '/v1/metrics',
      handle: async (k) => {
        k.env.core.authorizeKesPath(k.caller, null);
        const body = Buffer.from(k.env.metrics.exposition(mergeKesCounts(await k.env.allCounts())));
        k.res.writeHead(200, { 'Content-Type': PROMETHEUS_TEXT, 'Content-Length': body.length });
        k.res.end(body);
      },
    },
    {
      ...base,
      method: 'GET',
      path: '/v1/api',
      timeout: 10,
      handle: (k) => {
        k.env.core.authorizeKesPath(k.caller, k.enclave);
        sendJson(
          k.res,
          k.env.apiRoutes().map((route) => {
            const override = k.settings.api.get(route.path)?.timeout;
            return {
              method: route.method,
              path: route.path,
              max_body: route.maxBody,
              timeout: override === undefined ? route.timeout : Math.floor(override / 1000),
            };
          }),
        );
      },
    },
    {
      ...base,
      method: 'GET',
      path: '/v1/log/audit',
      timeout: 0,
      handle: (k) => {
        k.env.core.authorizeKesPath(k.caller, null);
        k.env.auditStream.attach(k.req, k.res);
      },
    },
    {
      ...base,
      method: 'GET',
      path: '/v1/log/error',
      timeout: 0,
      handle: (k) => {
        k.env.core.authorizeKesPath(k.caller, null);
        k.env.errorStream.attach(k.req, k.res);
      },
    },
  ];
}

/** `/version` as `/v1/api` lists it (the route itself is shared with the KMS face). */
export const VERSION_ROUTE: KesRouteSpec = {
  method: 'GET',
  path: '/version',
  maxBody: 0,
  timeout: 10,
  auth: 'none',
  metrics: false,
  handle: () => undefined,
};
