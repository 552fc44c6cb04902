/**
 * Review s14 (verifiers #1): the Intel result's collateral.earliestExpiry
 * includes the PCK and Root CA CRLs' own nextUpdate. It took the window the
 * caller declared for the CRL artifacts instead, so a hand-built
 * IntelCollateralInput (the public verifyIntelQuote accepts one) gave a
 * result that the policy's X16 check accepted after the PCK CRL it relied on
 * had expired.
 */
import { expect, it } from 'vitest';

import { defaultPolicy, evaluatePolicy } from '../../../src/policy/index.js';
import { platform, verifySynthetic } from './helpers/synthetic.js';

const DAY = 86_400_000;

for (const which of ['pckCrl', 'rootCaCrl'] as const) {
  it(`${which}: its nextUpdate bounds earliestExpiry, and X16 refuses the result after it`, () => {
    const at = new Date('2026-01-15T12:00:00Z');
    const crlEnd = new Date(at.getTime() + DAY);
    const p = platform({ [which]: { nextUpdate: crlEnd, validate: false, window: { notBefore: new Date(at.getTime() - DAY), notAfter: new Date(at.getTime() + 29 * DAY) } } });
    const r = verifySynthetic(p);
    expect(Date.parse(r.collateral.earliestExpiry)).toBeLessThanOrEqual(crlEnd.getTime());
    expect(evaluatePolicy(r, defaultPolicy('tdx'), { now: new Date(at.getTime() + 3 * DAY) }).ok).toBe(false);
    expect(evaluatePolicy(r, defaultPolicy('tdx'), { now: new Date(at.getTime() + DAY / 2) }).ok).toBe(true); // control
  });
}
