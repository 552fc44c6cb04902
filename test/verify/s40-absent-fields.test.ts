/**
 * S40: no "skip if absent" in any comparison. A VCEK / VLEK missing any KDS
 * extension the verifier compares is refused where the extensions are read
 * (SNP_CERT at S11), never read as zero or left out of the comparison; a
 * CRL without nextUpdate is never current (S09, Intel T13); an Intel CRL
 * without an AKI is refused (T13 / T14). The AMD CRL without an AKI is the
 * expected failure in x04-crl-issuer.test.ts (reported gap).
 */
import { describe, expect, it } from 'vitest';

import { KDS_OID_PREFIX, type CertExtension } from '../../src/testing/index.js';
import { verifySnpReport } from '../../src/verify/snp/index.js';
import { expectError } from '../helpers/expect-error.js';
import { expectSyntheticFailure, platform } from './intel/helpers/synthetic.js';
import { buildAmdCrl, setup } from './snp/helpers/synthetic.js';

const without = (oid: string) => (defaults: CertExtension[]) => defaults.filter((e) => e.oid !== oid);

const VCEK_FIELDS: [string, string][] = [
  ['structVersion', `${KDS_OID_PREFIX}.1`],
  ['productName', `${KDS_OID_PREFIX}.2`],
  ['blSPL', `${KDS_OID_PREFIX}.3.1`],
  ['teeSPL', `${KDS_OID_PREFIX}.3.2`],
  ['snpSPL', `${KDS_OID_PREFIX}.3.3`],
  ['spl_4', `${KDS_OID_PREFIX}.3.4`],
  ['ucodeSPL', `${KDS_OID_PREFIX}.3.8`],
  ['hwID', `${KDS_OID_PREFIX}.4`],
];

describe('S40: absent fields are refused, not skipped', () => {
  it('the premise: the unaltered VCEK and VLEK setups verify', () => {
    for (const signingKey of ['vcek', 'vlek'] as const) {
      const s = setup({ signingKey });
      expect(verifySnpReport(s.report, s.collateral, s.options).warnings).toEqual([]);
    }
  });

  it.each(VCEK_FIELDS)('S40: a Milan VCEK without %s is SNP_CERT at S11', (_name, oid) => {
    const s = setup({ pki: { overrides: { vcek: { extensions: without(oid) } } } });
    expectError(() => verifySnpReport(s.report, s.collateral, s.options), { code: 'ERR_SNP_CERT', errorClass: 'SNP_CERT', check: 'S11' });
  });

  it('S40: a VLEK without cspId is SNP_CERT at S11', () => {
    const s = setup({ signingKey: 'vlek', pki: { overrides: { vlek: { extensions: without(`${KDS_OID_PREFIX}.5`) } } } });
    expectError(() => verifySnpReport(s.report, s.collateral, s.options), { code: 'ERR_SNP_CERT', errorClass: 'SNP_CERT', check: 'S11' });
  });

  it('S40: a Turin VCEK without fmcSPL is SNP_CERT at S11', () => {
    const s = setup({ product: 'Turin', pki: { overrides: { vcek: { extensions: without(`${KDS_OID_PREFIX}.3.9`) } } } });
    expectError(() => verifySnpReport(s.report, s.collateral, s.options), { code: 'ERR_SNP_CERT', errorClass: 'SNP_CERT', check: 'S11' });
  });

  it('S40: a CRL without nextUpdate is never current (EXPIRED at S09; at T13 for Intel)', () => {
    const s = setup();
    expectError(() => verifySnpReport(s.report, { ...s.collateral, crl: buildAmdCrl(s.pki, { nextUpdate: null }) }, s.options), { code: 'ERR_EXPIRED', errorClass: 'EXPIRED', check: 'S09' });
    expectSyntheticFailure(platform({ rootCaCrl: { nextUpdate: null, validate: false } }), { errorClass: 'EXPIRED', check: 'T13' });
  });

  it('S40: an Intel CRL without an AKI is COLLATERAL_FORMAT at T13 / T14', () => {
    expectSyntheticFailure(platform({ rootCaCrl: { omitAuthorityKeyId: true } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T13' });
    expectSyntheticFailure(platform({ pckCrl: { omitAuthorityKeyId: true } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T14' });
  });
});
