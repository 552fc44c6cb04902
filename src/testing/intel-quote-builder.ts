/**
 * Builders of Intel DCAP quotes: TDX v4 / v5 (checklist §2.1) and SGX v3
 * (§3, certification data type 5 directly, no type-6 wrapper). Offsets are
 * this module's own, from the checklist; signatures use node:crypto with raw
 * big-endian r || s (§2.2). The QE report carries the QE binding (T23) and is
 * signed by the PCK leaf key (T22); the quote is signed by the attestation
 * key (T26). Options skip or corrupt either signature, or mutate the bytes
 * before signing, for negative tests with valid signatures around a defect.
 */
import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';

import { ByteWriter } from './byte-writer.js';
import {
  defaultEnclaveReport,
  defaultQeReport,
  defaultTdReport,
  SGX_REPORT_BODY,
  TD_REPORT_BODY,
  writeSgxReportBody,
  writeTdReportBody,
  type SgxReportBodyFields,
  type TdReportBodyFields,
} from './intel-bodies.js';
import { deriveEcKeyPair, ecPublicKeyXY } from './seed.js';

export const DEFAULT_BUILDER_SEED = 'tee-verify builders';

/** Intel's QE vendor ID (T03). */
export const INTEL_QE_VENDOR_ID = Uint8Array.from(Buffer.from('939a7233f79c4ca9940a0db3957f0607', 'hex'));

const HEADER_SIZE = 0x30;
const V5_DESCRIPTOR_SIZE = 6;
const ECDSA_P256 = 64;
const TEE_TYPE_TDX = 0x81;
const CERT_DATA_QE_REPORT = 6;
const CERT_DATA_PCK_CHAIN = 5;

export type SignMode = 'sign' | 'skip' | 'corrupt';

export interface IntelHeaderFields {
  attestationKeyType: number;
  /** TDX: tee_type (0x81); SGX v3: att_key_data_0 (0). */
  teeType: number;
  /** u16 at 0x08: real in SGX v3, zero in TDX quotes. */
  qeSvn: number;
  /** u16 at 0x0A. */
  pceSvn: number;
  qeVendorId: Uint8Array;
  userData: Uint8Array;
}

/** Length and type fields the builder normally computes; override for negative tests. */
export interface QuoteFraming {
  /** v5 body descriptor. */
  bodyTypeField: number;
  bodySizeField: number;
  signatureDataLength: number;
  outerCertDataType: number;
  outerCertDataSize: number;
  qeAuthDataSize: number;
  certDataType: number;
  certDataSize: number;
}

export interface IntelQuoteOptions {
  /** Seed of default field values and of the default attestation key. */
  seed?: string;
  /** P-256 private key; default derived from the seed. */
  attestationKey?: KeyObject;
  /** P-256 private key of the PCK leaf: signs the QE report. Needed unless signing.qeReport is "skip". */
  pckKey?: KeyObject;
  /** PEM leaf || intermediate || root (T08). */
  pckChainPem: string | Uint8Array;
  header?: Partial<IntelHeaderFields>;
  /** QE report fields; reportData replaces the computed QE binding (T23) when given. */
  qeReport?: Partial<SgxReportBodyFields>;
  /** Default: 32 bytes 0x00..0x1f. */
  qeAuthData?: Uint8Array;
  /** Bytes appended after the signature data (T05). */
  trailing?: Uint8Array;
  framing?: Partial<QuoteFraming>;
  signing?: { quote?: SignMode; qeReport?: SignMode };
  /** Called after every field is written and before signing ("re-sign after mutation"). */
  mutate?: (bytes: Uint8Array, layout: IntelQuoteLayout) => void;
}

export interface TdxQuoteOptions extends IntelQuoteOptions {
  version: 4 | 5;
  /** v5 only; default 2 (v4 is always 2). */
  bodyType?: 2 | 3;
  body?: Partial<TdReportBodyFields>;
}

export interface SgxQuoteOptions extends IntelQuoteOptions {
  body?: Partial<SgxReportBodyFields>;
}

/** Absolute offsets of one built quote. */
export interface IntelQuoteLayout {
  version: 3 | 4 | 5;
  bodyType: 1 | 2 | 3;
  bodyOffset: number;
  bodySize: number;
  /** Quote signature covers [0, signedLength) (§2.2). */
  signedLength: number;
  signatureDataLengthOffset: number;
  quoteSignatureOffset: number;
  attestationKeyOffset: number;
  /** TDX only. */
  outerCertDataTypeOffset?: number;
  qeReportOffset: number;
  qeReportSignatureOffset: number;
  qeAuthDataSizeOffset: number;
  qeAuthDataOffset: number;
  certDataTypeOffset: number;
  certDataOffset: number;
  /** End of the signature data; trailing bytes start here. */
  end: number;
}

interface BuiltIntelQuoteBase {
  bytes: Uint8Array;
  layout: IntelQuoteLayout;
  header: IntelHeaderFields;
  /** The QE report as written (reportData = the QE binding unless overridden). */
  qeReport: SgxReportBodyFields;
  qeAuthData: Uint8Array;
  /** Raw big-endian x || y of the attestation key. */
  attestationKeyXY: Uint8Array;
  attestationKey: KeyObject;
  pckChainPem: Uint8Array;
}

export interface BuiltTdxQuote extends BuiltIntelQuoteBase {
  version: 4 | 5;
  bodyType: 2 | 3;
  body: TdReportBodyFields;
}

export interface BuiltSgxQuote extends BuiltIntelQuoteBase {
  version: 3;
  body: SgxReportBodyFields;
}

/** Offsets for a quote of this version / body type with the given variable sizes. */
export function intelQuoteLayout(
  version: 3 | 4 | 5,
  bodyType: 1 | 2 | 3,
  qeAuthDataSize: number,
  certDataSize: number,
): IntelQuoteLayout {
  const bodyOffset = HEADER_SIZE + (version === 5 ? V5_DESCRIPTOR_SIZE : 0);
  const bodySize =
    bodyType === 1 ? SGX_REPORT_BODY.size : bodyType === 3 ? TD_REPORT_BODY.size15 : TD_REPORT_BODY.size10;
  const signedLength = bodyOffset + bodySize;
  const quoteSignatureOffset = signedLength + 4;
  const attestationKeyOffset = quoteSignatureOffset + ECDSA_P256;
  const afterKey = attestationKeyOffset + ECDSA_P256;
  const tdx = version >= 4;
  const qeReportOffset = tdx ? afterKey + 6 : afterKey; // type-6 header: u16 type + u32 size
  const qeReportSignatureOffset = qeReportOffset + SGX_REPORT_BODY.size;
  const qeAuthDataSizeOffset = qeReportSignatureOffset + ECDSA_P256;
  const qeAuthDataOffset = qeAuthDataSizeOffset + 2;
  const certDataTypeOffset = qeAuthDataOffset + qeAuthDataSize;
  const certDataOffset = certDataTypeOffset + 6;
  const layout: IntelQuoteLayout = {
    version,
    bodyType,
    bodyOffset,
    bodySize,
    signedLength,
    signatureDataLengthOffset: signedLength,
    quoteSignatureOffset,
    attestationKeyOffset,
    qeReportOffset,
    qeReportSignatureOffset,
    qeAuthDataSizeOffset,
    qeAuthDataOffset,
    certDataTypeOffset,
    certDataOffset,
    end: certDataOffset + certDataSize,
  };
  if (tdx) layout.outerCertDataTypeOffset = afterKey;
  return layout;
}

/** T23: SHA-256(attestation key x || y || QE auth data) || 32 zero bytes. */
export function qeReportDataBinding(attestationKeyXY: Uint8Array, qeAuthData: Uint8Array): Uint8Array {
  const out = new Uint8Array(64);
  out.set(createHash('sha256').update(attestationKeyXY).update(qeAuthData).digest(), 0);
  return out;
}

/** ECDSA P-256 / SHA-256 as raw big-endian r || s (the quotes' encoding). */
export function signP256(key: KeyObject, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign('sha256', message, { key, dsaEncoding: 'ieee-p1363' }));
}

function signInto(bytes: Uint8Array, at: number, mode: SignMode, key: KeyObject | undefined, message: Uint8Array, what: string): void {
  if (mode === 'skip') return;
  if (!key) throw new TypeError(`${what}: a signing key is required unless signing is "skip"`);
  const signature = signP256(key, message);
  if (mode === 'corrupt') signature[ECDSA_P256 - 1] = (signature[ECDSA_P256 - 1] ?? 0) ^ 0x01; // flip a bit of s
  bytes.set(signature, at);
}

function resolveHeader(version: 3 | 4 | 5, o: Partial<IntelHeaderFields> | undefined): IntelHeaderFields {
  const sgx = version === 3;
  return {
    attestationKeyType: 2,
    teeType: sgx ? 0 : TEE_TYPE_TDX,
    qeSvn: sgx ? 8 : 0,
    pceSvn: sgx ? 13 : 0,
    qeVendorId: INTEL_QE_VENDOR_ID,
    userData: new Uint8Array(20),
    ...o,
  };
}

interface AssembleInput {
  version: 3 | 4 | 5;
  bodyType: 1 | 2 | 3;
  body: Uint8Array;
  options: IntelQuoteOptions;
  qeKind: 'tdx' | 'sgx';
}

/** Writes header, body and signature data, then signs; shared by TDX and SGX. */
function assemble(input: AssembleInput): BuiltIntelQuoteBase {
  const { version, bodyType, options: o } = input;
  const seed = o.seed ?? DEFAULT_BUILDER_SEED;
  const attestationKey = o.attestationKey ?? deriveEcKeyPair(seed, 'intel:attestation-key', 'P-256').privateKey;
  const attestationKeyXY = ecPublicKeyXY(createPublicKey(attestationKey));
  const qeAuthData = o.qeAuthData ?? Uint8Array.from({ length: 32 }, (_, i) => i);
  const pem = typeof o.pckChainPem === 'string' ? new Uint8Array(Buffer.from(o.pckChainPem, 'utf8')) : o.pckChainPem;
  const qeReport: SgxReportBodyFields = {
    ...defaultQeReport(seed, input.qeKind),
    reportData: qeReportDataBinding(attestationKeyXY, qeAuthData),
    ...o.qeReport,
  };
  const header = resolveHeader(version, o.header);
  const layout = intelQuoteLayout(version, bodyType, qeAuthData.length, pem.length);
  const trailing = o.trailing ?? new Uint8Array(0);
  const f: QuoteFraming = {
    bodyTypeField: bodyType,
    bodySizeField: input.body.length,
    signatureDataLength: layout.end - layout.quoteSignatureOffset,
    outerCertDataType: CERT_DATA_QE_REPORT,
    outerCertDataSize: layout.end - layout.qeReportOffset,
    qeAuthDataSize: qeAuthData.length,
    certDataType: CERT_DATA_PCK_CHAIN,
    certDataSize: pem.length,
    ...o.framing,
  };

  const w = new ByteWriter(layout.end + trailing.length);
  w.u16(0x00, version, 'version');
  w.u16(0x02, header.attestationKeyType, 'attestationKeyType');
  w.u32(0x04, header.teeType, 'teeType');
  w.u16(0x08, header.qeSvn, 'qeSvn');
  w.u16(0x0a, header.pceSvn, 'pceSvn');
  w.put(0x0c, header.qeVendorId, 16, 'qeVendorId');
  w.put(0x1c, header.userData, 20, 'userData');
  if (version === 5) {
    w.u16(0x30, f.bodyTypeField, 'bodyType');
    w.u32(0x32, f.bodySizeField, 'bodySize');
  }
  w.put(layout.bodyOffset, input.body, layout.bodySize, 'body');
  w.u32(layout.signatureDataLengthOffset, f.signatureDataLength, 'signatureDataLength');
  w.put(layout.attestationKeyOffset, attestationKeyXY, ECDSA_P256, 'attestationKey');
  if (layout.outerCertDataTypeOffset !== undefined) {
    w.u16(layout.outerCertDataTypeOffset, f.outerCertDataType, 'outerCertDataType');
    w.u32(layout.outerCertDataTypeOffset + 2, f.outerCertDataSize, 'outerCertDataSize');
  }
  w.put(layout.qeReportOffset, writeSgxReportBody(qeReport), SGX_REPORT_BODY.size, 'qeReport');
  w.u16(layout.qeAuthDataSizeOffset, f.qeAuthDataSize, 'qeAuthDataSize');
  w.put(layout.qeAuthDataOffset, qeAuthData, qeAuthData.length, 'qeAuthData');
  w.u16(layout.certDataTypeOffset, f.certDataType, 'certDataType');
  w.u32(layout.certDataTypeOffset + 2, f.certDataSize, 'certDataSize');
  w.put(layout.certDataOffset, pem, pem.length, 'pckChainPem');
  w.put(layout.end, trailing, trailing.length, 'trailing');

  const bytes = w.bytes;
  o.mutate?.(bytes, layout);
  const qeBytes = bytes.slice(layout.qeReportOffset, layout.qeReportOffset + SGX_REPORT_BODY.size);
  signInto(bytes, layout.qeReportSignatureOffset, o.signing?.qeReport ?? 'sign', o.pckKey, qeBytes, 'QE report (T22)');
  signInto(bytes, layout.quoteSignatureOffset, o.signing?.quote ?? 'sign', attestationKey, bytes.slice(0, layout.signedLength), 'quote (T26)');
  return { bytes, layout, header, qeReport, qeAuthData, attestationKeyXY, attestationKey, pckChainPem: pem };
}

/** A TDX quote v4 or v5 (body type 2 or 3). */
export function buildTdxQuote(options: TdxQuoteOptions): BuiltTdxQuote {
  const version = options.version;
  if (version !== 4 && version !== 5) throw new RangeError('buildTdxQuote: version must be 4 or 5');
  const bodyType = version === 4 ? 2 : (options.bodyType ?? 2);
  if (version === 4 && options.bodyType === 3) throw new RangeError('buildTdxQuote: v4 quotes carry body type 2 only');
  const body: TdReportBodyFields = { ...defaultTdReport(options.seed ?? DEFAULT_BUILDER_SEED), ...options.body };
  const built = assemble({ version, bodyType, body: writeTdReportBody(body, bodyType), options, qeKind: 'tdx' });
  return { ...built, version, bodyType, body };
}

/** An SGX quote v3 (checklist §3). */
export function buildSgxQuote(options: SgxQuoteOptions): BuiltSgxQuote {
  const body: SgxReportBodyFields = { ...defaultEnclaveReport(options.seed ?? DEFAULT_BUILDER_SEED), ...options.body };
  const built = assemble({ version: 3, bodyType: 1, body: writeSgxReportBody(body), options, qeKind: 'sgx' });
  return { ...built, version: 3, body };
}

/**
 * Re-signs a quote in place after a test changed its bytes: the QE report
 * with `pckKey` and then the quote with `attestationKey`, each only when
 * given. Offsets come from the quote's own version, body type and auth size.
 */
export function resignIntelQuote(bytes: Uint8Array, keys: { attestationKey?: KeyObject; pckKey?: KeyObject }): Uint8Array {
  const version = ((bytes[0] ?? 0) | ((bytes[1] ?? 0) << 8)) as 3 | 4 | 5;
  const bodyType = version === 3 ? 1 : version === 4 ? 2 : (((bytes[0x30] ?? 0) | ((bytes[0x31] ?? 0) << 8)) as 2 | 3);
  const probe = intelQuoteLayout(version, bodyType, 0, 0);
  const authSize = (bytes[probe.qeAuthDataSizeOffset] ?? 0) | ((bytes[probe.qeAuthDataSizeOffset + 1] ?? 0) << 8);
  const layout = intelQuoteLayout(version, bodyType, authSize, 0);
  if (keys.pckKey) {
    const qe = bytes.slice(layout.qeReportOffset, layout.qeReportOffset + SGX_REPORT_BODY.size);
    bytes.set(signP256(keys.pckKey, qe), layout.qeReportSignatureOffset);
  }
  if (keys.attestationKey) {
    bytes.set(signP256(keys.attestationKey, bytes.slice(0, layout.signedLength)), layout.quoteSignatureOffset);
  }
  return bytes;
}
