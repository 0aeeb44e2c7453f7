// A Vault token and its lifetime (docs/keystores.md, "Vault authentication"): AppRole or
// Kubernetes login (or a fixed token), renewal before expiry, re-login when renewal is not
// possible or fails, and an immediate re-login when Vault refuses the token.

import { readFile } from 'node:fs/promises';
import type { VaultAppRole, VaultKubernetes } from '../../config/keystore-config.ts';
import type { VaultClient } from './vault-client.ts';
import { VaultApiError } from './vault-client.ts';

export type VaultAuthMethod =
  | { readonly kind: 'approle'; readonly approle: VaultAppRole }
  | { readonly kind: 'kubernetes'; readonly kubernetes: VaultKubernetes }
  | { readonly kind: 'token'; readonly token: string };

interface Lease {
  readonly token: string;
  /** Seconds; 0 = does not expire. */
  readonly ttl: number;
  readonly renewable: boolean;
}

/** Retry pause after a failed login (KES: 3 s). */
const RELOGIN_PAUSE_MS = 3000;

export class VaultAuth {
  readonly #client: VaultClient;
  readonly #method: VaultAuthMethod;
  /** Namespace of the login (and so of the token's renewal): '' = root. */
  readonly namespace: string;
  readonly #onError: (message: string) => void;
  #lease: Lease | null = null;
  #timer: NodeJS.Timeout | null = null;
  #relogin: Promise<void> | null = null;
  #closed = false;

  constructor(
    client: VaultClient,
    method: VaultAuthMethod,
    storeNamespace: string,
    onError: (message: string) => void,
  ) {
    this.#client = client;
    this.#method = method;
    this.#onError = onError;
    const own =
      method.kind === 'approle'
        ? method.approle.namespace
        : method.kind === 'kubernetes'
          ? method.kubernetes.namespace
          : '';
    // `/` means the root namespace; empty inherits the key store's.
    this.namespace = own === '/' ? '' : own !== '' ? own : storeNamespace;
  }

  /** The current token ('' before the first login). */
  get token(): string {
    return this.#lease?.token ?? '';
  }

  /** First login; throws when Vault refuses it. Starts the renewal loop. */
  async start(): Promise<void> {
    this.#adopt(await this.#login());
  }

  /**
   * Vault refused `stale` (expired or revoked): log in again now, once for all callers that saw
   * the same token refused.
   */
  async refresh(stale: string): Promise<void> {
    if (this.#method.kind === 'token') return;
    if (this.token !== stale) return;
    this.#relogin ??= this.#login()
      .then((lease) => this.#adopt(lease))
      .finally(() => (this.#relogin = null));
    await this.#relogin;
  }

  /** True once close() ran (it may run while a login is in flight). */
  #stopped(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  async #login(): Promise<Lease> {
    if (this.#method.kind === 'token')
      return { token: this.#method.token, ttl: 0, renewable: false };
    let path: string;
    let body: Record<string, string>;
    if (this.#method.kind === 'approle') {
      const a = this.#method.approle;
      path = `/v1/auth/${trim(a.engine)}/login`;
      body = { role_id: a.id, secret_id: a.secret };
    } else {
      const k = this.#method.kubernetes;
      // A JWT with a `/` is a file: re-read at every login (projected tokens rotate).
      const jwt = k.jwt.includes('/') ? (await readFile(k.jwt, 'utf8')).trim() : k.jwt;
      path = `/v1/auth/${trim(k.engine)}/login`;
      body = { jwt, role: k.role };
    }
    const res = await this.#client.call({ method: 'PUT', path, namespace: this.namespace, body });
    return leaseOf(res.json, 'login');
  }

  /** Switches to `lease` and schedules what comes before its expiry. */
  #adopt(lease: Lease): void {
    this.#lease = lease;
    this.#schedule(lease);
  }

  #schedule(lease: Lease): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#closed || lease.ttl === 0) return;
    // Renew at 80 % of the lifetime (as KES), never sooner than in half a second.
    const at = Math.max(500, lease.ttl * 800);
    this.#timer = setTimeout(() => void this.#renew(lease), at);
    this.#timer.unref();
  }

  async #renew(lease: Lease): Promise<void> {
    if (this.#closed || this.#lease !== lease) return;
    if (lease.renewable) {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          const res = await this.#client.call({
            method: 'PUT',
            path: '/v1/auth/token/renew-self',
            token: lease.token,
            namespace: this.namespace,
            body: { increment: 0 },
          });
          const renewed = leaseOf(res.json, 'renewal');
          if (this.#lease === lease) this.#adopt(renewed);
          return;
        } catch (error) {
          this.#onError(`vault: token renewal failed: ${(error as Error).message}`);
          // A 4xx will not change on retry (e.g. the token reached its maximum lifetime).
          if (error instanceof VaultApiError && error.status < 500) break;
        }
      }
    }
    try {
      const next = await this.#login();
      // Switch a little later: a Vault standby may not know the new token yet (KES: half the
      // remaining 20 %, at most 30 s), but always before the old token expires.
      const delay = Math.min((lease.ttl * 1000 * 0.2) / 2, 30_000);
      const timer = setTimeout(() => {
        if (this.#lease === lease) this.#adopt(next);
      }, delay);
      timer.unref();
      this.#timer = timer;
    } catch (error) {
      this.#onError(`vault: login failed: ${(error as Error).message}`);
      if (this.#stopped()) return;
      this.#timer = setTimeout(
        () => void this.#renew({ ...lease, renewable: false }),
        RELOGIN_PAUSE_MS,
      );
      this.#timer.unref();
    }
  }
}

function trim(engine: string): string {
  return engine.replace(/^\/+|\/+$/g, '');
}

function leaseOf(json: unknown, what: string): Lease {
  const auth = (json as { auth?: unknown } | undefined)?.auth as
    { client_token?: unknown; lease_duration?: unknown; renewable?: unknown } | null | undefined;
  if (!auth || typeof auth.client_token !== 'string' || auth.client_token === '') {
    throw new Error(`vault: the ${what} answer carries no token`);
  }
  return {
    token: auth.client_token,
    ttl: typeof auth.lease_duration === 'number' ? auth.lease_duration : 0,
    renewable: auth.renewable === true,
  };
}
