/**
 * Parsed evidence. Byte fields are views of `Evidence.bytes` (the decoded
 * copy of the caller's input); 64-bit bit-fields are BigInt. Field names are
 * camelCase of the Intel / AMD spec names.
 */

/** Header of SGX quote v3 (Intel sgx_quote_3.h). */
export interface QuoteHeaderV3 {
  version: number;
  attestationKeyType: number;
  /** att_key_data_0: reserved, zero. */
  attestationKeyData0: number;
  /** Not authoritative: the QE report ISVSVN is. */
  qeSvn: number;
  /** Not authoritative: the PCK certificate's PCESVN is. */
  pceSvn: number;
  qeVendorId: Uint8Array;
  userData: Uint8Array;
}

/** Header of TDX quotes v4 and v5 (Intel sgx_quote_4.h). */
export interface QuoteHeaderV4 {
  version: number;
  attestationKeyType: number;
  teeType: number;
  /** Bytes 0x08..0x0B, never interpreted (T44). */
  reserved: Uint8Array;
  qeVendorId: Uint8Array;
  userData: Uint8Array;
}

/** sgx_report_body_t: the QE report, and the enclave report of SGX quotes. */
export interface SgxReportBody {
  cpuSvn: Uint8Array;
  miscSelect: number;
  reserved1: Uint8Array;
  isvExtProdId: Uint8Array;
  /** flags (u64 LE) || xfrm (u64 LE); DEBUG is flags bit 1. */
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  reserved2: Uint8Array;
  mrSigner: Uint8Array;
  reserved3: Uint8Array;
  configId: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  configSvn: number;
  reserved4: Uint8Array;
  isvFamilyId: Uint8Array;
  reportData: Uint8Array;
}

/** sgx_report2_body_t (TDX 1.0, 584 bytes), plus the TDX 1.5 fields (648 bytes). */
export interface TdReportBody {
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: bigint;
  tdAttributes: bigint;
  xfam: bigint;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmr0: Uint8Array;
  rtmr1: Uint8Array;
  rtmr2: Uint8Array;
  rtmr3: Uint8Array;
  reportData: Uint8Array;
  /** Body type 3 (TDX 1.5) only. */
  teeTcbSvn2?: Uint8Array;
  /** Body type 3 (TDX 1.5) only. */
  mrServiceTd?: Uint8Array;
}

/** A byte range of `Evidence.bytes`. */
export interface Span {
  offset: number;
  length: number;
}

export interface TrailingBytes {
  /** Bytes after the end of the structure; never interpreted. */
  length: number;
  allZero: boolean;
}

/** ECDSA signature data shared by SGX v3 and TDX v4/v5 quotes. */
export interface QuoteSignatureData {
  /** Big-endian r || s by the attestation key over `signedRange`. */
  quoteSignature: Uint8Array;
  /** Big-endian x || y of the P-256 attestation key. */
  attestationKey: Uint8Array;
  /** 6 for TDX v4/v5 (QE report certification data); absent for SGX v3. */
  outerCertificationDataType?: number;
  qeReport: SgxReportBody;
  /** The 384 signed bytes of the QE report. */
  qeReportBytes: Uint8Array;
  /** Big-endian r || s by the PCK key over `qeReportBytes`. */
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  /** Always 5 (PCK certificate chain) after a successful parse. */
  certificationDataType: number;
  /** PEM leaf || intermediate || root, as found in the quote (unsigned bytes). */
  pckCertChainPem: Uint8Array;
}

interface IntelQuoteBase {
  /** The decoded evidence; every byte field is a view into it. */
  bytes: Uint8Array;
  /** Bytes covered by the quote signature: header (and v5 body descriptor) and body. */
  signedRange: Span;
  signatureData: QuoteSignatureData;
  trailing: TrailingBytes;
  /** Relaxations that applied while parsing (lenient mode). */
  warnings: string[];
}

export interface TdxQuote extends IntelQuoteBase {
  kind: 'tdx';
  version: 4 | 5;
  header: QuoteHeaderV4;
  /** 2 = TD report TDX 1.0, 3 = TDX 1.5 (v4 quotes are always 2). */
  bodyType: 2 | 3;
  body: TdReportBody;
}

export interface SgxQuote extends IntelQuoteBase {
  kind: 'sgx';
  version: 3;
  header: QuoteHeaderV3;
  body: SgxReportBody;
}

export type SnpProduct = 'Milan' | 'Genoa' | 'Turin';

/** TCB_VERSION decoded with the product's layout (checklist §4.1). */
export interface SnpTcb {
  /** The 8 raw bytes as a little-endian u64. */
  raw: bigint;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  /** Turin and later only. */
  fmc?: number;
}

export interface SnpPolicy {
  raw: bigint;
  abiMinor: number;
  abiMajor: number;
  smt: boolean;
  migrateMa: boolean;
  debug: boolean;
  singleSocket: boolean;
  cxlAllow: boolean;
  memAes256Xts: boolean;
  raplDis: boolean;
  ciphertextHiding: boolean;
  pageSwapDisable: boolean;
}

export interface SnpPlatformInfo {
  raw: bigint;
  smtEnabled: boolean;
  tsmeEnabled: boolean;
  eccEnabled: boolean;
  raplDisabled: boolean;
  ciphertextHidingDramEnabled: boolean;
  aliasCheckComplete: boolean;
  /** Bit 6: listed as reserved by the checklist, set by genuine Turin firmware. */
  bit6: boolean;
  tioEnabled: boolean;
}

export interface SnpSignerInfo {
  raw: number;
  authorKeyEnabled: boolean;
  maskChipKey: boolean;
  signingKey: 'vcek' | 'vlek';
}

export interface SnpReport {
  kind: 'snp';
  version: 2 | 3 | 4 | 5;
  bytes: Uint8Array;
  /** Bytes covered by the report signature: [0, 0x2A0). */
  signedRange: Span;
  guestSvn: number;
  policy: SnpPolicy;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgo: number;
  currentTcbBytes: Uint8Array;
  platformInfo: SnpPlatformInfo;
  signerInfo: SnpSignerInfo;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  reportedTcbBytes: Uint8Array;
  /** v3 and later: signed CPUID family / model / stepping. */
  cpuid?: { family: number; model: number; stepping: number };
  chipId: Uint8Array;
  committedTcbBytes: Uint8Array;
  currentVersion: { major: number; minor: number; build: number };
  committedVersion: { major: number; minor: number; build: number };
  launchTcbBytes: Uint8Array;
  /** v5 only. */
  launchMitVector?: bigint;
  /** v5 only. */
  currentMitVector?: bigint;
  /** 72-byte little-endian R and S as stored in the report. */
  signature: { r: Uint8Array; s: Uint8Array };
  /** From the signed CPUID (v3+), or from the caller for v2; undefined when unknown. */
  product: SnpProduct | undefined;
  /** Where `product` came from. */
  productSource: 'cpuid' | 'caller' | 'unknown';
  /** TCB values decoded with the product's layout; undefined when the product is unknown. */
  tcb:
    | { current: SnpTcb; reported: SnpTcb; committed: SnpTcb; launch: SnpTcb }
    | undefined;
  trailing: TrailingBytes;
  warnings: string[];
}

export type Evidence = TdxQuote | SgxQuote | SnpReport;

export type EvidenceKind = Evidence['kind'];
