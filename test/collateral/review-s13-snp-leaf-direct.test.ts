/**
 * Review s13 SNP #2, the direct path: CollateralService.forSnpReport (what
 * `tee-verify fetch` / `export` call without verifyEvidence) refuses a report
 * whose leaf no source can serve, without its table, as the evidence's defect
 * (S05, ERR_SNP_SIGNER), and asks no source for it. Before, a VLEK report got
 * the retryable ERR_COLLATERAL_MISSING ("no source configured"), and a report
 * with an all-zero CHIP_ID made a KDS request for chip 00…00.
 */
import { describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, parseEvidence, type SnpReport } from '../../src/index.js';
import type { AmdCollateralSource } from '../../src/collateral/source.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';

const AT = new Date('2026-06-01T12:00:00Z');
const CHIP_ID_OFFSET = 0x1a0;
const tee = new SimulatedTeeProvider({ tee: 'snp', at: AT });
const report = async () => parseEvidence((await tee.getEvidence(new Uint8Array(64))).evidence) as SnpReport;

/** The bundle, counting the VCEK requests it is asked. */
function counting(): { source: AmdCollateralSource; vcekRequests: number } {
  const bundle = new BundleSource([...tee.collateral]);
  const out = { vcekRequests: 0, source: undefined as unknown as AmdCollateralSource };
  out.source = { vcek: (r) => (out.vcekRequests++, bundle.vcek(r)), certChain: (p, k) => bundle.certChain(p, k), crl: (p, k) => bundle.crl(p, k) };
  return out;
}

describe('review s13 SNP #2: forSnpReport refuses a leaf only the evidence can carry (S05)', () => {
  it('a VLEK-signed report without its table: ERR_SNP_SIGNER at S05, not the retryable ERR_COLLATERAL_MISSING', async () => {
    const r = await report();
    const vlek = { ...r, signerInfo: { ...r.signerInfo, signingKey: 'vlek' as const } };
    const c = counting();
    const s = new CollateralService({ amd: c.source, cache: null });
    await expect(s.forSnpReport(vlek, AT)).rejects.toMatchObject({ code: 'ERR_SNP_SIGNER', check: 'S05', details: { signingKey: 'vlek', reason: 'no-certificate-table' } });
    expect(c.vcekRequests).toBe(0);
  });

  it('an all-zero CHIP_ID: S05, and no VCEK request for chip 00…00', async () => {
    const r = await report();
    const bytes = new Uint8Array(r.bytes);
    bytes.fill(0, CHIP_ID_OFFSET, CHIP_ID_OFFSET + 64);
    const zero = parseEvidence(bytes) as SnpReport;
    const c = counting();
    const s = new CollateralService({ amd: c.source, cache: null });
    await expect(s.forSnpReport(zero, AT)).rejects.toMatchObject({ code: 'ERR_SNP_SIGNER', check: 'S05' });
    expect(c.vcekRequests).toBe(0);
  });

  it('a genuine VCEK report is still fetched by its chip (one request)', async () => {
    const c = counting();
    const s = new CollateralService({ amd: c.source, cache: null });
    const got = await s.forSnpReport(await report(), AT);
    expect(got.kind).toBe('amd');
    expect(c.vcekRequests).toBe(1);
  });
});
