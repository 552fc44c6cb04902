/**
 * Cube agent answers for SEV-SNP (protocols.md §8.2): go-sev-guest's
 * `sevsnp.Attestation` message, built from our parsed report and the
 * provider's certificate table, as protobuf or as its proto3 JSON mapping.
 *
 * What Cube (cube @7c766ce on cocos v0.8.2 and go-sev-guest v0.13.0) sends:
 * cocos' quoteprovider.FetchAttestation calls go-sev-guest's
 * GetQuoteProtoAtLevel (abi.ReportCertsToProto on outblob ‖ certificate table,
 * product from the CPU's CPUID), sets VCEK/ASK/ARK from the agent's cache and
 * proto.Marshal()s it; `to_json` re-marshals it with protojson. Here every
 * Report field comes from the parsed report (the same offsets as
 * ReportToProto), the chain from the configfs-tsm auxblob (there is no cache),
 * and the product from the report's own signed CPUID (v3+; omitted for v2).
 */
import { create, toBinary, toJson } from '@bufbuild/protobuf';

import { parseEvidence, parseSnpCertificateTable, type SnpCertificateEntry, type SnpProduct, type SnpReport } from '../index.js';
import { readU64LE } from '../evidence/bytes.js';
import type { TeeEvidence } from '../tee/index.js';
import { cubeAnswer, cubeJson, type CubeAnswer } from './cube-answer.js';
import { GatewayError } from './errors.js';
import {
  AttestationSchema,
  CertificateChainSchema,
  ReportSchema,
  SevProduct_SevProductName,
  SevProductSchema,
  type Attestation,
  type CertificateChain,
  type Report,
  type SevProduct,
} from './proto/proto/sevsnp_pb.js';

/** ATTESTATION_REPORT: the signature field spans 0x2A0..0x4A0 (r, s, then reserved zeros). */
const SIGNATURE_OFFSET = 0x2a0;
const REPORT_SIZE = 0x4a0;

const PRODUCT_NAMES: Record<SnpProduct, SevProduct_SevProductName> = {
  Milan: SevProduct_SevProductName.SEV_PRODUCT_MILAN,
  Genoa: SevProduct_SevProductName.SEV_PRODUCT_GENOA,
  Turin: SevProduct_SevProductName.SEV_PRODUCT_TURIN,
};

/**
 * CPUID(1).EAX from family / model / stepping, as go-sev-guest's
 * FmsToCpuid1Eax: a family of 0xF or more is 0xF plus an extended family
 * (bits 27:20); the model's high nibble is the extended model (bits 19:16).
 */
export function fmsToCpuid1Eax(family: number, model: number, stepping: number): number {
  const extendedFamily = family >= 0xf ? family - 0xf : 0;
  const familyId = family >= 0xf ? 0xf : family;
  return ((extendedFamily << 20) | ((model >> 4) << 16) | (familyId << 8) | ((model & 0xf) << 4) | (stepping & 0xf)) >>> 0;
}

const u64 = (bytes: Uint8Array): bigint => readU64LE(bytes, 0);

/** sevsnp.Report: one field per report field, placed as go-sev-guest's ReportToProto places them. */
export function snpReportMessage(r: SnpReport): Report {
  return create(ReportSchema, {
    version: r.version,
    guestSvn: r.guestSvn,
    policy: r.policy.raw,
    familyId: r.familyId,
    imageId: r.imageId,
    vmpl: r.vmpl,
    signatureAlgo: r.signatureAlgo,
    currentTcb: u64(r.currentTcbBytes),
    platformInfo: r.platformInfo.raw,
    signerInfo: r.signerInfo.raw,
    reportData: r.reportData,
    measurement: r.measurement,
    hostData: r.hostData,
    idKeyDigest: r.idKeyDigest,
    authorKeyDigest: r.authorKeyDigest,
    reportId: r.reportId,
    reportIdMa: r.reportIdMa,
    reportedTcb: u64(r.reportedTcbBytes),
    chipId: r.chipId,
    committedTcb: u64(r.committedTcbBytes),
    currentBuild: r.currentVersion.build,
    currentMinor: r.currentVersion.minor,
    currentMajor: r.currentVersion.major,
    committedBuild: r.committedVersion.build,
    committedMinor: r.committedVersion.minor,
    committedMajor: r.committedVersion.major,
    launchTcb: u64(r.launchTcbBytes),
    // The whole 512-byte field, a span of the original report (the signed bytes' neighbour).
    signature: r.bytes.subarray(SIGNATURE_OFFSET, REPORT_SIZE),
    cpuid1eaxFms: r.cpuid ? fmsToCpuid1Eax(r.cpuid.family, r.cpuid.model, r.cpuid.stepping) : 0,
    launchMitVector: r.launchMitVector ?? 0n,
    currentMitVector: r.currentMitVector ?? 0n,
  });
}

/** sevsnp.CertificateChain as go-sev-guest's CertTable.Proto(): known GUIDs by name, others in `extras`. */
export function snpCertificateChainMessage(entries: readonly SnpCertificateEntry[]): CertificateChain {
  const chain = create(CertificateChainSchema);
  for (const e of entries) {
    if (e.kind === 'vcek') chain.vcekCert = e.der;
    else if (e.kind === 'vlek') chain.vlekCert = e.der;
    else if (e.kind === 'ask') chain.askCert = e.der; // the ASVK, in a VLEK table
    else if (e.kind === 'ark') chain.arkCert = e.der;
    else chain.extras[e.guid] = e.der;
  }
  return chain;
}

/** The product named by the report's signed CPUID (v3+); undefined when unknown. */
export function snpProductMessage(r: SnpReport): SevProduct | undefined {
  if (!r.product || !r.cpuid) return undefined;
  return create(SevProductSchema, { name: PRODUCT_NAMES[r.product], machineStepping: r.cpuid.stepping & 0xf });
}

export function snpAttestationMessage(report: SnpReport, certificates: readonly SnpCertificateEntry[]): Attestation {
  const product = snpProductMessage(report);
  return create(AttestationSchema, {
    report: snpReportMessage(report),
    certificateChain: snpCertificateChainMessage(certificates),
    ...(product ? { product } : {}),
  });
}

/**
 * The SNP answer for one piece of evidence: protobuf, or with `asJson` (`to_json`) the
 * proto3 JSON mapping (protojson's field names; tab-indented like Cube's
 * MarshalOptions{Multiline, Indent: "\t"}). Unparseable provider output is a
 * 503, like any other provider failure.
 */
export function cubeSnpAnswer(ev: TeeEvidence, asJson: boolean): CubeAnswer {
  let message: Attestation;
  try {
    const report = parseEvidence(ev.evidence, { kind: 'snp' }) as SnpReport;
    const certificates = ev.auxblob && ev.auxblob.length > 0 ? parseSnpCertificateTable(ev.auxblob) : [];
    message = snpAttestationMessage(report, certificates);
  } catch (err) {
    throw new GatewayError('ERR_GATEWAY_EVIDENCE_PROVIDER', 503, `the TEE's SEV-SNP report or certificate table is unusable: ${(err as Error).message}`);
  }
  if (asJson) return cubeAnswer(cubeJson(toJson(AttestationSchema, message)));
  return cubeAnswer(Buffer.from(toBinary(AttestationSchema, message)));
}

// The shared answer shape and the TDX answer, so library users import every Cube builder from here.
export { cubeAnswer, cubeJson, type CubeAnswer } from './cube-answer.js';
export { cubeTdxAnswer, tdxQuoteV4Message } from './cube-tdx.js';
