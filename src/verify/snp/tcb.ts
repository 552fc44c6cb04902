/**
 * Step D/E (checklist §4.4 S13, S15, S16, S46): the certificate's TCB is
 * the report's REPORTED_TCB, and the TCB values are mutually consistent.
 * Minimums (S17–S20) belong to the policy layer, which reads the claims.
 */
import type { SnpProduct, SnpReport, SnpTcb } from '../../evidence/types.js';
import type { AmdKdsExtension } from '../../x509/index.js';
import { fail } from '../errors.js';
import type { CheckedReport } from './structure.js';
import type { SnpContext } from './context.js';
import { compareVcekTcb } from './vcek-match.js';

type Component = 'fmc' | 'bootloader' | 'tee' | 'snp' | 'microcode';

const TURIN_COMPONENTS: readonly Component[] = Object.freeze(['fmc', 'bootloader', 'tee', 'snp', 'microcode']);
const COMPONENTS: readonly Component[] = Object.freeze(['bootloader', 'tee', 'snp', 'microcode']);

export function tcbComponents(product: SnpProduct): readonly Component[] {
  return product === 'Turin' ? TURIN_COMPONENTS : COMPONENTS;
}

/** Components where `a` exceeds `b`. */
function exceeding(a: SnpTcb, b: SnpTcb, product: SnpProduct): { component: Component; value: number; limit: number }[] {
  return tcbComponents(product)
    .filter((c) => (a[c] ?? 0) > (b[c] ?? 0))
    .map((c) => ({ component: c, value: a[c] ?? 0, limit: b[c] ?? 0 }));
}

/** No component of `a` exceeds `b` (the components of tcbComponents, named one by one: no array walk). */
export function atMost(a: SnpTcb, b: SnpTcb, product: SnpProduct): boolean {
  if (a.bootloader > b.bootloader || a.tee > b.tee || a.snp > b.snp || a.microcode > b.microcode) return false;
  return product !== 'Turin' || (a.fmc ?? 0) <= (b.fmc ?? 0);
}

/** S13 (and S46): every SPL equals REPORTED_TCB under the product's layout; reserved SPLs and bytes are zero. */
export function checkCertificateTcb(report: SnpReport, ext: AmdKdsExtension, ctx: SnpContext): void {
  const match = compareVcekTcb(report, ext);
  // S13: VCEK/VLEK SPLs == REPORTED_TCB; S46: read with another product's layout, this fails here
  if (!match.ok) fail('SNP_TCB', 'S13', 'the certificate TCB is not the report\'s REPORTED_TCB', { mismatches: match.mismatches });
  ctx.pass('S13', `certificate SPLs equal REPORTED_TCB under the ${report.product ?? ''} layout`);
}

/** S15, S16: COMMITTED <= CURRENT and REPORTED <= CURRENT per component. */
export function checkTcbRelations(checked: CheckedReport, ctx: SnpContext): void {
  const { tcb, product } = checked;
  // S15: COMMITTED_TCB <= CURRENT_TCB (equality is a claim for the policy layer)
  if (!atMost(tcb.committed, tcb.current, product)) fail('SNP_TCB', 'S15', 'COMMITTED_TCB exceeds CURRENT_TCB', { components: exceeding(tcb.committed, tcb.current, product) });
  ctx.pass('S15', 'COMMITTED_TCB <= CURRENT_TCB per component');
  // S16: REPORTED_TCB <= CURRENT_TCB
  if (!atMost(tcb.reported, tcb.current, product)) fail('SNP_TCB', 'S16', 'REPORTED_TCB exceeds CURRENT_TCB', { components: exceeding(tcb.reported, tcb.current, product) });
  ctx.pass('S16', 'REPORTED_TCB <= CURRENT_TCB per component');
}
