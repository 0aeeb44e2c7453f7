// One handler per KMS API command: turns decoded request messages into core calls and core
// results into response messages. No authorization here: the core decides.

import type { Caller } from '../../core/caller.ts';
import type { Core } from '../../core/core.ts';
import { nodeHost } from '../../core/cluster-control.ts';
import type { ClusterControl, ClusterView } from '../../core/cluster-control.ts';
import { KeyholdError } from '../../model/errors.ts';
import { PRIVILEGE_NUMBER } from '../../model/privilege.ts';
import type { KmsCommandName, RequestOf, ResponseOf } from '../../protocol/kms/index.ts';
import type { RuleSet } from '../../protocol/kms/pb/keyhold/kms/v1/rule.ts';
import type { IdentityRecord, KeyRing, PolicyRecord, RuleMap } from '../../state/entities.ts';
import { latestVersion } from '../../state/entities.ts';

/** What a handler may use besides the core. */
export interface HandlerContext {
  readonly core: Core;
  readonly caller: Caller;
  /** The enclave from the path ('' for cluster-level requests). */
  readonly enclave: string;
  /** Cluster membership (CLUSTER:STATUS, ADDNODE, REMOVENODE). */
  readonly cluster: ClusterControl;
}

type Handler<N extends KmsCommandName> = (
  ctx: HandlerContext,
  requests: RequestOf<N>[],
) => ResponseOf<N>[] | Promise<ResponseOf<N>[]>;

type HandlerTable = { [N in KmsCommandName]: Handler<N> };

const notYet = (what: string) => (): never => {
  throw new KeyholdError('NOT_IMPLEMENTED', `${what} is not supported by this server yet`);
};

/**
 * A cluster command this server does not serve: still SysAdmin only, so that a caller who may not
 * run it is refused (403) rather than told what the server lacks (deny by default).
 */
const clusterNotYet =
  (what: KmsCommandName) =>
  (ctx: HandlerContext): never => {
    ctx.core.authorizeCluster(ctx.caller, what);
    return notYet(what)();
  };

function duration(ms: number): { seconds: number; nanos: number } {
  const whole = Math.floor(ms / 1000);
  return { seconds: whole, nanos: Math.round((ms - whole * 1000) * 1e6) };
}

/** The wire form of a cluster view (docs/protocol/kms.md, ClusterStatusResponse). */
export function clusterStatusResponse(view: ClusterView): ResponseOf<'CLUSTER:STATUS'> {
  const nodesUp: ResponseOf<'CLUSTER:STATUS'>['nodesUp'] = {};
  for (const n of view.up) {
    nodesUp[n.id] = {
      version: n.version,
      apiVersion: n.apiVersion,
      host: n.host,
      uptime: duration(n.uptimeMs),
      role: n.role,
      commit: n.commit,
      nodes: Object.fromEntries(n.nodes),
      nodeId: n.id,
      leaderId: n.leaderId,
      lastHeartbeat: duration(n.sinceHeartbeatMs),
      heartbeatInterval: duration(n.heartbeatIntervalMs),
      electionTimeout: duration(n.electionTimeoutMs),
      os: n.os,
      arch: n.arch,
      cpus: n.cpus,
      usableCpus: n.usableCpus,
      heapMemInUse: n.heapBytes,
      stackMemInUse: n.stackBytes,
      hsms: [...n.hsms],
      configuredHsms: [...n.configuredHsms],
    };
  }
  return { nodesUp, nodesDown: Object.fromEntries(view.down) };
}

/** Runs writes one after another: each is a single frame (kms-go never batches writes). */
async function each<T>(requests: T[], write: (request: T) => Promise<void>): Promise<never[]> {
  for (const request of requests) await write(request);
  return [];
}

export const HANDLERS: HandlerTable = {
  'CLUSTER:ADDNODE': (ctx, requests) => {
    ctx.core.authorizeCluster(ctx.caller, 'CLUSTER:ADDNODE');
    return each(requests, (r) => ctx.cluster.addNode(nodeHost(r.host)));
  },
  'CLUSTER:REMOVENODE': (ctx, requests) => {
    ctx.core.authorizeCluster(ctx.caller, 'CLUSTER:REMOVENODE');
    return each(requests, (r) =>
      ctx.cluster.removeNode(nodeHost(r.host), { deleteClusterOnHost: r.deleteClusterOnHost }),
    );
  },
  'CLUSTER:EDIT': clusterNotYet('CLUSTER:EDIT'),
  'CLUSTER:ADDHSM': clusterNotYet('CLUSTER:ADDHSM'),
  'CLUSTER:REMOVEHSM': clusterNotYet('CLUSTER:REMOVEHSM'),
  'KEY:LISTVERSIONS': notYet('KEY:LISTVERSIONS'),
  'CLUSTER:STATUS': async (ctx) => {
    ctx.core.authorizeCluster(ctx.caller, 'CLUSTER:STATUS');
    return [clusterStatusResponse(await ctx.cluster.status())];
  },

  'ENCLAVE:CREATE': (ctx, requests) =>
    each(requests, (r) => ctx.core.createEnclave(ctx.caller, r.name)),
  'ENCLAVE:DELETE': (ctx, requests) =>
    each(requests, (r) => ctx.core.deleteEnclave(ctx.caller, r.name)),
  'ENCLAVE:STATUS': (ctx, requests) =>
    requests.map((r) => {
      const e = ctx.core.enclaveStatus(ctx.caller, r.name);
      return { name: e.name, createdAt: e.createdAt, createdBy: e.createdBy };
    }),
  'ENCLAVE:LIST': (ctx, [r]) => {
    const page = ctx.core.listEnclaves(ctx.caller, r!);
    return [
      {
        enclaves: page.items.map((e) => ({
          name: e.name,
          createdAt: e.createdAt,
          createdBy: e.createdBy,
        })),
        continueAt: page.continueAt,
      },
    ];
  },

  'KEY:CREATE': (ctx, requests) =>
    each(requests, (r) => ctx.core.createKey(ctx.caller, ctx.enclave, r)),
  'KEY:IMPORT': (ctx, requests) =>
    each(requests, (r) => ctx.core.importKey(ctx.caller, ctx.enclave, r)),
  'KEY:DELETE': (ctx, requests) =>
    each(requests, (r) => ctx.core.deleteKey(ctx.caller, ctx.enclave, r)),
  'KEY:STATUS': (ctx, requests) =>
    withKeys(ctx, requests, 'KEY:STATUS', (r) => {
      const { ring, version } = ctx.core.keyStatus(ctx.caller, ctx.enclave, r);
      return {
        name: ring.name,
        version: version.version,
        type: version.type,
        createdAt: version.createdAt,
        createdBy: version.createdBy,
      };
    }),
  'KEY:LIST': async (ctx, [r]) => {
    const page = await ctx.core.listKeyRings(ctx.caller, ctx.enclave, r!);
    return [{ keys: page.items.map(keyStatus), continueAt: page.continueAt }];
  },
  'KEY:ENCRYPT': (ctx, requests) =>
    withKeys(ctx, requests, 'KEY:ENCRYPT', (r) => ctx.core.encrypt(ctx.caller, ctx.enclave, r)),
  'KEY:DECRYPT': (ctx, requests) =>
    withKeys(ctx, requests, 'KEY:DECRYPT', (r) => ({
      plaintext: ctx.core.decrypt(ctx.caller, ctx.enclave, r),
    })),
  'KEY:GENERATE': (ctx, requests) =>
    withKeys(ctx, requests, 'KEY:GENERATE', (r) => ctx.core.generate(ctx.caller, ctx.enclave, r)),
  'KEY:MAC': (ctx, requests) =>
    withKeys(ctx, requests, 'KEY:MAC', (r) => ctx.core.mac(ctx.caller, ctx.enclave, r)),

  'POLICY:CREATE': (ctx, requests) =>
    each(requests, (r) =>
      ctx.core.createPolicy(ctx.caller, ctx.enclave, {
        name: r.name,
        allow: toRuleMap(r.allow),
        deny: toRuleMap(r.deny),
      }),
    ),
  'POLICY:DELETE': (ctx, requests) =>
    each(requests, (r) => ctx.core.deletePolicy(ctx.caller, ctx.enclave, r.name)),
  'POLICY:ASSIGN': (ctx, requests) =>
    each(requests, (r) => ctx.core.assignPolicy(ctx.caller, ctx.enclave, r)),
  'POLICY:GET': (ctx, requests) =>
    requests.map((r) => {
      const p = ctx.core.policy(ctx.caller, ctx.enclave, r.name, 'POLICY:GET');
      return { ...policyStatus(p), allow: fromRuleMap(p.allow), deny: fromRuleMap(p.deny) };
    }),
  'POLICY:STATUS': (ctx, requests) =>
    requests.map((r) =>
      policyStatus(ctx.core.policy(ctx.caller, ctx.enclave, r.name, 'POLICY:STATUS')),
    ),
  'POLICY:LIST': (ctx, [r]) => {
    const page = ctx.core.listPolicies(ctx.caller, ctx.enclave, r!);
    return [{ policies: page.items.map(policyStatus), continueAt: page.continueAt }];
  },

  'IDENTITY:CREATE': (ctx, requests) =>
    each(requests, (r) => ctx.core.createIdentity(ctx.caller, ctx.enclave, r)),
  'IDENTITY:DELETE': (ctx, requests) =>
    each(requests, (r) => ctx.core.deleteIdentity(ctx.caller, ctx.enclave, r.identity)),
  'IDENTITY:STATUS': (ctx, requests) =>
    requests.map((r) =>
      identityResponse(ctx.core, ctx.core.identity(ctx.caller, ctx.enclave, r.identity)),
    ),
  'IDENTITY:LIST': (ctx, [r]) => {
    const page = ctx.core.listIdentities(ctx.caller, ctx.enclave, r!);
    return [
      {
        identities: page.items.map((i) => identityResponse(ctx.core, i)),
        continueAt: page.continueAt,
      },
    ];
  },
};

/**
 * Runs `op` on every request. In KES gateway mode the requests' keys are fetched from the
 * external store first (the core's key operations are synchronous); otherwise it runs at once.
 */
function withKeys<T extends { name: string }, R>(
  ctx: HandlerContext,
  requests: T[],
  command: string,
  op: (request: T) => R,
): R[] | Promise<R[]> {
  if (!ctx.core.gateway) return requests.map(op);
  return (async () => {
    for (const r of requests) await ctx.core.loadKey(ctx.caller, ctx.enclave, r.name, command);
    return requests.map(op);
  })();
}

function keyStatus(ring: KeyRing): ResponseOf<'KEY:STATUS'> {
  const v = latestVersion(ring);
  return {
    name: ring.name,
    version: v.version,
    type: v.type,
    createdAt: v.createdAt,
    createdBy: v.createdBy,
  };
}

function policyStatus(p: PolicyRecord): ResponseOf<'POLICY:STATUS'> {
  return { name: p.name, createdAt: p.createdAt, createdBy: p.createdBy };
}

function identityResponse(core: Core, i: IdentityRecord): ResponseOf<'IDENTITY:STATUS'> {
  return {
    identity: i.identity,
    privilege: PRIVILEGE_NUMBER[i.privilege],
    policy: i.policy,
    createdAt: i.createdAt,
    createdBy: i.createdBy,
    isServiceAccount: i.parent !== '',
    serviceAccounts: core.serviceAccountsOf(i),
    tags: i.tags,
  };
}

function toRuleMap(sets: Record<string, RuleSet>): RuleMap {
  const out: RuleMap = {};
  for (const [command, set] of Object.entries(sets)) {
    const patterns = Object.keys(set.rules).filter((p) => p !== '');
    if (patterns.length > 0) out[command.toUpperCase()] = patterns.sort();
  }
  return out;
}

function fromRuleMap(rules: RuleMap): Record<string, RuleSet> {
  const out: Record<string, RuleSet> = {};
  for (const [command, patterns] of Object.entries(rules)) {
    out[command] = { rules: Object.fromEntries(patterns.map((p) => [p, {}])) };
  }
  return out;
}
