/**
 * Section B (T09–T15): the PCK chain, its dates, the two CRLs and the SGX
 * extension. Genuine evidence where a defect needs no new signature (a flipped
 * signature byte, a foreign trust root); the synthetic platform where it needs
 * valid signatures around it (revoked serials, expired CAs, malformed
 * extensions), each also failing with CHAIN under the production roots.
 */
import { describe, expect, it } from 'vitest';

import { deriveEcKeyPair, intelTestName } from '../../../src/testing/index.js';
import { catchError } from '../../helpers/expect-error.js';
import { HAVE_VECTORS } from '../../helpers/vectors.js';
import { realSetup, replaceChainCertificate, runReal, withBodyByte } from './helpers/real.js';
import { AT, expectSyntheticFailure, platform, verifySynthetic } from './helpers/synthetic.js';

const DAY = 86_400_000;
const flipLastByte = (der: Uint8Array) => {
  der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01; // last byte of the signature's s
};

function expectReal(run: () => unknown, errorClass: string, check: string): void {
  const err = catchError(run);
  expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass, check });
}

describe.skipIf(!HAVE_VECTORS)('PCK chain on genuine quotes', () => {
  const s = () => realSetup('phala-dcap-qvl/tdx_quote');

  it('T09: a genuine chain is refused when its root is not among the trust roots', () => {
    const other = platform().trustRoots;
    expectReal(() => runReal(s(), { trustRoots: other }), 'CHAIN', 'T09');
  });

  it('T10: an intermediate whose signature by the root is broken', () => {
    const setup = s();
    expectReal(() => runReal(setup, { bytes: replaceChainCertificate(setup.bytes, 1, flipLastByte) }), 'CHAIN', 'T10');
  });

  it('T11: a leaf whose signature by the intermediate is broken', () => {
    const setup = s();
    expectReal(() => runReal(setup, { bytes: replaceChainCertificate(setup.bytes, 0, flipLastByte) }), 'CHAIN', 'T11');
  });

  it('T13: a Root CA CRL whose signature is broken', () => {
    const setup = s();
    const rootCaCrl = withBodyByte(setup.collateral.rootCaCrl!, 1);
    expectReal(() => runReal(setup, { collateral: { ...setup.collateral, rootCaCrl } }), 'COLLATERAL_SIG', 'T13');
  });

  it('T14: a PCK CRL whose signature is broken', () => {
    const setup = s();
    const pckCrl = withBodyByte(setup.collateral.pckCrl!, 1);
    expectReal(() => runReal(setup, { collateral: { ...setup.collateral, pckCrl } }), 'COLLATERAL_SIG', 'T14');
  });

  it('T13 / T14: a missing CRL fails closed; skipCrl allows it with a warning', () => {
    const setup = s();
    const { pckCrl: _p, rootCaCrl: _r, ...rest } = setup.collateral;
    expectReal(() => runReal(setup, { collateral: { ...rest, pckCrl: setup.collateral.pckCrl! } }), 'COLLATERAL_UNAVAILABLE', 'T13');
    expectReal(() => runReal(setup, { collateral: { ...rest, rootCaCrl: setup.collateral.rootCaCrl! } }), 'COLLATERAL_UNAVAILABLE', 'T14');
    const r = runReal(setup, { collateral: rest, relaxations: { skipCrl: true } });
    expect(r.warnings.filter((w) => /^T1[34] skipped/.test(w))).toHaveLength(2);
    expect(r.checks.map((c) => c.id)).not.toContain('T13');
  });
});

describe('PCK chain on the synthetic platform', () => {
  const pastOnly = { notBefore: new Date(AT.getTime() - 400 * DAY), notAfter: new Date(AT.getTime() - DAY) };

  it('T10: an intermediate with the wrong DN, a forged link, not a CA', () => {
    expectSyntheticFailure(platform({ pki: { overrides: { pckCa: { subject: intelTestName('PCK Other CA') } } } }), { errorClass: 'CHAIN', check: 'T10' });
    const forger = deriveEcKeyPair('forger', 'root', 'P-256').privateKey;
    expectSyntheticFailure(platform({ pki: { overrides: { pckCa: { signingKey: forger } } } }), { errorClass: 'CHAIN', check: 'T10' });
    expectSyntheticFailure(platform({ pki: { overrides: { pckCa: { extensions: (d) => d.filter((e) => e.oid !== '2.5.29.19') } } } }), { errorClass: 'CHAIN', check: 'T10' });
  });

  it('T10: an intermediate issued under another root DN, signature still by the root (V04: the signature is always checked)', () => {
    const p = platform({ pki: { overrides: { pckCa: { issuer: [['CN', 'Intel SGX Root CA'], ['O', 'Intel Corporation'], ['L', 'Santa Clara'], ['ST', 'CA'], ['C', 'US']] } } } });
    expectSyntheticFailure(p, { errorClass: 'CHAIN', check: 'T10' });
  });

  it('T11: a leaf with the wrong CN, a forged link, a CA flag', () => {
    expectSyntheticFailure(platform({ pki: { overrides: { pck: { subject: intelTestName('PCK Certificate 2') } } } }), { errorClass: 'CHAIN', check: 'T11' });
    const forger = deriveEcKeyPair('forger', 'ca', 'P-256').privateKey;
    expectSyntheticFailure(platform({ pki: { overrides: { pck: { signingKey: forger } } } }), { errorClass: 'CHAIN', check: 'T11' });
    const caLeaf = platform({
      pki: { overrides: { pck: { extensions: (d) => d.map((e) => (e.oid === '2.5.29.19' ? { ...e, value: Uint8Array.of(0x30, 0x03, 0x01, 0x01, 0xff) } : e)) } } },
    });
    expectSyntheticFailure(caLeaf, { errorClass: 'CHAIN', check: 'T11' });
  });

  it('T12: an expired intermediate, a not-yet-valid leaf (notBefore is checked, unlike QVL)', () => {
    expectSyntheticFailure(platform({ pki: { overrides: { pckCa: { validity: pastOnly } } } }), { errorClass: 'EXPIRED', check: 'T12' });
    const future = { notBefore: new Date(AT.getTime() + DAY), notAfter: new Date(AT.getTime() + 400 * DAY) };
    expectSyntheticFailure(platform({ pki: { overrides: { pck: { validity: future } } } }), { errorClass: 'EXPIRED', check: 'T12' });
  });

  it('T13: intermediate revoked by the Root CA CRL; CRL expired, from another issuer, without CRL Number, signed by another key', () => {
    const base = platform();
    expectSyntheticFailure(platform({ rootCaCrl: { revokedSerials: [base.pki.pckCa.serialHex] } }), { errorClass: 'REVOKED', check: 'T13' });
    expectSyntheticFailure(platform({ rootCaCrl: { nextUpdate: new Date(AT.getTime() - 1000), validate: false } }), { errorClass: 'EXPIRED', check: 'T13' });
    expectSyntheticFailure(platform({ rootCaCrl: { issuerName: intelTestName('PCK Platform CA') } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T13' });
    expectSyntheticFailure(platform({ rootCaCrl: { omitCrlNumber: true } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T13' });
    expectSyntheticFailure(platform({ rootCaCrl: { omitAuthorityKeyId: true } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T13' });
    expectSyntheticFailure(platform({ rootCaCrl: { signingKey: deriveEcKeyPair('forger', 'crl', 'P-256').privateKey } }), { errorClass: 'COLLATERAL_SIG', check: 'T13' });
    expectSyntheticFailure(platform({ rootCaCrl: { nextUpdate: null, validate: false } }), { errorClass: 'EXPIRED', check: 'T13' });
  });

  it('T14: PCK leaf revoked, also when listed with a DER leading zero; PCK CRL of the other CA; expired; forged', () => {
    const base = platform();
    expectSyntheticFailure(platform({ pckCrl: { revokedSerials: [base.pki.pck.serialHex] } }), { errorClass: 'REVOKED', check: 'T14' });
    expectSyntheticFailure(platform({ pckCrl: { revokedSerials: [`00${base.pki.pck.serialHex}`] } }), { errorClass: 'REVOKED', check: 'T14' });
    expectSyntheticFailure(platform({ pckCrl: { issuerName: intelTestName('PCK Processor CA') } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T14' });
    expectSyntheticFailure(platform({ pckCrl: { thisUpdate: new Date(AT.getTime() + 1000), validate: false } }), { errorClass: 'EXPIRED', check: 'T14' });
    expectSyntheticFailure(platform({ pckCrl: { corruptSignature: true } }), { errorClass: 'COLLATERAL_SIG', check: 'T14' });
  });

  it('T14: the Processor CA CRL cannot stand in for the Platform CA CRL even when correctly signed', () => {
    const p = platform();
    const processor = platform({ caType: 'processor' });
    expectSyntheticFailure(p, { errorClass: 'COLLATERAL_MISMATCH', check: 'T14' }, { collateral: { ...p.collateral, pckCrl: processor.collateral.pckCrl! } });
  });

  it('skipCrl does not switch off a CRL that is supplied: a revoked leaf stays revoked', () => {
    const base = platform();
    const p = platform({ pckCrl: { revokedSerials: [base.pki.pck.serialHex] } });
    expectSyntheticFailure(p, { errorClass: 'REVOKED', check: 'T14' }, { relaxations: { skipCrl: true } });
    expect(verifySynthetic(platform(), { relaxations: { skipCrl: true } }).warnings).toEqual([]);
  });

  it('T15: SGX extension with a short FMSPC, or missing the Platform CA entries', () => {
    expectSyntheticFailure(platform({ pki: { sgx: { fmspc: new Uint8Array(5) } } }), { errorClass: 'PARSE', check: 'T15' });
    // A Processor-CA-shaped 5-entry extension in a leaf of the Platform CA.
    const noInstance = platform({ pki: { sgx: { platformInstanceId: undefined, configuration: undefined } } });
    expectSyntheticFailure(noInstance, { errorClass: 'PARSE', check: 'T15' });
  });
});
