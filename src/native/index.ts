/**
 * The only module that loads the compiled addon. On failure it reports why
 * every candidate failed, in one error.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { NativeAddonError } from '../errors.js';

export type NativeFieldType = 'bytes' | 'u8' | 'u16' | 'u32' | 'u64' | 'tcb';

export interface NativeField {
  name: string;
  offset: number;
  size: number;
  type: NativeFieldType;
  /** SNP only: first report version that carries the field (0 = every version). */
  minVersion: number;
}

export interface NativeLayout {
  size: number;
  fields: NativeField[];
}

export type NativeLayoutName =
  | 'quoteHeaderV3'
  | 'quoteHeaderV4'
  | 'sgxReportBody'
  | 'tdReport10'
  | 'tdReport15'
  | 'snpReport';

export interface NativeParseFailure {
  code: string;
  offset: number;
  check: string;
  unsupported: boolean;
}

export interface NativeQuoteFrame {
  version: number;
  bodyType: number;
  bodyOffset: number;
  bodySize: number;
  signedLength: number;
  signatureDataLength: number;
  quoteSignatureOffset: number;
  attestationKeyOffset: number;
  outerCertDataType: number;
  outerCertDataSize: number;
  qeReportOffset: number;
  qeReportSignatureOffset: number;
  qeAuthDataOffset: number;
  qeAuthDataSize: number;
  certDataType: number;
  certDataOffset: number;
  certDataSize: number;
  endOffset: number;
  trailingSize: number;
  trailingAllZero: boolean;
}

export interface NativeSnpFrame {
  version: number;
  signingKey: number;
  trailingSize: number;
  trailingAllZero: boolean;
}

export interface NativeCertTable {
  entries: { guid: Uint8Array; offset: number; length: number }[];
}

/** A byte range of the parsed input. */
export interface NativeSpan {
  offset: number;
  size: number;
}

/** TPMS_ATTEST (quote) frame; clock info and firmware version are read from the input at their offsets. */
export interface NativeTpmQuoteFrame {
  magic: number;
  type: number;
  qualifiedSigner: NativeSpan;
  extraData: NativeSpan;
  /** clock u64, resetCount u32, restartCount u32, safe u8 (big-endian). */
  clockInfoOffset: number;
  safe: number;
  firmwareVersionOffset: number;
  pcrDigest: NativeSpan;
  /** Per bank: TPM_ALG_ID and the selected PCRs as a bit mask (bit i = PCR i). */
  selections: { hashAlg: number; mask: number }[];
}

export interface NativeTpmSignatureFrame {
  sigAlg: number;
  hashAlg: number;
  /** RSA: the signature; ECDSA: r. */
  first: NativeSpan;
  /** ECDSA: s. */
  second: NativeSpan;
}

export interface NativeTpmPublicFrame {
  publicArea: NativeSpan;
  type: number;
  nameAlg: number;
  objectAttributes: number;
  authPolicy: NativeSpan;
  symmetricAlg: number;
  symmetricKeyBits: number;
  symmetricMode: number;
  schemeAlg: number;
  schemeHashAlg: number;
  rsaKeyBits: number;
  /** As encoded: 0 means 65537. */
  rsaExponent: number;
  eccCurve: number;
  kdfAlg: number;
  kdfHashAlg: number;
  /** RSA: modulus; ECC: x. */
  first: NativeSpan;
  /** ECC: y. */
  second: NativeSpan;
}

/** Kinds of parseTpm (cpp/binding/addon.cc). */
export const NativeTpmKind = { Quote: 0, Signature: 1, Public: 2, SizedPublic: 3 } as const;

/** Azure HCL report frame; the regions sit at fixed offsets (cpp/core/hcl_report.h). */
export interface NativeHclFrame {
  version: number;
  reportSize: number;
  requestType: number;
  status: number;
  /** At offset 32: 1184 (SEV-SNP report) or 1024 (TDX TDREPORT). */
  hardwareReportSize: number;
  /** 2 = SEV-SNP, 4 = TDX. */
  reportType: number;
  requestDataVersion: number;
  reportDataHashType: number;
  /** At offset 1236. */
  variableDataSize: number;
  /** Zero bytes after reportSize. */
  trailingSize: number;
}

/**
 * TCG boot event log. `frame` holds, per event: offset, pcr, type, data
 * offset, data size, digest count, then (algorithm, digest offset) per
 * digest; digest sizes come from `algorithms` (pairs of id, size).
 */
export interface NativeTcgEventLog {
  cryptoAgile: boolean;
  algorithms: Uint32Array;
  eventCount: number;
  paddingSize: number;
  paddingByte: number;
  frame: Uint32Array;
}

/** Words per IMA entry in the frame of parseImaList, in the order of cpp/core/ima_list.h (ImaFrameField). */
export const NATIVE_IMA_FRAME_FIELDS = 15;

/** Trailing-bytes rule passed to the parsers (T05). */
export const NativeTrailingMode = { Default: 0, Strict: 1, Lenient: 2 } as const;

/** EcdsaResult of cpp/core/ecdsa.h. */
export const EcdsaStatus = {
  Valid: 1,
  Invalid: 0,
  BadKey: -1,
  BadSignature: -2,
  Internal: -3,
} as const;

/** Opaque imported public key owned by the addon. */
export interface NativeKeyHandle {
  readonly __nativeKey: unique symbol;
}

/** Raw addon functions; use the wrappers below, which own the frame layout. */
interface RawNativeAddon {
  layouts(): Record<NativeLayoutName, NativeLayout>;
  parseIntelQuote(bytes: Uint8Array, mode: number, frame: Uint32Array): null | NativeParseFailure;
  parseSnpReport(bytes: Uint8Array, mode: number, frame: Uint32Array): null | NativeParseFailure;
  parseSnpCertTable(bytes: Uint8Array): NativeCertTable | NativeParseFailure;
  parseTpm(bytes: Uint8Array, kind: number, frame: Uint32Array): null | NativeParseFailure;
  parseHclReport(bytes: Uint8Array, frame: Uint32Array): null | NativeParseFailure;
  parseTcgEventLog(bytes: Uint8Array): NativeTcgEventLog | NativeParseFailure;
  parseImaList(bytes: Uint8Array, templateDigestSize: number): Uint32Array | NativeParseFailure;
  ecdsaVerify(curveBits: 256 | 384, keyXY: Uint8Array, message: Uint8Array, signatureRS: Uint8Array): number;
  ecdsaImportKey(curveBits: 256 | 384, keyXY: Uint8Array): NativeKeyHandle | number;
  ecdsaVerifyWithKey(key: NativeKeyHandle, message: Uint8Array, signatureRS: Uint8Array): number;
}

export interface NativeAddon {
  layouts(): Record<NativeLayoutName, NativeLayout>;
  parseIntelQuote(bytes: Uint8Array, mode: number): NativeQuoteFrame | NativeParseFailure;
  parseSnpReport(bytes: Uint8Array, mode: number): NativeSnpFrame | NativeParseFailure;
  parseSnpCertTable(bytes: Uint8Array): NativeCertTable | NativeParseFailure;
  /** TPMS_ATTEST of a quote (big-endian TPM wire format, no trailing bytes). */
  parseTpmQuote(bytes: Uint8Array): NativeTpmQuoteFrame | NativeParseFailure;
  /** TPMT_SIGNATURE (RSASSA, RSAPSS, ECDSA). */
  parseTpmSignature(bytes: Uint8Array): NativeTpmSignatureFrame | NativeParseFailure;
  /** TPMT_PUBLIC, or TPM2B_PUBLIC when sized (RSA or ECC key). */
  parseTpmPublic(bytes: Uint8Array, sized: boolean): NativeTpmPublicFrame | NativeParseFailure;
  /** Azure HCL report ("HCLA" header). */
  parseHclReport(bytes: Uint8Array): NativeHclFrame | NativeParseFailure;
  /** TCG PC Client boot event log, crypto-agile or legacy SHA-1. */
  parseTcgEventLog(bytes: Uint8Array): NativeTcgEventLog | NativeParseFailure;
  /** Binary IMA measurement list: NATIVE_IMA_FRAME_FIELDS words per entry. */
  parseImaList(bytes: Uint8Array, templateDigestSize: number): Uint32Array | NativeParseFailure;
  ecdsaVerify(curveBits: 256 | 384, keyXY: Uint8Array, message: Uint8Array, signatureRS: Uint8Array): number;
  ecdsaImportKey(curveBits: 256 | 384, keyXY: Uint8Array): NativeKeyHandle | number;
  ecdsaVerifyWithKey(key: NativeKeyHandle, message: Uint8Array, signatureRS: Uint8Array): number;
  /** The raw functions, for tests of the addon's argument checks. */
  raw: RawNativeAddon;
}

/** Wraps the raw addon: frames come back through a Uint32Array (see addon.cc). */
function wrap(raw: RawNativeAddon): NativeAddon {
  const quoteFrame = new Uint32Array(20);
  const snpFrame = new Uint32Array(4);
  const tpmFrame = new Uint32Array(44);
  const hclFrame = new Uint32Array(10);
  const span = (at: number): NativeSpan => ({ offset: tpmFrame[at]!, size: tpmFrame[at + 1]! });
  return {
    raw,
    layouts: () => raw.layouts(),
    parseIntelQuote(bytes, mode) {
      const failure = raw.parseIntelQuote(bytes, mode, quoteFrame);
      if (failure) return failure;
      const f = quoteFrame;
      return {
        version: f[0]!, bodyType: f[1]!, bodyOffset: f[2]!, bodySize: f[3]!, signedLength: f[4]!,
        signatureDataLength: f[5]!, quoteSignatureOffset: f[6]!, attestationKeyOffset: f[7]!,
        outerCertDataType: f[8]!, outerCertDataSize: f[9]!, qeReportOffset: f[10]!,
        qeReportSignatureOffset: f[11]!, qeAuthDataOffset: f[12]!, qeAuthDataSize: f[13]!,
        certDataType: f[14]!, certDataOffset: f[15]!, certDataSize: f[16]!, endOffset: f[17]!,
        trailingSize: f[18]!, trailingAllZero: f[19] === 1,
      };
    },
    parseSnpReport(bytes, mode) {
      const failure = raw.parseSnpReport(bytes, mode, snpFrame);
      if (failure) return failure;
      return { version: snpFrame[0]!, signingKey: snpFrame[1]!, trailingSize: snpFrame[2]!, trailingAllZero: snpFrame[3] === 1 };
    },
    parseSnpCertTable: (bytes) => raw.parseSnpCertTable(bytes),
    parseTpmQuote(bytes) {
      const failure = raw.parseTpm(bytes, NativeTpmKind.Quote, tpmFrame);
      if (failure) return failure;
      const f = tpmFrame;
      const selections: { hashAlg: number; mask: number }[] = [];
      for (let i = 0; i < f[11]!; i++) selections.push({ hashAlg: f[12 + 2 * i]!, mask: f[13 + 2 * i]! });
      return {
        magic: f[0]!, type: f[1]!, qualifiedSigner: span(2), extraData: span(4), clockInfoOffset: f[6]!,
        safe: f[7]!, firmwareVersionOffset: f[8]!, pcrDigest: span(9), selections,
      };
    },
    parseTpmSignature(bytes) {
      const failure = raw.parseTpm(bytes, NativeTpmKind.Signature, tpmFrame);
      if (failure) return failure;
      return { sigAlg: tpmFrame[0]!, hashAlg: tpmFrame[1]!, first: span(2), second: span(4) };
    },
    parseTpmPublic(bytes, sized) {
      const failure = raw.parseTpm(bytes, sized ? NativeTpmKind.SizedPublic : NativeTpmKind.Public, tpmFrame);
      if (failure) return failure;
      const f = tpmFrame;
      return {
        publicArea: span(0), type: f[2]!, nameAlg: f[3]!, objectAttributes: f[4]!, authPolicy: span(5),
        symmetricAlg: f[7]!, symmetricKeyBits: f[8]!, symmetricMode: f[9]!, schemeAlg: f[10]!,
        schemeHashAlg: f[11]!, rsaKeyBits: f[12]!, rsaExponent: f[13]!, eccCurve: f[14]!, kdfAlg: f[15]!,
        kdfHashAlg: f[16]!, first: span(17), second: span(19),
      };
    },
    parseHclReport(bytes) {
      const failure = raw.parseHclReport(bytes, hclFrame);
      if (failure) return failure;
      const f = hclFrame;
      return {
        version: f[0]!, reportSize: f[1]!, requestType: f[2]!, status: f[3]!, hardwareReportSize: f[4]!,
        reportType: f[5]!, requestDataVersion: f[6]!, reportDataHashType: f[7]!, variableDataSize: f[8]!,
        trailingSize: f[9]!,
      };
    },
    parseTcgEventLog: (bytes) => raw.parseTcgEventLog(bytes),
    parseImaList: (bytes, size) => raw.parseImaList(bytes, size),
    ecdsaVerify: (bits, key, message, sig) => raw.ecdsaVerify(bits, key, message, sig),
    ecdsaImportKey: (bits, key) => raw.ecdsaImportKey(bits, key),
    ecdsaVerifyWithKey: (key, message, sig) => raw.ecdsaVerifyWithKey(key, message, sig),
  };
}

export function isNativeFailure(value: object): value is NativeParseFailure {
  return typeof (value as NativeParseFailure).code === 'string';
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const requireNative = createRequire(import.meta.url);

/**
 * An explicit path (argument, then TEE_VERIFY_ADDON) is the only candidate
 * when given, so a sanitizer build is never silently replaced by the normal
 * one; otherwise the node-gyp Release build, then the Debug build.
 * TEE_VERIFY_ADDON is a test and development override (docs/fuzzing.md):
 * every verification made with it carries a warning (nativeAddonWarning).
 */
function candidatePaths(explicit: string | undefined): string[] {
  const chosen = explicit ?? process.env['TEE_VERIFY_ADDON'];
  if (chosen) return [resolve(chosen)];
  return [join(packageRoot, 'build', 'Release', 'tee_verify.node'), join(packageRoot, 'build', 'Debug', 'tee_verify.node')];
}

/** Loads the addon from the first candidate that works; never cached. */
export function loadNativeAddon(explicitPath?: string): NativeAddon {
  return loadFrom(candidatePaths(explicitPath));
}

function loadFrom(paths: readonly string[]): NativeAddon {
  const reasons: string[] = [];
  for (const path of paths) {
    if (!existsSync(path)) {
      reasons.push(`${path}: not found`);
      continue;
    }
    try {
      return wrap(requireNative(path) as RawNativeAddon);
    } catch (err) {
      reasons.push(`${path}: ${(err as Error).message}`);
    }
  }
  throw new NativeAddonError(
    'ERR_NATIVE_LOAD',
    `tee-verify native addon could not be loaded (run "npm install" or "npm run build:native"):\n  ${reasons.join('\n  ')}`,
    { details: { reasons } },
  );
}

let cached: NativeAddon | undefined;
/** The warning of the process-wide addon: set when it came from TEE_VERIFY_ADDON (see nativeAddonWarning). */
let overrideWarning: string | undefined;

/** The process-wide addon instance, loaded on first use. */
export function native(): NativeAddon {
  if (cached === undefined) {
    // TEE_VERIFY_ADDON is read once, here: the file loaded and the one the warning names are the same.
    const override = process.env['TEE_VERIFY_ADDON'];
    if (override) {
      const path = resolve(override);
      cached = loadFrom([path]);
      overrideWarning = `native addon overridden by TEE_VERIFY_ADDON=${path}: a test and development override (sanitizer builds, packed copies in tests), not for production; every ECDSA signature check and every parse of this verification ran in that file`;
    } else {
      cached = loadFrom(candidatePaths(undefined));
    }
  }
  return cached;
}

/**
 * The warning every verification result carries when the process-wide addon
 * was loaded from TEE_VERIFY_ADDON (s16 env red team #3), else undefined.
 * The addon does every ECDSA check: a file that answers "valid" to anything
 * makes forged evidence pass, so a result made with another file than the
 * package's own build says so, naming the path. Loads the addon if needed.
 */
export function nativeAddonWarning(): string | undefined {
  native();
  return overrideWarning;
}
