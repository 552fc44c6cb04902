/**
 * Collateral cache in memory and on disk. Disk entries are JSON files written
 * atomically (temporary file, then rename) and re-checked with the same shape
 * validation as fresh responses when read: a torn, corrupted or foreign file
 * is deleted and treated as a miss, never trusted. Entries never move backwards
 * (X03): a lower evaluation data number / CRL number, or an older issue date,
 * does not replace what is stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import type { CollateralArtifact } from './artifact.js';
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

export class CollateralCache {
  readonly directory: string | null;
  readonly #memory = new Map<string, CollateralArtifact>();

  constructor(options: CollateralCacheOptions = {}) {
    this.directory = options.directory === undefined ? defaultCacheDirectory() : options.directory;
    if (this.directory) mkdirSync(join(this.directory, `v${VERSION}`), { recursive: true, mode: 0o700 });
  }

  #file(key: string): string {
    return join(this.directory!, `v${VERSION}`, `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  /** The stored artifact for `key`, or undefined. Validity is the caller's decision. */
  get(key: string): CollateralArtifact | undefined {
    const hit = this.#memory.get(key);
    if (hit) return hit;
    if (!this.directory) return undefined;
    const loaded = this.#load(key);
    if (loaded) this.#memory.set(key, loaded);
    return loaded;
  }

  #load(key: string): CollateralArtifact | undefined {
    const file = this.#file(key);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const stored = JSON.parse(text) as StoredEntry;
      if (stored.format !== FORMAT || stored.version !== VERSION || stored.key !== key) throw new Error('foreign entry');
      return validateArtifact({
        kind: stored.kind,
        key: stored.key,
        body: new Uint8Array(Buffer.from(stored.body, 'base64')),
        ...(stored.issuerChainPem === undefined ? {} : { issuerChainPem: stored.issuerChainPem }),
        source: { ...stored.source, origin: 'cache' },
      });
    } catch {
      rmSync(file, { force: true }); // discard and fetch again
      return undefined;
    }
  }

  /** Stores `artifact` unless it is older than the stored one; returns whether it was stored. */
  put(artifact: CollateralArtifact): boolean {
    const existing = this.get(artifact.key);
    if (existing && isOlder(artifact, existing)) return false;
    this.#memory.set(artifact.key, artifact);
    if (this.directory) this.#write(artifact);
    return true;
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
    };
    const file = this.#file(a.key);
    const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(temp, JSON.stringify(entry), { mode: 0o600 });
    renameSync(temp, file);
  }

  /** Forgets the in-memory copies (the disk stays); used to simulate a new process. */
  clearMemory(): void {
    this.#memory.clear();
  }
}
