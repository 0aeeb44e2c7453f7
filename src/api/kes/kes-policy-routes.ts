// KES policy routes: describe, read and list (current era), and the legacy runtime calls of the
// old `kes policy` command (write, assign, delete). Unlike KES, where runtime policies were
// ephemeral, here they are stored commands: persistent and replicated like every other write.

import { KES_RULE_KEYS, goPathMatch, isValidGlob } from '../../core/kes-path.ts';
import { InvalidIdentityError, parseIdentity } from '../../identity/index.ts';
import { KeyholdError, badRequest } from '../../model/errors.ts';
import type { RuleMap } from '../../state/entities.ts';
import { InvalidBodyError, decodeStruct, goTime, parseFirstJsonValue } from './go-json.ts';
import { hexIdentity } from './kes-log-stream.ts';
import {
  patternObject,
  staticPolicy,
  staticPolicyOfIdentity,
  staticView,
  storedView,
} from './kes-policy-views.ts';
import type { KesPolicyView } from './kes-policy-views.ts';
import {
  authorizeOp,
  checkIdentityName,
  checkPolicyName,
  invalidPattern,
  listingPrefix,
  sendEmpty,
  sendJson,
  sendNdjson,
  wantsNdjson,
} from './kes-request.ts';
import type { KesRequest, KesRouteSpec } from './kes-request.ts';

/** The policy `name` of the request's enclave: config file first, then the stored ones. */
function policyView(k: KesRequest, name: string, command: string): KesPolicyView {
  const fromConfig = staticPolicy(k, name);
  if (fromConfig) return staticView(k, fromConfig);
  return storedView(k.env.core.policy(k.caller, k.enclave, name, command));
}

function created(view: KesPolicyView): { created_at: string; created_by?: string } {
  const by = hexIdentity(view.createdBy);
  return by === ''
    ? { created_at: goTime(view.createdAt) }
    : { created_at: goTime(view.createdAt), created_by: by };
}

/** Every policy of the enclave whose name satisfies `accept`, sorted, config-file ones included. */
function allPolicies(
  k: KesRequest,
  prefix: string,
  accept: (name: string) => boolean,
): KesPolicyView[] {
  const views = new Map<string, KesPolicyView>();
  let continueAt = '';
  do {
    const page = k.env.core.listPolicies(k.caller, k.enclave, { prefix, continueAt, limit: 0 });
    for (const policy of page.items) {
      if (accept(policy.name)) views.set(policy.name, storedView(policy));
    }
    continueAt = page.continueAt;
  } while (continueAt !== '');
  if (k.enclave === k.env.defaultEnclave) {
    for (const policy of k.settings.policies.values()) {
      if (policy.name.startsWith(prefix) && accept(policy.name)) {
        views.set(policy.name, staticView(k, policy));
      }
    }
  }
  return [...views.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function listPolicies(k: KesRequest): void {
  const pattern = k.resource;
  const prefix = listingPrefix(pattern);
  const ndjson = wantsNdjson(k);
  if (prefix === undefined && !(ndjson && pattern.length <= 80 && isValidGlob(pattern))) {
    throw invalidPattern(pattern);
  }
  const views =
    prefix !== undefined
      ? allPolicies(k, prefix, () => true)
      : allPolicies(k, '', (name) => goPathMatch(pattern, name));
  if (ndjson) {
    sendNdjson(
      k.res,
      views.map((v) => ({ name: v.name, ...created(v) })),
    );
    return;
  }
  sendJson(k.res, { names: views.map((v) => v.name), continue_at: '' });
}

/** Reads a legacy pattern list: an array of strings, or (as current reads write it) an object. */
function patternList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  if (typeof value === 'object' && !Array.isArray(value)) return Object.keys(value);
  throw new InvalidBodyError('expected a list of patterns');
}

async function writePolicy(k: KesRequest): Promise<void> {
  const name = k.resource;
  // Name and permission were checked before the body was read (the route's guard).
  if (staticPolicy(k, name)) throw badRequest(`policy '${name}' is defined in the config file`);
  let allow: string[];
  let deny: string[];
  try {
    const body = decodeStruct(parseFirstJsonValue(k.body), { allow: 'ignore', deny: 'ignore' });
    allow = patternList(body.allow);
    deny = patternList(body.deny);
  } catch (error) {
    if (error instanceof InvalidBodyError) throw badRequest('invalid request body');
    throw error;
  }
  // Runtime policies come from the legacy era and keep its path.Match semantics.
  const rules = (patterns: string[]): RuleMap =>
    patterns.length === 0 ? {} : { [KES_RULE_KEYS.glob]: patterns };
  await k.env.core.createPolicy(k.caller, k.enclave, {
    name,
    allow: rules(allow),
    deny: rules(deny),
  });
  sendEmpty(k.res);
}

async function assignPolicy(k: KesRequest): Promise<void> {
  const policy = k.resource;
  // Name and permission were checked before the body was read (the route's guard).
  let identity: string;
  try {
    identity = decodeStruct(parseFirstJsonValue(k.body), { identity: 'string' }).identity ?? '';
  } catch (error) {
    if (error instanceof InvalidBodyError) throw badRequest('invalid request body');
    throw error;
  }
  checkIdentityName(identity);
  if (staticPolicy(k, policy)) {
    throw badRequest(`policy '${policy}' is defined in the config file`);
  }
  if (staticPolicyOfIdentity(k, identity)) {
    throw badRequest(`identity '${identity}' has a policy in the config file`);
  }
  let h1: string;
  try {
    h1 = parseIdentity(identity).toH1();
  } catch (error) {
    // Its message never repeats the text: what is not an identity may be a secret.
    if (error instanceof InvalidIdentityError) throw badRequest(error.message);
    throw error;
  }
  if (h1 === k.caller.rootIdentity) throw badRequest('the admin identity cannot have a policy');
  const request = { identity: h1, policy };
  try {
    await k.env.core.assignPolicy(k.caller, k.enclave, request);
  } catch (error) {
    if (!(error instanceof KeyholdError) || error.code !== 'IDENTITY_NOT_FOUND') throw error;
    // KES bound a policy to any identity; here the identity is created (as a User) first.
    await k.env.core.createIdentity(k.caller, k.enclave, {
      identity: h1,
      privilege: 'User',
      isServiceAccount: false,
      tags: {},
    });
    await k.env.core.assignPolicy(k.caller, k.enclave, request);
  }
  sendEmpty(k.res);
}

async function deletePolicy(k: KesRequest): Promise<void> {
  const name = k.resource;
  checkPolicyName(name);
  authorizeOp(k, 'POLICY:DELETE', name);
  if (staticPolicy(k, name)) throw badRequest(`policy '${name}' is defined in the config file`);
  await k.env.core.deletePolicy(k.caller, k.enclave, name);
  sendEmpty(k.res);
}

/** The policy routes of both eras. */
export function policyRoutes(): KesRouteSpec[] {
  const base = { auth: 'policy', metrics: true, timeout: 15, maxBody: 0 } as const;
  return [
    {
      ...base,
      method: 'GET',
      path: '/v1/policy/describe/',
      handle: (k) => {
        checkPolicyName(k.resource);
        authorizeOp(k, 'POLICY:STATUS', k.resource);
        const view = policyView(k, k.resource, 'POLICY:STATUS');
        sendJson(k.res, { name: view.name, ...created(view) });
      },
    },
    {
      ...base,
      method: 'GET',
      path: '/v1/policy/read/',
      handle: (k) => {
        checkPolicyName(k.resource);
        authorizeOp(k, 'POLICY:GET', k.resource);
        const view = policyView(k, k.resource, 'POLICY:GET');
        sendJson(k.res, {
          name: view.name,
          ...(view.allow.length > 0 ? { allow: patternObject(view.allow) } : {}),
          ...(view.deny.length > 0 ? { deny: patternObject(view.deny) } : {}),
          ...created(view),
        });
      },
    },
    {
      ...base,
      method: 'GET',
      path: '/v1/policy/list/',
      aliases: ['/v1/policy/list'],
      handle: listPolicies,
    },
    {
      ...base,
      method: 'POST',
      path: '/v1/policy/write/',
      maxBody: 1_000_000,
      legacy: true,
      guard: { check: checkPolicyName, command: 'POLICY:CREATE' },
      handle: writePolicy,
    },
    {
      ...base,
      method: 'POST',
      path: '/v1/policy/assign/',
      maxBody: 1_000_000,
      legacy: true,
      guard: { check: checkPolicyName, command: 'POLICY:ASSIGN' },
      handle: assignPolicy,
    },
    { ...base, method: 'DELETE', path: '/v1/policy/delete/', legacy: true, handle: deletePolicy },
  ];
}
