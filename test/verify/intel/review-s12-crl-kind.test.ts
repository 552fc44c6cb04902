/**
 * Review s12, tests finding 2: the Intel CRL artifact-kind check (src/verify/intel/crl.ts requireKind)
 * had no test. A genuine CRL in the right slot with the wrong kind label verified ok with the check
 * removed, and the result recorded the mislabelled kind (what the cache, floors and result identity
 * read). Both tests fail with requireKind made a no-op.
 */
import { describe, it } from 'vitest';

import { expectSyntheticFailure, platform } from './helpers/synthetic.js';

describe('Intel CRL artifact kind (T13 / T14)', () => {
  it('a genuine Root CA CRL labelled intel-pck-crl in the rootCaCrl slot is refused at T13', () => {
    const p = platform();
    const collateral = { ...p.collateral, rootCaCrl: { ...p.collateral.rootCaCrl!, kind: 'intel-pck-crl' as const } };
    expectSyntheticFailure(p, { errorClass: 'COLLATERAL_MISMATCH', check: 'T13' }, { collateral });
  });

  it('a genuine PCK CRL labelled intel-root-ca-crl in the pckCrl slot is refused at T14', () => {
    const p = platform();
    const collateral = { ...p.collateral, pckCrl: { ...p.collateral.pckCrl!, kind: 'intel-root-ca-crl' as const } };
    expectSyntheticFailure(p, { errorClass: 'COLLATERAL_MISMATCH', check: 'T14' }, { collateral });
  });
});
