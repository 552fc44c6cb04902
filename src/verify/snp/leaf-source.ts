/**
 * Whether a report's leaf (VCEK / VLEK) can be fetched at all, or can only
 * come with the evidence (review s11 changes-c #2). KDS serves no VLEK, and a
 * VCEK only by the hwID the report states: a masked or all-zero CHIP_ID names
 * no chip. Such a report without its leaf in the certificate table (S05) is a
 * defect of the evidence the TEE (or its host) chose to send, not a failure of
 * any collateral source, so it is refused before anything is fetched and the
 * refusal judges the evidence.
 */
import type { SnpCertificateEntry } from '../../evidence/cert-table.js';
import type { SnpReport } from '../../evidence/types.js';
import { isAllZero } from '../../evidence/bytes.js';
import { fail } from '../errors.js';
import { vcekHwIdOf } from './vcek-match.js';

/** Why no source can serve the report's leaf, or undefined when KDS can (a VCEK by its chip and TCB). */
export function leafOnlyInEvidence(report: SnpReport): string | undefined {
  if (report.signerInfo.signingKey === 'vlek') return 'the report is VLEK-signed and KDS serves no VLEK';
  if (report.signerInfo.maskChipKey) return 'MASK_CHIP_KEY is set: the report names no chip to fetch the VCEK for';
  if (isAllZero(vcekHwIdOf(report))) return 'CHIP_ID is all zero: the report names no chip to fetch the VCEK for';
  return undefined;
}

/** S05: a report whose leaf no source serves must carry it in its certificate table. */
export function checkLeafObtainable(report: SnpReport, certTable: readonly SnpCertificateEntry[] | undefined): void {
  const why = leafOnlyInEvidence(report);
  const kind = report.signerInfo.signingKey;
  if (why === undefined || certTable?.some((e) => e.kind === kind)) return;
  fail('SNP_SIGNER', 'S05', `the evidence carries no ${kind.toUpperCase()} in its certificate table, and ${why}`, { signingKey: kind, reason: certTable === undefined ? 'no-certificate-table' : 'leaf-not-in-table' });
}
