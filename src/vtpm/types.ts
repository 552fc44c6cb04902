/**
 * The parsed shapes of vTPM evidence (issue 9): the contract between the
 * bounded native parsers (cpp/core, wrapped by src/vtpm/parse.ts) and the
 * TypeScript that verifies and replays. Every Uint8Array here is a view into
 * the caller's input (signed bytes are spans of the original, never
 * re-serialised); `offset` fields are byte offsets into that input.
 */

/** TPM_ALG_ID values used in quotes, logs and keys (TPM 2.0 Part 2, 6.3). */
export const TpmAlg = {
  RSA: 0x0001,
  SHA1: 0x0004,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  SM3_256: 0x0012,
  RSASSA: 0x0014,
  RSAPSS: 0x0016,
  ECDSA: 0x0018,
  ECC: 0x0023,
} as const;

export type TpmHashName = 'sha1' | 'sha256' | 'sha384' | 'sha512' | 'sm3_256';

/** TPM_GENERATED_VALUE ("\xffTCG") and TPM_ST_ATTEST_QUOTE. */
export const TPM_GENERATED_VALUE = 0xff544347;
export const TPM_ST_ATTEST_QUOTE = 0x8018;

export interface TpmPcrSelection {
  /** TPM_ALG_ID of the bank. */
  hashAlg: number;
  /** Known name of the bank, undefined for an algorithm we do not know. */
  hash: TpmHashName | undefined;
  /** Selected PCR indexes, ascending. */
  pcrs: number[];
}

/** TPMS_ATTEST with attested = TPMS_QUOTE_INFO (the only type we accept). */
export interface TpmQuote {
  /** The exact bytes the TPM signed (the whole TPMS_ATTEST). */
  signed: Uint8Array;
  magic: number;
  type: number;
  /** TPM2B_NAME of the signing key (nameAlg ‖ H(TPMT_PUBLIC)). */
  qualifiedSigner: Uint8Array;
  /** TPM2B_DATA: the caller's nonce (qualifying data). */
  extraData: Uint8Array;
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: boolean;
  firmwareVersion: bigint;
  pcrSelections: TpmPcrSelection[];
  /** Digest (under the signing key's hash) of the selected PCR values, concatenated in selection order. */
  pcrDigest: Uint8Array;
}

/** TPMT_SIGNATURE. */
export interface TpmSignature {
  sigAlg: number;
  scheme: 'rsassa' | 'rsapss' | 'ecdsa';
  hashAlg: number;
  hash: TpmHashName | undefined;
  /** RSA schemes: the signature (big-endian, modulus length). */
  rsaSignature?: Uint8Array;
  /** ECDSA: r and s as the TPM encoded them (big-endian, possibly shorter than the curve size). */
  ecdsaR?: Uint8Array;
  ecdsaS?: Uint8Array;
}

/** TPMT_PUBLIC of an attestation key (RSA or ECC only). */
export interface TpmPublic {
  /** The TPMT_PUBLIC bytes (without a TPM2B size prefix): its Name is nameAlg ‖ H(these bytes). */
  bytes: Uint8Array;
  type: 'rsa' | 'ecc';
  nameAlg: number;
  objectAttributes: number;
  authPolicy: Uint8Array;
  /** Signing scheme in the key's parameters (TPM_ALG_NULL when any is allowed) and its hash. */
  schemeAlg: number;
  schemeHashAlg: number;
  rsa?: { keyBits: number; exponent: number; modulus: Uint8Array };
  /** curveId: TPM_ECC_NIST_P256 = 0x0003, P384 = 0x0004. */
  ecc?: { curveId: number; x: Uint8Array; y: Uint8Array };
}

export interface TcgDigest {
  alg: number;
  hash: TpmHashName | undefined;
  digest: Uint8Array;
}

/** One event of a TCG PC Client boot event log. */
export interface TcgEvent {
  /** Position in the log, 0 = the first (header) event. */
  index: number;
  offset: number;
  pcr: number;
  eventType: number;
  digests: TcgDigest[];
  /** The event data (TCG_PCR_EVENT2.event), a view into the input. */
  data: Uint8Array;
}

export interface TcgEventLog {
  /** crypto-agile: SHA-1 header event with a Spec ID Event03, then TCG_PCR_EVENT2; sha1: legacy TCG_PCClientPCREvent only. */
  format: 'crypto-agile' | 'sha1';
  /** Banks and digest sizes the Spec ID event declares (crypto-agile), or [SHA-1] (legacy). */
  algorithms: { alg: number; hash: TpmHashName | undefined; digestSize: number }[];
  /** Every event including the header event (index 0). */
  events: TcgEvent[];
  /** Bytes after the last event that are all 0x00 or all 0xFF (unused log area), set by parseTcgEventLog when present. */
  trailingPadding?: { byte: 0 | 0xff; length: number };
}

/** Fields of an IMA template, decoded where the template is known. */
export interface ImaEntry {
  index: number;
  /** Byte offset (binary list) or line number, 1-based (ASCII list). */
  offset: number;
  pcr: number;
  /** Template hash as recorded (SHA-1 in the classic list, or the bank's hash in per-bank lists). */
  templateDigest: Uint8Array;
  templateName: string;
  /** The raw template data the template digest covers (binary form). For ASCII lists, reconstructed per the template rules. */
  templateData: Uint8Array;
  /** File digest algorithm ("sha1" for the `ima` template, else from the "alg:" prefix of d-ng). */
  fileDigestAlg?: string;
  fileDigest?: Uint8Array;
  /** File name (n / n-ng field), without its trailing NUL. */
  path?: string;
  /** ima-sig: the signature field (may be empty). */
  signature?: Uint8Array;
  /**
   * Set only on the entries verifyVtpmEvidence hands on (`appraisal.ima.entries`) for a violation
   * entry (all-zero template digest): the replay extends 0xFF for it and hashes none of its data,
   * so such an entry has no `path`, `fileDigestAlg`, `fileDigest` or `signature`, and an empty
   * `templateData` (review s15, vTPM finding 2). The parsers never set it.
   */
  violation?: true;
  /** With `violation`: the file name the entry's data claims, covered by no digest (anyone who relays the list can change it). */
  unverifiedPath?: string;
}

/** Azure confidential VM attestation report ("HCLA" header). */
export interface HclReport {
  /** The whole input. */
  bytes: Uint8Array;
  version: number;
  reportType: 'snp' | 'tdx';
  /** The hardware report (SNP attestation report, or TDX TDREPORT) as embedded. */
  hardwareReport: Uint8Array;
  /** Hash type of the runtime data commitment: always 1 (SHA-256); the parser refuses 2 (SHA-384) and 3 (SHA-512) at VT03. */
  reportDataHashType: number;
  /** The runtime data (a JSON document: keys incl. HCLAkPub, vm-configuration, user-data). */
  runtimeData: Uint8Array;
  /** Zero padding after the report's own size (the NV index is larger); set by parseHclReport. */
  trailingZeroBytes?: number;
}
