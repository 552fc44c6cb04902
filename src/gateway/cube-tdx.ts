/**
 * Cube agent answers for TDX (protocols.md §8.2): the raw quote, or with
 * `to_json` go-tdx-guest's `tdx.QuoteV4` message in its proto3 JSON mapping.
 *
 * What Cube sends (cube @7c766ce, agent/agent.go tdxAttestationToJSON, with
 * go-tdx-guest @097ee70 as its go.mod pins): abi.QuoteToProto on the raw
 * quote, then protojson with Multiline and a tab indent. QuoteToProto reads
 * version 4 only ("quote format not supported" otherwise) and needs the
 * certification data to be type 6 holding a type-5 PCK chain; bytes after
 * signed_data_size become `extra_bytes`. Every field here comes from our
 * parsed quote (src/evidence), placed where QuoteToProto reads it.
 */
import { create, toJson } from '@bufbuild/protobuf';

import { parseEvidence, UnsupportedEvidenceError, type SgxReportBody, type TdxQuote } from '../index.js';
import type { TeeEvidence } from '../tee/index.js';
import { cubeAnswer, cubeJson, type CubeAnswer } from './cube-answer.js';
import { GatewayError } from './errors.js';
import {
  CertificationDataSchema,
  Ecdsa256BitQuoteV4AuthDataSchema,
  EnclaveReportSchema,
  HeaderSchema,
  PCKCertificateChainDataSchema,
  QEReportCertificationDataSchema,
  QeAuthDataSchema,
  QuoteV4Schema,
  TDQuoteBodySchema,
  type EnclaveReport,
  type QuoteV4,
} from './proto/proto/tdx_pb.js';

/** Fixed sizes of the v4 signature data (Intel's ECDSA quote v4 layout). */
const ECDSA_P256 = 64;
const QE_REPORT = 384;
/** certification_data_type (u16) + size (u32), before the QE report data and before the PCK chain. */
const CERT_DATA_HEADER = 6;
/** The QE auth data's own u16 size. */
const QE_AUTH_SIZE_FIELD = 2;
/** QE report certification data: the outer certification data type of every v4 quote. */
const CERT_TYPE_QE_REPORT = 6;

const u64le = (v: bigint): Uint8Array => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return new Uint8Array(b);
};
const u16le = (v: number): Uint8Array => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return new Uint8Array(b);
};
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

/**
 * tdx.EnclaveReport. go-tdx-guest has wider reserved fields than Intel's
 * sgx_report_body_t: its reserved1 is reserved1 ‖ isv_ext_prod_id, reserved3
 * is reserved3 ‖ config_id, reserved4 is config_svn ‖ reserved4 ‖ isv_family_id.
 */
export function enclaveReportMessage(r: SgxReportBody): EnclaveReport {
  return create(EnclaveReportSchema, {
    cpuSvn: r.cpuSvn,
    miscSelect: r.miscSelect,
    reserved1: concat(r.reserved1, r.isvExtProdId),
    attributes: r.attributes,
    mrEnclave: r.mrEnclave,
    reserved2: r.reserved2,
    mrSigner: r.mrSigner,
    reserved3: concat(r.reserved3, r.configId),
    isvProdId: r.isvProdId,
    isvSvn: r.isvSvn,
    reserved4: concat(u16le(r.configSvn), r.reserved4, r.isvFamilyId),
    reportData: r.reportData,
  });
}

/**
 * tdx.QuoteV4 for a parsed v4 quote, as go-tdx-guest's QuoteToProto fills it.
 * A v5 quote is UnsupportedEvidenceError ERR_UNSUPPORTED_VERSION: QuoteV4 has
 * no place for its body descriptor (and QuoteToProto refuses it).
 */
export function tdxQuoteV4Message(q: TdxQuote): QuoteV4 {
  if (q.version !== 4) {
    throw new UnsupportedEvidenceError('ERR_UNSUPPORTED_VERSION', `go-tdx-guest's tdx.QuoteV4 holds version 4 quotes only; this is version ${q.version}`, { offset: 0 });
  }
  const h = q.header;
  const b = q.body;
  const s = q.signatureData;
  const pckSize = s.pckCertChainPem.length;
  const certificationSize = QE_REPORT + ECDSA_P256 + QE_AUTH_SIZE_FIELD + s.qeAuthData.length + CERT_DATA_HEADER + pckSize;
  const end = q.bytes.length - q.trailing.length;
  return create(QuoteV4Schema, {
    header: create(HeaderSchema, {
      version: h.version,
      attestationKeyType: h.attestationKeyType,
      teeType: h.teeType,
      // go-tdx-guest's names for header bytes 8..9 and 10..11 (reserved in Intel's v4 header).
      pceSvn: h.reserved.subarray(0, 2),
      qeSvn: h.reserved.subarray(2, 4),
      qeVendorId: h.qeVendorId,
      userData: h.userData,
    }),
    tdQuoteBody: create(TDQuoteBodySchema, {
      teeTcbSvn: b.teeTcbSvn,
      mrSeam: b.mrSeam,
      mrSignerSeam: b.mrSignerSeam,
      seamAttributes: u64le(b.seamAttributes),
      tdAttributes: u64le(b.tdAttributes),
      xfam: u64le(b.xfam),
      mrTd: b.mrTd,
      mrConfigId: b.mrConfigId,
      mrOwner: b.mrOwner,
      mrOwnerConfig: b.mrOwnerConfig,
      rtmrs: [b.rtmr0, b.rtmr1, b.rtmr2, b.rtmr3],
      reportData: b.reportData,
    }),
    // The parser requires every nested size to fill its container exactly, so the sums are the quote's own fields.
    signedDataSize: 2 * ECDSA_P256 + CERT_DATA_HEADER + certificationSize,
    signedData: create(Ecdsa256BitQuoteV4AuthDataSchema, {
      signature: s.quoteSignature,
      ecdsaAttestationKey: s.attestationKey,
      certificationData: create(CertificationDataSchema, {
        certificateDataType: s.outerCertificationDataType ?? CERT_TYPE_QE_REPORT,
        size: certificationSize,
        qeReportCertificationData: create(QEReportCertificationDataSchema, {
          qeReport: enclaveReportMessage(s.qeReport),
          qeReportSignature: s.qeReportSignature,
          qeAuthData: create(QeAuthDataSchema, { parsedDataSize: s.qeAuthData.length, data: s.qeAuthData }),
          pckCertificateChainData: create(PCKCertificateChainDataSchema, {
            certificateDataType: s.certificationDataType,
            size: pckSize,
            pckCertChain: s.pckCertChainPem,
          }),
        }),
      }),
    }),
    // Zero padding after the signature data (the default parse refuses anything else, T05).
    extraBytes: q.bytes.subarray(end),
  });
}

/**
 * The TDX answer for one quote: the raw bytes, or with `asJson` (`to_json`)
 * QuoteV4's proto3 JSON mapping, tab-indented as Cube writes it. A quote we
 * cannot parse is a 503 like any other provider failure; a v5 quote is 400,
 * the status Cube gives every error (its QuoteToProto refuses v5).
 */
export function cubeTdxAnswer(ev: TeeEvidence, asJson: boolean): CubeAnswer {
  if (!asJson) return cubeAnswer(Buffer.from(ev.evidence));
  let quote: TdxQuote;
  try {
    quote = parseEvidence(ev.evidence, { kind: 'tdx' }) as TdxQuote;
  } catch (err) {
    throw new GatewayError('ERR_GATEWAY_EVIDENCE_PROVIDER', 503, `the TEE's TDX quote is unusable: ${(err as Error).message}`);
  }
  if (quote.version !== 4) {
    throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, `to_json is unavailable: this TEE produces TDX quotes of version ${quote.version} and go-tdx-guest's QuoteV4 (Cube's JSON) holds version 4 only; ask without to_json for the raw quote`);
  }
  return cubeAnswer(cubeJson(toJson(QuoteV4Schema, tdxQuoteV4Message(quote))));
}
