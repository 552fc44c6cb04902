/**
 * Intel DCAP quotes: SGX v3, TDX v4 and v5 (checklist §2.1, §3). Framing and
 * every length check happen in the native parser; this module only builds
 * typed views over the regions it returns.
 */
import { native, isNativeFailure, type NativeQuoteFrame } from '../native/index.js';
import { readStructure } from './fields.js';
import { errorFromNative } from './native-failure.js';
import type {
  QuoteHeaderV3,
  QuoteHeaderV4,
  QuoteSignatureData,
  SgxQuote,
  SgxReportBody,
  TdReportBody,
  TdxQuote,
} from './types.js';

const QE_REPORT_SIZE = 384;
const ECDSA_P256_SIZE = 64;

export function signatureDataOf(bytes: Uint8Array, f: NativeQuoteFrame): QuoteSignatureData {
  const at = (offset: number, length: number) => new Uint8Array(bytes.buffer, bytes.byteOffset + offset, length);
  const data: QuoteSignatureData = {
    quoteSignature: at(f.quoteSignatureOffset, ECDSA_P256_SIZE),
    attestationKey: at(f.attestationKeyOffset, ECDSA_P256_SIZE),
    qeReport: readStructure(bytes, f.qeReportOffset, 'sgxReportBody') as unknown as SgxReportBody,
    qeReportBytes: at(f.qeReportOffset, QE_REPORT_SIZE),
    qeReportSignature: at(f.qeReportSignatureOffset, ECDSA_P256_SIZE),
    qeAuthData: at(f.qeAuthDataOffset, f.qeAuthDataSize),
    certificationDataType: f.certDataType,
    pckCertChainPem: at(f.certDataOffset, f.certDataSize),
  };
  if (f.version >= 4) data.outerCertificationDataType = f.outerCertDataType;
  return data;
}

/** Runs the native framing parser; throws the typed error on failure. */
export function frameIntelQuote(bytes: Uint8Array, mode: number): NativeQuoteFrame {
  const result = native().parseIntelQuote(bytes, mode);
  if (isNativeFailure(result)) throw errorFromNative(result, 'Intel quote');
  return result;
}

export function buildIntelQuote(bytes: Uint8Array, f: NativeQuoteFrame, warnings: string[]): TdxQuote | SgxQuote {
  const common = {
    bytes,
    signedRange: { offset: 0, length: f.signedLength },
    signatureData: signatureDataOf(bytes, f),
    trailing: { length: f.trailingSize, allZero: f.trailingAllZero },
    warnings,
  };
  if (f.version === 3) {
    return {
      kind: 'sgx',
      version: 3,
      header: readStructure(bytes, 0, 'quoteHeaderV3') as unknown as QuoteHeaderV3,
      body: readStructure(bytes, f.bodyOffset, 'sgxReportBody') as unknown as SgxReportBody,
      ...common,
    };
  }
  const bodyType = f.bodyType as 2 | 3;
  return {
    kind: 'tdx',
    version: f.version as 4 | 5,
    header: readStructure(bytes, 0, 'quoteHeaderV4') as unknown as QuoteHeaderV4,
    bodyType,
    body: readStructure(bytes, f.bodyOffset, bodyType === 3 ? 'tdReport15' : 'tdReport10') as unknown as TdReportBody,
    ...common,
  };
}
