/**
 * RFC 5280 §4.2 / §5.2 / §5.3 in the chain checks (src/x509/critical.ts): a
 * certificate or CRL with a critical extension the verifier does not process
 * is refused, and a keyUsage that is present must allow the use the chain
 * puts the key to. Each defect is built by the test PKI with valid signatures
 * around it; the same extension marked non-critical passes, so the refusal is
 * due to the critical flag and nothing else.
 */
import { describe, expect, it } from 'vitest';

import * as der from '../../src/testing/der.js';
import { keyUsage, type CertExtension } from '../../src/testing/index.js';
import { parseCrl, unprocessedCriticalCrlExtensions, unprocessedCriticalExtensions } from '../../src/x509/index.js';
import { verifySnpReport } from '../../src/verify/snp/index.js';
import { catchError } from '../helpers/expect-error.js';
import { expectSyntheticFailure, platform, verifySynthetic } from './intel/helpers/synthetic.js';
import { buildAmdCrl, setup } from './snp/helpers/synthetic.js';

const NAME_CONSTRAINTS = '2.5.29.30';
const ISSUING_DISTRIBUTION_POINT = '2.5.29.28';
const DELTA_CRL_INDICATOR = '2.5.29.27';
const CERTIFICATE_ISSUER = '2.5.29.29';
const REASON_CODE = '2.5.29.21';

/** nameConstraints permitting one DNS subtree: a restriction a verifier that ignores it would not honour. */
const nameConstraints = (critical: boolean): CertExtension => ({
  oid: NAME_CONSTRAINTS,
  critical,
  value: der.sequence(der.explicit(0, der.sequence(der.implicitPrimitive(2, new TextEncoder().encode('example.invalid'))))),
});
/** An issuing distribution point with onlyContainsUserCerts: a CRL covering part of the certificates. */
const partialCrl: CertExtension = { oid: ISSUING_DISTRIBUTION_POINT, critical: true, value: der.sequence(der.implicitPrimitive(1, Uint8Array.of(0xff))) };
const deltaCrl: CertExtension = { oid: DELTA_CRL_INDICATOR, critical: true, value: der.integer(1) };
const certificateIssuer: CertExtension = { oid: CERTIFICATE_ISSUER, critical: true, value: der.sequence(der.implicitPrimitive(2, new TextEncoder().encode('other.invalid'))) };
const reasonCode: CertExtension = { oid: REASON_CODE, critical: false, value: der.enumerated(1) };

const add = (ext: CertExtension) => ({ extensions: (d: CertExtension[]) => [...d, ext] });
const withKeyUsage = (bits: Parameters<typeof keyUsage>[0]) => ({ extensions: (d: CertExtension[]) => d.map((e) => (e.oid === '2.5.29.15' ? keyUsage(bits) : e)) });

describe('the classifier', () => {
  it('names critical extensions outside the processed set, certificate and CRL (entries too)', () => {
    expect(unprocessedCriticalExtensions([{ oid: '2.5.29.19', critical: true, value: new Uint8Array() }, { oid: NAME_CONSTRAINTS, critical: true, value: new Uint8Array() }, { oid: '2.5.29.14', critical: false, value: new Uint8Array() }])).toEqual([NAME_CONSTRAINTS]);
    const p = platform();
    const crl = parseCrl(buildAmdCrl(setup().pki, { revoked: ['0a'], extraExtensions: [deltaCrl], entryExtensions: [certificateIssuer, reasonCode] }));
    expect(unprocessedCriticalCrlExtensions(crl)).toEqual({ crl: [DELTA_CRL_INDICATOR], entries: [CERTIFICATE_ISSUER] });
    expect(unprocessedCriticalCrlExtensions(parseCrl(p.collateral.pckCrl!.body))).toEqual({ crl: [], entries: [] });
  });
});

describe('Intel chain (synthetic platform)', () => {
  it('the default platform and non-critical variants of each extension pass', () => {
    expect(verifySynthetic(platform()).checks.map((c) => c.id)).toContain('T16');
    expect(() => verifySynthetic(platform({ pki: { overrides: { pckCa: add(nameConstraints(false)), pck: add(nameConstraints(false)), tcbSigning: add(nameConstraints(false)) } } }))).not.toThrow();
    const entries = platform({ pckCrl: { revokedSerials: ['0abc'], entryExtensions: [reasonCode] } });
    expect(() => verifySynthetic(entries)).not.toThrow();
  });

  it('T10: an intermediate with a critical extension the verifier does not process', () => {
    expectSyntheticFailure(platform({ pki: { overrides: { pckCa: add(nameConstraints(true)) } } }), { errorClass: 'CHAIN', check: 'T10' });
  });

  it('T10: an intermediate whose keyUsage does not allow signing certificates', () => {
    expectSyntheticFailure(platform({ pki: { overrides: { pckCa: withKeyUsage(['cRLSign']) } } }), { errorClass: 'CHAIN', check: 'T10' });
  });

  it('T11: a leaf with a critical extension, or a keyUsage without digitalSignature', () => {
    expectSyntheticFailure(platform({ pki: { overrides: { pck: add(nameConstraints(true)) } } }), { errorClass: 'CHAIN', check: 'T11' });
    expectSyntheticFailure(platform({ pki: { overrides: { pck: withKeyUsage(['keyEncipherment']) } } }), { errorClass: 'CHAIN', check: 'T11' });
  });

  it('T16: a TCB Signing certificate with a critical extension, or a keyUsage without digitalSignature', () => {
    expectSyntheticFailure(platform({ pki: { overrides: { tcbSigning: add(nameConstraints(true)) } } }), { errorClass: 'CHAIN', check: 'T16' });
    expectSyntheticFailure(platform({ pki: { overrides: { tcbSigning: withKeyUsage(['keyAgreement']) } } }), { errorClass: 'CHAIN', check: 'T16' });
  });

  it('T14: an intermediate whose keyUsage does not allow signing CRLs cannot vouch for its PCK CRL', () => {
    expectSyntheticFailure(platform({ pki: { overrides: { pckCa: withKeyUsage(['keyCertSign']) } } }), { errorClass: 'COLLATERAL_SIG', check: 'T14' });
  });

  it('T13 / T14: partial, delta and indirect CRLs are no revocation answer', () => {
    expectSyntheticFailure(platform({ pckCrl: { extraExtensions: [partialCrl] } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T14' });
    expectSyntheticFailure(platform({ pckCrl: { extraExtensions: [deltaCrl] } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T14' });
    expectSyntheticFailure(platform({ pckCrl: { revokedSerials: ['0abc'], entryExtensions: [certificateIssuer] } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T14' });
    expectSyntheticFailure(platform({ rootCaCrl: { extraExtensions: [deltaCrl] } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T13' });
  });
});

describe('SEV-SNP chain (synthetic AMD PKI)', () => {
  const refused = (s: ReturnType<typeof setup>) => {
    const err = catchError(() => verifySnpReport(s.report, s.collateral, s.options));
    return { errorClass: err.errorClass, check: err.check };
  };

  it('the default setup passes', () => {
    const s = setup();
    expect(() => verifySnpReport(s.report, s.collateral, s.options)).not.toThrow();
  });

  it('S10: a VCEK or VLEK with a critical extension the verifier does not process', () => {
    expect(refused(setup({ pki: { overrides: { vcek: add(nameConstraints(true)) } } }))).toEqual({ errorClass: 'CHAIN', check: 'S10' });
    expect(refused(setup({ signingKey: 'vlek', pki: { overrides: { vlek: add(nameConstraints(true)) } } }))).toEqual({ errorClass: 'CHAIN', check: 'S10' });
  });

  it('S10: a VCEK whose keyUsage does not allow digital signatures (one that does is still outside the KDS set: S11)', () => {
    expect(refused(setup({ pki: { overrides: { vcek: add(keyUsage(['keyEncipherment'])) } } }))).toEqual({ errorClass: 'CHAIN', check: 'S10' });
    expect(refused(setup({ pki: { overrides: { vcek: add(keyUsage(['digitalSignature'])) } } }))).toEqual({ errorClass: 'SNP_CERT', check: 'S11' });
  });

  it('S09: a delta CRL, or an entry for another issuer, is no revocation answer', () => {
    expect(refused(setup({ crl: { extraExtensions: [deltaCrl] } }))).toEqual({ errorClass: 'COLLATERAL_FORMAT', check: 'S09' });
    expect(refused(setup({ crl: { revoked: ['0abc'], entryExtensions: [certificateIssuer] } }))).toEqual({ errorClass: 'COLLATERAL_FORMAT', check: 'S09' });
    const s = setup({ crl: { revoked: ['0abc'], entryExtensions: [reasonCode] } });
    expect(() => verifySnpReport(s.report, s.collateral, s.options)).not.toThrow();
  });
});
