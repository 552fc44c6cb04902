/**
 * The collateral provider: cache first, then the source, with single-flight
 * per artifact so concurrent verifications share one fetch. An artifact is
 * served only inside its own validity window at the verification instant
 * (`now`, passed in by the caller); an explicit grace period widens the
 * window after notAfter and is reported as a warning on every use.
 *
 * Artifacts the caller names explicitly (an offline bundle, `bundle`) come
 * before the cache for the keys they hold, while valid at `now`; a cached
 * version overrules one only when it is newer (isOlder: sequence, then issue
 * date, then start of validity) and chains to the verification's trust roots (X03: an explicit
 * bundle rolls nothing back), with a warning. Explicit artifacts are never
 * written to the cache.
 *
 * Keys come from unverified evidence, so what the sources are asked is
 * bounded: a 404 is remembered per key for a while (negative cache), and at
 * most `fetchBudget.keys` distinct keys the cache does not hold are fetched
 * per `fetchBudget.windowMs`. Both are judged on the provider's own clock
 * (`clock`), never on the verification instant, and are no verification check.
 */
import { CollateralFormatError, TeeVerifyError } from '../errors.js';
import { isWithinWindow, needsRefresh, sameVersion, type CollateralArtifact } from './artifact.js';
import { isOlder, type CollateralCache } from './cache.js';
import { CollateralUnavailableError, PLATFORM_NOT_SERVED_TTL_MS, isNotFound, isPlatformNotServed } from './errors.js';
import { RollbackFloors, floorOf, isBelowFloor, judgedByFloor, type Floor } from './floors.js';
import { kindOfKey, platformOfKey } from './keys.js';
import { refuseAttachedChain } from './validate.js';

/** Distinct keys fetched from sources per window of the provider clock. */
export interface FetchBudget {
  keys: number;
  windowMs: number;
  /**
   * New keys per window that each known platform (a chip ID or FMSPC whose
   * collateral passed a verification, see markVerified) may fetch outside
   * `keys`; default 2. Beyond it, its keys count against `keys` like any other.
   */
  perKnownPlatform?: number;
  /**
   * New keys per window admitted through known platforms' own slots, over all
   * known platforms together; default `keys`. Chip IDs are not secret, so a
   * made-up report may name a known chip: this bounds what N known chips
   * cost (review s6c #1). Beyond it, their keys count against `keys`.
   */
  knownPlatformKeys?: number;
}

/** Artifacts the caller named explicitly (an offline bundle): BundleSource implements this. */
export interface ExplicitCollateral {
  /** What the bundle answers for `key`, synchronously (see BundleSource.lookup); the same object on every call. */
  lookup(key: string): CollateralArtifact | undefined;
}

export interface ProviderOptions {
  cache?: CollateralCache | null;
  /**
   * Explicit artifacts served before the cache for the keys they hold, while
   * valid at the verification instant (decision, review s7: `--collateral`
   * means "use these"; see docs/collateral.md, "Explicit bundles").
   */
  bundle?: ExplicitCollateral;
  /**
   * Whether a cached version is genuine under the verification's trust roots
   * (chainsToRoots): only such a version, newer than the bundle's (isOlder)
   * and valid at the instant, overrules the bundle (X03). Default: none does.
   * Also orders eviction: versions it does not vouch for leave first (cache.ts, s15).
   */
  anchored?: (artifact: CollateralArtifact) => boolean;
  /** Grace after an artifact's notAfter; default 0 (off). Each use is a warning. */
  graceMs?: number;
  /** Minimum spacing of refresh attempts for one artifact, failed ones included, on the verification clock; default 5 min. */
  refreshIntervalMs?: number;
  /**
   * How long a 404 answer for a key is served again instead of asking; default 5 min, 0 off. Provider clock.
   * Intel TCB info the source has not cached ("platform-not-served"): at most 30 s (PLATFORM_NOT_SERVED_TTL_MS).
   */
  notFoundTtlMs?: number;
  /** Cap on distinct keys without a cached version fetched per window; default 256 per minute; null: no cap. */
  fetchBudget?: FetchBudget | null;
  /** Keys remembered for the negative cache and refresh spacing; default 4096. */
  maxKeys?: number;
  /** The provider's clock (epoch ms) for the negative cache and the fetch budget only; default Date.now. */
  clock?: () => number;
  /**
   * The sources can fetch nothing (the CLI's --offline): a cached version is
   * served without a refresh attempt near its end or within grace, which
   * could only fail (review s8 changes-b #4). Sources are still asked for
   * what the cache lacks. Default false.
   */
  offline?: boolean;
  /**
   * Whether the verifications this resolver serves run under the pinned
   * production roots (default true). False (a test PKI, `--trust-root`): its
   * rollback floors are its own, in memory, and it neither reads nor raises
   * the cache's floors nor marks TCB info or QE identity verified there
   * (marks seed floors; review s9 changes-c #5): a test PKI's documents share
   * keys with real platforms'.
   */
  pinnedRoots?: boolean;
}

export const DEFAULT_FETCH_BUDGET: FetchBudget = Object.freeze({ keys: 256, windowMs: 60_000, perKnownPlatform: 2 });

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

/** A Map that keeps its `limit` most recently set entries. */
class BoundedMap<K, V> {
  readonly #map = new Map<K, V>();
  constructor(readonly limit: number) {}
  get(key: K): V | undefined {
    return this.#map.get(key);
  }
  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.limit) this.#map.delete(this.#map.keys().next().value!);
  }
  delete(key: K): void {
    this.#map.delete(key);
  }
  get size(): number {
    return this.#map.size;
  }
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new TypeError(`${name} must be a non-negative number`);
  return value;
}

export class ArtifactResolver {
  readonly #cache: CollateralCache | null;
  readonly #bundle: ExplicitCollateral | undefined;
  readonly #anchored: (artifact: CollateralArtifact) => boolean;
  readonly #graceMs: number;
  readonly #refreshIntervalMs: number;
  readonly #notFoundTtlMs: number;
  readonly #budget: FetchBudget | null;
  readonly #clock: () => number;
  readonly #inFlight = new Map<string, Promise<CollateralArtifact>>();
  /**
   * Last refresh attempt per key (verification clock), successful or not, and
   * whether its answer was the bundle's own copy outside its window (a source
   * that falls back to the bundle when the network fails): only then may a
   * lookup before the next refresh is due be answered with that copy
   * (#resolveBehindBundle; review s13 #2).
   */
  readonly #lastRefresh: BoundedMap<string, { at: number; heldAnswer: boolean }>;
  /** 404 answers per key, with when they stop counting (provider clock). */
  readonly #notFound: BoundedMap<string, { error: unknown; until: number }>;
  #budgetStart = Number.NEGATIVE_INFINITY;
  readonly #budgetKeys = new Set<string>();
  readonly #perKnownPlatform: number;
  readonly #knownPlatformKeys: number;
  /** Window (provider clock) and count of keys admitted through known platforms' slots, all platforms together. */
  #knownStart = Number.NEGATIVE_INFINITY;
  #knownAdmitted = 0;
  /**
   * Platforms (platformOfKey) whose collateral passed a verification, least
   * recently marked first, with the new keys each fetched in its current
   * window: their keys pass the fetch budget (review s6b #3). Memory only.
   */
  readonly #knownPlatforms: BoundedMap<string, { start: number; keys: string[] }>;
  /**
   * Rollback floors (#belowFloor) when there is no cache or the roots are not
   * the pinned ones; else the cache holds them (memory, and a file per key on
   * disk) apart from its versions, so every resolver on that cache shares them
   * (review s9, F1).
   */
  readonly #ownFloors: RollbackFloors | undefined;
  /** See ProviderOptions.pinnedRoots. */
  readonly #pinnedRoots: boolean;
  /** Cached versions whose first use read the floor file again (#cacheHit, #serve): later warm lookups read memory only. */
  readonly #floorChecked = new WeakSet<CollateralArtifact>();
  /** Artifacts already looked at by markVerified (a warm verification marks the same objects again). */
  readonly #marked = new WeakSet<CollateralArtifact>();
  readonly #offline: boolean;

  constructor(options: ProviderOptions = {}) {
    this.#offline = options.offline === true;
    this.#cache = options.cache ?? null;
    this.#bundle = options.bundle;
    this.#anchored = options.anchored ?? (() => false);
    this.#graceMs = options.graceMs ?? 0;
    this.#refreshIntervalMs = options.refreshIntervalMs ?? 5 * 60 * 1000;
    this.#notFoundTtlMs = nonNegative('notFoundTtlMs', options.notFoundTtlMs ?? 5 * 60 * 1000);
    const budget = options.fetchBudget === undefined ? DEFAULT_FETCH_BUDGET : options.fetchBudget;
    if (budget !== null && (!Number.isSafeInteger(budget.keys) || budget.keys < 1 || !(budget.windowMs > 0))) {
      throw new TypeError('fetchBudget needs a positive integer keys and a positive windowMs');
    }
    const perKnown = budget?.perKnownPlatform ?? DEFAULT_FETCH_BUDGET.perKnownPlatform!;
    if (!Number.isSafeInteger(perKnown) || perKnown < 0) throw new TypeError('fetchBudget.perKnownPlatform must be a non-negative integer');
    const knownTotal = budget?.knownPlatformKeys ?? budget?.keys ?? 0;
    if (!Number.isSafeInteger(knownTotal) || knownTotal < 0) throw new TypeError('fetchBudget.knownPlatformKeys must be a non-negative integer');
    this.#budget = budget;
    this.#perKnownPlatform = perKnown;
    this.#knownPlatformKeys = knownTotal;
    this.#clock = options.clock ?? Date.now;
    const maxKeys = options.maxKeys ?? 4096;
    this.#lastRefresh = new BoundedMap(maxKeys);
    this.#notFound = new BoundedMap(maxKeys);
    this.#knownPlatforms = new BoundedMap(maxKeys);
    this.#pinnedRoots = options.pinnedRoots ?? true;
    this.#ownFloors = this.#cache === null || !this.#pinnedRoots ? new RollbackFloors({ directory: null, maxUnset: maxKeys }) : undefined;
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
   *
   * A key the explicit bundle holds is answered by the bundle (#fromBundle);
   * nothing when that answer carries a warning or the bundle's artifact is
   * outside its window (resolve() then reports it).
   */
  cached(key: string, now: Date, source?: InMemorySource): Resolved | undefined {
    const held = this.#bundle?.lookup(key);
    if (held !== undefined) {
      const preferred = this.#fromBundle(key, held, now);
      return preferred !== undefined && preferred.warnings.length === 0 ? preferred : undefined;
    }
    return this.#cacheHit(key, now, source);
  }

  #cacheHit(key: string, now: Date, source?: InMemorySource): Resolved | undefined {
    const cache = this.#cache;
    if (cache === null) {
      const stored = source?.stored?.(key);
      return stored && isWithinWindow(stored.validity, now) ? { artifact: stored, warnings: NO_WARNINGS } : undefined;
    }
    const cached = cache.select(key, now);
    if (cached === undefined || this.#shouldRefresh(key, cached, now)) return undefined;
    // A version's first use here reads the floor file again (another process may have raised it);
    // later warm lookups of it read memory only (review s9 changes-c #4).
    if (this.#ownFloors === undefined && judgedByFloor(cached) && !this.#floorChecked.has(cached)) {
      try {
        this.#checkedAgainstFile(cached);
      } catch (err) {
        if (err instanceof CollateralUnavailableError) return undefined; // the cold path refuses it
        throw err;
      }
    }
    return this.#belowFloor(cached, now) ? undefined : { artifact: cached, warnings: NO_WARNINGS };
  }

  /**
   * Reads `a`'s floor file again (cold: once per version, or before a fetched or fallback version is
   * served). A file the system failed to read (EMFILE, EIO) leaves the floor in force unknown: the
   * version is not served and not recorded as checked, a retryable refusal until the file reads again
   * (review s9 changes-d #1: served from the marks' lower floor, a rolled-back version stayed warm for
   * weeks after the error ended).
   */
  #checkedAgainstFile(a: CollateralArtifact): Floor {
    const floor = this.#cache!.refreshFloor(a.key);
    if (this.#cache!.floorUnreadable(a.key)) {
      throw new CollateralUnavailableError(
        'ERR_COLLATERAL_UNAVAILABLE',
        `${a.key}: its rollback floor file could not be read (a system error such as too many open files); not served until it can (X03), retry later`,
        { artifact: a.key, reason: 'floor-unreadable' },
        undefined,
        'X03',
      );
    }
    this.#floorChecked.add(a);
    return floor;
  }

  /**
   * A rollback (X03, review s8): `a` is a TCB info or QE identity whose
   * evaluation data number is below one a passing verification already used
   * for its key, from a document that had started by `now`. Once that newer
   * document expires, an older evaluation still inside its own window (Intel
   * serves earlier numbers with fresh dates; a rogue or lagging PCCS can answer
   * the channel with one) would otherwise be selected. Verifications at an
   * instant before the newer document existed (batch re-verification) are not
   * affected. Bundles are not judged by it: the explicit path has its own
   * X03 rule, and their artifacts set no floor (an operator's file, often on
   * another test PKI).
   */
  #belowFloor(a: CollateralArtifact, now: Date): boolean {
    return judgedByFloor(a) && isBelowFloor(a, this.#floorOf(a.key), now);
  }

  /**
   * The floor of `key`: the cache's (kept apart from its versions, on disk
   * in a file per key, seeded from the verified marks on a key's first
   * lookup), else this resolver's own in memory.
   */
  #floorOf(key: string): Floor {
    return this.#ownFloors === undefined ? this.#cache!.floor(key) : this.#ownFloors.get(key);
  }

  /** #floorOf on the cold path, for `a` about to be served: the cache reads what its file says again (CollateralCache.refreshFloor). */
  #coldFloorOf(a: CollateralArtifact): Floor {
    return this.#ownFloors === undefined ? this.#checkedAgainstFile(a) : this.#ownFloors.get(a.key);
  }

  /** Raises the floor of `a`'s key to `a` (verified, from a source) when it names a higher evaluation (#belowFloor). */
  #raiseFloor(a: CollateralArtifact): void {
    if (this.#ownFloors === undefined) {
      this.#cache!.raiseFloor(a);
      return;
    }
    const candidate = floorOf(a);
    if (candidate !== undefined) this.#ownFloors.raise(a.key, candidate);
  }

  /**
   * Bundle before cache (X03 kept): the bundle's artifact `held` when valid
   * at `now`, unless the cache holds a newer version valid at `now` that
   * chains to the trust roots; that one is served instead, with a warning, so
   * a bundle never rolls back collateral the verifier knows to be genuine.
   * Newer is isOlder's ranking, the cache's own: sequence first, then the
   * document's issue date and the start of validity, since Intel's PCK and Root CA CRLs all carry CRL number 1
   * (review s7 item 1b). A cached version that does not chain to the roots
   * (another PKI, a forgery) never overrules the bundle, and never hides one
   * that does (review s14 collateral #1): the versions valid at `now` are
   * tried from newest to oldest, skipping unanchored ones, and the first
   * anchored one newer than `held` wins. Undefined when `held` is outside
   * its window at `now`.
   */
  #fromBundle(key: string, held: CollateralArtifact, now: Date): Resolved | undefined {
    if (!isWithinWindow(held.validity, now)) return undefined;
    const cached = this.#newerAnchored(key, held, now);
    if (cached !== undefined) {
      const version = (a: CollateralArtifact) => `sequence ${a.sequence ?? 'none'}, valid from ${a.validity.notBefore}`;
      return {
        artifact: cached,
        warnings: [`collateral bundle: ${key} (${version(held)}) is older than the cached version (${version(cached)}) valid at ${now.toISOString()} that chains to the trust roots; using the cached one (X03: no rollback)`],
      };
    }
    return { artifact: held, warnings: NO_WARNINGS };
  }

  /**
   * The newest cached version of `key` valid at `now`, newer than `held`
   * (isOlder) and chaining to the trust roots (#fromBundle). The newest valid
   * version first (the common case, one lookup); only when it is newer than
   * `held` but unanchored are the others walked, newest first.
   */
  #newerAnchored(key: string, held: CollateralArtifact, now: Date): CollateralArtifact | undefined {
    const cache = this.#cache;
    const newest = cache?.select(key, now);
    if (newest === undefined || !isOlder(held, newest)) return undefined;
    if (this.#anchored(newest)) return newest;
    const candidates = cache!
      .versions(key)
      .filter((a) => a !== newest && isWithinWindow(a.validity, now) && isOlder(held, a))
      .sort((a, b) => (isOlder(a, b) ? 1 : isOlder(b, a) ? -1 : 0));
    return candidates.find((a) => this.#anchored(a));
  }

  /**
   * Returns the artifact `key` valid at `now`, fetching it with `fetch` when
   * the cache has none. `metered: false` exempts a source that holds its
   * artifacts in memory (a bundle) from the fetch budget.
   */
  async resolve(key: string, fetch: () => Promise<CollateralArtifact>, now: Date, metered = true): Promise<Resolved> {
    const held = this.#bundle?.lookup(key);
    if (held === undefined) {
      const hit = this.#cacheHit(key, now);
      if (hit) return hit;
      return this.#resolveBehindBundle(key, fetch, now, metered, undefined);
    }
    const preferred = this.#fromBundle(key, held, now);
    if (preferred) return preferred;
    // The bundle's artifact is outside its window at `now`: as if the bundle did not hold it, then its own answer last.
    const hit = this.#cacheHit(key, now);
    const resolved = hit ?? (await this.#resolveBehindBundle(key, fetch, now, metered, held));
    if (sameVersion(resolved.artifact, held)) return resolved;
    const note = `collateral bundle: ${key} is valid ${held.validity.notBefore} .. ${held.validity.notAfter}, not at ${now.toISOString()}; using the ${resolved.artifact.source.origin} copy`;
    return { artifact: resolved.artifact, warnings: [note, ...resolved.warnings] };
  }

  /** Cache, then the source (`held`: the bundle's own artifact, outside its window, which is never cached). */
  async #resolveBehindBundle(key: string, fetch: () => Promise<CollateralArtifact>, now: Date, metered: boolean, held: CollateralArtifact | undefined): Promise<Resolved> {
    const cache = this.#cache;
    const cached = cache?.select(key, now);
    const fallback = cached ?? (this.#graceMs > 0 ? cache?.select(key, now, this.#graceMs) : undefined);
    // Offline, a refresh can only fail: the copy as it is (a copy within grace still says so).
    if (this.#offline && fallback) return this.#serve(fallback, now, []);
    if (!this.#refreshDue(key, now)) {
      // Only an expired copy served with grace gets here while a failed refresh is recent.
      if (fallback) return this.#serve(fallback, now, []);
      // The last attempt answered the bundle's own copy, outside its window (a source that falls
      // back to the bundle when the network fails, serve): a failed refresh, spaced like one.
      // Not after a successful fetch: with no cache nothing kept that copy, and the bundle's
      // expired one must not stand in for it (review s13 #2); the source is asked again.
      if (held !== undefined && this.#lastRefresh.get(key)?.heldAnswer === true) return this.#serve(held, now, []);
    }
    const warnings: string[] = [];
    let fetched: CollateralArtifact | undefined;
    let failure: unknown;
    const remembered = this.#rememberedNotFound(key);
    if (remembered !== undefined) {
      failure = remembered;
    } else {
      try {
        fetched = this.#bound(key, await this.#singleFlight(key, fetch, metered));
      } catch (err) {
        failure = err;
        // Intel TCB info a PCCS has not cached yet is remembered briefly only: registration fills it (review s8 #1).
        const ttl = isPlatformNotServed(err) ? Math.min(this.#notFoundTtlMs, PLATFORM_NOT_SERVED_TTL_MS) : this.#notFoundTtlMs;
        if (isNotFound(err) && ttl > 0) this.#notFound.set(key, { error: err, until: this.#clock() + ttl });
      }
    }
    if (fetched) {
      this.#lastRefresh.set(key, { at: now.getTime(), heldAnswer: held !== undefined && sameVersion(fetched, held) });
      // The bundle's own artifact (a source that falls back to the bundle) stays out of the cache.
      if (held === undefined || !sameVersion(fetched, held)) cache?.put(fetched, warnings, { now, graceMs: this.#graceMs, anchored: this.#anchored });
      // X03: the newest version valid at `now` wins, so an older response never displaces a newer one.
      return this.#serve(cache?.select(key, now) ?? fetched, now, warnings);
    }
    if (fallback) {
      // Spaced like a successful refresh: the next verifications use the copy without asking again.
      this.#lastRefresh.set(key, { at: now.getTime(), heldAnswer: false });
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

  /**
   * Marks the cached version with `artifact`'s bytes as used by a passing
   * verification (eviction keeps the newest marked one), and its platform
   * (chip ID of a VCEK, FMSPC of a TCB info) as known to the fetch budget.
   * `underPinnedRoots` false: that verification ran under other roots than
   * the pinned ones (a test PKI). A resolver with a cache, on the pinned
   * roots, then marks nothing, raises no floor and knows no new platform: the
   * collateral may be a test PKI's, under a real platform's key, and the cache
   * (with its floors) is the one production verifications share (s16 env #2).
   * A resolver whose floors are its own (no cache, or other roots) marks as
   * it always does: nothing of it outlives the process.
   */
  markVerified(artifact: CollateralArtifact, underPinnedRoots = true): void {
    // A resolver with a cache, on the pinned roots, keeps its floors in the cache: a verification under other roots
    // (s16 env #2) leaves nothing there, and nothing in #marked, so a later one under the pinned roots still marks the artifact.
    if (this.#ownFloors === undefined && !underPinnedRoots) return;
    // Under other roots a TCB info or QE identity is not marked in the cache: its mark would seed the cache's floor (pinnedRoots).
    if (this.#pinnedRoots || floorOf(artifact) === undefined) this.#cache?.markVerified(artifact);
    if (this.#marked.has(artifact)) return;
    this.#marked.add(artifact);
    this.#raiseFloor(artifact);
    if (artifact.kind === 'amd-vcek' || artifact.kind === 'intel-tcb-info') {
      const platform = platformOfKey(artifact.key);
      if (platform !== undefined) this.#knownPlatforms.set(platform, this.#knownPlatforms.get(platform) ?? { start: Number.NEGATIVE_INFINITY, keys: [] });
    }
  }

  /** Whether the platform `key` names passed a verification (see markVerified); bounded by maxKeys, least recently marked forgotten first. */
  isKnownPlatform(key: string): boolean {
    const platform = platformOfKey(key);
    return platform !== undefined && this.#knownPlatforms.get(platform) !== undefined;
  }

  #shouldRefresh(key: string, a: CollateralArtifact, now: Date): boolean {
    return !this.#offline && needsRefresh(a.validity, now) && this.#refreshDue(key, now);
  }

  /** No refresh attempt for `key` within refreshIntervalMs of `now` (verification clock). */
  #refreshDue(key: string, now: Date): boolean {
    const last = this.#lastRefresh.get(key);
    return last === undefined || now.getTime() - last.at >= this.#refreshIntervalMs;
  }

  #rememberedNotFound(key: string): unknown {
    const entry = this.#notFound.get(key);
    if (entry === undefined) return undefined;
    if (this.#clock() < entry.until) return entry.error;
    this.#notFound.delete(key);
    return undefined;
  }

  /** A source must answer the key it was asked for, with an artifact of that key's kind (and no chain where none belongs). */
  #bound(key: string, a: CollateralArtifact): CollateralArtifact {
    if (a.key !== key || a.kind !== kindOfKey(key)) {
      throw new CollateralFormatError('ERR_COLLATERAL_FORMAT', `asked for ${key}, the source answered ${a.kind} ${a.key}`, {
        details: { artifact: key, answered: a.key, reason: 'not-the-requested-artifact' },
      });
    }
    refuseAttachedChain(a);
    return a;
  }

  /**
   * Admits a fetch of `key` under the budget: keys the cache holds (refreshes)
   * and keys already fetched in this window pass; a known platform's new key
   * takes one of that platform's own slots (a TCB update of a known host
   * during a flood of made-up ones) while the known platforms together have
   * slots left (knownPlatformKeys), any other new key a slot of the budget.
   */
  #admit(key: string): boolean {
    const budget = this.#budget;
    if (budget === null || this.#cache?.has(key)) return true;
    const t = this.#clock();
    const platform = this.#perKnownPlatform > 0 ? platformOfKey(key) : undefined;
    const known = platform === undefined ? undefined : this.#knownPlatforms.get(platform);
    if (known !== undefined) {
      if (!(t >= known.start && t - known.start < budget.windowMs)) {
        known.start = t;
        known.keys = [];
      }
      if (known.keys.includes(key)) return true;
      if (!(t >= this.#knownStart && t - this.#knownStart < budget.windowMs)) {
        this.#knownStart = t;
        this.#knownAdmitted = 0;
      }
      if (known.keys.length < this.#perKnownPlatform && this.#knownAdmitted < this.#knownPlatformKeys) {
        known.keys.push(key);
        this.#knownAdmitted++;
        return true;
      }
    }
    if (!(t >= this.#budgetStart && t - this.#budgetStart < budget.windowMs)) {
      this.#budgetStart = t;
      this.#budgetKeys.clear();
    }
    if (this.#budgetKeys.has(key)) return true;
    if (this.#budgetKeys.size >= budget.keys) return false;
    this.#budgetKeys.add(key);
    return true;
  }

  /** Only on the cold path (a lookup the cache did not answer): the floor is judged after the cache looked at its file again (refreshFloor). */
  #serve(a: CollateralArtifact, now: Date, warnings: string[]): Resolved {
    const floor = judgedByFloor(a) ? this.#coldFloorOf(a) : undefined;
    if (floor !== undefined && isBelowFloor(a, floor, now)) {
      throw new CollateralUnavailableError(
        'ERR_COLLATERAL_UNAVAILABLE',
        `${a.key}: the source answers tcbEvaluationDataNumber ${a.sequence}, below ${floor.text} that a verification already used (in force since ${new Date(floor.from).toISOString()}); refusing the rollback (X03). ${this.#rollbackRemedy(a.key, floor.text)}`,
        { artifact: a.key, reason: 'rollback', sequence: a.sequence, floor: floor.text },
        undefined,
        'X03',
      );
    }
    if (isWithinWindow(a.validity, now)) return { artifact: a, warnings };
    if (this.#graceMs > 0 && isWithinWindow(a.validity, now, this.#graceMs)) {
      return { artifact: a, warnings: [...warnings, `grace period used: ${a.key} expired at ${a.validity.notAfter}`] };
    }
    throw new CollateralExpiredError(a, now);
  }

  /**
   * What the operator does about a rollback refusal (review s8 changes-b #5):
   * it lasts until the source serves the floor's evaluation or later, which a
   * lagging PCCS may never do by itself. On disk the floor has its own file,
   * which the key's glob matches with its versions (a restart re-reads it and
   * re-seeds from the verified marks).
   */
  #rollbackRemedy(key: string, floor: string): string {
    const glob = this.#ownFloors === undefined ? this.#cache?.entryGlob(key) : undefined;
    const forget = glob === undefined ? 'restart the verifier (its floor is in memory)' : `remove ${glob} and restart the verifier (the glob matches the key's cached versions and its floor files)`;
    return (
      `Waiting does not help until the source serves evaluation ${floor} or later: update it (a PCCS: refresh its cached collateral from Intel's PCS, or use the PCS). ` +
      `To accept the older evaluation on purpose, pass it as an explicit bundle (--collateral), which the floor does not judge, or ${forget}`
    );
  }

  #singleFlight(key: string, fetch: () => Promise<CollateralArtifact>, metered: boolean): Promise<CollateralArtifact> {
    const running = this.#inFlight.get(key);
    if (running) return running;
    if (metered && !this.#admit(key)) {
      const b = this.#budget!;
      return Promise.reject(
        new CollateralUnavailableError('ERR_COLLATERAL_UNAVAILABLE', `not fetching ${key}: ${b.keys} distinct new artifacts were fetched in the last ${b.windowMs} ms; retry later`, {
          artifact: key,
          reason: 'fetch-budget',
        }),
      );
    }
    const p = fetch().finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, p);
    return p;
  }
}

/** Thrown when no source is configured for an artifact. */
export function missingSource(what: string): CollateralUnavailableError {
  return new CollateralUnavailableError('ERR_COLLATERAL_MISSING', `no collateral source configured for ${what}`, { artifact: what });
}
