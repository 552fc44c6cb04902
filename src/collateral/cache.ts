/**
 * Collateral cache in memory and on disk. Disk entries are JSON files written
 * atomically (temporary file, then rename) and re-checked with the same shape
 * and key checks as fresh responses when read: a torn, corrupted or foreign
 * file is deleted and treated as a miss, never trusted.
 *
 * Keys come from unverified evidence (the FMSPC of a quote's PCK leaf, an SNP
 * report's CHIP_ID and TCB), so nothing here grows with lookups that find
 * nothing: a miss leaves no entry, memory holds at most `maxKeys` keys (least
 * recently used go first), and the directory is listed once, not per miss.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

import { InvalidArgumentError } from '../errors.js';
import { makeDirectorySync } from '../fs/make-directory.js';
import { isWithinWindow, sameVersion, type CollateralArtifact } from './artifact.js';
import { FLOOR_FILE_NAME, RollbackFloors, floorOf, raises, type Floor } from './floors.js';
import { TEMPORARY_NAME, currentUid, readPrivateFile, writePrivateFile } from './private-file.js';
import { printableUrl } from './source-url.js';
import { refuseAttachedChain, validateArtifactForKey } from './validate.js';

const FORMAT = 'tee-verify-collateral-cache-entry';
const VERSION = 1;
/** Largest cache file read; a real entry is a few KB (the HTTP client caps bodies at 4 MiB). */
const MAX_ENTRY_BYTES = 4 * 1024 * 1024;
/** `<sha256(key)>-<version digest[:16]>.json` (see versionDigest): nothing else in the directory is a version. */
const ENTRY_NAME = /^([0-9a-f]{64})-[0-9a-f]{16}\.json$/;
/** A key's rollback floor file (floors.ts: `<sha256(key)>[-<pid>-<12 hex>]-floor.json`): never a version, never pruned here. */
const FLOOR_NAME = FLOOR_FILE_NAME;
/** A temporary file of a write is pruned only this long after it was last written: a write in progress takes milliseconds. */
const TEMPORARY_MIN_AGE_MS = 60 * 60 * 1000;

export interface CollateralCacheOptions {
  /** Directory for the disk cache; `null` keeps entries in memory only. Default: defaultCacheDirectory(). */
  directory?: string | null;
  /** Versions kept per key; default 8. */
  maxVersions?: number;
  /** Keys held in memory (least recently used evicted; the disk keeps them); default 4096. */
  maxKeys?: number;
  /** Rollback floors held in memory (see floors.ts; the disk keeps them); default 65536. */
  maxFloors?: number;
}

/**
 * `$XDG_CACHE_HOME/tee-verify`, else `~/.cache/tee-verify`. The XDG rule: a
 * relative `XDG_CACHE_HOME` is ignored. A home directory that is not an
 * absolute path (`HOME` empty or relative) gives no default either: the cache,
 * with its rollback floors, would land under the current directory, which
 * may be one that someone else can write (s16 env red team #5). That is
 * ERR_COLLATERAL_CACHE_DIR (class ARGUMENT), never a silent fallback: name a
 * directory, or use a memory-only cache.
 */
export function defaultCacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CACHE_HOME'];
  if (xdg && isAbsolute(xdg)) return join(xdg, 'tee-verify');
  const home = homedir();
  if (!isAbsolute(home)) {
    throw new InvalidArgumentError(
      'ERR_COLLATERAL_CACHE_DIR',
      `no default collateral cache directory: XDG_CACHE_HOME is ${xdg ? `not an absolute path (${JSON.stringify(xdg)})` : 'not set'} and the home directory (HOME=${JSON.stringify(home)}) is not an absolute path; set XDG_CACHE_HOME or HOME to an absolute directory, or name the cache directory explicitly (tee-verify: --cache-dir DIR or --no-cache; the library: CollateralCache's directory option, null for memory only)`,
      { details: { directory: null, home, ...(xdg ? { xdgCacheHome: xdg } : {}) } },
    );
  }
  return join(home, '.cache', 'tee-verify');
}

interface StoredEntry {
  format: string;
  version: number;
  key: string;
  kind: CollateralArtifact['kind'];
  body: string; // base64
  issuerChainPem?: string;
  source: CollateralArtifact['source'];
  /** Set once a verification that used this version passed; only orders eviction (never trust). */
  verified?: true;
}

/**
 * Provenance as read from or written to an entry: a URL without userinfo.
 * Caches written before review s11 may hold a PCCS URL with user:password
 * (never sent, yet printed in every detail naming the source; changes-b #7).
 */
function printableSource(source: CollateralArtifact['source']): CollateralArtifact['source'] {
  return typeof source?.url === 'string' ? { ...source, url: printableUrl(source.url) } : source;
}

/**
 * Newer wins: sequence first (evaluation data number, CRL number), then the
 * document's own signed issue date (`issued`), and only between versions
 * issued at the same instant the start of the validity window. The window
 * can be narrowed by an issuer chain from a response header that nothing
 * vouches for (the verifier never reads the PCK CRL's), so it must not decide
 * which of two documents is newer (s15 red team, X03).
 */
export function isOlder(candidate: CollateralArtifact, existing: CollateralArtifact): boolean {
  if (candidate.sequence !== undefined && existing.sequence !== undefined) {
    const a = BigInt(candidate.sequence);
    const b = BigInt(existing.sequence);
    if (a !== b) return a < b;
  }
  const issuedA = Date.parse(candidate.issued ?? candidate.validity.notBefore);
  const issuedB = Date.parse(existing.issued ?? existing.validity.notBefore);
  if (issuedA !== issuedB) return issuedA < issuedB;
  return Date.parse(candidate.validity.notBefore) < Date.parse(existing.validity.notBefore);
}

/** The newer of two artifacts (see isOlder). */
function newest(list: readonly CollateralArtifact[]): CollateralArtifact | undefined {
  return list.reduce<CollateralArtifact | undefined>((best, a) => (best === undefined || isOlder(best, a) ? a : best), undefined);
}

/** What CollateralCache.prune removes: versions whose validity ended before `expiredBefore`. */
export interface PruneOptions {
  /** Versions whose window ended (notAfter) before this instant go; at most `now`. */
  expiredBefore: Date;
  /** The caller's clock: `expiredBefore` may not be later, so a version still valid now is never pruned. */
  now: Date;
  /** Count what would go, remove nothing. */
  dryRun?: boolean;
}

/** What prune found (a dry run: `removed` counts what would go). */
export interface PruneResult {
  /** Versions removed: ended before `expiredBefore`. */
  removed: number;
  /** Versions kept: their window ends at or after `expiredBefore`. */
  kept: number;
  /** Version-named files left alone unread: not a regular file of this user (a link, a FIFO, another user's) or not a valid entry. */
  skipped: number;
  /** Versions that should have gone but the disk refused to remove. */
  failed: number;
  /**
   * Leftover temporary files of this cache's writes (a crash between write
   * and rename) last written before `expiredBefore` and over an hour before
   * `now`: removed (a dry run: would be). Never a valid entry.
   */
  temporary: number;
  /** Keys with a rollback floor file seen or written (from the verified versions removed); prune never removes a floor file. */
  floors: number;
}

/** The verification instant and grace of the lookup that stores a version (see put). */
export interface Retention {
  now: Date;
  graceMs?: number;
  /**
   * Whether a version is provably genuine under the verification's trust roots
   * (chainsToRoots). When given, eviction drops versions it does not vouch for
   * before any it does (s15 change review: copies of the genuine PCK CRL under
   * made-up header chains, or forged CRLs fetched at past instants that no
   * verification then judged, pushed the genuine, unmarked CRL out of its 8
   * slots, and the rogue source then served an older CRL that did not list the
   * revoked PCK).
   */
  anchored?: (artifact: CollateralArtifact) => boolean;
}

/** Past its window (plus grace) at `now`: no verification at that instant or later can use it. */
function isPast(a: CollateralArtifact, r: Retention): boolean {
  const end = Date.parse(a.validity.notAfter);
  return !Number.isNaN(end) && end + (r.graceMs ?? 0) < r.now.getTime();
}

/**
 * The digest that names a version's file: SHA-256 of the body, and for an
 * artifact with an issuer chain of (body length, body, chain), since the chain
 * is part of the version (sameVersion, review s8 #2).
 */
function versionDigest(a: CollateralArtifact): string {
  const h = createHash('sha256');
  if (a.issuerChainPem === undefined) return h.update(a.body).digest('hex');
  const length = Buffer.alloc(8);
  length.writeBigUInt64BE(BigInt(a.body.length));
  return h.update(length).update(a.body).update(a.issuerChainPem, 'utf8').digest('hex');
}

/**
 * The digest that named a version's file before the issuer chain was part of
 * the version (up to 88e77a1): SHA-256 of the body alone. Entries written
 * under it are renamed, not dropped (review s8 changes-b #1).
 */
function previousVersionDigest(a: CollateralArtifact): string {
  return createHash('sha256').update(a.body).digest('hex');
}

const NONE: readonly CollateralArtifact[] = Object.freeze([]);


function cacheDirError(directory: string, why: string, cause?: unknown): InvalidArgumentError {
  return new InvalidArgumentError('ERR_COLLATERAL_CACHE_DIR', `collateral cache directory ${directory}: ${why} (choose another directory, or pass directory: null for a memory-only cache)`, {
    details: { directory },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Creates `<directory>/v1` (0700) and refuses a directory that someone else
 * could write into: anything that can plant a file there chooses what the
 * cache serves first (it is still verified, but may deny service).
 */
function prepareDirectory(directory: string): void {
  const entries = join(directory, `v${VERSION}`);
  try {
    makeDirectorySync(entries, 0o700); // not recursive mkdir: it loops for ever under /proc on Node 20 (s16 #4)
  } catch (err) {
    throw cacheDirError(directory, `cannot be created (${(err as Error).message})`, err);
  }
  const me = currentUid();
  for (const [path, st] of [
    [directory, statSync(directory)],
    [entries, lstatSync(entries)],
  ] as const) {
    if (!st.isDirectory()) throw cacheDirError(directory, `${path} is not a directory`);
    if (me !== undefined && st.uid !== me) throw cacheDirError(directory, `${path} belongs to uid ${st.uid}, not to this process (uid ${me})`);
    if ((st.mode & 0o022) !== 0) throw cacheDirError(directory, `${path} is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`);
  }
}

/**
 * Keeps every version of an artifact it has seen (a few per key), so that
 * verifications at different instants (batch re-verification of stored
 * evidence) each find the version valid at their instant. Selection always
 * prefers the newest version valid at the instant, so an older response can
 * never displace a newer one that is still valid (X03).
 *
 * Shape checks do not authenticate: a stored version may carry a forged
 * sequence. The verifier is the only judge, so the cache takes its verdicts:
 * `discard` drops a version a verification rejected, `markVerified` marks a
 * version a verification passed with, and eviction never drops the newest
 * marked version, so unverified newcomers cannot push out the version that
 * verified last (see #evictionVictim).
 */
export class CollateralCache {
  readonly directory: string | null;
  readonly maxVersions: number;
  readonly maxKeys: number;
  /** Versions per key, least recently used first (Map order). Never holds an empty list. */
  readonly #memory = new Map<string, CollateralArtifact[]>();
  /** Versions used by a verification that passed (see markVerified). */
  readonly #verified = new WeakSet<CollateralArtifact>();
  /** Entry file names on disk per key digest: listed once, then kept up to date by this cache. */
  #index: Map<string, Set<string>> | undefined;
  /** Rollback floors, apart from the versions: eviction, expiry and pruning leave them (review s9, F1). */
  readonly #floors: RollbackFloors;

  /** Throws ERR_COLLATERAL_CACHE_DIR (class ARGUMENT) for a directory that cannot be created or is not private. */
  constructor(options: CollateralCacheOptions = {}) {
    this.directory = options.directory === undefined ? defaultCacheDirectory() : options.directory;
    this.maxVersions = options.maxVersions ?? 8;
    this.maxKeys = options.maxKeys ?? 4096;
    if (!Number.isSafeInteger(this.maxKeys) || this.maxKeys < 1) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'maxKeys must be a positive integer');
    const maxFloors = options.maxFloors;
    if (maxFloors !== undefined && (!Number.isSafeInteger(maxFloors) || maxFloors < 1)) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'maxFloors must be a positive integer');
    if (this.directory) prepareDirectory(this.directory);
    this.#floors = new RollbackFloors({
      directory: this.directory ? join(this.directory, `v${VERSION}`) : null,
      maxUnset: this.maxKeys,
      ...(maxFloors === undefined ? {} : { maxFloors }),
    });
  }

  /** Keys held in memory now (at most maxKeys). */
  get keyCount(): number {
    return this.#memory.size;
  }

  #prefix(key: string): string {
    return createHash('sha256').update(key).digest('hex');
  }

  #fileName(a: CollateralArtifact): string {
    return `${this.#prefix(a.key)}-${versionDigest(a).slice(0, 16)}.json`;
  }

  #dir(): string {
    return join(this.directory!, `v${VERSION}`);
  }

  /** The directory's entries by key digest, listed on first use. */
  #diskIndex(): Map<string, Set<string>> {
    if (this.#index) return this.#index;
    const index = new Map<string, Set<string>>();
    let names: string[] = [];
    try {
      names = readdirSync(this.#dir());
    } catch {
      // an unreadable directory is an empty cache
    }
    for (const name of names) {
      const m = ENTRY_NAME.exec(name);
      if (!m) continue;
      let set = index.get(m[1]!);
      if (!set) index.set(m[1]!, (set = new Set()));
      set.add(name);
    }
    this.#index = index;
    return index;
  }

  #indexAdd(name: string): void {
    const digest = name.slice(0, 64);
    const index = this.#diskIndex();
    let set = index.get(digest);
    if (!set) index.set(digest, (set = new Set()));
    set.add(name);
  }

  #removeFile(name: string): void {
    const set = this.#index?.get(name.slice(0, 64));
    if (set) {
      set.delete(name);
      if (set.size === 0) this.#index!.delete(name.slice(0, 64));
    }
    try {
      rmSync(join(this.#dir(), name), { force: true });
    } catch {
      // A read-only disk: the entry stays there, memory has already forgotten it.
    }
  }

  /** The stored versions of `key` (memory, else disk), marked as recently used; an empty frozen list when none. */
  #lookup(key: string): readonly CollateralArtifact[] {
    const list = this.#memory.get(key);
    if (list) {
      // Least recently used order: move the key to the end.
      this.#memory.delete(key);
      this.#memory.set(key, list);
      return list;
    }
    if (!this.directory) return NONE;
    const loaded = this.#loadAll(key);
    if (loaded.length === 0) return NONE; // a miss leaves nothing behind
    this.#remember(key, loaded);
    return loaded;
  }

  #remember(key: string, list: CollateralArtifact[]): void {
    this.#memory.set(key, list);
    while (this.#memory.size > this.maxKeys) this.#memory.delete(this.#memory.keys().next().value!);
  }

  /** The newest stored version of `key`, whatever its window. */
  get(key: string): CollateralArtifact | undefined {
    return newest(this.#lookup(key));
  }

  /** Whether any version of `key` is stored. */
  has(key: string): boolean {
    return this.#lookup(key).length > 0;
  }

  /** The newest stored version of `key` whose window contains `now` (plus `graceMs`), if any. */
  select(key: string, now: Date, graceMs = 0): CollateralArtifact | undefined {
    // A loop, not filter + reduce: this runs four times per verification.
    let best: CollateralArtifact | undefined;
    for (const a of this.#lookup(key)) {
      if (isWithinWindow(a.validity, now, graceMs) && (best === undefined || isOlder(best, a))) best = a;
    }
    return best;
  }

  #loadAll(key: string): CollateralArtifact[] {
    const names = this.#diskIndex().get(this.#prefix(key));
    if (!names) return [];
    const out: CollateralArtifact[] = [];
    for (const name of [...names]) {
      const a = this.#load(name, key);
      if (!a) continue;
      // One version under two names (a renamed previous-scheme entry next to its new-named copy): one object, either's mark.
      // Also one version under two names: chains that differ in PEM whitespace only (sameVersion); the second file goes.
      const twin = out.find((b) => sameVersion(b, a));
      if (twin === undefined) {
        out.push(a);
        continue;
      }
      if (this.#verified.has(a) && !this.#verified.has(twin)) {
        this.#verified.add(twin);
        this.#tryWrite(twin);
      }
      if (this.#fileName(a) !== this.#fileName(twin)) this.#removeFile(this.#fileName(a));
    }
    return out;
  }

  #load(name: string, key: string): CollateralArtifact | undefined {
    const read = readPrivateFile(join(this.#dir(), name), MAX_ENTRY_BYTES);
    // A read the system failed (EMFILE, EIO) says nothing about the file: it stays (review s9 changes-c #1).
    if (read.failure === 'unreadable') return undefined;
    const text = read.text;
    try {
      if (text === undefined) throw new Error('not a regular file of ours');
      const stored = JSON.parse(text) as StoredEntry;
      if (stored.format !== FORMAT || stored.version !== VERSION || stored.key !== key) throw new Error('foreign entry');
      const artifact = validateArtifactForKey({
        kind: stored.kind,
        key: stored.key,
        body: new Uint8Array(Buffer.from(stored.body, 'base64')),
        ...(stored.issuerChainPem === undefined ? {} : { issuerChainPem: stored.issuerChainPem }),
        source: { ...printableSource(stored.source), origin: 'cache' },
      });
      const expected = this.#fileName(artifact);
      if (expected !== name) {
        // Only a real mismatch is dropped: a file under the previous scheme's name is this version, renamed.
        if (name !== `${this.#prefix(key)}-${previousVersionDigest(artifact).slice(0, 16)}.json`) throw new Error('entry name does not match its version');
        this.#renameEntry(name, expected, stored.verified === true);
      }
      if (stored.verified === true) this.#verified.add(artifact);
      return artifact;
    } catch {
      this.#removeFile(name); // discard and fetch again
      return undefined;
    }
  }

  /**
   * Moves a previous-scheme entry to its current name, keeping its content
   * (and so its verified mark). When the current name is already there, the
   * older file goes unless it carries the mark the other may lack. A disk
   * that refuses keeps the old name: the entry is still served from memory.
   */
  #renameEntry(from: string, to: string, verified: boolean): void {
    const dir = this.#dir();
    const present = this.#index?.get(to.slice(0, 64))?.has(to) === true;
    if (present && !verified) {
      this.#removeFile(from);
      return;
    }
    try {
      renameSync(join(dir, from), join(dir, to));
    } catch {
      return;
    }
    this.#index?.get(from.slice(0, 64))?.delete(from);
    this.#indexAdd(to);
  }

  /**
   * Adds `artifact` as a version of its key; returns false when that version
   * (same body and issuer chain, sameVersion) is already stored. A disk that cannot be written does not lose the
   * artifact: it stays in memory and a warning is added to `warnings`.
   * `retention` (the storing lookup's instant and grace) lets eviction drop
   * versions that have passed first. Throws ERR_COLLATERAL_FORMAT for an
   * issuer chain on a kind that has none (refuseAttachedChain).
   */
  put(artifact: CollateralArtifact, warnings?: string[], retention?: Retention): boolean {
    refuseAttachedChain(artifact); // ERR_COLLATERAL_FORMAT (X03, review s8 #3)
    const found = this.#lookup(artifact.key);
    if (found.some((a) => sameVersion(a, artifact))) return false;
    const list = found === NONE ? [] : (found as CollateralArtifact[]);
    list.push(artifact);
    if (found === NONE) this.#remember(artifact.key, list);
    if (this.directory) {
      try {
        this.#write(artifact);
      } catch (err) {
        warnings?.push(`collateral cache: could not write ${artifact.key} to ${this.directory} (${(err as Error).message}); kept in memory only`);
      }
    }
    while (list.length > this.maxVersions) {
      const victim = this.#evictionVictim(list, retention);
      list.splice(list.indexOf(victim), 1);
      if (this.directory) this.#removeFile(this.#fileName(victim));
    }
    return true;
  }

  /**
   * Which version leaves a key holding too many (review s6b #1). With an
   * `anchored` test (the service's trust roots), first any version that does
   * not chain to those roots, whatever the instant (s15 change reviews: an
   * unauthenticated newcomer, however it ranks and at whatever instant it was
   * stored, never pushes out a genuine version). Then one
   * whose window (plus grace) has passed at the verification instant: it can
   * serve no verification at that instant or later. Else the oldest of all
   * but the newest verified version. Only that one is protected: a forged
   * newcomer (any sequence it likes) cannot push out the version that last
   * verified, while a genuine newer version is never refused because older
   * ones verified (Intel reissues TCB info and CRLs daily).
   */
  #evictionVictim(list: readonly CollateralArtifact[], retention: Retention | undefined): CollateralArtifact {
    const oldest = (candidates: readonly CollateralArtifact[]) => candidates.reduce((o, a) => (isOlder(a, o) ? a : o));
    // Unvouched versions first, whatever the instant: the storing lookup's instant may be any the
    // caller chose (verify --at, batch --at collected), so "passed at that instant" must not let a
    // rogue source's newcomers push out a genuine version (s15 change review round 2).
    // The version that verified last stays protected from this rule too: under roots other than
    // the verification's, nothing chains, and it must not become fair game (s15 change review round 3).
    const protectedVersion = newest(list.filter((a) => this.#verified.has(a)));
    const anchored = retention?.anchored;
    if (anchored) {
      const unvouched = list.filter((a) => a !== protectedVersion && !anchored(a));
      if (unvouched.length > 0) return oldest(unvouched);
    }
    if (retention) {
      const passed = list.filter((a) => isPast(a, retention));
      if (passed.length > 0) return oldest(passed);
    }
    return oldest(list.filter((a) => a !== protectedVersion));
  }

  /**
   * Drops the stored version of `artifact` (same body and issuer chain) from
   * memory and disk (a verification rejected it); true when one was stored.
   * The next selection finds the next version, or none (fetch).
   */
  discard(artifact: CollateralArtifact): boolean {
    const list = this.#lookup(artifact.key) as CollateralArtifact[];
    const index = list.findIndex((a) => sameVersion(a, artifact));
    if (index < 0) return false;
    const [stored] = list.splice(index, 1);
    if (list.length === 0) this.#memory.delete(artifact.key);
    // The stored version's file: `artifact` may spell its chain's PEM differently (sameVersion).
    if (this.directory) this.#removeFile(this.#fileName(stored!));
    return true;
  }

  /**
   * Marks the stored version of `artifact` (same body and chain) as used by a
   * verification that passed (memory and disk); eviction never drops the
   * newest marked version of a key (unless past). Returns true when the mark is new. Cheap when already
   * marked: this runs after every successful verification.
   */
  markVerified(artifact: CollateralArtifact): boolean {
    if (this.#verified.has(artifact)) return false;
    const stored = this.#lookup(artifact.key).find((a) => sameVersion(a, artifact));
    if (stored === undefined || this.#verified.has(stored)) return false;
    this.#verified.add(stored);
    this.#tryWrite(stored);
    return true;
  }

  /** Whether the stored version of `artifact` (same body and chain) carries the verified mark. */
  isVerified(artifact: CollateralArtifact): boolean {
    if (this.#verified.has(artifact)) return true;
    const stored = this.#lookup(artifact.key).find((a) => sameVersion(a, artifact));
    return stored !== undefined && this.#verified.has(stored);
  }

  /**
   * The rollback floor of `key` (floors.ts): held in memory, else read from
   * its file on the key's first lookup and raised to the verified marks of
   * the stored versions. Eviction, expiry or removal of versions never lowers it.
   */
  floor(key: string): Floor {
    // peek first: this runs on every warm lookup of TCB info and QE identity, and needs no closure then.
    return this.#floors.peek(key) ?? this.#floors.get(key, () => this.#markedFloor(key));
  }

  /**
   * The rollback floor of `key` on a cold lookup (one the cache did not
   * answer, before a fetched or fallback version is served): floor(), and a
   * file that could not be read or written before is read (written) again
   * (review s9 changes-c #1). Never called per warm lookup.
   */
  refreshFloor(key: string): Floor {
    return this.#floors.refresh(key, () => this.#markedFloor(key));
  }

  /** The system failed to read `key`'s floor file at its last read (the floor in force is unknown). */
  floorUnreadable(key: string): boolean {
    return this.#floors.isUnreadable(key);
  }

  /**
   * Raises the floor of `artifact`'s key to it (a verification that used it
   * passed; from a source or this cache, a TCB info or QE identity); memory
   * and, for a disk cache, the key's floor file. True when the floor rose.
   */
  raiseFloor(artifact: CollateralArtifact): boolean {
    const candidate = floorOf(artifact);
    return candidate !== undefined && this.#floors.raise(artifact.key, candidate, () => this.#markedFloor(artifact.key));
  }

  /** Floors held in memory now. */
  get floorCount(): number {
    return this.#floors.size;
  }

  /**
   * The files of `key`'s rollback floor on disk now (`<dir>/v1/<sha256(key)>-<pid>-<12 hex>-floor.json`,
   * one per write, and `<sha256(key)>-floor.json` from versions before review s11; all matched by
   * entryGlob); [] in memory only.
   */
  floorFiles(key: string): string[] {
    return this.#floors.files(key);
  }

  /** The strictest floor the verified marks of `key`'s stored versions set. */
  #markedFloor(key: string): Floor | undefined {
    let best: Floor | undefined;
    for (const v of this.#lookup(key)) {
      if (!this.#verified.has(v)) continue;
      const f = floorOf(v);
      if (f !== undefined && (best === undefined || raises(f, best))) best = f;
    }
    return best;
  }

  /**
   * Where `key`'s entries live on disk, as a glob an operator can remove
   * (`<dir>/v1/<sha256(key)>-*.json`: its versions and its rollback floor files);
   * undefined in memory only.
   */
  entryGlob(key: string): string | undefined {
    return this.directory ? join(this.#dir(), `${this.#prefix(key)}-*.json`) : undefined;
  }

  /** The stored versions of `key` (a copy), in no particular order. */
  versions(key: string): CollateralArtifact[] {
    return [...this.#lookup(key)];
  }

  /**
   * Removes the versions whose validity ended before `expiredBefore` (review
   * s9, F2): from disk (the directory is listed afresh, so versions other
   * processes wrote count too) and from memory; a memory-only cache prunes
   * its memory. Never by default: batch re-verification at past instants
   * needs old versions. Never a floor file (the floor outlives its versions),
   * never a file it cannot read as a version of ours: a link is not followed
   * and, like a foreign or invalid file, left where it is (`skipped`).
   * Throws ERR_INVALID_ARGUMENT for an invalid Date or `expiredBefore` after `now`.
   */
  prune(options: PruneOptions): PruneResult {
    const { expiredBefore, now } = options;
    for (const [name, d] of [['expiredBefore', expiredBefore], ['now', now]] as const) {
      if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `prune: ${name} must be a valid Date`);
    }
    if (expiredBefore.getTime() > now.getTime()) {
      throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `prune: expiredBefore ${expiredBefore.toISOString()} is after now ${now.toISOString()}: versions still valid would go`);
    }
    const limit = expiredBefore.getTime();
    const ended = (a: CollateralArtifact) => Date.parse(a.validity.notAfter) < limit;
    const result: PruneResult = { removed: 0, kept: 0, skipped: 0, failed: 0, temporary: 0, floors: 0 };
    if (!this.directory) {
      for (const [key, list] of [...this.#memory]) {
        const gone = list.filter(ended);
        result.removed += gone.length;
        result.kept += list.length - gone.length;
        if (options.dryRun) continue;
        for (const a of gone) {
          if (this.#verified.has(a)) this.#keepFloorOf(a);
          this.#forgetInMemory(key, a);
        }
      }
      return result;
    }
    let names: string[];
    try {
      names = readdirSync(this.#dir());
    } catch (err) {
      throw cacheDirError(this.directory, `cannot be listed (${(err as Error).message})`, err);
    }
    const floorKeys = new Set<string>(); // digests of the keys with a floor file seen or written
    for (const name of names) {
      if (FLOOR_NAME.test(name)) {
        floorKeys.add(name.slice(0, 64));
        continue;
      }
      if (this.#isTemporary(name)) {
        this.#pruneTemporary(name, Math.min(limit, now.getTime() - TEMPORARY_MIN_AGE_MS), options.dryRun === true, result);
        continue;
      }
      if (!ENTRY_NAME.test(name)) continue; // anything not ours
      const read = this.#readVersionFile(name);
      if (read === undefined) {
        result.skipped++;
        continue;
      }
      const { artifact } = read;
      // The mark on disk, or in memory when its write failed.
      const verified = read.verified || this.#memory.get(artifact.key)?.some((a) => this.#verified.has(a) && sameVersion(a, artifact)) === true;
      if (!ended(artifact)) {
        result.kept++;
        continue;
      }
      if (options.dryRun) {
        result.removed++;
        continue;
      }
      // A cache from before floor files keeps a key's floor only in its marks (review s9 changes-c #2):
      // the floor goes to its file before the version that sets it goes, or the version stays.
      if (verified && !this.#keepFloorOf(artifact)) {
        result.failed++;
        continue;
      }
      if (verified && floorOf(artifact) !== undefined) floorKeys.add(name.slice(0, 64));
      try {
        rmSync(join(this.#dir(), name)); // unlinks the name; a link put there meanwhile is not followed
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          result.failed++;
          continue;
        }
      }
      result.removed++;
      const set = this.#index?.get(name.slice(0, 64));
      set?.delete(name);
      if (set?.size === 0) this.#index!.delete(name.slice(0, 64));
      this.#forgetInMemory(artifact.key, artifact);
    }
    result.floors = floorKeys.size;
    return result;
  }

  /** A temporary file writePrivateFile made for a version or a floor file of this cache. */
  #isTemporary(name: string): boolean {
    const target = TEMPORARY_NAME.exec(name)?.[1];
    return target !== undefined && (ENTRY_NAME.test(target) || FLOOR_NAME.test(target));
  }

  /**
   * Removes the leftover temporary file `name` when it was last written
   * before `before` (review s9 changes-c #6): a regular file of this user
   * only (lstat: a link is never followed, and like a foreign file it is left
   * alone and counted as skipped).
   */
  #pruneTemporary(name: string, before: number, dryRun: boolean, result: PruneResult): void {
    const file = join(this.#dir(), name);
    const st = lstatSync(file, { throwIfNoEntry: false });
    if (st === undefined) return; // renamed meanwhile: the write finished
    const me = currentUid();
    if (!st.isFile() || (me !== undefined && st.uid !== me)) {
      result.skipped++;
      return;
    }
    if (st.mtimeMs >= before) return; // possibly a write in progress
    if (!dryRun) {
      try {
        rmSync(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') result.failed++;
        return;
      }
    }
    result.temporary++;
  }

  /** The floor `a` (a version with the verified mark) sets is in memory and, with a disk, in its key's file; false when the disk refused. */
  #keepFloorOf(a: CollateralArtifact): boolean {
    const candidate = floorOf(a);
    return candidate === undefined || this.#floors.persist(a.key, candidate);
  }

  /** Drops the in-memory copy of `a`'s version, if held. */
  #forgetInMemory(key: string, a: CollateralArtifact): void {
    const list = this.#memory.get(key);
    const index = list?.findIndex((b) => sameVersion(a, b)) ?? -1;
    if (index < 0) return;
    list!.splice(index, 1);
    if (list!.length === 0) this.#memory.delete(key);
  }

  /**
   * The version in file `name`, read without side effects (prune): a regular
   * file of ours, a valid entry of the key its name names, under its
   * version's name (or the previous scheme's); undefined for anything else.
   */
  #readVersionFile(name: string): { artifact: CollateralArtifact; verified: boolean } | undefined {
    const { text } = readPrivateFile(join(this.#dir(), name), MAX_ENTRY_BYTES);
    if (text === undefined) return undefined;
    try {
      const stored = JSON.parse(text) as StoredEntry;
      if (stored.format !== FORMAT || stored.version !== VERSION || typeof stored.key !== 'string' || this.#prefix(stored.key) !== name.slice(0, 64)) return undefined;
      const artifact = validateArtifactForKey({
        kind: stored.kind,
        key: stored.key,
        body: new Uint8Array(Buffer.from(stored.body, 'base64')),
        ...(stored.issuerChainPem === undefined ? {} : { issuerChainPem: stored.issuerChainPem }),
        source: { ...printableSource(stored.source), origin: 'cache' },
      });
      const previous = `${this.#prefix(stored.key)}-${previousVersionDigest(artifact).slice(0, 16)}.json`;
      return name === this.#fileName(artifact) || name === previous ? { artifact, verified: stored.verified === true } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Writes `a` again (a new mark) when there is a disk; the mark only orders eviction, so a disk that refuses changes no verdict. */
  #tryWrite(a: CollateralArtifact): void {
    if (!this.directory) return;
    try {
      this.#write(a);
    } catch {
      // Kept in memory.
    }
  }

  #write(a: CollateralArtifact): void {
    const entry: StoredEntry = {
      format: FORMAT,
      version: VERSION,
      key: a.key,
      kind: a.kind,
      body: Buffer.from(a.body).toString('base64'),
      ...(a.issuerChainPem === undefined ? {} : { issuerChainPem: a.issuerChainPem }),
      source: printableSource(a.source),
      ...(this.#verified.has(a) ? { verified: true as const } : {}),
    };
    const name = this.#fileName(a);
    writePrivateFile(join(this.#dir(), name), JSON.stringify(entry));
    this.#indexAdd(name);
  }

  /** Forgets the in-memory copies, floors and the directory listing (the disk stays); used to simulate a new process. */
  clearMemory(): void {
    this.#memory.clear();
    this.#floors.clear();
    this.#index = undefined;
  }
}
