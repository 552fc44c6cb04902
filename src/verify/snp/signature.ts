/**
 * Step C (checklist §4.2, S12): the report signature. Never memoised: it is
 * unique per report, so a memo would only grow.
 */
import { verifySnpReportSignature } from '../../crypto/ecdsa.js';
import type { SnpReport } from '../../evidence/types.js';
import { fail } from '../errors.js';
import type { SnpContext } from './context.js';

export function checkReportSignature(report: SnpReport, leafKeyXY: Uint8Array, ctx: SnpContext): void {
  const name = report.signerInfo.signingKey.toUpperCase();
  // S12: ECDSA P-384 / SHA-384 over the raw bytes [0, 0x2A0); R, S little-endian, range-checked
  if (!verifySnpReportSignature(report, leafKeyXY)) fail('SIG_REPORT', 'S12', `the report signature does not verify with the ${name} key`);
  ctx.pass('S12', `report signature over [0, 0x2A0) verifies with the ${name} key`);
}
