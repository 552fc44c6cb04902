/**
 * Rollback floors (X03; decision review s8, kept apart from the versions
 * since review s9). Per TCB info / QE identity key: the highest
 * tcbEvaluationDataNumber a passing verification used from a source, and the
 * earliest start of validity of a document with it. A version below the
 * floor is not served at an instant at or after that start.
 *
 * A floor outlives the versions that set it: when they are evicted, expire
 * or are pruned, the floor stays in memory (up to `maxFloors` keys) and, for
 * a disk cache, in its own file per key (`<sha256(key)>-floor.json`, next to
 * the key's version files, hardened like them). It is read on the key's
 * first lookup, merged with the verified marks of the cached versions, and
 * only ever raised: nothing here lowers it.
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import type { CollateralArtifact } from './artifact.js';
import { withFileLock } from './file-lock.js';
import { readPrivateFile, writePrivateFile } from './private-file.js';

export interface Floor {
  /** The evaluation number as the document states it (decimal). */
  readonly text: string;
  readonly sequence: bigint;
  /** Epoch ms: the earliest start of validity of a document with this evaluation number. */
  readonly from: number;
}

/** The floor of a key no passing verification has set. */
export const NO_FLOOR: Floor = Object.freeze({ text: '', sequence: -1n, from: Number.POSITIVE_INFINITY });

/** Floors held in memory by default: a few hundred bytes each, far more than there are Intel platforms times channels. */
export const DEFAULT_MAX_FLOORS = 65_536;

const FORMAT = 'tee-verify-collateral-floor';
const VERSION = 1;
/** A floor file is a key and two numbers; anything larger is not one of ours. */
const MAX_FLOOR_BYTES = 16 * 1024;

/** Whether floors apply to `a`: a TCB info or QE identity from a source or the cache (a bundle's artifact never). */
export function judgedByFloor(a: CollateralArtifact): boolean {
  return a.sequence !== undefined && (a.kind === 'intel-tcb-info' || a.kind === 'intel-qe-identity') && a.source.origin !== 'bundle';
}

function evaluationNumber(text: string): bigint | undefined {
  const n = Number(text);
  return Number.isSafeInteger(n) && String(n) === text ? BigInt(n) : undefined;
}

/** The floor `a` sets once a verification that used it passed: only from a source (network) or the cache. */
export function floorOf(a: CollateralArtifact): Floor | undefined {
  if (a.sequence === undefined || (a.kind !== 'intel-tcb-info' && a.kind !== 'intel-qe-identity')) return undefined;
  if (a.source.origin !== 'network' && a.source.origin !== 'cache') return undefined;
  const sequence = evaluationNumber(a.sequence);
  const from = Date.parse(a.validity.notBefore);
  return sequence === undefined || !Number.isFinite(from) ? undefined : { text: a.sequence, sequence, from };
}

/** `a` is stricter than `b`: a higher evaluation, or the same one in force earlier. */
export function raises(a: Floor, b: Floor): boolean {
  return a.sequence > b.sequence || (a.sequence === b.sequence && a.from < b.from);
}

/** `a` (judgedByFloor) names an evaluation below `floor`, at an instant at or after the floor's start. */
export function isBelowFloor(a: CollateralArtifact, floor: Floor, now: Date): boolean {
  if (a.sequence === floor.text || floor.from > now.getTime()) return false;
  return BigInt(a.sequence!) < floor.sequence;
}

export interface RollbackFloorsOptions {
  /** Directory of the floor files (the cache's `v1`); null keeps floors in memory only. */
  directory: string | null;
  /** Floors held in memory (the earliest held leaves first; with a directory its file stays); default 65536. */
  maxFloors?: number;
  /** Keys remembered as having no floor, so their first lookup reads the disk once; default 4096. */
  maxUnset?: number;
}

interface FloorFile {
  format: string;
  version: number;
  key: string;
  sequence: string;
  from: string;
}

/**
 * The floors of one cache (or of a resolver without one). Keys with a floor
 * and keys without one are held apart, so lookups of keys that never passed
 * a verification (which any evidence can name) never push a floor out.
 */
export class RollbackFloors {
  readonly directory: string | null;
  readonly maxFloors: number;
  readonly #maxUnset: number;
  /** Floors in memory, the earliest held first (Map order). */
  readonly #floors = new Map<string, Floor>();
  /** Keys looked up that have no floor (nothing on disk, no verified mark), the earliest first. */
  readonly #unset = new Set<string>();
  /** Keys whose floor file the system failed to read at its last read (EMFILE, EIO): their lookups fail closed (review s9 changes-d #1). */
  readonly #unreadable = new Set<string>();
  /**
   * Held keys whose file may not say what memory holds: it could not be read
   * (EMFILE, EIO: the marks stand in) or written. The next cold lookup
   * (refresh) reads it again and writes memory's floor where it is stricter.
   */
  readonly #unsynced = new Set<string>();

  constructor(options: RollbackFloorsOptions) {
    this.directory = options.directory;
    this.maxFloors = options.maxFloors ?? DEFAULT_MAX_FLOORS;
    this.#maxUnset = options.maxUnset ?? 4096;
    for (const [name, value] of [['maxFloors', this.maxFloors], ['maxUnset', this.#maxUnset]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`${name} must be a positive integer`);
    }
  }

  /** Floors held in memory now (at most maxFloors). */
  get size(): number {
    return this.#floors.size;
  }

  /** The file of `key`'s floor; undefined in memory only. */
  file(key: string): string | undefined {
    return this.directory === null ? undefined : join(this.directory, `${createHash('sha256').update(key).digest('hex')}-floor.json`);
  }

  /** The system failed to read `key`'s floor file at its last read: what the file says is unknown. */
  isUnreadable(key: string): boolean {
    return this.#unreadable.has(key);
  }

  /** The floor of `key` when memory knows it (NO_FLOOR for a key known to have none); undefined when the disk must be asked (get). */
  peek(key: string): Floor | undefined {
    return this.#floors.get(key) ?? (this.#unset.has(key) ? NO_FLOOR : undefined);
  }

  /**
   * The floor of `key`. On the first lookup (or after it left memory): its
   * file, raised to what `seed` gives (the verified marks of the cached
   * versions), and written back when the marks were higher (an upgrade from
   * before floor files, a corrupt file rebuilt). A file the system failed to
   * read (EMFILE, EIO) stays: the marks serve for now, nothing is written
   * over it, and the key is not recorded as having no floor (review s9
   * changes-c #1).
   */
  get(key: string, seed?: () => Floor | undefined): Floor {
    const held = this.#floors.get(key);
    if (held !== undefined) return held;
    if (this.#unset.has(key)) return NO_FLOOR;
    const read = this.#read(key);
    let floor = read.floor;
    const seeded = seed?.();
    if (seeded !== undefined && (floor === undefined || raises(seeded, floor))) floor = seeded;
    if (read.unreadable) {
      // Without marks nothing is held: the next lookup reads the file again, like a first one.
      if (floor !== undefined) this.#hold(key, floor, false);
      return floor ?? NO_FLOOR;
    }
    if (floor === undefined) {
      this.#unset.add(key);
      if (this.#unset.size > this.#maxUnset) this.#unset.delete(this.#unset.values().next().value!);
      return NO_FLOOR;
    }
    if (floor === read.floor) {
      this.#hold(key, floor, true);
      return floor;
    }
    return this.#store(key, floor);
  }

  /**
   * Raises `key`'s floor to `candidate` when that is stricter; true when it
   * was. The file is read again first: another process on the same directory
   * may have raised it meanwhile, and a floor is never written below its file
   * (nor over a file that could not be read: memory holds it until refresh).
   */
  raise(key: string, candidate: Floor, seed?: () => Floor | undefined): boolean {
    if (!raises(candidate, this.get(key, seed))) return false;
    this.#store(key, candidate); // a stricter file floor is adopted: raised all the same
    return true;
  }

  /**
   * The cold path's look at `key`'s floor (review s9 changes-c #1, #4): the
   * file is read again, so a floor another process wrote since is adopted
   * when stricter (also for a key memory knows as having none), and memory's
   * is written back where its own write failed or was skipped. Never on a
   * warm lookup (peek, get): a running process sees another's floor at its
   * next cold lookup of the key, or at restart.
   */
  refresh(key: string, seed?: () => Floor | undefined): Floor {
    const held = this.#floors.get(key);
    if (this.directory === null || (held === undefined && !this.#unset.has(key))) return this.get(key, seed);
    const read = this.#read(key);
    if (read.unreadable) return held ?? NO_FLOOR;
    if (read.floor !== undefined && (held === undefined || !raises(held, read.floor))) {
      this.#hold(key, read.floor, true);
      return read.floor;
    }
    if (held === undefined) return NO_FLOOR;
    // Memory is stricter than the file, or the file is gone: written back, also when this process's
    // own write succeeded. Two processes that raised one floor at once may have left the lower value
    // (the later rename wins); the stricter one heals the file at its next cold lookup.
    if (this.#unsynced.has(key) || read.floor === undefined || raises(held, read.floor)) return this.#store(key, held);
    return held;
  }

  /**
   * Makes sure `key`'s file holds a floor at least as strict as `candidate`
   * (prune, before it removes a verified version: a cache from before floor
   * files has its floors only in the marks, review s9 changes-c #2). False
   * when the disk could not be read or written; memory holds it all the same.
   */
  persist(key: string, candidate: Floor): boolean {
    const held = this.#floors.get(key);
    const target = held !== undefined && raises(held, candidate) ? held : candidate;
    this.#store(key, target);
    return !this.#unsynced.has(key);
  }

  /** Forgets what memory holds (the files stay); a new process. */
  clear(): void {
    this.#floors.clear();
    this.#unset.clear();
    this.#unsynced.clear();
  }

  /**
   * Holds `floor` for `key` (or the file's, when that is at least as strict)
   * and writes it unless the file already says as much; returns what is held.
   * The read, the comparison and the rename run under the key's lock file
   * (file-lock.ts, review s10 changes-b #1): two processes that read the
   * file and then each renamed their own over it lost the higher floor. When
   * the lock, the read or the write fails, memory holds the floor unsynced
   * and the key's next cold lookup (refresh) tries again.
   */
  #store(key: string, floor: Floor): Floor {
    const file = this.file(key);
    if (file === undefined) {
      this.#hold(key, floor, true);
      return floor;
    }
    const outcome = withFileLock(file, () => {
      const onDisk = this.#read(key);
      if (onDisk.unreadable) return 'failed' as const;
      if (onDisk.floor !== undefined && !raises(floor, onDisk.floor)) return onDisk.floor;
      return this.#tryWrite(key, floor) ? ('written' as const) : ('failed' as const);
    });
    if (typeof outcome === 'object') {
      this.#hold(key, outcome, true);
      return outcome;
    }
    this.#hold(key, floor, outcome === 'written');
    return floor;
  }

  /** Holds `floor` for `key`; `synced`: its file is known to say as much. */
  #hold(key: string, floor: Floor, synced: boolean): void {
    this.#unset.delete(key);
    this.#floors.delete(key);
    this.#floors.set(key, floor);
    if (synced) this.#unsynced.delete(key);
    else if (this.directory !== null) this.#unsynced.add(key);
    if (this.#floors.size > this.maxFloors) {
      const evicted = this.#floors.keys().next().value!;
      this.#floors.delete(evicted);
      this.#unsynced.delete(evicted);
    }
  }

  /**
   * The floor in `key`'s file, if it holds a valid one. Anything else there
   * (a link, a FIFO, a foreign or oversized file, torn or foreign content) is
   * removed and counts as no file: the marks rebuild what they can (see
   * docs/collateral.md, "Rollback floor", on why ignoring is safe). A read the
   * system failed (`unreadable`) removes nothing: the file may be valid.
   */
  #read(key: string): { floor?: Floor; unreadable?: true } {
    const file = this.file(key);
    if (file === undefined) return {};
    const read = readPrivateFile(file, MAX_FLOOR_BYTES);
    if (read.failure === 'unreadable') {
      this.#unreadable.add(key);
      return { unreadable: true };
    }
    this.#unreadable.delete(key);
    if (read.text === undefined) {
      if (read.failure === 'not-ours') this.#remove(file);
      return {};
    }
    const floor = parseFloorFile(read.text, key);
    if (floor === undefined) this.#remove(file);
    return floor === undefined ? {} : { floor };
  }

  #remove(file: string): void {
    try {
      rmSync(file, { force: true }); // unlinks a link itself, never its target
    } catch {
      // A read-only disk: ignored all the same.
    }
  }

  /** Writes the floor file; false when the disk refuses (memory keeps the floor for this process; refresh tries again). */
  #tryWrite(key: string, floor: Floor): boolean {
    const file = this.file(key);
    if (file === undefined) return true;
    const content: FloorFile = { format: FORMAT, version: VERSION, key, sequence: floor.text, from: new Date(floor.from).toISOString() };
    try {
      writePrivateFile(file, JSON.stringify(content));
      return true;
    } catch {
      return false;
    }
  }
}

/** The floor a file's text states for `key`, or undefined when it is not a valid floor file of that key. */
function parseFloorFile(text: string, key: string): Floor | undefined {
  let stored: Partial<FloorFile>;
  try {
    stored = JSON.parse(text) as Partial<FloorFile>;
  } catch {
    return undefined;
  }
  if (stored === null || typeof stored !== 'object' || stored.format !== FORMAT || stored.version !== VERSION || stored.key !== key) return undefined;
  if (typeof stored.sequence !== 'string' || typeof stored.from !== 'string') return undefined;
  const sequence = evaluationNumber(stored.sequence);
  const from = Date.parse(stored.from);
  if (sequence === undefined || !Number.isFinite(from) || new Date(from).toISOString() !== stored.from) return undefined;
  return { text: stored.sequence, sequence, from };
}
