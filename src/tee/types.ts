/** What an evidence provider returns for one request. */
export interface TeeEvidence {
  /** TEE family, from configfs-tsm's `provider` (tdx_guest → tdx, sev_guest → snp). */
  tee: 'tdx' | 'snp';
  /** The raw `provider` value without its newline, e.g. "tdx_guest". */
  provider: string;
  /** configfs-tsm `outblob`: a DCAP quote (TDX) or an attestation report (SEV-SNP). */
  evidence: Uint8Array;
  /** configfs-tsm `auxblob` (SEV-SNP certificate table), when the provider offers one. */
  auxblob?: Uint8Array;
  /** The 64 bytes written to `inblob` (they appear verbatim as REPORTDATA). */
  reportData: Uint8Array;
  /** Something the operator should know that does not void the evidence (a configfs-tsm instance left behind). */
  warnings?: string[];
}

/** Produces evidence whose REPORTDATA is exactly the 64 bytes given. */
export interface EvidenceProvider {
  readonly name: string;
  getEvidence(reportData: Uint8Array): Promise<TeeEvidence>;
}

export const REPORT_DATA_SIZE = 64;
