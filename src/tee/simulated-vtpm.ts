/**
 * A simulated confidential VM with a vTPM, for development and tests: the
 * hardware part is any EvidenceProvider (default the simulated TDX TEE), the
 * vTPM a TypeScript TPM (src/testing/tpm-simulator.ts) whose PCRs were
 * extended by a generated boot event log and a generated IMA list
 * (src/testing/vtpm-logs.ts, deterministic from the seed). Every quote is
 * fresh and signed by the provider's AK; the logs replay to the quoted PCRs.
 * `referenceList()` is the reference list that accepts exactly this image.
 * No production verifier accepts its evidence (the hardware part chains to
 * the test PKI).
 */
import type { ReplayBank } from '../vtpm/pcrs.js';
import type { VtpmBundle } from '../vtpm/bundle.js';
import { SimulatedTpm, type SimulatedBank } from '../testing/tpm-simulator.js';
import type { QuoteSelection } from '../testing/tpm-builders.js';
import { generateBootEventLog, generateImaList, type GeneratedBootLog, type GeneratedImaList } from '../testing/vtpm-logs.js';
import { EvidenceProviderError } from '../model/errors.js';
import { SimulatedTeeProvider } from './simulated.js';
import { REPORT_DATA_SIZE, type EvidenceProvider, type TeeEvidence } from './types.js';
import type { VtpmEvidence, VtpmEvidenceProvider, VtpmRequest } from './vtpm-types.js';

export const SIMULATED_VTPM_SEED = 'tee-verify simulated vTPM';

export interface SimulatedVtpmOptions {
  /** The hardware part; default a new simulated TDX TEE. */
  hardware?: EvidenceProvider;
  /** Seed of the generated logs (same seed, same image, same reference list). */
  seed?: string;
  /** Banks of the TPM and of the logs; default ['sha1', 'sha256']. */
  banks?: readonly ReplayBank[];
  /** Banks the quote covers (PCRs 0-23 each); default ['sha256']. */
  quoteBanks?: readonly SimulatedBank[];
  /** IMA entries after boot_aggregate; default 24. */
  imaEntries?: number;
  /** Default 'ecc' (P-256). */
  akType?: 'ecc' | 'rsa';
}

const ALL_PCRS = Array.from({ length: 24 }, (_, i) => i);

export class SimulatedVtpmProvider implements VtpmEvidenceProvider {
  readonly vtpm = true as const;
  readonly hardware: EvidenceProvider;
  readonly tpm: SimulatedTpm;
  readonly bootLog: GeneratedBootLog;
  readonly imaList: GeneratedImaList;
  readonly selections: QuoteSelection[];

  constructor(o: SimulatedVtpmOptions = {}) {
    const seed = o.seed ?? SIMULATED_VTPM_SEED;
    const banks = [...(o.banks ?? ['sha1', 'sha256'])];
    this.hardware = o.hardware ?? new SimulatedTeeProvider({ tee: 'tdx' });
    this.tpm = new SimulatedTpm({ banks, akType: o.akType ?? 'ecc' });
    this.bootLog = generateBootEventLog({ seed, banks });
    this.imaList = generateImaList({ seed, count: o.imaEntries ?? 24, bootPcrs: this.bootLog.pcrs, banks });
    for (const e of [...this.bootLog.extends, ...this.imaList.extends]) this.tpm.extend(e.pcr, e.digests);
    this.selections = (o.quoteBanks ?? ['sha256']).map((bank) => ({ bank, pcrs: ALL_PCRS }));
  }

  get name(): string {
    return `${this.hardware.name}+simulated-vtpm`;
  }

  getEvidence(reportData: Uint8Array): Promise<TeeEvidence> {
    return this.hardware.getEvidence(reportData);
  }

  attestationKeyPublic(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.tpm.akPublic));
  }

  async getVtpmEvidence(request: VtpmRequest): Promise<VtpmEvidence> {
    if (request.reportData.length !== REPORT_DATA_SIZE) throw new EvidenceProviderError('ERR_TEE_REPORT_DATA', `report data must be exactly ${REPORT_DATA_SIZE} bytes`);
    if (request.extraData.length < 1 || request.extraData.length > 64) throw new EvidenceProviderError('ERR_TEE_REPORT_DATA', 'extraData must be 1 to 64 bytes (TPM2B_DATA)');
    const hardware = await this.hardware.getEvidence(request.reportData);
    const q = this.tpm.quote(this.selections, request.extraData);
    return { hardware, bundle: this.bundleOf(q, request.extraData) };
  }

  /** A TPM-only bundle around one quote (tests build defective ones with this). */
  bundleOf(q: { attest: Uint8Array; signature: Uint8Array; pcrs: VtpmBundle['tpm']['pcrs'] }, extraData: Uint8Array): VtpmBundle {
    return {
      nonce: new Uint8Array(extraData),
      tpm: { ak: { public: new Uint8Array(this.tpm.akPublic) }, quotes: [{ attest: q.attest, signature: q.signature }], pcrs: q.pcrs },
      eventLog: this.bootLog.bytes,
      ima: { binary: this.imaList.binary },
    };
  }

  /**
   * The reference list (docs/vtpm-reference.md) of this simulated image: every
   * IMA file with its digest, the boot components, Secure Boot.
   */
  referenceList(): Record<string, unknown> {
    const files: Record<string, string[]> = {};
    for (const f of this.imaList.files) (files[f.path] ??= []).push(`${f.alg}:${f.digest}`);
    const c = this.bootLog.components;
    const digests = (d: Partial<Record<ReplayBank, string>>) => Object.entries(d).map(([bank, hex]) => `${bank}:${hex}`);
    return {
      version: 1,
      id: 'simulated vTPM image (tee-verify SimulatedVtpmProvider)',
      ima: { files },
      boot: {
        kernels: digests(c.kernel.digests),
        initrds: digests(c.initrd.digests),
        commandLines: [c.kernelCmdline],
        bootApplications: c.bootApplications.flatMap(digests),
        otherFiles: c.otherFiles.flatMap((o) => digests(o.digests)),
        secureBoot: c.secureBoot,
      },
    };
  }
}
