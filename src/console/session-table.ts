// The console's sign-in state: single-use sign-in challenges and sessions, in memory, owned by
// one process of a node (the single process, or the primary of a worker pool, which answers its
// workers' SessionOps over IPC). Nothing is persisted: a restart signs everyone out.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a sign-in challenge may be answered. */
export const CHALLENGE_TTL_MS = 60_000;
/** Default idle time after which a session ends. */
export const DEFAULT_SESSION_IDLE_MS = 15 * 60_000;
/** Longest a session lives, however busy (the cookie's Max-Age). */
export const SESSION_MAX_MS = 8 * 3600_000;
/** Bounds on what unauthenticated callers can make the table hold. */
const MAX_CHALLENGES = 4096;
const MAX_SESSIONS = 10_000;

/** One request to the table; plain data so that it crosses the worker IPC unchanged. */
export type SessionOp =
  /** A new challenge for a sign-in from `ip`. */
  | { readonly op: 'challenge'; readonly ip: string }
  /** Consumes a challenge: true once, for an unexpired challenge issued to the same `ip`. */
  | { readonly op: 'take-challenge'; readonly challenge: string; readonly ip: string }
  /** A new session for `identity`; `replaces` (a session id, or '') ends at the same time. */
  | { readonly op: 'create'; readonly identity: string; readonly replaces: string }
  /** The live session with this id (its idle clock restarts), or null. */
  | { readonly op: 'get'; readonly sid: string }
  /** Ends the session (sign-out). */
  | { readonly op: 'end'; readonly sid: string };

export interface IssuedChallenge {
  readonly challenge: string;
  readonly expiresAt: number;
}

/** What a session id stands for. `csrf` is the token state-changing requests must repeat. */
export interface SessionInfo {
  readonly identity: string;
  readonly csrf: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** A created session: its id (the cookie value) and what it stands for. */
export interface NewSession extends SessionInfo {
  readonly sid: string;
}

interface Entry {
  readonly identity: string;
  readonly csrf: string;
  readonly createdAt: number;
  lastUsed: number;
}

export class SessionTable {
  readonly #challenges = new Map<string, { ip: string; expiresAt: number }>();
  /** Keyed by SHA-256 of the session id, so that the table never holds a usable cookie. */
  readonly #sessions = new Map<string, Entry>();
  readonly #idleMs: number;
  readonly #now: () => number;

  constructor(idleMs = DEFAULT_SESSION_IDLE_MS, now: () => number = Date.now) {
    this.#idleMs = idleMs;
    this.#now = now;
  }

  /** Runs one operation (the form the worker IPC forwards). */
  run(op: SessionOp): IssuedChallenge | boolean | NewSession | SessionInfo | null {
    switch (op.op) {
      case 'challenge':
        return this.challenge(op.ip);
      case 'take-challenge':
        return this.takeChallenge(op.challenge, op.ip);
      case 'create':
        return this.create(op.identity, op.replaces);
      case 'get':
        return this.get(op.sid);
      case 'end':
        this.end(op.sid);
        return null;
    }
  }

  challenge(ip: string): IssuedChallenge {
    const now = this.#now();
    if (this.#challenges.size >= MAX_CHALLENGES) {
      for (const [value, c] of this.#challenges)
        if (c.expiresAt <= now) this.#challenges.delete(value);
      // Still full: the oldest goes (Maps iterate in insertion order).
      if (this.#challenges.size >= MAX_CHALLENGES) {
        this.#challenges.delete(this.#challenges.keys().next().value!);
      }
    }
    const challenge = randomBytes(32).toString('base64url');
    const expiresAt = now + CHALLENGE_TTL_MS;
    this.#challenges.set(challenge, { ip, expiresAt });
    return { challenge, expiresAt };
  }

  takeChallenge(challenge: string, ip: string): boolean {
    const found = this.#challenges.get(challenge);
    if (!found) return false;
    this.#challenges.delete(challenge); // single use, whatever the outcome
    return found.ip === ip && found.expiresAt > this.#now();
  }

  create(identity: string, replaces: string): NewSession {
    if (replaces !== '') this.end(replaces);
    const now = this.#now();
    if (this.#sessions.size >= MAX_SESSIONS) this.#sweep(now);
    if (this.#sessions.size >= MAX_SESSIONS) {
      // The least recently created goes: a flood of sign-ins cannot lock everyone out for long.
      this.#sessions.delete(this.#sessions.keys().next().value!);
    }
    const sid = randomBytes(32).toString('base64url');
    const entry: Entry = {
      identity,
      csrf: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastUsed: now,
    };
    this.#sessions.set(digest(sid), entry);
    return { sid, ...this.#info(entry) };
  }

  get(sid: string): SessionInfo | null {
    const key = digest(sid);
    const entry = this.#sessions.get(key);
    if (!entry) return null;
    const now = this.#now();
    if (!this.#live(entry, now)) {
      this.#sessions.delete(key);
      return null;
    }
    entry.lastUsed = now;
    return this.#info(entry);
  }

  end(sid: string): void {
    this.#sessions.delete(digest(sid));
  }

  /** Number of sessions held (live or not yet swept). */
  get size(): number {
    return this.#sessions.size;
  }

  #live(entry: Entry, now: number): boolean {
    return now - entry.lastUsed < this.#idleMs && now - entry.createdAt < SESSION_MAX_MS;
  }

  #info(entry: Entry): SessionInfo {
    return {
      identity: entry.identity,
      csrf: entry.csrf,
      createdAt: entry.createdAt,
      expiresAt: Math.min(entry.lastUsed + this.#idleMs, entry.createdAt + SESSION_MAX_MS),
    };
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#sessions)
      if (!this.#live(entry, now)) this.#sessions.delete(key);
  }
}

/** Constant-time comparison of two tokens (CSRF). */
export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function digest(sid: string): string {
  return createHash('sha256').update(sid).digest('base64url');
}

/**
 * The table as every console process sees it: local in the owning process, or a request to it
 * (worker pools). Typed wrappers over `run`.
 */
export class Sessions {
  readonly #run: (op: SessionOp) => Promise<unknown>;

  constructor(run: (op: SessionOp) => Promise<unknown>) {
    this.#run = run;
  }

  /** Sessions held by `table` in this process. */
  static local(table: SessionTable): Sessions {
    return new Sessions((op) => Promise.resolve(table.run(op)));
  }

  async challenge(ip: string): Promise<IssuedChallenge> {
    return (await this.#run({ op: 'challenge', ip })) as IssuedChallenge;
  }

  async takeChallenge(challenge: string, ip: string): Promise<boolean> {
    return (await this.#run({ op: 'take-challenge', challenge, ip })) === true;
  }

  async create(identity: string, replaces: string): Promise<NewSession> {
    return (await this.#run({ op: 'create', identity, replaces })) as NewSession;
  }

  async get(sid: string): Promise<SessionInfo | null> {
    return (await this.#run({ op: 'get', sid })) as SessionInfo | null;
  }

  async end(sid: string): Promise<void> {
    await this.#run({ op: 'end', sid });
  }
}
