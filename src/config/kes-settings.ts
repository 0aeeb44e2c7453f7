// What the KES config file decides for the KES face at run time: static policies and their
// identities, per-route overrides, log levels, client-certificate verification. Replaced as a
// whole on reload (SIGHUP); a request uses the settings that were current when it started.

import type { KesPathPolicy } from '../protocol/kes/index.ts';

/** A policy from the config file: path patterns (prefix dialect) and the identities bound to it. */
export interface KesStaticPolicy extends KesPathPolicy {
  /** Identities as written in the config file (KES hex identities). */
  readonly identities: readonly string[];
}

/** A per-route override from the config file's `api:` section. */
export interface KesApiOverride {
  /** Authenticate nobody on this route (identify only). */
  readonly skipAuth: boolean;
  /** Replaces the route's timeout, in milliseconds (0 = none). */
  readonly timeout?: number;
}

export interface KesSettings {
  /** Config-file policies by name. */
  readonly policies: ReadonlyMap<string, KesStaticPolicy>;
  /** Hex identity → name of its config-file policy (an identity is in at most one). */
  readonly identities: ReadonlyMap<string, string>;
  /** Route path (exactly as in the route table, e.g. `/v1/key/create/`) → override. */
  readonly api: ReadonlyMap<string, KesApiOverride>;
  /** slog level of the error log: events below it are not streamed (`/v1/log/error`). */
  readonly errorLevel: number;
  /** slog level of the audit log: below INFO, key changes are printed to stdout (as KES does). */
  readonly auditLevel: number;
  /** `tls.auth: on`: requests must come with a client certificate the configured CAs verify. */
  readonly verifyClientCertificates: boolean;
  /** How listings are answered: see {@link ListingFormat}. */
  readonly listingFormat: ListingFormat;
  /** How the config file spells a disabled admin (e.g. `disabled`), reported as `created_by`. */
  readonly adminLabel: string;
  /** Keys to create in the default enclave at start and on reload, when missing. */
  readonly keys: readonly string[];
}

/**
 * The form of `/v1/{key,policy,identity}/list/` answers. `auto` (the default) answers NDJSON
 * unless the request asks for JSON (`Accept: application/json`, or a `?continue_at=` page):
 * clients of the KES 2023 era (kes-go v0.1.0, that era's `kes` CLI) send no Accept header and
 * read only NDJSON, and current kms-go reads NDJSON whenever the Content-Type says so, so NDJSON
 * is the one answer every client reads. `ndjson` always answers NDJSON; `json` answers the
 * current era's JSON unless the request asks for NDJSON (`Accept: application/x-ndjson`).
 */
export type ListingFormat = 'auto' | 'ndjson' | 'json';

/** slog levels (Go `log/slog`). */
export const SLOG = { DEBUG: -4, INFO: 0, WARN: 4, ERROR: 8, OFF: 9 } as const;

/** Settings without a config file: no static policies, no text audit lines on stdout. */
export function defaultKesSettings(): KesSettings {
  return kesSettings({ policies: [], auditLevel: SLOG.OFF });
}

/** Builds settings; `identities` is derived from the policies (later policies do not override). */
export function kesSettings(init: {
  readonly policies: readonly KesStaticPolicy[];
  readonly api?: ReadonlyMap<string, KesApiOverride>;
  readonly errorLevel?: number;
  readonly auditLevel?: number;
  readonly verifyClientCertificates?: boolean;
  readonly listingFormat?: ListingFormat;
  readonly adminLabel?: string;
  readonly keys?: readonly string[];
}): KesSettings {
  const policies = new Map<string, KesStaticPolicy>();
  const identities = new Map<string, string>();
  for (const policy of init.policies) {
    policies.set(policy.name, policy);
    for (const identity of policy.identities) {
      if (!identities.has(identity)) identities.set(identity, policy.name);
    }
  }
  return {
    policies,
    identities,
    api: init.api ?? new Map(),
    errorLevel: init.errorLevel ?? SLOG.INFO,
    auditLevel: init.auditLevel ?? SLOG.INFO,
    verifyClientCertificates: init.verifyClientCertificates ?? false,
    listingFormat: init.listingFormat ?? 'auto',
    adminLabel: init.adminLabel ?? 'disabled',
    keys: init.keys ?? [],
  };
}
