/**
 * Review of session 9 (verifier tests), finding 6: five conditions whose
 * removal left every test green. One synthetic negative each, with valid
 * signatures around the defect (the Intel and AMD test PKIs), and a control
 * showing the same setup verifies without it.
 */
import { describe, expect, it } from 'vitest';

import { basicConstraints, keyUsage, type CertExtension, type JsonObject } from '../../src/testing/index.js';
import { verifySnpReport } from '../../src/verify/snp/index.js';
import { expectError } from '../helpers/expect-error.js';
import { AT as INTEL_AT, expectSyntheticFailure, platform, verifySynthetic } from './intel/helpers/synthetic.js';
import { setup, type SetupOptions } from './snp/helpers/synthetic.js';

const DAY = 86_400_000;
const KEY_USAGE = '2.5.29.15';
const BASIC_CONSTRAINTS = '2.5.29.19';
const replaceExt = (oid: string, by: CertExtension | undefined) => (defaults: CertExtension[]) => defaults.flatMap((e) => (e.oid === oid ? (by ? [by] : []) : [e]));

function snp(o: SetupOptions) {
  const s = setup(o);
  return () => verifySnpReport(s.report, s.collateral, s.options);
}

describe('review s9: Intel conditions without a failing test', () => {
  it('T16: a TCB Signing certificate that is a CA (basicConstraints CA:TRUE) is refused', () => {
    const p = platform({ pki: { overrides: { tcbSigning: { extensions: (d) => [...d.filter((e) => e.oid !== BASIC_CONSTRAINTS), basicConstraints(true)] } } } });
    expectSyntheticFailure(p, { errorClass: 'CHAIN', check: 'T16' });
  });

  it('T18: an SGX TCB info carrying tdxModule, or tdxModuleIdentities, is refused', () => {
    const module = { mrsigner: '00'.repeat(48), attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF' };
    expectSyntheticFailure(platform({ tee: 'sgx', tcbInfo: { mutate: (d: JsonObject) => (d['tdxModule'] = module) } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
    expectSyntheticFailure(platform({ tee: 'sgx', tcbInfo: { mutate: (d: JsonObject) => (d['tdxModuleIdentities'] = []) } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
  });

  it('T12: an expired root certificate is refused, though it is the pinned root', () => {
    const expired = { notBefore: new Date(INTEL_AT.getTime() - 400 * DAY), notAfter: new Date(INTEL_AT.getTime() - DAY) };
    const p = platform({ pki: { overrides: { root: { validity: expired } } }, tcbInfo: { validate: false }, qeIdentity: { validate: false } });
    expectSyntheticFailure(p, { errorClass: 'EXPIRED', check: 'T12' });
  });

  it('control: the same platform without these defects verifies', () => {
    expect(verifySynthetic(platform()).ok).toBe(true);
    expect(verifySynthetic(platform({ tee: 'sgx' })).ok).toBe(true);
  });
});

describe('review s9: SEV-SNP conditions without a failing test', () => {
  it('S11: a VLEK without cspId (and without hwID) is refused', () => {
    expectError(snp({ signingKey: 'vlek', pki: { kds: { vlek: { cspId: undefined } } } }), { code: 'ERR_SNP_CERT', errorClass: 'SNP_CERT', check: 'S11' });
  });

  it('S11: a VCEK with a cspId in place of its hwID is refused (by either presence rule)', () => {
    expectError(snp({ pki: { kds: { vcek: { hwId: undefined, cspId: 'csp' } } } }), { code: 'ERR_SNP_CERT', errorClass: 'SNP_CERT', check: 'S11' });
  });

  it('S09: an ARK whose keyUsage lacks cRLSign (or that has no keyUsage) cannot sign the CRL', () => {
    const withoutCrlSign = { pki: { overrides: { ark: { extensions: replaceExt(KEY_USAGE, keyUsage(['keyCertSign'])) } } } };
    expectError(snp(withoutCrlSign), { code: 'ERR_COLLATERAL_SIG', errorClass: 'COLLATERAL_SIG', check: 'S09' });
    expectError(snp({ pki: { overrides: { ark: { extensions: replaceExt(KEY_USAGE, undefined) } } } }), { code: 'ERR_COLLATERAL_SIG', errorClass: 'COLLATERAL_SIG', check: 'S09' });
  });

  it('control: VCEK and VLEK setups verify', () => {
    expect(snp({})().ok).toBe(true);
    expect(snp({ signingKey: 'vlek' })().ok).toBe(true);
  });
});
