/**
 * Collateral cache in memory and on disk. Disk entries are JSON files written
 * atomically (temporary file, then rename) and re-checked with the same shape
 * validation as fresh responses when read: a torn, corrupted or foreign file
 * is deleted and treated as a miss, never trusted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { isWithinWindow, type CollateralArtifact } from './artifact.js';
import { validateArtifact } from './validate.js';

const FORMAT = 'tee-verify-collateral-cache-entry';
const VERSION = 1;

export interface CollateralCacheOptions {
  /** Directory for the disk cache; `null` keeps entries in memory only. Default: defaultCacheDirectory(). */
  directory?: string | null;
}

/** `$XDG_CACHE_HOME/tee-verify`, else `~/.cache/tee-verify`. */
export function defaultCacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_CACHE_HOME'] && env['XDG_CACHE_HOME'].startsWith('/') ? env['XDG_CACHE_HOME'] : join(homedir(), '.cache');
  return join(base, 'tee-verify');
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

/** Newer wins: sequence first (evaluation data number, CRL number), then the start of validity. */
export function isOlder(candidate: CollateralArtifact, existing: CollateralArtifact): boolean {
  if (candidate.sequence !== undefined && existing.sequence !== undefined) {
    const a = BigInt(candidate.sequence);
    const b = BigInt(existing.sequence);
    if (a !== b) return a < b;
  }
  return Date.parse(candidate.validity.notBefore) < Date.parse(existing.validity.notBefore);
}

/** The newer of two artifacts (see isOlder). */
function newest(list: CollateralArtifact[]): CollateralArtifact | undefined {
  return list.reduce<CollateralArtifact | undefined>((best, a) => (best === undefined || isOlder(best, a) ? a : best), undefined);
}

const sameBytes = (a: CollateralArtifact, b: CollateralArtifact) => Buffer.from(a.body).equals(Buffer.from(b.body));

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
 * version a verification passed with, and eviction drops unmarked versions
 * first, so unverified newcomers cannot push out the versions that verified.
 */
export class CollateralCache {
  readonly directory: string | null;
  readonly maxVersions: number;
  readonly #memory = new Map<string, CollateralArtifact[]>();
  /** Versions used by a verification that passed (see markVerified). */
  readonly #verified = new WeakSet<CollateralArtifact>();

  constructor(options: CollateralCacheOptions & { maxVersions?: number } = {}) {
    this.directory = options.directory === undefined ? defaultCacheDirectory() : options.directory;
    this.maxVersions = options.maxVersions ?? 8;
    if (this.directory) mkdirSync(join(this.directory, `v${VERSION}`), { recursive: true, mode: 0o700 });
  }

  #prefix(key: string): string {
    return createHash('sha256').update(key).digest('hex');
  }

  #file(a: CollateralArtifact): string {
    const version = createHash('sha256').update(a.body).digest('hex').slice(0, 16);
    return join(this.directory!, `v${VERSION}`, `${this.#prefix(a.key)}-${version}.json`);
  }

  #versions(key: string): CollateralArtifact[] {
    let list = this.#memory.get(key);
    if (!list) {
      list = this.directory ? this.#loadAll(key) : [];
      this.#memory.set(key, list);
    }
    return list;
  }

  /** The newest stored version of `key`, whatever its window. */
  get(key: string): CollateralArtifact | undefined {
    return newest(this.#versions(key));
  }

  /** The newest stored version of `key` whose window contains `now` (plus `graceMs`), if any. */
  select(key: string, now: Date, graceMs = 0): CollateralArtifact | undefined {
    // A loop, not filter + reduce: this runs four times per verification.
    let best: CollateralArtifact | undefined;
    for (const a of this.#versions(key)) {
      if (isWithinWindow(a.validity, now, graceMs) && (best === undefined || isOlder(best, a))) best = a;
    }
    return best;
  }

  #loadAll(key: string): CollateralArtifact[] {
    const dir = join(this.directory!, `v${VERSION}`);
    const prefix = `${this.#prefix(key)}-`;
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.startsWith(prefix) && n.endsWith('.json'));
    } catch {
      return [];
    }
    const out: CollateralArtifact[] = [];
    for (const name of names) {
      const a = this.#load(join(dir, name), key);
      if (a) out.push(a);
    }
    return out;
  }

  #load(file: string, key: string): CollateralArtifact | undefined {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const stored = JSON.parse(text) as StoredEntry;
      if (stored.format !== FORMAT || stored.version !== VERSION || stored.key !== key) throw new Error('foreign entry');
      const artifact = validateArtifact({
        kind: stored.kind,
        key: stored.key,
        body: new Uint8Array(Buffer.from(stored.body, 'base64')),
        ...(stored.issuerChainPem === undefined ? {} : { issuerChainPem: stored.issuerChainPem }),
        source: { ...stored.source, origin: 'cache' },
      });
      if (stored.verified === true) this.#verified.add(artifact);
      return artifact;
    } catch {
      rmSync(file, { force: true }); // discard and fetch again
      return undefined;
    }
  }

  /** Adds `artifact` as a version of its key; returns false when those exact bytes are already stored. */
  put(artifact: CollateralArtifact): boolean {
    const list = this.#versions(artifact.key);
    if (list.some((a) => sameBytes(a, artifact))) return false;
    list.push(artifact);
    if (this.directory) this.#write(artifact);
    while (list.length > this.maxVersions) {
      // Unverified versions go first: a forged higher sequence must not evict what verified.
      const unverified = list.filter((a) => !this.#verified.has(a));
      const oldest = (unverified.length > 0 ? unverified : list).reduce((o, a) => (isOlder(a, o) ? a : o));
      list.splice(list.indexOf(oldest), 1);
      if (this.directory) rmSync(this.#file(oldest), { force: true });
    }
    return true;
  }

  /**
   * Drops the stored version of `artifact.key` with exactly `artifact.body`
   * from memory and disk (a verification rejected it); true when one was
   * stored. The next selection finds the next version, or none (fetch).
   */
  discard(artifact: CollateralArtifact): boolean {
    const list = this.#versions(artifact.key);
    const index = list.findIndex((a) => a === artifact || sameBytes(a, artifact));
    if (index < 0) return false;
    list.splice(index, 1);
    if (this.directory) rmSync(this.#file(artifact), { force: true });
    return true;
  }

  /**
   * Marks the stored version with `artifact`'s bytes as used by a
   * verification that passed (memory and disk); eviction keeps marked
   * versions longest. Returns true when the mark is new. Cheap when already
   * marked: this runs after every successful verification.
   */
  markVerified(artifact: CollateralArtifact): boolean {
    if (this.#verified.has(artifact)) return false;
    const stored = this.#versions(artifact.key).find((a) => a === artifact || sameBytes(a, artifact));
    if (stored === undefined || this.#verified.has(stored)) return false;
    this.#verified.add(stored);
    if (this.directory) {
      try {
        this.#write(stored);
      } catch {
        // The mark only orders eviction; an unwritable disk must not fail a verification that passed.
      }
    }
    return true;
  }

  /** Whether the stored version with `artifact`'s bytes carries the verified mark. */
  isVerified(artifact: CollateralArtifact): boolean {
    if (this.#verified.has(artifact)) return true;
    const stored = this.#versions(artifact.key).find((a) => sameBytes(a, artifact));
    return stored !== undefined && this.#verified.has(stored);
  }

  /** The stored versions of `key` (a copy), in no particular order. */
  versions(key: string): CollateralArtifact[] {
    return [...this.#versions(key)];
  }

  #write(a: CollateralArtifact): void {
    const entry: StoredEntry = {
      format: FORMAT,
      version: VERSION,
      key: a.key,
      kind: a.kind,
      body: Buffer.from(a.body).toString('base64'),
      ...(a.issuerChainPem === undefined ? {} : { issuerChainPem: a.issuerChainPem }),
      source: a.source,
      ...(this.#verified.has(a) ? { verified: true as const } : {}),
    };
    const file = this.#file(a);
    const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(temp, JSON.stringify(entry), { mode: 0o600 });
    renameSync(temp, file);
  }

  /** Forgets the in-memory copies (the disk stays); used to simulate a new process. */
  clearMemory(): void {
    this.#memory.clear();
  }
}
