/**
 * Review s13 (policy), finding 4: a policy's collateral grace (collateral.expiryGraceSeconds)
 * covers re-issued documents only (Intel TCB info, QE identity, PCK and Root CA CRLs; AMD CRLs),
 * never an expired certificate (VCEK / VLEK, ASK / ARK, PCK chain, TCB Signing), for SEV-SNP and
 * Intel alike (clarifications "Expired collateral": grace is for collateral age; docs/policy.md
 * Evaluation 4). Before:
 * - SEV-SNP: the VCEK / VLEK and the ASK / ARK chain are artifacts of the result, and every
 *   artifact got the grace, so an expired VCEK passed with an X02 warning;
 * - Intel: a TCB info / QE identity window is cut short by its TCB Signing certificate, and a TCB
 *   Signing certificate that ends inside a document's grace did not show at all; either way the
 *   grace extended the certificate.
 * The decision instant (options.now) is after the verification instant, as when a stored result
 * is judged later (batch, key release).
 */
import { describe, expect, it } from 'vitest';

import { evaluatePolicy, loadPolicy } from '../../src/policy/index.js';
import type { VerificationResult } from '../../src/verify/types.js';
import { AT } from '../verify/intel/helpers/synthetic.js';
import { expectOk, syntheticSnp, syntheticTdx } from './helpers.js';

const GRACE = 3600;
const tdxPolicy = loadPolicy({ tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', collateral: { expiryGraceSeconds: GRACE } });
const snpPolicy = loadPolicy({ tee: 'snp', measurement: 'any', hostData: 'any', collateral: { expiryGraceSeconds: GRACE } });
const DAY = 86_400_000;
const at = (ms: number) => new Date(ms);
const checks = (r: VerificationResult, now: Date, policy = tdxPolicy) => {
  const a = evaluatePolicy(r, policy, { now });
  return { ok: a.ok, violations: a.violations.map((v) => v.check), messages: a.violations.map((v) => v.message), warnings: a.warnings };
};

/** A verified SNP result whose artifact of `kind` is the earliest expiry (the CRL re-issued on time, past it). */
function snpWithEarliest(kind: 'amd-vcek' | 'amd-cert-chain'): { r: VerificationResult; end: number } {
  const r0 = syntheticSnp();
  const cert = r0.collateral.artifacts.find((a) => a.kind === kind)!;
  const end = Date.parse(cert.notAfter);
  // Changed on the verified result (no builder produces it): the other artifacts outlive `cert`, as a
  // re-issued CRL and the ARK / ASK (25 years) outlive a 7-year VCEK near its end.
  const artifacts = r0.collateral.artifacts.map((a) => (a === cert ? a : { ...a, notAfter: new Date(end + 30 * DAY).toISOString() }));
  return { r: { ...r0, collateral: { ...r0.collateral, artifacts, earliestExpiry: cert.notAfter } }, end };
}

describe('SEV-SNP: no policy grace extends the VCEK or the ASK / ARK chain', () => {
  it('VCEK expired 60 s before the decision instant, 1 h grace: X16, no grace warning for it', () => {
    const { r, end } = snpWithEarliest('amd-vcek');
    const c = checks(r, at(end + 60_000), snpPolicy);
    expect(c.ok).toBe(false);
    expect(c.violations).toEqual(['X16']);
    expect(c.messages[0]).toMatch(/^X16: amd-vcek .* expired at .*: a certificate, no grace extends it$/);
    expect(c.warnings).toEqual([]);
  });

  it('ASK / ARK chain expired 60 s before, 1 h grace: X16', () => {
    const { r, end } = snpWithEarliest('amd-cert-chain');
    const c = checks(r, at(end + 60_000), snpPolicy);
    expect([c.ok, c.violations]).toEqual([false, ['X16']]);
    expect(c.messages[0]).toMatch(/^X16: amd-cert-chain /);
  });

  it('control: an AMD CRL expired 60 s before, 1 h grace: passes with an X02 warning', () => {
    const r = syntheticSnp();
    const crl = r.collateral.artifacts.find((a) => a.kind === 'amd-crl')!;
    const c = checks(r, at(Date.parse(crl.notAfter) + 60_000), snpPolicy);
    expect([c.ok, c.violations]).toEqual([true, []]);
    expect(c.warnings).toEqual([expect.stringMatching(/^X02: grace period used: amd-crl .* \(policy grace 3600 s\)$/)]);
  });
});

describe('Intel: no policy grace extends the TCB Signing certificate', () => {
  it('a TCB Signing certificate that cuts the TCB info / QE identity windows short, expired 60 s before, 1 h grace: X16', () => {
    const signingEnd = AT.getTime() + 10 * DAY; // the documents run to AT + 29 days
    const r = syntheticTdx({ pki: { overrides: { tcbSigning: { validity: { notBefore: at(AT.getTime() - 365 * DAY), notAfter: at(signingEnd) } } } } });
    const tcbInfo = r.collateral.artifacts.find((a) => a.kind === 'intel-tcb-info')!;
    expect(Date.parse(tcbInfo.notAfter)).toBe(signingEnd); // the collateral layer's window: document ∩ issuer chain
    const c = checks(r, at(signingEnd + 60_000));
    expect(c.ok).toBe(false);
    expect(c.violations).toContain('X16');
    expect(c.messages.some((m) => /certificate .*expired at .*no grace extends it/.test(m))).toBe(true);
  });

  it('a TCB Signing certificate that ends inside the documents\' grace, 30 min after their nextUpdate: X16', () => {
    const docEnd = AT.getTime() + 29 * DAY;
    const signingEnd = docEnd + 10 * 60_000;
    const r = syntheticTdx({ pki: { overrides: { tcbSigning: { validity: { notBefore: at(AT.getTime() - 365 * DAY), notAfter: at(signingEnd) } } } } });
    expect(r.collateral.earliestExpiry).toBe(at(docEnd).toISOString());
    const c = checks(r, at(docEnd + 30 * 60_000));
    expect(c.ok).toBe(false);
    expect(c.violations).toContain('X16');
    expect(c.messages.some((m) => m.includes(at(signingEnd).toISOString()))).toBe(true);
  });

  it('control: the documents expired 60 s before, certificates current, 1 h grace: passes with X02 warnings', () => {
    const r = syntheticTdx();
    const end = Date.parse(r.collateral.earliestExpiry);
    const c = checks(r, at(end + 60_000));
    expectOk(evaluatePolicy(r, tdxPolicy, { now: at(end + 60_000) }));
    expect(c.warnings.length).toBeGreaterThan(0);
    expect(c.warnings.every((w) => w.startsWith('X02: grace period used: intel-'))).toBe(true);
  });

  it('control: without a policy grace the expired document is X16', () => {
    const r = syntheticTdx();
    const end = Date.parse(r.collateral.earliestExpiry);
    const a = evaluatePolicy(r, loadPolicy({ tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }), { now: at(end + 60_000) });
    expect(a.ok).toBe(false);
    expect(new Set(a.violations.map((v) => v.check))).toEqual(new Set(['X16']));
  });
});
