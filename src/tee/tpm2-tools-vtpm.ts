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
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { acquireVtpmEvidence, tpm2ToolsEnvironment, type AcquireOptions, type CommandRunner } from '../vtpm/acquire.js';
import { parseTpmPublic } from '../vtpm/parse.js';
import { EvidenceProviderError } from '../model/errors.js';
import type { EvidenceProvider, TeeEvidence } from './types.js';
import type { VtpmEvidence, VtpmEvidenceProvider, VtpmRequest } from './vtpm-types.js';

export interface Tpm2ToolsVtpmOptions {
  /** The hardware part (ConfigfsTsmProvider in a real CVM). */
  hardware: EvidenceProvider;
  /** tpm2-tools TCTI; default tpm2-tools' own (the kernel's resource manager). */
  tcti?: string;
  /** A persistent AK handle; default: a new AK under the EK at first use. */
  ak?: string;
  /** Quoted PCRs, tpm2-tools syntax; default all 24 SHA-256 PCRs. */
  pcrs?: string;
  /** Log paths (null leaves one out); defaults the kernel's securityfs files. */
  eventLogPath?: string | null;
  imaPath?: string | null;
  run?: CommandRunner;
}

const defaultRunner: CommandRunner = (file, args, env) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { env, encoding: 'buffer', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderrText: Buffer.from(stderr).toString('utf8').trim() }));
      else resolve(stdout);
    });
  });

export class Tpm2ToolsVtpmProvider implements VtpmEvidenceProvider {
  readonly vtpm = true as const;
  readonly #o: Tpm2ToolsVtpmOptions;
  #ak: Promise<{ context: string; public: Uint8Array; dir?: string }> | undefined;
  /** One TPM conversation at a time: tpm2-tools without a resource manager shares the TPM's few object slots. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(o: Tpm2ToolsVtpmOptions) {
    if (!o?.hardware || typeof o.hardware.getEvidence !== 'function') throw new TypeError('hardware must be an EvidenceProvider');
    this.#o = o;
  }

  get name(): string {
    return `${this.#o.hardware.name}+vtpm`;
  }

  getEvidence(reportData: Uint8Array): Promise<TeeEvidence> {
    return this.#o.hardware.getEvidence(reportData);
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(work, work);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  #env(): NodeJS.ProcessEnv {
    return tpm2ToolsEnvironment(this.#o.tcti);
  }

  async #tool(tool: string, args: string[]): Promise<void> {
    const run = this.#o.run ?? defaultRunner;
    try {
      await run(tool, args, this.#env());
    } catch (err) {
      const stderr = (err as { stderrText?: string }).stderrText;
      throw new EvidenceProviderError('ERR_TSM_PROVIDER', `${tool} failed${stderr ? `: ${stderr}` : ''}`, { cause: err });
    } finally {
      if (tool !== 'tpm2_flushcontext') await run('tpm2_flushcontext', ['-t'], this.#env()).catch(() => undefined);
    }
  }

  #loadAk(): Promise<{ context: string; public: Uint8Array; dir?: string }> {
    return (this.#ak ??= this.#serial(async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tee-gateway-vtpm-'));
      try {
        let context = this.#o.ak;
        if (context === undefined) {
          await this.#tool('tpm2_createek', ['-c', join(dir, 'ek.ctx'), '-G', 'rsa', '-u', join(dir, 'ek.pub')]);
          context = join(dir, 'ak.ctx');
          await this.#tool('tpm2_createak', ['-C', join(dir, 'ek.ctx'), '-c', context, '-G', 'ecc', '-s', 'ecdsa', '-g', 'sha256', '-u', join(dir, 'ak.pub'), '-f', 'tss']);
        }
        await this.#tool('tpm2_readpublic', ['-c', context, '-f', 'tss', '-o', join(dir, 'ak-read.pub')]);
        const pub = parseTpmPublic(new Uint8Array(await readFile(join(dir, 'ak-read.pub'))), { sized: true });
        return { context, public: new Uint8Array(pub.bytes), dir };
      } catch (err) {
        this.#ak = undefined;
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }));
  }

  async attestationKeyPublic(): Promise<Uint8Array> {
    return new Uint8Array((await this.#loadAk()).public);
  }

  async getVtpmEvidence(request: VtpmRequest): Promise<VtpmEvidence> {
    const ak = await this.#loadAk();
    const hardware = await this.#o.hardware.getEvidence(request.reportData);
    const options: AcquireOptions = {
      nonce: request.extraData,
      ak: ak.context,
      hcl: false,
      ...(this.#o.tcti ? { tcti: this.#o.tcti } : {}),
      ...(this.#o.pcrs ? { pcrs: this.#o.pcrs } : {}),
      ...(this.#o.eventLogPath !== undefined ? { eventLogPath: this.#o.eventLogPath } : {}),
      ...(this.#o.imaPath !== undefined ? { imaPath: this.#o.imaPath } : {}),
      ...(this.#o.run ? { run: this.#o.run } : {}),
    };
    const { bundle } = await this.#serial(() => acquireVtpmEvidence(options));
    const quotedAk = bundle.tpm.ak && 'public' in bundle.tpm.ak ? bundle.tpm.ak.public : undefined;
    if (!quotedAk || !Buffer.from(quotedAk).equals(Buffer.from(ak.public))) {
      throw new EvidenceProviderError('ERR_TSM_PROVIDER', 'the TPM quoted with another attestation key than the one the hardware evidence binds');
    }
    return { hardware, bundle };
  }

  /** Removes the AK's context directory (the TPM object itself goes with the TPM's next reset). */
  async close(): Promise<void> {
    const ak = await this.#ak?.catch(() => undefined);
    this.#ak = undefined;
    if (ak?.dir) await rm(ak.dir, { recursive: true, force: true });
  }
}
