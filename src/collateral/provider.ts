/**
 * The collateral provider: cache first, then the source, with single-flight
 * per artifact so concurrent verifications share one fetch. An artifact is
 * served only inside its own validity window at the verification instant
 * (`now`, passed in by the caller); an explicit grace period widens the
 * window after notAfter and is reported as a warning on every use.
 */
import { TeeVerifyError } from '../errors.js';
import { isWithinWindow, needsRefresh, type CollateralArtifact } from './artifact.js';
import type { CollateralCache } from './cache.js';
import { CollateralUnavailableError } from './errors.js';

export interface ProviderOptions {
  cache?: CollateralCache | null;
  /** Grace after an artifact's notAfter; default 0 (off). Each use is a warning. */
  graceMs?: number;
  /** Minimum spacing of refresh attempts for one artifact, on the verification clock; default 5 min. */
  refreshIntervalMs?: number;
}

export interface Resolved {
  artifact: CollateralArtifact;
  warnings: string[];
}

/** Collateral outside its validity window at the verification instant: class EXPIRED. */
export class CollateralExpiredError extends TeeVerifyError {
  constructor(artifact: CollateralArtifact, now: Date) {
    super('EXPIRED', 'ERR_COLLATERAL_EXPIRED', `${artifact.key} is valid ${artifact.validity.notBefore} .. ${artifact.validity.notAfter}, not at ${now.toISOString()}`, {
      check: 'X02',
      details: { artifact: artifact.key, ...artifact.validity, now: now.toISOString() },
    });
  }
}

/** A source's synchronous lookup (AmdCollateralSource.stored). */
export interface InMemorySource {
  stored?(key: string): CollateralArtifact | undefined;
}

/** Shared by every warning-free cache hit; frozen, so no caller can add to it. */
const NO_WARNINGS: string[] = Object.freeze([]) as unknown as string[];

export class ArtifactResolver {
  readonly #cache: CollateralCache | null;
  readonly #graceMs: number;
  readonly #refreshIntervalMs: number;
  readonly #inFlight = new Map<string, Promise<CollateralArtifact>>();
  readonly #lastRefresh = new Map<string, number>();

  constructor(options: ProviderOptions = {}) {
    this.#cache = options.cache ?? null;
    this.#graceMs = options.graceMs ?? 0;
    this.#refreshIntervalMs = options.refreshIntervalMs ?? 5 * 60 * 1000;
  }

  /**
   * The cached artifact `key` valid at `now` when no refresh is due: what
   * resolve() would answer without any fetch. Synchronous, so a warm
   * verification needs no promise per artifact.
   *
   * Without a cache, resolve() asks the source on every call; a source that
   * holds its artifacts in memory (`stored`, a bundle) gives the same answer
   * synchronously: its artifact when valid at `now`, else nothing (resolve()
   * then reports the expiry or applies the grace period).
   */
  cached(key: string, now: Date, source?: InMemorySource): Resolved | undefined {
    const cache = this.#cache;
    if (cache === null) {
      const stored = source?.stored?.(key);
      return stored && isWithinWindow(stored.validity, now) ? { artifact: stored, warnings: NO_WARNINGS } : undefined;
    }
    const cached = cache.select(key, now);
    return cached && !this.#shouldRefresh(key, cached, now) ? { artifact: cached, warnings: NO_WARNINGS } : undefined;
  }

  /** Returns the artifact `key` valid at `now`, fetching it with `fetch` when the cache has none. */
  async resolve(key: string, fetch: () => Promise<CollateralArtifact>, now: Date): Promise<Resolved> {
    const hit = this.cached(key, now);
    if (hit) return hit;
    const cached = this.#cache?.select(key, now);
    let fetched: CollateralArtifact | undefined;
    let failure: unknown;
    try {
      fetched = await this.#singleFlight(key, fetch);
    } catch (err) {
      failure = err;
    }
    if (fetched) {
      this.#lastRefresh.set(key, now.getTime());
      this.#cache?.put(fetched);
      // X03: the newest version valid at `now` wins, so an older response never displaces a newer one.
      return this.#serve(this.#cache?.select(key, now) ?? fetched, now, []);
    }
    const fallback = cached ?? this.#cache?.select(key, now, this.#graceMs);
    if (fallback) {
      const why = failure instanceof Error ? failure.message : String(failure);
      return this.#serve(fallback, now, [`refresh of ${key} failed, serving the cached copy (${why})`]);
    }
    throw failure;
  }

  /**
   * Forgets the cached version with `artifact`'s key and bytes (a verification
   * rejected it): the next lookup selects the next version or fetches again.
   */
  discard(artifact: CollateralArtifact): boolean {
    const cache = this.#cache;
    if (cache === null || !cache.discard(artifact)) return false;
    // The version selected next may be due for refresh: let it refresh at once.
    this.#lastRefresh.delete(artifact.key);
    return true;
  }

  /** Marks the cached version with `artifact`'s bytes as used by a passing verification (eviction keeps it). */
  markVerified(artifact: CollateralArtifact): void {
    this.#cache?.markVerified(artifact);
  }

  #shouldRefresh(key: string, a: CollateralArtifact, now: Date): boolean {
    if (!needsRefresh(a.validity, now)) return false;
    const last = this.#lastRefresh.get(key);
    return last === undefined || now.getTime() - last >= this.#refreshIntervalMs;
  }

  #serve(a: CollateralArtifact, now: Date, warnings: string[]): Resolved {
    if (isWithinWindow(a.validity, now)) return { artifact: a, warnings };
    if (this.#graceMs > 0 && isWithinWindow(a.validity, now, this.#graceMs)) {
      return { artifact: a, warnings: [...warnings, `grace period used: ${a.key} expired at ${a.validity.notAfter}`] };
    }
    throw new CollateralExpiredError(a, now);
  }

  #singleFlight(key: string, fetch: () => Promise<CollateralArtifact>): Promise<CollateralArtifact> {
    const running = this.#inFlight.get(key);
    if (running) return running;
    const p = fetch().finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, p);
    return p;
  }
}

/** Thrown when no source is configured for an artifact. */
export function missingSource(what: string): CollateralUnavailableError {
  return new CollateralUnavailableError('ERR_COLLATERAL_MISSING', `no collateral source configured for ${what}`, { artifact: what });
}
