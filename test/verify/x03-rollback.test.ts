/**
 * X03 (anti-rollback): a CRL must carry a CRL Number to be ordered at all,
 * else the verifier refuses it (COLLATERAL_FORMAT at T13 / T14); and the
 * collateral cache never lets a CRL with a lower CRL Number, or a TCB info /
 * QE identity with a lower tcbEvaluationDataNumber, displace a newer version
 * still valid at the instant.
 */
import { describe, expect, it } from 'vitest';

import { CollateralCache } from '../../src/collateral/index.js';
import { buildTestCrl, intelArtifact, intelDate, signCollateralJson } from '../../src/testing/index.js';
import { AT, expectSyntheticFailure, platform } from './intel/helpers/synthetic.js';

const DAY = 86_400_000;

describe('X03: anti-rollback', () => {
  const p = platform();
  const window = { thisUpdate: new Date(AT.getTime() - DAY), nextUpdate: new Date(AT.getTime() + 20 * DAY) };

  it('X03: a CRL without a CRL Number is refused (COLLATERAL_FORMAT at T13 for the root CA CRL, T14 for the PCK CRL)', () => {
    expectSyntheticFailure(platform({ rootCaCrl: { omitCrlNumber: true } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T13' });
    expectSyntheticFailure(platform({ pckCrl: { omitCrlNumber: true } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T14' });
  });

  it('X03: the cache keeps serving the higher CRL Number when a lower one arrives later', () => {
    const cache = new CollateralCache({ directory: null });
    const crl = (crlNumber: number) => intelArtifact('intel-root-ca-crl', p.collateral.rootCaCrl!.key, buildTestCrl(p.pki.root, { ...window, crlNumber }), undefined);
    expect(cache.put(crl(10))).toBe(true);
    expect(cache.put(crl(9))).toBe(true);
    expect(cache.select(p.collateral.rootCaCrl!.key, AT)!.sequence).toBe('10');
    expect(cache.get(p.collateral.rootCaCrl!.key)!.sequence).toBe('10');
  });

  it('X03: the cache keeps serving the higher tcbEvaluationDataNumber when a lower one arrives later, even a fresher one', () => {
    const cache = new CollateralCache({ directory: null });
    const tcbInfo = (n: number, issued: Date) =>
      intelArtifact(
        'intel-tcb-info',
        p.collateral.tcbInfo!.key,
        signCollateralJson('tcbInfo', { ...p.tcbInfo, tcbEvaluationDataNumber: n, issueDate: intelDate(issued) }, p.pki.tcbSigning.key.privateKey),
        p.pki.tcbSigningChainPem,
      );
    expect(cache.put(tcbInfo(18, new Date(AT.getTime() - 2 * DAY)))).toBe(true);
    expect(cache.put(tcbInfo(17, new Date(AT.getTime() - DAY)))).toBe(true);
    expect(cache.select(p.collateral.tcbInfo!.key, AT)!.sequence).toBe('18');
  });
});
