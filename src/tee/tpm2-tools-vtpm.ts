/**
 * The real vTPM provider for a confidential VM: hardware evidence from an
 * EvidenceProvider (configfs-tsm in a TD or SEV-SNP guest) and the vTPM
 * through tpm2-tools (acquireVtpmEvidence, docs/vtpm.md "Acquisition").
 *
 * The attestation key must be known before the hardware is asked (the
 * report data commits to it), so it is fixed for the provider's lifetime:
 * a persistent handle the operator provisioned (`ak`, e.g. 0x81000003), or
 * a restricted signing key created once under the RSA EK at first use and
 * kept as a context file in a private temporary directory (valid until the
 * TPM resets; the gateway is restarted with the VM anyway). Every quote's AK
 * is compared with it; a different one is refused, never served.
 *
 * TPM conversations pass one at a time through a TpmGate (tpm-gate.ts), which
 * refuses at once instead of queueing behind a TPM that does not answer. After
 * a call past its deadline the TPM may hold objects and sessions of the killed
 * tool: the next conversation flushes them first (`tpm2_flushcontext -t`, `-l`).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  acquireVtpmEvidence,
  isToolTimeout,
  parsePcrSelection,
  tpm2ToolsEnvironment,
  tpm2ToolsRunner,
  type AcquireOptions,
  type CommandRunner,
} from '../vtpm/acquire.js';
import { parseTpmPublic } from '../vtpm/parse.js';
import { TeeVerifyError } from '../errors.js';
import { EvidenceProviderError, isModelError } from '../model/errors.js';
import { TpmGate } from './tpm-gate.js';
import type { EvidenceProvider, TeeEvidence } from './types.js';
import type { VtpmEvidence, VtpmEvidenceProvider, VtpmRequest } from './vtpm-types.js';

export interface Tpm2ToolsVtpmOptions {
  /** The hardware part (ConfigfsTsmProvider in a real CVM). */
  hardware: EvidenceProvider;
  /** tpm2-tools TCTI; default tpm2-tools' own (the kernel's resource manager). */
  tcti?: string;
  /** A persistent AK handle (0x81000000-0x81ffffff) or a context file path; default: a new AK under the EK at first use. */
  ak?: string;
  /** Quoted PCRs, tpm2-tools syntax, indexes ascending per bank; default all 24 SHA-256 PCRs. */
  pcrs?: string;
  /** Log paths (null leaves one out); defaults the kernel's securityfs files. */
  eventLogPath?: string | null;
  imaPath?: string | null;
  /** Deadline of each tpm2-tools call, ms (the child is killed); default DEFAULT_TPM2_TOOL_TIMEOUT_MS (30 s). Not used with `run`. */
  toolTimeoutMs?: number;
  /** A TPM conversation running longer than this marks the TPM unresponsive (tpm-gate.ts); default 5000 ms. */
  stuckAfterMs?: number;
  /** TPM conversations that may wait behind the running one; beyond, ERR_TSM_UNAVAILABLE at once. Default 16. */
  maxWaiting?: number;
  run?: CommandRunner;
}

interface LoadedAk {
  context: string;
  public: Uint8Array;
  dir: string;
}

const PERSISTENT_HANDLE = /^0x81[0-9a-fA-F]{6}$/;

/** `ak`: a persistent handle, or a context file path (not another handle, not something tpm2-tools reads as an option). */
function checkAk(ak: string | undefined): void {
  if (ak === undefined || PERSISTENT_HANDLE.test(ak)) return;
  // Anything that reads as a handle but is not a persistent one (an NV index, a transient object) is a mistake, as is a
  // value tpm2-tools would take for an option or one with surrounding blanks.
  const handleLike = /^(0x)?[0-9a-fA-F]+$/.test(ak) || /^0x/i.test(ak);
  if (typeof ak !== 'string' || ak.length === 0 || handleLike || ak.startsWith('-') || ak.includes('\0') || ak.trim() !== ak) {
    throw new EvidenceProviderError('ERR_TSM_PROVIDER', 'ak must be a persistent handle (0x81000000 to 0x81ffffff) or the path of a context file', { details: { ak: String(ak) } });
  }
}

/** The typed error of a failed tpm2-tools call: a call killed at its deadline is retryable (ERR_TSM_UNAVAILABLE). */
function toolFailure(tool: string, err: unknown): EvidenceProviderError {
  if (isToolTimeout(err)) {
    return new EvidenceProviderError('ERR_TSM_UNAVAILABLE', `${tool} did not finish within ${err.timeoutMs} ms (killed): the TPM does not answer; retry later`, {
      cause: err,
      details: { tool, reason: 'timeout', timeoutMs: err.timeoutMs, retryable: true, ...(err.exited === false ? { exited: false } : {}) },
    });
  }
  const stderr = (err as { stderrText?: string }).stderrText;
  return new EvidenceProviderError('ERR_TSM_PROVIDER', `${tool} failed${stderr ? `: ${stderr}` : ''}`, { cause: err, details: { tool } });
}

/** A TPM call past its deadline, as this provider reports it (toolFailure, acquireFailure). */
function isTimeoutFailure(err: unknown): boolean {
  return isModelError(err) && err.code === 'ERR_TSM_UNAVAILABLE' && err.details['reason'] === 'timeout';
}

/** acquireVtpmEvidence's timeout (ERR_VTPM_ACQUIRE, reason "timeout") as this provider's retryable code; other errors unchanged. */
function acquireFailure(err: unknown): unknown {
  if (err instanceof TeeVerifyError && err.details['reason'] === 'timeout') {
    return new EvidenceProviderError('ERR_TSM_UNAVAILABLE', err.message, { cause: err, details: { ...err.details, retryable: true } });
  }
  return err;
}

export class Tpm2ToolsVtpmProvider implements VtpmEvidenceProvider {
  readonly vtpm = true as const;
  readonly #o: Tpm2ToolsVtpmOptions;
  readonly #run: CommandRunner;
  /** The AK, once read; a failed or timed-out read is dropped, so the next request tries again. */
  #ak: Promise<LoadedAk> | undefined;
  /** One TPM conversation at a time (tpm2-tools without a resource manager shares the TPM's few object slots), failing fast on a hung TPM. */
  readonly #gate: TpmGate;
  /** A call was killed at its deadline: the next conversation flushes what the killed tool may have left loaded. */
  #dirty = false;
  /** close() was called: nothing may create another AK directory. */
  #closed = false;

  constructor(o: Tpm2ToolsVtpmOptions) {
    if (!o?.hardware || typeof o.hardware.getEvidence !== 'function') throw new TypeError('hardware must be an EvidenceProvider');
    checkAk(o.ak);
    if (o.pcrs !== undefined) parsePcrSelection(o.pcrs);
    this.#o = o;
    // Built here so a bad timeout fails at start-up; acquireVtpmEvidence gets the same runner.
    this.#run = o.run ?? tpm2ToolsRunner(o.toolTimeoutMs === undefined ? {} : { timeoutMs: o.toolTimeoutMs });
    this.#gate = new TpmGate({
      ...(o.stuckAfterMs !== undefined ? { stuckAfterMs: o.stuckAfterMs } : {}),
      ...(o.maxWaiting !== undefined ? { maxWaiting: o.maxWaiting } : {}),
      isTimeout: isTimeoutFailure,
    });
  }

  get name(): string {
    return `${this.#o.hardware.name}+vtpm`;
  }

  getEvidence(reportData: Uint8Array): Promise<TeeEvidence> {
    return this.#o.hardware.getEvidence(reportData);
  }

  /**
   * The hardware part's TEE without a report, where it can tell (ConfigfsTsmProvider.detectTee), so
   * the gateway's TDX-only quote route answers 404 on SEV-SNP before spending a rate slot and a report
   * (review s12 change review of gw finding 2). Rejects when the hardware part cannot tell.
   */
  detectTee(): Promise<'tdx' | 'snp'> {
    const detect = (this.#o.hardware as { detectTee?: unknown }).detectTee;
    if (typeof detect !== 'function') {
      return Promise.reject(new EvidenceProviderError('ERR_TSM_PROVIDER', `${this.#o.hardware.name} cannot tell its TEE without a report`));
    }
    return (detect as () => Promise<'tdx' | 'snp'>).call(this.#o.hardware);
  }

  #assertOpen(): void {
    if (this.#closed) throw new EvidenceProviderError('ERR_TSM_PROVIDER', 'the vTPM provider is closed');
  }

  /** One TPM conversation through the gate; a dirty TPM is flushed first, a timeout marks it dirty. */
  #conversation<T>(work: () => Promise<T>): Promise<T> {
    return this.#gate.run(async () => {
      this.#assertOpen();
      try {
        if (this.#dirty) await this.#flushAfterTimeout();
        return await work();
      } catch (err) {
        if (isTimeoutFailure(err)) this.#dirty = true;
        throw err;
      }
    });
  }

  /**
   * A tool killed at its deadline may leave transient objects and loaded sessions in the TPM's few
   * slots (a resource manager would flush them with the connection; a raw device or swtpm does not).
   * A flush past its own deadline fails this conversation (the TPM still does not answer); other
   * flush failures are ignored, as after every call.
   */
  async #flushAfterTimeout(): Promise<void> {
    for (const kind of ['-t', '-l']) {
      try {
        await this.#run('tpm2_flushcontext', [kind], this.#env());
      } catch (err) {
        if (isToolTimeout(err)) throw toolFailure('tpm2_flushcontext', err);
      }
    }
    this.#dirty = false;
  }

  #env(): NodeJS.ProcessEnv {
    return tpm2ToolsEnvironment(this.#o.tcti);
  }

  async #tool(tool: string, args: string[]): Promise<void> {
    let stuck = false;
    try {
      await this.#run(tool, args, this.#env());
    } catch (err) {
      stuck = isToolTimeout(err);
      throw toolFailure(tool, err);
    } finally {
      // Not after a timeout: the TPM does not answer, and the flush would wait for its own deadline.
      if (tool !== 'tpm2_flushcontext' && !stuck) await this.#run('tpm2_flushcontext', ['-t'], this.#env()).catch(() => undefined);
    }
  }

  async #readAkPublic(path: string): Promise<Uint8Array> {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      throw new EvidenceProviderError('ERR_TSM_IO', `cannot read the attestation key tpm2_readpublic wrote (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err, details: { errno: (err as NodeJS.ErrnoException).code } });
    }
    return new Uint8Array(parseTpmPublic(new Uint8Array(bytes), { sized: true }).bytes);
  }

  async #createAk(): Promise<LoadedAk> {
    let dir: string;
    try {
      dir = await mkdtemp(join(tmpdir(), 'tee-gateway-vtpm-'));
    } catch (err) {
      throw new EvidenceProviderError('ERR_TSM_IO', `cannot create the attestation key directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err, details: { errno: (err as NodeJS.ErrnoException).code } });
    }
    try {
      let context = this.#o.ak;
      if (context === undefined) {
        await this.#tool('tpm2_createek', ['-c', join(dir, 'ek.ctx'), '-G', 'rsa', '-u', join(dir, 'ek.pub')]);
        context = join(dir, 'ak.ctx');
        await this.#tool('tpm2_createak', ['-C', join(dir, 'ek.ctx'), '-c', context, '-G', 'ecc', '-s', 'ecdsa', '-g', 'sha256', '-u', join(dir, 'ak.pub'), '-f', 'tss']);
      }
      await this.#tool('tpm2_readpublic', ['-c', context, '-f', 'tss', '-o', join(dir, 'ak-read.pub')]);
      return { context, public: await this.#readAkPublic(join(dir, 'ak-read.pub')), dir };
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  #loadAk(): Promise<LoadedAk> {
    if (this.#closed) return Promise.reject(new EvidenceProviderError('ERR_TSM_PROVIDER', 'the vTPM provider is closed'));
    if (this.#ak) return this.#ak;
    const p = this.#conversation(() => this.#createAk());
    this.#ak = p;
    // Never keep a failure: a TPM that timed out once may answer the next request.
    p.catch(() => {
      if (this.#ak === p) this.#ak = undefined;
    });
    return p;
  }

  async attestationKeyPublic(): Promise<Uint8Array> {
    return new Uint8Array((await this.#loadAk()).public);
  }

  async getVtpmEvidence(request: VtpmRequest): Promise<VtpmEvidence> {
    const extraData = request?.extraData;
    // Without qualifying data the quote is not fresh: anyone who saw one could replay it.
    if (!(extraData instanceof Uint8Array) || extraData.length === 0 || extraData.length > 64) {
      throw new EvidenceProviderError('ERR_TEE_REPORT_DATA', 'the TPM quote\'s extraData must be 1 to 64 bytes', { details: { field: 'extraData', length: extraData?.length } });
    }
    const ak = await this.#loadAk();
    // Not even a hardware report for a request the TPM would refuse at once.
    const refused = this.#gate.refusal();
    if (refused) throw refused;
    const hardware = await this.#o.hardware.getEvidence(request.reportData);
    const options: AcquireOptions = {
      nonce: new Uint8Array(extraData),
      ak: ak.context,
      hcl: false,
      run: this.#run,
      ...(this.#o.tcti ? { tcti: this.#o.tcti } : {}),
      ...(this.#o.pcrs ? { pcrs: this.#o.pcrs } : {}),
      ...(this.#o.eventLogPath !== undefined ? { eventLogPath: this.#o.eventLogPath } : {}),
      ...(this.#o.imaPath !== undefined ? { imaPath: this.#o.imaPath } : {}),
    };
    const acquired = await this.#conversation(async () => {
      try {
        return await acquireVtpmEvidence(options);
      } catch (err) {
        throw acquireFailure(err);
      }
    });
    const { bundle } = acquired;
    const quotedAk = bundle.tpm.ak && 'public' in bundle.tpm.ak ? bundle.tpm.ak.public : undefined;
    if (!quotedAk || !Buffer.from(quotedAk).equals(Buffer.from(ak.public))) {
      throw new EvidenceProviderError('ERR_TSM_PROVIDER', 'the TPM quoted with another attestation key than the one the hardware evidence binds');
    }
    return { hardware, bundle };
  }

  /**
   * Removes the AK's context directory (the TPM object itself goes with the TPM's next reset). The
   * gateway's CLI calls this on shutdown; a program that builds the provider closes it itself.
   * Every later request, and one still waiting for the TPM, is refused (ERR_TSM_PROVIDER): it would
   * create an AK directory nobody removes. The hardware provider is closed too when it has a close()
   * (ConfigfsTsmProvider: its report instances still open are removed; review s16 providers #2).
   */
  async close(): Promise<void> {
    this.#closed = true;
    const pending = this.#ak;
    this.#ak = undefined;
    const hardwareClose = (this.#o.hardware as { close?: unknown }).close;
    try {
      const ak = await pending?.catch(() => undefined);
      if (ak) await rm(ak.dir, { recursive: true, force: true });
    } finally {
      if (typeof hardwareClose === 'function') await (hardwareClose as () => Promise<void>).call(this.#o.hardware);
    }
  }
}
