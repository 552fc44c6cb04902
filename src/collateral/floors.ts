/**
 * Rollback floors (X03; decision review s8, kept apart from the versions
 * since review s9). Per TCB info / QE identity key: the highest
 * tcbEvaluationDataNumber a passing verification used from a source, and the
 * earliest start of validity of a document with it. A version below the
 * floor is not served at an instant at or after that start.
 *
 * A floor outlives the versions that set it: when they are evicted, expire
 * or are pruned, the floor stays in memory (up to `maxFloors` keys) and, for
 * a disk cache, in floor files next to the key's version files, hardened like
 * them. It is read on the key's first lookup, merged with the verified marks
 * of the cached versions, and only ever raised: nothing here lowers it.
 *
 * No lock (review s11, replacing s10's lock file, which could have two
 * holders): every write makes a file of its own under a fresh name
 * (`<sha256(key)>-<pid>-<12 hex>-floor.json`), never renamed over and never
 * changed, and a read takes the strictest of the key's files (the single
 * `<sha256(key)>-floor.json` of earlier versions included). A file is
 * deleted only by a process that has just read a stricter one (the same
 * floor: the smaller name wins), so the strictest file ever written stays
 * until a stricter one exists, whatever the interleaving of processes.
 *
 * Durable (review s11 changes-b #2): a file's content is synced before its
 * rename, and the directory after it and before any deletion of a file it
 * outranks, so a power loss cannot keep the deletion and lose the new file
 * (or keep its name over empty content).
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import type { CollateralArtifact } from './artifact.js';
import { readPrivateFile, syncDirectory, writePrivateFile } from './private-file.js';

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
/**
 * A floor file's name: `<sha256(key)>-<pid>-<12 hex>-floor.json` (one per
 * write), or `<sha256(key)>-floor.json` (the single file of versions before
 * review s11, still read). Both end in `-floor.json` and match the key's glob
 * `<sha256(key)>-*.json`; neither is a version's name.
 */
export const FLOOR_FILE_NAME = /^[0-9a-f]{64}(?:-[0-9]+-[0-9a-f]{12})?-floor\.json$/;
/** Files of one key read per pass; a read of more prunes them a batch at a time (bounds the bytes one read costs). */
const MAX_FILES_PER_PASS = 16;
/** Passes of one read (a listing, its files, a second listing) before it gives up as unreadable. */
const MAX_PASSES = 4;

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

/** One valid floor file of a key, as read. */
interface FloorFileEntry {
  readonly name: string;
  readonly floor: Floor;
}

/** What a read of a key's floor files found: the strictest (the others it read are pruned), or that the system failed to read them. */
type Scan = { readonly unreadable: true; readonly best?: undefined } | { readonly unreadable?: undefined; readonly best?: FloorFileEntry };

/** `a` ranks above `b`: a stricter floor, or the same floor under a smaller name (every process breaks ties alike). */
function ranksAbove(a: FloorFileEntry, b: FloorFileEntry): boolean {
  return raises(a.floor, b.floor) || (!raises(b.floor, a.floor) && a.name < b.name);
}

const digest = (key: string): string => createHash('sha256').update(key).digest('hex');
const isLegacyName = (name: string): boolean => name.length === 64 + '-floor.json'.length;

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
  /** Keys whose floor files the system failed to read at their last read (EMFILE, EIO): their lookups fail closed (review s9 changes-d #1). */
  readonly #unreadable = new Set<string>();
  /**
   * Held keys whose files may not say what memory holds: they could not be
   * read (EMFILE, EIO: the marks stand in) or written. The next cold lookup
   * (refresh) reads them again and writes memory's floor where it is stricter.
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

  /** The floor files of `key` on disk now, sorted ([] in memory only, or when the directory cannot be listed). */
  files(key: string): string[] {
    if (this.directory === null) return [];
    return (this.#list(digest(key)) ?? []).map((name) => join(this.directory!, name));
  }

  /** The system failed to read `key`'s floor files at their last read: what they say is unknown. */
  isUnreadable(key: string): boolean {
    return this.#unreadable.has(key);
  }

  /** The floor of `key` when memory knows it (NO_FLOOR for a key known to have none); undefined when the disk must be asked (get). */
  peek(key: string): Floor | undefined {
    return this.#floors.get(key) ?? (this.#unset.has(key) ? NO_FLOOR : undefined);
  }

  /**
   * The floor of `key`. On the first lookup (or after it left memory): its
   * files, raised to what `seed` gives (the verified marks of the cached
   * versions), and written when the marks were higher (an upgrade from
   * before floor files, a corrupt file rebuilt). Files the system failed to
   * read (EMFILE, EIO) stay: the marks serve for now, nothing is written,
   * and the key is not recorded as having no floor (review s9 changes-c #1).
   */
  get(key: string, seed?: () => Floor | undefined): Floor {
    const held = this.#floors.get(key);
    if (held !== undefined) return held;
    if (this.#unset.has(key)) return NO_FLOOR;
    const scan = this.#scan(key);
    let floor = scan.best?.floor;
    const seeded = seed?.();
    if (seeded !== undefined && (floor === undefined || raises(seeded, floor))) floor = seeded;
    if (scan.unreadable) {
      // Without marks nothing is held: the next lookup reads the files again, like a first one.
      if (floor !== undefined) this.#hold(key, floor, false);
      return floor ?? NO_FLOOR;
    }
    if (floor === undefined) {
      this.#unset.add(key);
      if (this.#unset.size > this.#maxUnset) this.#unset.delete(this.#unset.values().next().value!);
      return NO_FLOOR;
    }
    if (floor === scan.best?.floor) {
      this.#hold(key, floor, true);
      return floor;
    }
    return this.#store(key, floor, scan);
  }

  /**
   * Raises `key`'s floor to `candidate` when that is stricter; true when it
   * was. The files are read again first: another process on the same
   * directory may have raised it meanwhile (then nothing is written).
   */
  raise(key: string, candidate: Floor, seed?: () => Floor | undefined): boolean {
    if (!raises(candidate, this.get(key, seed))) return false;
    this.#store(key, candidate); // a stricter file floor is adopted: raised all the same
    return true;
  }

  /**
   * The cold path's look at `key`'s floor (review s9 changes-c #1, #4): the
   * files are read again, so a floor another process wrote since is adopted
   * when stricter (also for a key memory knows as having none), and memory's
   * is written when the files hold less or none (its own write failed, or
   * the files were removed while this process ran). Never on a warm lookup
   * (peek, get): a running process sees another's floor at its next cold
   * lookup of the key, or at restart.
   */
  refresh(key: string, seed?: () => Floor | undefined): Floor {
    const held = this.#floors.get(key);
    if (this.directory === null || (held === undefined && !this.#unset.has(key))) return this.get(key, seed);
    const scan = this.#scan(key);
    if (scan.unreadable) return held ?? NO_FLOOR;
    const onDisk = scan.best?.floor;
    if (onDisk !== undefined && (held === undefined || !raises(held, onDisk))) {
      this.#hold(key, onDisk, true);
      return onDisk;
    }
    if (held === undefined) return NO_FLOOR;
    return this.#store(key, held, scan); // memory is stricter than every file, or there is none: healed (review s10)
  }

  /**
   * Makes sure `key`'s files hold a floor at least as strict as `candidate`
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
   * Holds `floor` for `key` (or the files', when one is at least as strict)
   * and writes it in a new file of its own unless a file already says as
   * much; returns what is held. `scan`: a read of the key's files just made.
   * No lock (review s11): a write never replaces a file, so two writers at
   * once leave both floors on disk and the next read takes the stricter. The
   * file read as the strictest is deleted once the new, stricter one exists.
   * When the read or the write fails, memory holds the floor unsynced and
   * the key's next cold lookup (refresh) tries again.
   */
  #store(key: string, floor: Floor, scan?: Scan): Floor {
    if (this.directory === null) {
      this.#hold(key, floor, true);
      return floor;
    }
    const found = scan ?? this.#scan(key);
    if (found.unreadable) {
      this.#hold(key, floor, false);
      return floor;
    }
    const best = found.best;
    if (best !== undefined && !raises(floor, best.floor)) {
      this.#hold(key, best.floor, true);
      return best.floor;
    }
    const written = this.#tryWrite(key, floor);
    if (written && best !== undefined) this.#prune(best); // the new file is stricter than everything this read saw
    this.#hold(key, floor, written);
    return floor;
  }

  /** Holds `floor` for `key`; `synced`: its files are known to say as much. */
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

  /** The floor files of the key with this digest, sorted; undefined when the system failed to list the directory. */
  #list(prefix: string): string[] | undefined {
    let names: string[];
    try {
      names = readdirSync(this.directory!);
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? [] : undefined;
    }
    return names.filter((n) => n.startsWith(prefix) && FLOOR_FILE_NAME.test(n)).sort();
  }

  /**
   * Reads `key`'s floor files: the strictest valid one, and every other it
   * read is deleted (ranksAbove). Anything that is not a valid floor file of
   * ours (a link, a FIFO, a foreign or oversized file, foreign content) is
   * removed and counts as none: the marks rebuild what they can (see
   * docs/collateral.md, "Rollback floor", on why ignoring is safe).
   *
   * The listing is checked by a second one: a listing made while another
   * process writes a stricter file and deletes the one it replaces may show
   * neither (POSIX leaves entries added or removed meanwhile unspecified),
   * and a listed file may be gone before it is read. Either way the names
   * differ and the read runs again, so a raise running meanwhile cannot make
   * it return less than a floor written before it began. (Two raises of the
   * key, one inside each listing, still could; the disk keeps the strictest
   * file all the same, for the next read.) After MAX_PASSES passes (or a batch of
   * MAX_FILES_PER_PASS that did not cover the key's files), or when the
   * system fails to list or read (EMFILE, EIO), the read is `unreadable`:
   * nothing it could not judge is removed, and lookups of the key fail closed.
   */
  #scan(key: string): Scan {
    if (this.directory === null) return {};
    const prefix = digest(key);
    let names = this.#list(prefix);
    for (let pass = 0; pass < MAX_PASSES && names !== undefined; pass++) {
      const batch = names.slice(0, MAX_FILES_PER_PASS);
      const read: FloorFileEntry[] = [];
      const removed = new Set<string>();
      for (const name of batch) {
        const file = readPrivateFile(join(this.directory!, name), MAX_FLOOR_BYTES);
        if (file.failure === 'unreadable') return this.#failed(key);
        if (file.failure === 'absent') continue; // deleted by a process that had read a stricter file: the next listing differs
        const floor = file.text === undefined ? undefined : parseFloorFile(file.text, key);
        if (floor === undefined) {
          if (this.#remove(name)) removed.add(name);
          continue;
        }
        read.push({ name, floor });
      }
      let best: FloorFileEntry | undefined;
      for (const f of read) if (best === undefined || ranksAbove(f, best)) best = f;
      const outranked = read.filter((f) => f !== best && !isLegacyName(f.name));
      // `best` may be another process's file, renamed but not yet synced (or written by a version
      // that never synced its content): its content and its entry first, then the deletions.
      if (outranked.length > 0 && best !== undefined && this.#syncFile(best.name) && this.#syncDirectory()) for (const f of outranked) if (this.#prune(f)) removed.add(f.name);
      const again = this.#list(prefix);
      if (again === undefined) break;
      const expected = names.filter((n) => !removed.has(n));
      if (batch.length === names.length && again.length === expected.length && again.every((n, i) => n === expected[i])) {
        this.#unreadable.delete(key);
        return best === undefined ? {} : { best };
      }
      names = again;
    }
    return this.#failed(key);
  }

  #failed(key: string): Scan {
    this.#unreadable.add(key);
    return { unreadable: true };
  }

  /** fsync of a floor file's content (never through a link); false when it cannot be opened or the disk failed it: nothing is deleted. */
  #syncFile(name: string): boolean {
    try {
      const fd = openSync(join(this.directory!, name), constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      return true;
    } catch {
      return false;
    }
  }

  /** fsync of the directory (the entries of files read or written before the deletions that follow); false when the disk failed it: nothing is deleted. */
  #syncDirectory(): boolean {
    try {
      syncDirectory(this.directory!);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Deletes `f`, a floor file outranked by one this process has just read or
   * written (so the strictest file ever written outlives every deletion), and
   * whose entry is durable (the caller synced the directory since).
   * The single file of earlier versions is kept: they may still rename a
   * floor over it, so what was read there may no longer be what it holds.
   */
  #prune(f: FloorFileEntry): boolean {
    return !isLegacyName(f.name) && this.#remove(f.name);
  }

  /** Removes `name` from the directory; false when the disk refused (a read-only disk: ignored). */
  #remove(name: string): boolean {
    try {
      rmSync(join(this.directory!, name), { force: true }); // unlinks a link itself, never its target
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Writes `floor` in a new file of its own (a name no other write uses, so
   * no file read by another process ever changes under it), durably: content
   * synced before the rename, the directory after it (so the file it
   * outranks may then be deleted). False when the disk refuses either
   * (memory keeps the floor for this process; refresh tries again).
   */
  #tryWrite(key: string, floor: Floor): boolean {
    const name = `${digest(key)}-${process.pid}-${randomBytes(6).toString('hex')}-floor.json`;
    const content: FloorFile = { format: FORMAT, version: VERSION, key, sequence: floor.text, from: new Date(floor.from).toISOString() };
    try {
      writePrivateFile(join(this.directory!, name), JSON.stringify(content), { durable: true });
      syncDirectory(this.directory!);
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
