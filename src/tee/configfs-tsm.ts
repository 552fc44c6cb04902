/**
 * Evidence from the Linux configfs-tsm report interface (protocols.md §7):
 *
 *   1. mkdir a fresh instance under the root (one per request, so no other
 *      process shares it);
 *   2. read `generation`, write exactly 64 bytes to `inblob`;
 *   3. read `outblob`, `auxblob` (SEV-SNP; absent for TDX) and `provider`
 *      (EBUSY / EINTR / ETIMEDOUT / EAGAIN → ERR_TSM_UNAVAILABLE, retryable);
 *   4. read `generation` again: it must have advanced by exactly our one
 *      write, otherwise another writer raced us and `outblob` may hold a
 *      report for *their* inblob → ERR_TSM_GENERATION_RACE;
 *   5. rmdir the instance, whatever happened.
 *
 * The file operations go through a small `TsmFs` interface (default:
 * node:fs/promises) so tests can run the provider against a directory tree
 * that emulates the kernel's behaviour (test/tee/fake-configfs.ts).
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { EvidenceProviderError } from '../model/errors.js';
import { REPORT_DATA_SIZE, type EvidenceProvider, type TeeEvidence } from './types.js';

export const DEFAULT_TSM_ROOT = '/sys/kernel/config/tsm/report';

/** The file operations the provider needs: configfs items are directories, attributes are files. */
export interface TsmFs {
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
}

export const nodeTsmFs: TsmFs = {
  mkdir: async (p) => {
    await fsp.mkdir(p);
  },
  rmdir: (p) => fsp.rmdir(p),
  readFile: (p) => fsp.readFile(p),
  writeFile: (p, d) => fsp.writeFile(p, d),
};

export interface ConfigfsTsmOptions {
  /** The configfs-tsm report directory; default /sys/kernel/config/tsm/report. */
  root?: string;
  /** File operations; default node:fs/promises. */
  fs?: TsmFs;
  /** Prefix of instance names; a random suffix makes each unique. Default "tee-model". */
  instancePrefix?: string;
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
  if (!/^\d+$/.test(text)) throw new EvidenceProviderError('ERR_TSM_IO', `configfs-tsm generation (${when}) is not a decimal number: ${JSON.stringify(text)}`);
  return Number(text);
}

export class ConfigfsTsmProvider implements EvidenceProvider {
  readonly name = 'configfs-tsm';
  readonly root: string;
  readonly #fs: TsmFs;
  readonly #prefix: string;

  constructor(options: ConfigfsTsmOptions = {}) {
    this.root = options.root ?? DEFAULT_TSM_ROOT;
    this.#fs = options.fs ?? nodeTsmFs;
    this.#prefix = options.instancePrefix ?? 'tee-model';
    if (!/^[A-Za-z0-9._-]+$/.test(this.#prefix)) throw new EvidenceProviderError('ERR_TSM_IO', 'instancePrefix must be a plain file name');
    Object.freeze(this);
  }

  async getEvidence(reportData: Uint8Array): Promise<TeeEvidence> {
    if (!(reportData instanceof Uint8Array) || reportData.length !== REPORT_DATA_SIZE) {
      // Both kernel providers refuse anything but exactly 64 bytes (EINVAL).
      throw new EvidenceProviderError('ERR_TEE_REPORT_DATA', `inblob must be exactly ${REPORT_DATA_SIZE} bytes`, { details: { length: reportData?.length } });
    }
    const dir = join(this.root, `${this.#prefix}-${process.pid}-${randomBytes(8).toString('hex')}`);
    try {
      await this.#fs.mkdir(dir);
    } catch (cause) {
      const code = errno(cause);
      const hint = code === 'ENOENT' ? 'configfs-tsm is not mounted or has no report directory' : code === 'ENXIO' ? 'no TSM provider is registered' : `mkdir failed (${code ?? 'error'})`;
      throw new EvidenceProviderError('ERR_TSM_UNAVAILABLE', `cannot create a configfs-tsm report instance under ${this.root}: ${hint}`, { cause, details: { root: this.root, errno: code } });
    }
    try {
      return await this.#collect(dir, reportData);
    } finally {
      await this.#fs.rmdir(dir).catch(() => undefined);
    }
  }

  async #read(dir: string, attr: string): Promise<Uint8Array> {
    try {
      return await this.#fs.readFile(join(dir, attr));
    } catch (cause) {
      throw readFailure(attr, cause);
    }
  }

  async #collect(dir: string, reportData: Uint8Array): Promise<TeeEvidence> {
    const before = parseGeneration(await this.#read(dir, 'generation'), 'before');
    try {
      await this.#fs.writeFile(join(dir, 'inblob'), reportData);
    } catch (cause) {
      throw new EvidenceProviderError('ERR_TSM_IO', `writing configfs-tsm inblob failed (${errno(cause) ?? 'error'})`, { cause, details: { errno: errno(cause) } });
    }
    const outblob = await this.#read(dir, 'outblob');
    let auxblob: Uint8Array | undefined;
    try {
      auxblob = await this.#fs.readFile(join(dir, 'auxblob'));
    } catch (e) {
      // TDX instances have no auxblob; SEV-SNP without an extended request returns nothing.
      if (errno(e) !== 'ENOENT' && errno(e) !== 'EINVAL') throw readFailure('auxblob', e);
    }
    const providerName = Buffer.from(await this.#read(dir, 'provider')).toString('ascii').trim();
    const after = parseGeneration(await this.#read(dir, 'generation'), 'after');
    if (after !== before + 1) {
      throw new EvidenceProviderError('ERR_TSM_GENERATION_RACE', `configfs-tsm generation went from ${before} to ${after} around our single inblob write: another writer raced this request`, {
        details: { before, after },
      });
    }
    const tee = PROVIDERS[providerName];
    if (!tee) throw new EvidenceProviderError('ERR_TSM_PROVIDER', `unknown configfs-tsm provider ${JSON.stringify(providerName)}`, { details: { provider: providerName } });
    if (outblob.length === 0) throw new EvidenceProviderError('ERR_TSM_IO', 'configfs-tsm outblob is empty');
    return {
      tee,
      provider: providerName,
      evidence: new Uint8Array(outblob),
      ...(auxblob && auxblob.length > 0 ? { auxblob: new Uint8Array(auxblob) } : {}),
      reportData: new Uint8Array(reportData),
    };
  }
}
