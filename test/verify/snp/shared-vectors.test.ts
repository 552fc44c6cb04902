/**
 * Positive controls (checklist §7 harness 1, 3): every genuine SEV-SNP report
 * of the shared manifest verifies with the production roots at the vector's
 * instant, with its VCEK / VLEK and the product's pinned chain. The CRL is
 * used where the shared files hold one whose window contains the instant;
 * otherwise `skipCrl` and its warning. v2 reports need the product named.
 */
import { describe, expect, it } from 'vitest';

import { PRODUCTION_TRUST_ROOTS } from '../../../src/verify/roots/index.js';
import { verifySnpReport } from '../../../src/verify/snp/index.js';
import type { SnpClaims } from '../../../src/verify/types.js';
import { HAVE_VECTORS } from '../../helpers/vectors.js';
import { applicableCrl, optionsFor, productOf, reportOf, shippedCas, signingCertificateOf, snpEntries, V2_MILAN, V3_GENOA_CRL, V3_MILAN, entry } from './helpers/real.js';

const hex16 = (raw: string) => `0x${Buffer.from(raw, 'hex').reverse().toString('hex')}`;

describe.skipIf(!HAVE_VECTORS)('SNP verification: every shared snp-report vector', () => {
  const entries = snpEntries();

  it('the manifest holds the SNP vectors this suite expects', () => {
    expect(entries.length).toBeGreaterThanOrEqual(10);
    expect(entries.every((e) => e.expected.outcome.startsWith('valid'))).toBe(true);
  });

  for (const e of entries) {
    it(`${e.id}: valid, as the manifest says`, () => {
      const product = productOf(e);
      const crl = applicableCrl(e);
      const collateral = { signingCertificate: signingCertificateOf(e), ...(crl ? { crl } : {}) };
      const result = verifySnpReport(reportOf(e), collateral, optionsFor(e, crl ? {} : { relaxations: { skipCrl: true } }));

      expect(result.ok).toBe(true);
      expect(result.tee).toBe('snp');
      expect(result.at).toBe(new Date(e.verification_time!).toISOString());
      expect(result.tcbStatus).toBeUndefined();
      expect(result.advisoryIds).toEqual([]);
      expect(result.trustRoots).toBe('production');
      const claims = result.claims as SnpClaims;
      expect(claims.kind).toBe('snp');
      expect(claims.product).toBe(product);
      expect(claims.reportVersion).toBe(e.report_version);
      expect(claims.signingKey).toBe(e.signing_key!.toLowerCase());
      expect(claims.vmpl).toBe(e.checks['vmpl']);
      expect(claims.policy.raw).toBe(`0x${BigInt(e.checks['policy'] as string).toString(16).padStart(16, '0')}`);
      expect(claims.tcb.reported.raw).toBe(hex16(e.checks['reported_tcb_raw'] as string));
      const decoded = e.checks['reported_tcb_decoded'] as Record<string, number>;
      expect(claims.tcb.reported).toMatchObject({ bootloader: decoded['bl'], tee: decoded['tee'], snp: decoded['snp'], microcode: decoded['ucode'] });
      expect(claims.currentVersion).toBe(e.checks['current_fw']);
      expect(claims.tcbRelations.reportedAtMostCurrent).toBe(true);
      expect(claims.tcbRelations.committedAtMostCurrent).toBe(true);

      const ids = result.checks.map((c) => c.id);
      const expected = ['S02', 'S03', 'S04', ...(e.report_version === 2 ? ['S43'] : []), 'S06', 'S07', 'S08', ...(crl ? ['S09'] : []), 'S10', 'S11', 'S12', 'S13', ...(claims.signingKey === 'vcek' ? ['S14'] : []), 'S15', 'S16'];
      expect(ids).toEqual(expected);

      if (crl) {
        expect(result.warnings.some((w) => w.startsWith('skipCrl'))).toBe(false);
        expect(result.collateral.artifacts.map((a) => a.kind)).toEqual(['amd-cert-chain', `amd-${claims.signingKey}`, 'amd-crl']);
      } else {
        expect(result.warnings.some((w) => w.startsWith('skipCrl'))).toBe(true);
        expect(result.collateral.artifacts.map((a) => a.kind)).toEqual(['amd-cert-chain', `amd-${claims.signingKey}`]);
      }
      expect(result.warnings.some((w) => w.includes('named by the caller'))).toBe(e.report_version === 2);
      expect(claims.productSource).toBe(e.report_version === 2 ? 'caller' : 'cpuid');
    });
  }

  it('CRL use: the Genoa CRL covers openpcc and the Azure Genoa vector; the Milan CRL covers the 2026 Milan vector', () => {
    const withCrl = entries.filter((e) => applicableCrl(e) !== undefined).map((e) => e.id).sort();
    expect(withCrl).toContain(V3_GENOA_CRL);
    expect(withCrl).toContain(V3_MILAN);
    expect(withCrl).not.toContain(V2_MILAN);
  });

  for (const e of entries) {
    it(`${e.id}: the chain shipped with the vector equals the pins (S37)`, () => {
      const product = productOf(e);
      const cas = shippedCas(e);
      const name = e.signing_key === 'VLEK' ? `SEV-VLEK-${product}` : `SEV-${product}`;
      const intermediate = cas.get(name);
      const ark = cas.get(`ARK-${product}`);
      expect(intermediate).toBeDefined();
      const pins = PRODUCTION_TRUST_ROOTS.amd[product]!;
      expect(Buffer.compare(intermediate!, e.signing_key === 'VLEK' ? pins.asvk : pins.ask)).toBe(0);
      const certChain = ark ? [intermediate!, ark] : [intermediate!];
      const result = verifySnpReport(reportOf(e), { signingCertificate: signingCertificateOf(e), certChain }, optionsFor(e, { relaxations: { skipCrl: true } }));
      expect(result.checks.map((c) => c.id)).toContain('S37');
    });
  }

  it('the VLEK vector exposes its cspId (S45) and goes through the ASVK', () => {
    const e = entry('trustee/snp_test_vlek_report');
    const result = verifySnpReport(reportOf(e), { signingCertificate: signingCertificateOf(e) }, optionsFor(e, { relaxations: { skipCrl: true } }));
    const claims = result.claims as SnpClaims;
    expect(claims.signingKey).toBe('vlek');
    expect(claims.cspId).toBe('CN=cc-us-east-2.amazonaws.com');
    expect(result.checks.find((c) => c.id === 'S08')?.description).toContain('ASVK');
    // COMMITTED (ucode 0xdb) < CURRENT (0xdc): a claim for the policy layer, not a failure (S15)
    expect(claims.tcbRelations.committedEqualsCurrent).toBe(false);
    expect(claims.tcbRelations.committedAtMostCurrent).toBe(true);
    expect(result.collateral.artifacts[1]?.key).toMatch(/^amd\/vlek\/Milan\//);
  });

  it('the Turin v5 vector: Turin layout with FMC, mitigation vectors exposed, 8-byte hwID (S44)', () => {
    const e = entry('ms-tee-attestation-verification/turin');
    const result = verifySnpReport(reportOf(e), { signingCertificate: signingCertificateOf(e) }, optionsFor(e, { relaxations: { skipCrl: true } }));
    const claims = result.claims as SnpClaims;
    expect(claims.tcb.reported).toMatchObject({ fmc: 1, bootloader: 1, tee: 1, snp: 4, microcode: 81 });
    expect(claims.launchMitVector).toMatch(/^0x[0-9a-f]{16}$/);
    expect(claims.currentMitVector).toMatch(/^0x[0-9a-f]{16}$/);
    expect(claims.platformInfo.bit6).toBe(true);
    expect(result.checks.find((c) => c.id === 'S14')?.description).toContain('S44');
  });

  it('collateral identity: the VCEK is keyed by (product, hwID, TCB), never by its serial (S35); earliest expiry is the CRL', () => {
    const e = entry(V3_GENOA_CRL);
    const result = verifySnpReport(reportOf(e), { signingCertificate: signingCertificateOf(e), crl: applicableCrl(e)! }, optionsFor(e));
    const [chain, vcek, crl] = result.collateral.artifacts;
    expect(chain).toMatchObject({ key: 'amd/cert-chain/Genoa/vcek', origin: 'pinned' });
    expect(vcek?.key).toMatch(/^amd\/vcek\/Genoa\/[0-9a-f]{128}\/bl=10,tee=0,snp=23,ucode=84$/);
    expect(crl).toMatchObject({ key: 'amd/crl/Genoa/vcek', notAfter: '2025-11-03T01:00:00.000Z' });
    expect(result.collateral.earliestExpiry).toBe('2025-11-03T01:00:00.000Z');
  });
});
