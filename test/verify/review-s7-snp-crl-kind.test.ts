/**
 * Review of session 7, finding 3 (SEV-SNP): the VCEK-path and VLEK-path CRLs
 * are both ARK-signed and carry no issuing distribution point, so nothing in
 * a CRL says which one it is. The verifier now checks the one thing that
 * does: the artifact key the CRL was fetched under (provenance.crl.key), when
 * the caller names it, must be this report's product and key kind (S09).
 * What this does not cover (the same bytes served under the right key) is
 * written down in docs/verification-snp.md.
 */
import { describe, expect, it } from 'vitest';

import { verifySnpReport, type AmdCollateralInput } from '../../src/verify/snp/index.js';
import { catchError } from '../helpers/expect-error.js';
import { setup } from './snp/helpers/synthetic.js';

function withCrlKey(s: ReturnType<typeof setup>, key: string): AmdCollateralInput {
  return { ...s.collateral, provenance: { crl: { key, origin: 'cache' } } };
}

function refusal(s: ReturnType<typeof setup>, key: string) {
  const err = catchError(() => verifySnpReport(s.report, withCrlKey(s, key), s.options));
  return { errorClass: err.errorClass, check: err.check, details: err.details };
}

describe('review s7: the CRL was fetched for this product and key kind', () => {
  it('a VCEK-path CRL for a VLEK report is COLLATERAL_MISMATCH at S09', () => {
    const s = setup({ signingKey: 'vlek' });
    expect(refusal(s, 'amd/crl/Milan/vcek')).toEqual({
      errorClass: 'COLLATERAL_MISMATCH',
      check: 'S09',
      details: { key: 'amd/crl/Milan/vcek', expected: 'amd/crl/Milan/vlek', artifact: 'crl' },
    });
  });

  it('a VLEK-path CRL for a VCEK report, and another product’s CRL, are refused the same way', () => {
    const vcek = setup({ signingKey: 'vcek' });
    expect(refusal(vcek, 'amd/crl/Milan/vlek')).toMatchObject({ errorClass: 'COLLATERAL_MISMATCH', check: 'S09' });
    expect(refusal(vcek, 'amd/crl/Genoa/vcek')).toMatchObject({ errorClass: 'COLLATERAL_MISMATCH', check: 'S09' });
  });

  it('control: the key of this product and kind verifies and is the key the result names', () => {
    for (const signingKey of ['vcek', 'vlek'] as const) {
      const s = setup({ signingKey });
      const key = `amd/crl/Milan/${signingKey}`;
      const result = verifySnpReport(s.report, withCrlKey(s, key), s.options);
      expect(result.collateral.artifacts.find((a) => a.kind === 'amd-crl')?.key).toBe(key);
    }
  });

  it('a CRL without a recorded key (bytes given outright) is judged on its content alone, as before', () => {
    const s = setup({ signingKey: 'vlek' });
    expect(verifySnpReport(s.report, s.collateral, s.options).ok).toBe(true);
  });
});
