/**
 * The collateral grace relaxation (clarifications "Expired collateral"):
 * off by default; when named, re-issued collateral past its nextUpdate
 * passes with a "grace period used" warning, which a policy refuses unless
 * it names a grace period itself. Certificates are never extended.
 */
import { describe, expect, it } from 'vitest';

import { defaultPolicy, evaluatePolicy } from '../../src/policy/index.js';
import { verifySnpReport } from '../../src/verify/snp/index.js';
import { catchError } from '../helpers/expect-error.js';
import { AT, platform, verifySynthetic } from './intel/helpers/synthetic.js';
import { buildAmdCrl, setup as snpSetup } from './snp/helpers/synthetic.js';

const HOUR = 3_600_000;
const expiredHourAgo = new Date(AT.getTime() - HOUR).toISOString();

describe('collateral grace (Intel)', () => {
  const stale = () => platform({ tcbInfo: { fields: { nextUpdate: expiredHourAgo } } });

  it('T18: TCB info one hour past nextUpdate is EXPIRED without a grace period', () => {
    const err = catchError(() => verifySynthetic(stale()));
    expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'EXPIRED', check: 'T18' });
  });

  it('T18: a grace shorter than the overrun still rejects', () => {
    const err = catchError(() => verifySynthetic(stale(), { relaxations: { collateralGraceSeconds: 1800 } }));
    expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'EXPIRED', check: 'T18' });
  });

  it('a two-hour grace verifies with a warning, and the default policy refuses the result (X02)', () => {
    const result = verifySynthetic(stale(), { relaxations: { collateralGraceSeconds: 7200 } });
    const graceWarnings = result.warnings.filter((w) => w.startsWith('grace period used: '));
    expect(graceWarnings.some((w) => w.includes('T18') && w.includes(expiredHourAgo))).toBe(true);
    const judged = evaluatePolicy(result, defaultPolicy('tdx'), { now: AT });
    expect(judged.ok).toBe(false);
    expect(judged.violations.map((v) => v.check)).toContain('X02');
  });

  it('a policy that names a grace period accepts the result, with a warning', () => {
    const result = verifySynthetic(stale(), { relaxations: { collateralGraceSeconds: 7200 } });
    const base = defaultPolicy('tdx');
    const policy = { ...base, collateral: { ...base.collateral, expiryGraceSeconds: 7200 } };
    const judged = evaluatePolicy(result, policy, { now: AT });
    expect(judged.violations).toEqual([]);
    expect(judged.ok).toBe(true);
    expect(judged.warnings.some((w) => w.includes('grace period used'))).toBe(true);
  });

  it('T21: the QE identity gets the same grace', () => {
    const p = platform({ qeIdentity: { fields: { nextUpdate: expiredHourAgo } } });
    expect(catchError(() => verifySynthetic(p)).check).toBe('T21');
    const result = verifySynthetic(p, { relaxations: { collateralGraceSeconds: 7200 } });
    expect(result.warnings.some((w) => w.startsWith('grace period used: T21'))).toBe(true);
  });

  it('T16: an expired TCB Signing certificate is never extended by a grace period', () => {
    const expired = { notBefore: new Date(AT.getTime() - 400 * 24 * HOUR), notAfter: new Date(AT.getTime() - HOUR) };
    const p = platform({ pki: { overrides: { tcbSigning: { validity: expired } } }, tcbInfo: { validate: false }, qeIdentity: { validate: false } });
    const err = catchError(() => verifySynthetic(p, { relaxations: { collateralGraceSeconds: 7200 } }));
    expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'EXPIRED', check: 'T16' });
  });

  it('T18: not-yet-valid collateral is never relaxed', () => {
    const p = platform({ tcbInfo: { fields: { issueDate: new Date(AT.getTime() + HOUR).toISOString() } } });
    const err = catchError(() => verifySynthetic(p, { relaxations: { collateralGraceSeconds: 7200 } }));
    expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'EXPIRED', check: 'T18' });
  });

  it('rejects a negative, infinite or excessive grace as an argument error', () => {
    for (const collateralGraceSeconds of [-1, Number.POSITIVE_INFINITY, Number.NaN, 31 * 24 * 3600]) {
      expect(catchError(() => verifySynthetic(platform(), { relaxations: { collateralGraceSeconds } })).code).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});

describe('collateral grace (SEV-SNP CRL, S09)', () => {
  const run = (graceSeconds?: number) => {
    const s = snpSetup();
    const crl = buildAmdCrl(s.pki, { nextUpdate: new Date(s.options.at!.getTime() - HOUR) });
    const relaxations = graceSeconds === undefined ? {} : { collateralGraceSeconds: graceSeconds };
    return () => verifySnpReport(s.report, { ...s.collateral, crl }, { ...s.options, relaxations });
  };

  it('S09: a CRL past nextUpdate is EXPIRED without grace, accepted with a warning inside it', () => {
    const err = catchError(run());
    expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'EXPIRED', check: 'S09' });
    expect(catchError(run(600)).check).toBe('S09');
    const result = run(7200)();
    expect(result.warnings.some((w) => w.startsWith('grace period used: S09'))).toBe(true);
  });
});
