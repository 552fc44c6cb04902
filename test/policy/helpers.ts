/**
 * Verification results for policy tests: genuine shared vectors verified
 * with their collateral exactly as test/verify does (production roots, the
 * vector's instant), and synthetic platforms (src/testing) to set any claim
 * value with valid signatures around it. Policies judge claims only, so every
 * result here is a real verifier output, never a hand-made object, unless a
 * test says it changes one claim to reach a state no builder produces.
 */
import { expect } from 'vitest';

import type { JsonObject } from '../../src/testing/index.js';
import { verifyIntelQuote } from '../../src/verify/intel/index.js';
import { verifySnpReport } from '../../src/verify/snp/index.js';
import type { SgxClaims, SnpClaims, TdxClaims, VerificationResult } from '../../src/verify/types.js';
import type { PolicyAppraisal, PolicyViolation } from '../../src/policy/index.js';
import { intelEntry, parseIntelQuote, realCollateral } from '../verify/intel/helpers/real.js';
import { platform, verifySynthetic, type PlatformOptions } from '../verify/intel/helpers/synthetic.js';
import { applicableCrl, entry, optionsFor, reportOf, signingCertificateOf } from '../verify/snp/helpers/real.js';
import { setup, type SetupOptions } from '../verify/snp/helpers/synthetic.js';

export { HAVE_VECTORS } from '../helpers/vectors.js';

export const TDX_UPTODATE = 'phala-dcap-qvl/tdx_quote';
export const TDX_V5 = 'go-tdx-guest/quote_v5_sample';
export const TDX_OUTOFDATE = 'trustee/tdx_quote_6';
export const SGX_CONFIG_SW = 'phala-dcap-qvl/sgx_quote';
export const SGX_SW_HARDENING = 'oasis-core/quote_v3_ecdsa_p256_pck_chain';
export const SNP_MILAN = 'ms-tee-attestation-verification/milan';
export const SNP_GENOA_CRL = 'openpcc/azure_sevsnp_genoa';
export const SNP_TURIN = 'ms-tee-attestation-verification/turin';
export const SNP_VLEK = 'trustee/snp_test_vlek_report';
export const SNP_DEBUG = 'go-sev-guest/attestation_bin';
export const SNP_PROVISIONAL = 'trustee/snp_test_report_vcek';

/** A shared Intel vector verified at its instant with its collateral (relaxations only where its source shipped none). */
export function realIntelResult(id: string): VerificationResult {
  const e = intelEntry(id);
  const { collateral, relaxations } = realCollateral(e);
  return verifyIntelQuote(parseIntelQuote(e), collateral, { at: new Date(e.verification_time!), relaxations });
}

/** A shared SNP vector verified at its instant (CRL where one applies, else skipCrl). */
export function realSnpResult(id: string): VerificationResult {
  const e = entry(id);
  const crl = applicableCrl(e);
  const collateral = { signingCertificate: signingCertificateOf(e), ...(crl ? { crl } : {}) };
  return verifySnpReport(reportOf(e), collateral, optionsFor(e, crl ? {} : { relaxations: { skipCrl: true } }));
}

export function syntheticTdx(o: PlatformOptions = {}): VerificationResult {
  return verifySynthetic(platform({ tee: 'tdx', ...o }));
}

export function syntheticSgx(o: PlatformOptions = {}): VerificationResult {
  return verifySynthetic(platform({ ...o, tee: 'sgx' }));
}

export function syntheticSnp(o: SetupOptions = {}): VerificationResult {
  const s = setup(o);
  return verifySnpReport(s.report, s.collateral, s.options);
}

/** Synthetic TDX (or SGX) platform whose top TCB level has `status` and `advisories`. */
export function withTopLevelStatus(status: string, advisories: string[], tee: 'tdx' | 'sgx' = 'tdx'): VerificationResult {
  const mutate = (doc: JsonObject) => {
    const levels = doc['tcbLevels'] as JsonObject[];
    const top = levels[0] as JsonObject;
    top['tcbStatus'] = status;
    if (advisories.length > 0) top['advisoryIDs'] = advisories;
  };
  return (tee === 'tdx' ? syntheticTdx : syntheticSgx)({ tcbInfo: { mutate } });
}

export const tdx = (r: VerificationResult) => r.claims as TdxClaims;
export const sgx = (r: VerificationResult) => r.claims as SgxClaims;
export const snp = (r: VerificationResult) => r.claims as SnpClaims;

/** A copy of a verified result with claims changed, for states no builder can produce (said so at each use). */
export function withClaims<T extends object>(r: VerificationResult, change: Partial<T>): VerificationResult {
  return { ...r, claims: { ...r.claims, ...change } as VerificationResult['claims'] };
}

/** The violations as [check, path] pairs, in order. */
export function pairs(a: PolicyAppraisal): [string, string][] {
  return a.violations.map((v) => [v.check, v.path]);
}

/** Exactly one violation with this check, path and class; returns it. */
export function expectOnly(a: PolicyAppraisal, check: string, path: string, errorClass = 'POLICY'): PolicyViolation {
  expect(a.ok).toBe(false);
  expect(pairs(a)).toEqual([[check, path]]);
  const v = a.violations[0]!;
  expect(v.errorClass).toBe(errorClass);
  expect(v.message.startsWith(`${check}: `)).toBe(true);
  return v;
}

export function expectOk(a: PolicyAppraisal): void {
  expect(a.violations).toEqual([]);
  expect(a.ok).toBe(true);
}

export const hex = (byte: number, length: number) => byte.toString(16).padStart(2, '0').repeat(length);
