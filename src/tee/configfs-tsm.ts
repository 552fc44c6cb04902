/**
 * Evidence from the Linux configfs-tsm report interface (protocols.md §7):
 *
 *   1. mkdir a fresh instance under the root (one per request, so no other
 *      process shares it); a provider not registered yet (ENXIO) or another
 *      transient errno is the retryable ERR_TSM_UNAVAILABLE, anything else
 *      (a missing root ENOENT, no permission, a root that is no directory:
 *      ENOTDIR, ELOOP) the permanent ERR_TSM_IO, both with details.retryable;
 *   2. read `provider` (tdx_guest / sev_guest) and, on SEV-SNP, `privlevel_floor`
 *      when the kernel has it;
 *   3. read `generation`; on SEV-SNP with a floor, write `privlevel` = floor
 *      (the kernel starts every instance at 0, and a guest below VMPL 0, e.g.
 *      under an SVSM, may not ask for a report at a VMPL above its own: the
 *      firmware refuses); write exactly 64 bytes to `inblob`;
 *   4. read `outblob` and `auxblob` (SEV-SNP; absent for TDX)
 *      (EBUSY / EINTR / ETIMEDOUT / EAGAIN → ERR_TSM_UNAVAILABLE, retryable);
 *      SEV-SNP: read `outblob` again and require the same bytes (an instance
 *      replaced between the two reads made another report: the auxblob would
 *      be that report's);
 *   5. read `generation` again: it must have advanced by exactly our writes
 *      (each write bumps it), otherwise another writer raced us and `outblob`
 *      may hold a report for *their* inblob → ERR_TSM_GENERATION_RACE; and
 *      the outblob's REPORTDATA (parsed: TDX quote body, SEV-SNP report) must
 *      be the 64 bytes written, else ERR_TSM_GENERATION_RACE too: a co-tenant
 *      with root can rmdir our instance, mkdir one of the same name and write
 *      its own inblob once, which the counter alone cannot tell apart; and
 *      (SEV-SNP) the report's VMPL must be the privlevel written (0 when none
 *      was), else ERR_TSM_GENERATION_RACE: the same co-tenant can write
 *      privlevel 3 and our own inblob, two writes like ours;
 *   6. rmdir the instance, whatever happened (a failure is a warning, not
 *      swallowed: the instance stays behind until someone removes it).
 *
 * An instance is named `<prefix>-pidns<N>-<pid>-<16 hex>` (N: the inode of
 * /proc/self/ns/pid). While it exists it is registered with the interrupt
 * clean-up (src/model/interrupt-cleanup.ts: tee-model's SIGINT / SIGTERM /
 * SIGHUP remove it synchronously before the signal ends the process), and
 * `close()` (the gateway's shutdown) removes those still open. The first
 * instance a provider makes is preceded by a sweep of the instances of dead
 * runs (SIGKILL, a second signal): names of this shape with this prefix,
 * this pid namespace and a pid no process has (review s16 providers #2).
 *
 * `detectTee()` tells the TEE without a report: steps 1, 2 (`provider` only)
 * and 6 on an instance of its own, once per provider (review s12 change
 * review, finding 2: the gateway's TDX-only quote route spent a report and a
 * slot of its evidence rate per call to learn an SEV-SNP gateway is not TDX).
 *
 * Reads are bounded: `outblob` and `auxblob` at the kernel's own maximum
 * (TSM_OUTBLOB_MAX, 32 KiB: a larger one is not what the kernel serves),
 * the text attributes at 64 bytes.
 *
 * The file operations go through a small `TsmFs` interface (default:
 * node:fs/promises) so tests can run the provider against a directory tree
 * that emulates the kernel's behaviour (test/tee/fake-configfs.ts).
 */
import { randomBytes } from 'node:crypto';
import { rmdirSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { parseEvidence, type Evidence } from '../evidence/index.js';
import { EvidenceProviderError, isModelError } from '../model/errors.js';
import { onInterrupt } from '../model/interrupt-cleanup.js';
import { processExists, stagingIdentity } from '../model/run-identity.js';
import { REPORT_DATA_SIZE, type EvidenceProvider, type TeeEvidence } from './types.js';

export const DEFAULT_TSM_ROOT = '/sys/kernel/config/tsm/report';

/** The kernel's bound on outblob and auxblob (include/linux/tsm.h TSM_OUTBLOB_MAX, 32 KiB). */
export const TSM_OUTBLOB_MAX = 32 * 1024;
/** Bound of the text attributes (generation, provider): a decimal counter or a driver name. */
const TSM_TEXT_MAX = 64;

/** The file operations the provider needs: configfs items are directories, attributes are files. */
export interface TsmFs {
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  /** Reads at most `maxBytes` bytes when given (the provider passes its bound + 1 and refuses a longer answer). */
  readFile(path: string, maxBytes?: number): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
  /**
   * Synchronous rmdir, for an interrupted process to remove its instances on the way out (a signal
   * handler cannot wait for a promise). Without it an interrupted run's instance is left for the sweep.
   */
  rmdirSync?(path: string): void;
  /** The names in a directory, for the sweep of dead runs' instances; without it nothing is swept. */
  readdir?(path: string): Promise<string[]>;
}

/** Reads through a FileHandle up to `maxBytes`: a larger file never lands in memory whole. */
async function readCapped(path: string, maxBytes: number): Promise<Uint8Array> {
  const handle = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(maxBytes);
    let length = 0;
    while (length < maxBytes) {
      const { bytesRead } = await handle.read(buf, length, maxBytes - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return new Uint8Array(buf.subarray(0, length));
  } finally {
    await handle.close();
  }
}

export const nodeTsmFs: TsmFs = {
  mkdir: async (p) => {
    await fsp.mkdir(p);
  },
  rmdir: (p) => fsp.rmdir(p),
  readFile: (p, maxBytes) => (maxBytes === undefined ? fsp.readFile(p) : readCapped(p, maxBytes)),
  writeFile: (p, d) => fsp.writeFile(p, d),
  rmdirSync: (p) => rmdirSync(p),
  readdir: (p) => fsp.readdir(p),
};

export interface ConfigfsTsmOptions {
  /** The configfs-tsm report directory; default /sys/kernel/config/tsm/report. */
  root?: string;
  /** File operations; default node:fs/promises. */
  fs?: TsmFs;
  /** Prefix of instance names; a random suffix makes each unique. Default "tee-model". */
  instancePrefix?: string;
  /** Where a warning goes (an instance rmdir failed); default process.emitWarning. The evidence carries it too. */
  onWarning?: (message: string) => void;
}

const PROVIDERS: Record<string, 'tdx' | 'snp'> = { tdx_guest: 'tdx', sev_guest: 'snp' };

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/**
 * Errors of a report read that say "not now" rather than "broken" (protocols.md §7): the TDX
 * driver answers EBUSY while the VMM still owns a previous GetQuote, EINTR / ETIMEDOUT when the
 * request was interrupted or timed out; EAGAIN is the same as a non-blocking retry hint.
 */
const TRANSIENT_ERRNOS: ReadonlySet<string> = new Set(['EBUSY', 'EINTR', 'ETIMEDOUT', 'EAGAIN']);

/**
 * A failed attribute read. A transient errno is ERR_TSM_UNAVAILABLE (retryable: `tee-model`
 * exits 3, "retry later"), anything else ERR_TSM_IO (exit 2).
 */
function readFailure(attr: string, cause: unknown): EvidenceProviderError {
  const code = errno(cause);
  if (code !== undefined && TRANSIENT_ERRNOS.has(code)) {
    return new EvidenceProviderError('ERR_TSM_UNAVAILABLE', `reading configfs-tsm ${attr} failed (${code}): the TEE is busy or the request was interrupted; retry later`, {
      cause,
      details: { attribute: attr, errno: code, retryable: true },
    });
  }
  return new EvidenceProviderError('ERR_TSM_IO', `reading configfs-tsm ${attr} failed (${code ?? 'error'})`, { cause, details: { attribute: attr, errno: code } });
}

function parseGeneration(bytes: Uint8Array, when: string): number {
  const text = Buffer.from(bytes).toString('ascii').trim();
  if (!/^\d{1,20}$/.test(text)) throw new EvidenceProviderError('ERR_TSM_IO', `configfs-tsm generation (${when}) is not a decimal number: ${JSON.stringify(text.slice(0, 32))}`);
  const n = Number(text);
  // Beyond 2^53 "advanced by exactly one" cannot be checked in a double (2^60 + 1 === 2^60): no proof that no one raced us.
  if (!Number.isSafeInteger(n)) {
    throw new EvidenceProviderError('ERR_TSM_GENERATION_RACE', `configfs-tsm generation (${when}) ${text} is too large to check that it advanced by exactly our write`, { details: { [when]: text } });
  }
  return n;
}

/** `privlevel_floor`: the lowest privilege level (VMPL) this guest may ask a report for, 0-3 (TSM_PRIVLEVEL_MAX). */
function parsePrivlevelFloor(bytes: Uint8Array): number {
  const text = Buffer.from(bytes).toString('ascii').trim();
  if (!/^[0-3]$/.test(text)) throw new EvidenceProviderError('ERR_TSM_IO', `configfs-tsm privlevel_floor is not a privilege level 0-3: ${JSON.stringify(text.slice(0, 32))}`, { details: { attribute: 'privlevel_floor' } });
  return Number(text);
}

/** An outblob through the evidence parser: its REPORTDATA (TDX: the quote's TD report body; SEV-SNP: the report's REPORT_DATA) and, SEV-SNP, its VMPL. */
function parseOutblob(outblob: Uint8Array, tee: 'tdx' | 'snp'): { reportData: Uint8Array; vmpl?: number } {
  let evidence: Evidence;
  try {
    evidence = parseEvidence(outblob, { encoding: 'binary', kind: tee });
  } catch (cause) {
    const code = (cause as { code?: unknown })?.code;
    throw new EvidenceProviderError('ERR_TSM_IO', `configfs-tsm outblob is not ${tee === 'tdx' ? 'a TDX quote' : 'an SEV-SNP attestation report'} this verifier reads (${typeof code === 'string' ? code : 'error'}): its REPORTDATA cannot be checked`, {
      cause,
      details: { attribute: 'outblob', ...(typeof code === 'string' ? { parseCode: code } : {}) },
    });
  }
  return evidence.kind === 'snp' ? { reportData: evidence.reportData, vmpl: evidence.vmpl } : { reportData: evidence.body.reportData };
}

/**
 * mkdir errors that waiting can fix; every other errno (and an error without one) is permanent:
 * ERR_TSM_IO, exit 2 (review s13 #3: the rule was the other way round, so a root that is a file
 * (ENOTDIR), a symlink loop (ELOOP), a name too long (ENAMETOOLONG) or EINVAL was "retry later" for
 * ever, exit 3 / 503, the loop review s11 removed for ENOENT). Retryable: ENXIO (no TSM provider
 * registered yet: the guest driver is still loading), the transient EBUSY / EAGAIN / EINTR /
 * ETIMEDOUT, ENOMEM / EMFILE / ENFILE (resources), EEXIST (the random instance name was taken: the
 * next attempt draws another).
 *
 * ENOENT is permanent since review s11: mkdir of one new entry gives it only when the report root
 * itself is missing: not a TEE, configfs not mounted, or a kernel before 6.7. Early in boot (before
 * sys-kernel-config.mount or the guest driver) ENOENT passes; neither a missing mount nor a missing
 * tsm/ tells that apart from a machine that never has one, so the unit is ordered after both instead.
 */
const RETRYABLE_MKDIR_ERRNOS: ReadonlySet<string> = new Set(['ENXIO', 'EBUSY', 'EAGAIN', 'EINTR', 'ETIMEDOUT', 'ENOMEM', 'EMFILE', 'ENFILE', 'EEXIST']);

/** Why a mkdir under the root failed, and whether waiting can change it, for the message. */
function mkdirHint(code: string | undefined): string {
  if (code === 'ENOENT') {
    // Permanent on a machine that is not a TEE guest, which cannot be told apart from early boot here: the unit's ordering fixes the latter (review s11 changes-a #5).
    return 'the report directory does not exist: this is not a TEE guest, the kernel is older than 6.7 (no configfs-tsm), or configfs is not mounted or the guest driver (tdx_guest / sev_guest, which loads tsm) not loaded yet; not retried: a service started early in boot must be ordered After=sys-kernel-config.mount systemd-modules-load.service with the driver in /etc/modules-load.d (docs/model.md, "configfs-tsm")';
  }
  if (code === 'ENXIO') return 'no TSM provider is registered yet (the tdx_guest / sev_guest driver is not loaded); retry later';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return `${code} (configfs-tsm reports need root or CAP_SYS_ADMIN and a writable configfs; retrying will not help)`;
  if (code !== undefined && RETRYABLE_MKDIR_ERRNOS.has(code)) return `mkdir failed (${code}); retry later`;
  if (code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG') {
    return `mkdir failed (${code}): the root is not a usable directory path (a file, a symbolic link loop or a name too long); fix the report root (--configfs-root / --tsm-root), retrying will not help`;
  }
  return `mkdir failed (${code ?? 'error'}); retrying will not help`;
}

export class ConfigfsTsmProvider implements EvidenceProvider {
  readonly name = 'configfs-tsm';
  readonly root: string;
  readonly #fs: TsmFs;
  readonly #prefix: string;
  readonly #warn: (message: string) => void;
  /** detectTee's answer, or the question in flight; cleared when it fails. (A private field: writable although `this` is frozen.) */
  #tee: Promise<'tdx' | 'snp'> | undefined;
  /** The pid namespace the instance names carry (digits; "unknown" / "none" when it cannot be read: then nothing is swept). */
  readonly #pidNamespace: string;
  /** Instances that exist now, each with the function that unregisters its interrupt clean-up. */
  readonly #live = new Map<string, () => void>();
  /** The sweep of dead runs' instances, run before the first instance this provider makes. */
  #swept: Promise<void> | undefined;
  #closed = false;

  constructor(options: ConfigfsTsmOptions = {}) {
    this.root = options.root ?? DEFAULT_TSM_ROOT;
    this.#fs = options.fs ?? nodeTsmFs;
    this.#prefix = options.instancePrefix ?? 'tee-model';
    this.#warn = options.onWarning ?? ((message) => process.emitWarning(message, 'TeeEvidenceWarning'));
    if (!/^[A-Za-z0-9._-]+$/.test(this.#prefix)) throw new EvidenceProviderError('ERR_TSM_IO', 'instancePrefix must be a plain file name');
    this.#pidNamespace = stagingIdentity().pidNamespace;
    Object.freeze(this);
  }

  async getEvidence(input: Uint8Array): Promise<TeeEvidence> {
    if (!(input instanceof Uint8Array) || input.length !== REPORT_DATA_SIZE) {
      // Both kernel providers refuse anything but exactly 64 bytes (EINVAL).
      throw new EvidenceProviderError('ERR_TEE_REPORT_DATA', `inblob must be exactly ${REPORT_DATA_SIZE} bytes`, { details: { length: input?.length } });
    }
    // Our own copy: the caller's buffer may change while we wait, and the bytes returned must be the ones written.
    const reportData = new Uint8Array(input);
    const dir = await this.#create();
    let evidence: TeeEvidence;
    try {
      evidence = await this.#collect(dir, reportData);
    } catch (err) {
      const left = await this.#remove(dir);
      if (left && isModelError(err)) err.details['instanceLeft'] = left;
      throw err;
    }
    const left = await this.#remove(dir);
    return left ? { ...evidence, warnings: [left] } : evidence;
  }

  /**
   * The TEE behind this configfs-tsm, from the `provider` attribute of an instance created and removed
   * for it: no inblob is written and no outblob read, so the TEE makes no report. Asked once: concurrent
   * callers share the question, and the answer is kept (a guest's TSM provider does not change while it
   * runs); a failure (the errors of getEvidence's steps 1, 2 and 6) is not kept, the next call asks again.
   * Only a routing hint for callers that serve one TEE's evidence (the gateway's TDX-only quote route):
   * the TEE of any evidence is still the one getEvidence reads from that evidence's own instance.
   */
  detectTee(): Promise<'tdx' | 'snp'> {
    if (this.#tee === undefined) {
      const asked = this.#detect();
      this.#tee = asked;
      asked.catch(() => {
        if (this.#tee === asked) this.#tee = undefined;
      });
    }
    return this.#tee;
  }

  async #detect(): Promise<'tdx' | 'snp'> {
    const dir = await this.#create();
    let tee: 'tdx' | 'snp';
    try {
      tee = (await this.#provider(dir)).tee;
    } catch (err) {
      const left = await this.#remove(dir);
      if (left && isModelError(err)) err.details['instanceLeft'] = left;
      throw err;
    }
    await this.#remove(dir); // a failure is reported through onWarning; the answer stands
    return tee;
  }

  /**
   * Removes the instances of requests still in flight (their getEvidence then fails) and refuses every
   * later request (ERR_TSM_PROVIDER): the gateway's CLI calls this on shutdown, before the process exits
   * with reports still waiting for the kernel. A failed rmdir is reported through onWarning.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const [dir, untrack] of [...this.#live]) {
      this.#live.delete(dir);
      untrack();
      try {
        await this.#fs.rmdir(dir);
      } catch (cause) {
        this.#warn(`configfs-tsm report instance ${dir} could not be removed at close (${errno(cause) ?? 'error'}); it stays until removed by hand`);
      }
    }
  }

  /**
   * Removes the instances of dead runs under the root (best effort, never fails): only names of this
   * provider's shape `<prefix>-pidns<N>-<pid>-<16 hex>` with this prefix and this process's pid namespace
   * N, whose pid no process has. Another pid namespace's (a container sharing the guest's configfs), an
   * older version's `<prefix>-<pid>-<hex>` and a live process's are left alone: nothing proves them dead.
   */
  async #sweep(): Promise<void> {
    const readdir = this.#fs.readdir;
    if (readdir === undefined || !/^\d+$/.test(this.#pidNamespace)) return;
    const names = await readdir.call(this.#fs, this.root).catch(() => [] as string[]);
    const shape = new RegExp(`^${this.#prefix.replace(/\./g, '\\.')}-pidns(\\d+)-(\\d+)-[0-9a-f]{16}$`);
    for (const name of names) {
      const m = shape.exec(name);
      if (m === null || m[1] !== this.#pidNamespace) continue;
      const pid = Number(m[2]);
      if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || processExists(pid)) continue;
      await this.#fs.rmdir(join(this.root, name)).catch(() => undefined);
    }
  }

  /** mkdir a fresh instance (step 1), registered for removal on an interrupt; its path. */
  async #create(): Promise<string> {
    if (this.#closed) throw new EvidenceProviderError('ERR_TSM_PROVIDER', 'the configfs-tsm provider is closed');
    await (this.#swept ??= this.#sweep());
    const dir = join(this.root, `${this.#prefix}-pidns${this.#pidNamespace}-${process.pid}-${randomBytes(8).toString('hex')}`);
    try {
      await this.#fs.mkdir(dir);
    } catch (cause) {
      const code = errno(cause);
      const retryable = code !== undefined && RETRYABLE_MKDIR_ERRNOS.has(code);
      throw new EvidenceProviderError(retryable ? 'ERR_TSM_UNAVAILABLE' : 'ERR_TSM_IO', `cannot create a configfs-tsm report instance under ${this.root}: ${mkdirHint(code)}`, {
        cause,
        details: { root: this.root, errno: code, retryable },
      });
    }
    // A signal during the report (the TDX driver waits up to 30 s for the host's GetQuote) ends the process without
    // unwinding getEvidence: the instance would hold kernel memory for good (review s16 providers #2).
    const removeSync = this.#fs.rmdirSync;
    const untrack = removeSync === undefined ? () => undefined : onInterrupt(() => removeSync.call(this.#fs, dir));
    this.#live.set(dir, untrack);
    if (this.#closed) {
      // closed while the mkdir was under way: close() did not see this instance.
      await this.#remove(dir);
      throw new EvidenceProviderError('ERR_TSM_PROVIDER', 'the configfs-tsm provider is closed');
    }
    return dir;
  }

  /** The instance's `provider` attribute (tdx_guest / sev_guest), else ERR_TSM_PROVIDER. */
  async #provider(dir: string): Promise<{ name: string; tee: 'tdx' | 'snp' }> {
    const name = Buffer.from(await this.#read(dir, 'provider', TSM_TEXT_MAX)).toString('ascii').trim();
    const tee = Object.hasOwn(PROVIDERS, name) ? PROVIDERS[name] : undefined;
    if (!tee) throw new EvidenceProviderError('ERR_TSM_PROVIDER', `unknown configfs-tsm provider ${JSON.stringify(name)}`, { details: { provider: name } });
    return { name, tee };
  }

  /** rmdir the instance; a failure is returned as a warning (and reported), never thrown over the result. */
  async #remove(dir: string): Promise<string | undefined> {
    const untrack = this.#live.get(dir);
    if (untrack === undefined) return undefined; // close() removed it already
    this.#live.delete(dir);
    untrack();
    try {
      await this.#fs.rmdir(dir);
      return undefined;
    } catch (cause) {
      const message = `configfs-tsm report instance ${dir} could not be removed (${errno(cause) ?? 'error'}); it stays until removed by hand`;
      this.#warn(message);
      return message;
    }
  }

  /** Reads an attribute of at most `max` bytes (the file system is asked for max + 1, to see a longer one). */
  async #read(dir: string, attr: string, max: number): Promise<Uint8Array>;
  async #read(dir: string, attr: string, max: number, o: { absentAs: readonly string[] }): Promise<Uint8Array | undefined>;
  async #read(dir: string, attr: string, max: number, o?: { absentAs: readonly string[] }): Promise<Uint8Array | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await this.#fs.readFile(join(dir, attr), max + 1);
    } catch (cause) {
      if (o?.absentAs.includes(errno(cause) ?? '')) return undefined;
      throw readFailure(attr, cause);
    }
    if (bytes.length > max) throw new EvidenceProviderError('ERR_TSM_IO', `configfs-tsm ${attr} is larger than ${max} bytes`, { details: { attribute: attr, max } });
    return bytes;
  }

  async #write(dir: string, attr: string, data: Uint8Array): Promise<void> {
    try {
      await this.#fs.writeFile(join(dir, attr), data);
    } catch (cause) {
      throw new EvidenceProviderError('ERR_TSM_IO', `writing configfs-tsm ${attr} failed (${errno(cause) ?? 'error'})`, { cause, details: { attribute: attr, errno: errno(cause) } });
    }
  }

  async #collect(dir: string, reportData: Uint8Array): Promise<TeeEvidence> {
    const { name: providerName, tee } = await this.#provider(dir);
    // SEV-SNP: the floor is the VMPL of the VMPCK the guest talks to the firmware with (kernels without it: a VMPL-0 guest).
    const floorBytes = tee === 'snp' ? await this.#read(dir, 'privlevel_floor', TSM_TEXT_MAX, { absentAs: ['ENOENT'] }) : undefined;
    const privlevel = floorBytes === undefined ? undefined : parsePrivlevelFloor(floorBytes);
    const before = parseGeneration(await this.#read(dir, 'generation', TSM_TEXT_MAX), 'before');
    let writes = 0;
    if (privlevel !== undefined) {
      await this.#write(dir, 'privlevel', Buffer.from(`${privlevel}\n`, 'ascii'));
      writes += 1;
    }
    await this.#write(dir, 'inblob', reportData);
    writes += 1;
    const outblob = await this.#read(dir, 'outblob', TSM_OUTBLOB_MAX);
    // TDX instances have no auxblob; SEV-SNP without an extended request returns nothing.
    const auxblob = await this.#read(dir, 'auxblob', TSM_OUTBLOB_MAX, { absentAs: ['ENOENT', 'EINVAL'] });
    // SEV-SNP: the outblob again, after the auxblob (the kernel serves the report it keeps for this generation, no new one). A
    // co-tenant that replaced the instance between the two reads made another report (another signature): the auxblob we
    // hold would be that report's, not ours (review s16 providers #3).
    const outblobAgain = tee === 'snp' ? await this.#read(dir, 'outblob', TSM_OUTBLOB_MAX) : outblob;
    const after = parseGeneration(await this.#read(dir, 'generation', TSM_TEXT_MAX), 'after');
    if (after !== before + writes) {
      throw new EvidenceProviderError('ERR_TSM_GENERATION_RACE', `configfs-tsm generation went from ${before} to ${after} around our ${writes === 1 ? 'single inblob write' : `${writes} writes (privlevel, inblob)`}: another writer raced this request`, {
        details: { before, after, writes },
      });
    }
    if (outblob.length === 0) throw new EvidenceProviderError('ERR_TSM_IO', 'configfs-tsm outblob is empty');
    if (!Buffer.from(outblobAgain).equals(Buffer.from(outblob))) {
      throw new EvidenceProviderError('ERR_TSM_GENERATION_RACE', 'configfs-tsm outblob changed between its read and the auxblob\'s: the instance was replaced by another writer, and the auxblob may belong to another report', {
        details: { before, after, writes, reason: 'outblob-changed' },
      });
    }
    const parsed = parseOutblob(outblob, tee);
    if (!Buffer.from(parsed.reportData).equals(reportData)) {
      throw new EvidenceProviderError('ERR_TSM_GENERATION_RACE', 'configfs-tsm outblob carries REPORTDATA other than the 64 bytes written: the instance was replaced or rewritten by another writer', {
        details: { before, after, writes, reason: 'reportdata-mismatch' },
      });
    }
    // SEV-SNP: the report's VMPL is the privlevel we wrote (0, the kernel's start, when we wrote none). A co-tenant that recreated
    // the instance and wrote privlevel 3 and our inblob matches both the counter (2 writes) and the REPORTDATA (review s16 providers #3).
    const askedVmpl = privlevel ?? 0;
    if (tee === 'snp' && parsed.vmpl !== askedVmpl) {
      throw new EvidenceProviderError('ERR_TSM_GENERATION_RACE', `configfs-tsm report is at VMPL ${String(parsed.vmpl)}, not the privilege level ${askedVmpl} this request asked for: the instance was replaced or rewritten by another writer`, {
        details: { before, after, writes, reason: 'vmpl-mismatch', asked: askedVmpl, vmpl: parsed.vmpl },
      });
    }
    return {
      tee,
      provider: providerName,
      evidence: new Uint8Array(outblob),
      ...(auxblob && auxblob.length > 0 ? { auxblob: new Uint8Array(auxblob) } : {}),
      reportData: new Uint8Array(reportData),
    };
  }
}
