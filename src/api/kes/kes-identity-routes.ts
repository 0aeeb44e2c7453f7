// KES identity routes: describe, list, self-describe (current era) and the legacy delete.
// Identities travel as KES hex and are stored as `h1:`; the admin and config-file identities
// are listed alongside the stored identities of the request's enclave.

import { goPathMatch, isValidGlob } from '../../core/kes-path.ts';
import { parseIdentity } from '../../identity/index.ts';
import { KeyholdError, badRequest } from '../../model/errors.ts';
import type { IdentityRecord } from '../../state/entities.ts';
import { goTime } from './go-json.ts';
import { hexIdentity } from './kes-log-stream.ts';
import {
  patternObject,
  staticPolicyOfIdentity,
  staticView,
  storedView,
} from './kes-policy-views.ts';
import {
  authorizeOp,
  checkIdentityName,
  invalidPattern,
  listingPrefix,
  sendEmpty,
  sendJson,
  sendNdjson,
  wantsNdjson,
} from './kes-request.ts';
import type { KesRequest, KesRouteSpec } from './kes-request.ts';

/** The `h1:` form of a hex identity, or the text itself when it is not one (then never found). */
function h1Of(identity: string): string {
  try {
    return parseIdentity(identity).toH1();
  } catch {
    return identity;
  }
}

/** The `h1:` form of a stored identity named in hex; IDENTITY_NOT_FOUND for any other name. */
function storedIdentity(identity: string): string {
  try {
    return parseIdentity(identity).toH1();
  } catch {
    throw new KeyholdError('IDENTITY_NOT_FOUND');
  }
}

/** One identity as KES describes it. */
interface IdentityView {
  readonly identity: string;
  readonly admin: boolean;
  readonly policy: string;
  readonly createdAt: Date;
  readonly createdBy: string;
}

function describeJson(view: IdentityView): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (view.admin) out.admin = true;
  if (view.policy !== '') out.policy = view.policy;
  out.created_at = goTime(view.createdAt);
  const by = hexIdentity(view.createdBy);
  if (by !== '') out.created_by = by;
  return out;
}

function recordView(record: IdentityRecord): IdentityView {
  return {
    identity: hexIdentity(record.identity),
    admin: record.privilege !== 'User',
    policy: record.privilege === 'User' ? record.policy : '',
    createdAt: record.createdAt,
    createdBy: record.createdBy,
  };
}

function adminView(k: KesRequest, hex: string): IdentityView {
  return { identity: hex, admin: true, policy: '', createdAt: k.env.started, createdBy: '' };
}

function staticIdentityView(k: KesRequest, hex: string, policy: string): IdentityView {
  return {
    identity: hex,
    admin: false,
    policy,
    createdAt: k.env.started,
    createdBy: k.env.adminHex() || k.settings.adminLabel,
  };
}

function describe(k: KesRequest): void {
  const identity = k.resource;
  checkIdentityName(identity);
  authorizeOp(k, 'IDENTITY:STATUS', h1Of(identity));
  if (identity === k.env.adminHex()) {
    sendJson(k.res, describeJson(adminView(k, identity)));
    return;
  }
  const fromConfig = staticPolicyOfIdentity(k, identity);
  if (fromConfig) {
    sendJson(k.res, describeJson(staticIdentityView(k, identity, fromConfig.name)));
    return;
  }
  const record = k.env.core.identity(k.caller, k.enclave, storedIdentity(identity));
  sendJson(k.res, describeJson(recordView(record)));
}

/** Every identity visible in the request's enclave whose hex satisfies `accept`, sorted. */
function allIdentities(k: KesRequest, accept: (hex: string) => boolean): IdentityView[] {
  const views = new Map<string, IdentityView>();
  let continueAt = '';
  do {
    const page = k.env.core.listIdentities(k.caller, k.enclave, {
      prefix: '',
      continueAt,
      limit: 0,
    });
    for (const record of page.items) {
      const view = recordView(record);
      if (accept(view.identity)) views.set(view.identity, view);
    }
    continueAt = page.continueAt;
  } while (continueAt !== '');
  if (k.enclave === k.env.defaultEnclave) {
    for (const [hex, policy] of k.settings.identities) {
      if (accept(hex)) views.set(hex, staticIdentityView(k, hex, policy));
    }
  }
  const admin = k.env.adminHex();
  if (admin !== '' && accept(admin)) views.set(admin, adminView(k, admin));
  return [...views.values()].sort((a, b) =>
    a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0,
  );
}

function list(k: KesRequest): void {
  const pattern = k.resource;
  const prefix = listingPrefix(pattern);
  const ndjson = wantsNdjson(k);
  if (prefix === undefined && !(ndjson && pattern.length <= 80 && isValidGlob(pattern))) {
    throw invalidPattern(pattern);
  }
  // Authorize first even for an empty enclave (listIdentities only runs per page).
  authorizeOp(k, 'IDENTITY:LIST', prefix ?? '');
  const views = allIdentities(k, (hex) =>
    prefix !== undefined ? hex.startsWith(prefix) : goPathMatch(pattern, hex),
  );
  if (ndjson) {
    sendNdjson(
      k.res,
      views.map((v) => ({ identity: v.identity, ...describeJson(v) })),
    );
    return;
  }
  sendJson(k.res, { identities: views.map((v) => v.identity), continue_at: '' });
}

function describeSelfRoute(k: KesRequest): void {
  const hex = k.identityHex;
  if (hex === '') throw new KeyholdError('IDENTITY_NOT_FOUND');
  const self = k.env.core.describeSelf(k.caller, k.enclave);
  if (self.kind === 'admin') {
    const created = self.record?.createdAt ?? k.env.started;
    sendJson(k.res, { identity: hex, admin: true, created_at: goTime(created) });
    return;
  }
  // kms-go's DescribeSelf shape: flat fields, `policy` is the policy's name.
  const configPolicy = k.settings.identities.get(hex);
  const fromConfig = configPolicy === undefined ? undefined : k.settings.policies.get(configPolicy);
  const view =
    self.kind === 'user'
      ? self.policy
        ? storedView(self.policy)
        : undefined
      : fromConfig
        ? staticView(k, fromConfig)
        : undefined;
  if (self.kind === 'unknown' && !fromConfig) throw new KeyholdError('IDENTITY_NOT_FOUND');
  const out: Record<string, unknown> = { identity: hex };
  const policyName = self.kind === 'user' ? self.record.policy : (fromConfig?.name ?? '');
  if (policyName !== '') out.policy = policyName;
  if (view && view.allow.length > 0) out.allow = patternObject(view.allow);
  if (view && view.deny.length > 0) out.deny = patternObject(view.deny);
  if (self.kind === 'user') {
    out.created_at = goTime(self.record.createdAt);
    const by = hexIdentity(self.record.createdBy);
    if (by !== '') out.created_by = by;
  } else {
    out.created_at = goTime(k.env.started);
    const by = hexIdentity(k.env.adminHex() || k.settings.adminLabel);
    if (by !== '') out.created_by = by;
  }
  sendJson(k.res, out);
}

async function deleteIdentity(k: KesRequest): Promise<void> {
  const identity = k.resource;
  checkIdentityName(identity);
  authorizeOp(k, 'IDENTITY:DELETE', h1Of(identity));
  if (identity === k.env.adminHex()) throw badRequest('the admin identity cannot be deleted');
  if (staticPolicyOfIdentity(k, identity)) {
    throw badRequest(`identity '${identity}' has a policy in the config file`);
  }
  await k.env.core.deleteIdentity(k.caller, k.enclave, storedIdentity(identity));
  sendEmpty(k.res);
}

/** The identity routes of both eras. */
export function identityRoutes(): KesRouteSpec[] {
  const base = { auth: 'policy', metrics: true, timeout: 15, maxBody: 0 } as const;
  return [
    {
      ...base,
      method: 'GET',
      path: '/v1/identity/describe/',
      resource: 'identity',
      handle: describe,
    },
    {
      ...base,
      method: 'GET',
      path: '/v1/identity/list/',
      aliases: ['/v1/identity/list'],
      handle: list,
    },
    {
      ...base,
      method: 'GET',
      path: '/v1/identity/self/describe',
      auth: 'identify',
      handle: describeSelfRoute,
    },
    {
      ...base,
      method: 'DELETE',
      path: '/v1/identity/delete/',
      resource: 'identity',
      legacy: true,
      handle: deleteIdentity,
    },
  ];
}
