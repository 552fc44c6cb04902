/**
 * Section C (T16–T21) with T45, T47, T48: the TCB info and QE identity are
 * authenticated through TCB Signing ‖ pinned root over their exact bytes,
 * then held to their content rules, and every artifact must be inside its
 * window. Genuine collateral where the defect needs no new signature; the
 * synthetic platform (also run against the production roots) where it does.
 */
import { describe, expect, it } from 'vitest';

import { deriveEcKeyPair, intelTestName, type JsonObject } from '../../../src/testing/index.js';
import { catchError } from '../../helpers/expect-error.js';
import { HAVE_VECTORS, vectorPath } from '../../helpers/vectors.js';
import { realCollateral, realSetup, runReal, withBodyText, withBrokenJsonSignature, intelEntry } from './helpers/real.js';
import { AT, expectSyntheticFailure, platform, verifySynthetic } from './helpers/synthetic.js';
import { readFileSync } from 'node:fs';

const DAY = 86_400_000;

function expectReal(run: () => unknown, errorClass: string, check: string): void {
  const err = catchError(run);
  expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass, check });
}

const levels = (doc: JsonObject) => doc['tcbLevels'] as JsonObject[];
const tcbOf = (level: JsonObject) => level['tcb'] as JsonObject;

describe.skipIf(!HAVE_VECTORS)('TCB info and QE identity on genuine collateral', () => {
  const s = () => realSetup('phala-dcap-qvl/tdx_quote');

  it('T16: the oasis "bad" chain (PCK Platform CA in place of TCB Signing) is refused', () => {
    const entry = intelEntry('oasis-core/quote_v3_ecdsa_p256_pck_chain');
    const bad = 'oasis-core/go/common/sgx/pcs/testdata/tcb_info_v3_fmspc_00606A000000_certs_bad.pem';
    const { collateral, relaxations } = realCollateral(entry, { tcb_info_issuer_chain: bad, qe_identity_issuer_chain: bad });
    const setup = realSetup(entry.id);
    expectReal(() => runReal(setup, { collateral, relaxations }), 'CHAIN', 'T16');
  });

  it('T16: a missing TCB info fails closed (no relaxation exists for it)', () => {
    const setup = s();
    const { tcbInfo: _t, ...rest } = setup.collateral;
    expectReal(() => runReal(setup, { collateral: rest, relaxations: { skipCrl: true, skipQeIdentity: true } }), 'COLLATERAL_UNAVAILABLE', 'T16');
  });

  it('T17: a broken TCB info signature, and a re-serialised body under the genuine signature (V33)', () => {
    const setup = s();
    expectReal(() => runReal(setup, { collateral: { ...setup.collateral, tcbInfo: withBrokenJsonSignature(setup.collateral.tcbInfo!) } }), 'COLLATERAL_SIG', 'T17');
    // Same JSON value, one space more: what a parse + stringify round trip produces elsewhere.
    const reformatted = withBodyText(setup.collateral.tcbInfo!, (t) => t.replace('"tcbInfo":{"id":', '"tcbInfo":{"id": '));
    expectReal(() => runReal(setup, { collateral: { ...setup.collateral, tcbInfo: reformatted } }), 'COLLATERAL_SIG', 'T17');
  });

  it('T17: a second "tcbInfo" member is a rejection, not a choice (X06)', () => {
    const setup = s();
    const doubled = withBodyText(setup.collateral.tcbInfo!, (t) => t.replace('{"tcbInfo":', '{"tcbInfo":{},"tcbInfo":'));
    const err = catchError(() => runReal(setup, { collateral: { ...setup.collateral, tcbInfo: doubled } }));
    // The document's own check, the parser's X06 kept in details (review s13 intel #2).
    expect({ errorClass: err.errorClass, check: err.check, jsonCheck: err.details['jsonCheck'] }).toEqual({ errorClass: 'COLLATERAL_FORMAT', check: 'T17', jsonCheck: 'X06' });
  });

  it('T18: a genuine TCB info below the required evaluation data number (rollback)', () => {
    const setup = s();
    expectReal(() => runReal(setup, { minTcbEvaluationDataNumber: 18 }), 'COLLATERAL_MISMATCH', 'T18');
    expect(runReal(setup, { minTcbEvaluationDataNumber: 17 }).collateral.tcbEvaluationDataNumber).toBe(17);
  });

  it('T18: a genuine TCB info past its nextUpdate', () => {
    const setup = s();
    expectReal(() => runReal(setup, { at: new Date('2025-07-19T10:16:04Z'), relaxations: { skipCrl: true }, collateral: { tcbInfo: setup.collateral.tcbInfo!, qeIdentity: setup.collateral.qeIdentity! } }), 'EXPIRED', 'T18');
  });

  it('T20: a broken QE identity signature; a missing QE identity fails closed', () => {
    const setup = s();
    expectReal(() => runReal(setup, { collateral: { ...setup.collateral, qeIdentity: withBrokenJsonSignature(setup.collateral.qeIdentity!) } }), 'COLLATERAL_SIG', 'T20');
    const { qeIdentity: _q, ...rest } = setup.collateral;
    expectReal(() => runReal(setup, { collateral: rest }), 'COLLATERAL_UNAVAILABLE', 'T20');
  });

  it('T20 / T21 / T24 / T25: skipQeIdentity allows a missing QE identity with warnings; QE status UpToDate', () => {
    const setup = s();
    const { qeIdentity: _q, ...rest } = setup.collateral;
    const r = runReal(setup, { collateral: rest, relaxations: { skipQeIdentity: true } });
    expect(r.tcbStatus).toBe('UpToDate');
    expect(r.warnings.map((w) => w.slice(0, 11))).toEqual(['T20 skipped', 'T21 skipped', 'T24 skipped', 'T25 skipped']);
    expect(r.claims.kind === 'tdx' && r.claims.qe.status).toBe('UpToDate');
    expect(r.checks.map((c) => c.id)).toContain('T43');
    expect(r.collateral.qeIdentityIssueDate).toBeUndefined();
  });

  it('T47: Intel-signed SGX TCB info and SGX QE identity are refused for a TDX quote, and the reverse', () => {
    const tdx = realSetup('oasis-core/quote_v4_tdx_ecdsa_p256');
    const sgx = realSetup('oasis-core/quote_v3_ecdsa_p256_pck_chain');
    expectReal(() => runReal(tdx, { collateral: { ...tdx.collateral, tcbInfo: { ...sgx.collateral.tcbInfo! } } }), 'COLLATERAL_MISMATCH', 'T47');
    expectReal(() => runReal(tdx, { collateral: { ...tdx.collateral, qeIdentity: sgx.collateral.qeIdentity! } }), 'COLLATERAL_MISMATCH', 'T47');
    expectReal(() => runReal(sgx, { collateral: { ...sgx.collateral, tcbInfo: tdx.collateral.tcbInfo! } }), 'COLLATERAL_MISMATCH', 'T47');
    expectReal(() => runReal(sgx, { collateral: { ...sgx.collateral, qeIdentity: tdx.collateral.qeIdentity! } }), 'COLLATERAL_MISMATCH', 'T47');
    expect(readFileSync(vectorPath('oasis-core/go/common/sgx/pcs/testdata/qe_identity_v2.json'), 'utf8')).toContain('"id":"QE"');
  });

  it('T45: an artifact outside its recorded window fails even when its contents look current', () => {
    const setup = s();
    const stale = { ...setup.collateral.pckCrl!, validity: { notBefore: setup.collateral.pckCrl!.validity.notBefore, notAfter: '2025-07-19T10:00:00Z' } };
    expectReal(() => runReal(setup, { collateral: { ...setup.collateral, pckCrl: stale } }), 'EXPIRED', 'T45');
  });
});

describe('TCB info and QE identity on the synthetic platform', () => {
  it('T16: TCB Signing with the wrong DN, revoked by the Root CA CRL, expired, forged, or a chain of three', () => {
    const wrongDn = platform({ pki: { overrides: { tcbSigning: { subject: intelTestName('TCB Signer') } } } });
    expectSyntheticFailure(wrongDn, { errorClass: 'CHAIN', check: 'T16' });
    const base = platform();
    expectSyntheticFailure(platform({ rootCaCrl: { revokedSerials: [base.pki.tcbSigning.serialHex] } }), { errorClass: 'REVOKED', check: 'T16' });
    const expired = { notBefore: new Date(AT.getTime() - 400 * DAY), notAfter: new Date(AT.getTime() - DAY) };
    expectSyntheticFailure(platform({ pki: { overrides: { tcbSigning: { validity: expired } } }, tcbInfo: { validate: false }, qeIdentity: { validate: false } }), { errorClass: 'EXPIRED', check: 'T16' });
    expectSyntheticFailure(platform({ pki: { overrides: { tcbSigning: { signingKey: deriveEcKeyPair('forger', 'tcb', 'P-256').privateKey } } } }), { errorClass: 'CHAIN', check: 'T16' });
    const three = base.pki.tcbSigning.pem + base.pki.pckCa.pem + base.pki.root.pem;
    expectSyntheticFailure(platform({ tcbInfo: { issuerChainPem: three } }), { errorClass: 'CHAIN', check: 'T16' });
  });

  it('T16: a TCB Signing chain under a different root than the PCK chain', () => {
    const p = platform();
    const other = platform({ seed: 'another platform' });
    expectSyntheticFailure(p, { errorClass: 'CHAIN', check: 'T16' }, { collateral: { ...p.collateral, tcbInfo: other.collateral.tcbInfo! } });
  });

  it('T17: a signature by another key; a top level with an extra member', () => {
    expectSyntheticFailure(platform({ tcbInfo: { signingKey: deriveEcKeyPair('forger', 'json', 'P-256').privateKey } }), { errorClass: 'COLLATERAL_SIG', check: 'T17' });
    expectSyntheticFailure(platform({ tcbInfo: { signature: 'corrupt' } }), { errorClass: 'COLLATERAL_SIG', check: 'T17' });
    const extra = platform({ tcbInfo: { validate: false } });
    const body = Buffer.from(extra.collateral.tcbInfo!.body).toString('utf8').replace('{"tcbInfo":', '{"extra":1,"tcbInfo":');
    const collateral = { ...extra.collateral, tcbInfo: { ...extra.collateral.tcbInfo!, body: new Uint8Array(Buffer.from(body)) } };
    expectSyntheticFailure(extra, { errorClass: 'COLLATERAL_FORMAT', check: 'T17' }, { collateral });
  });

  it('T18: 15 SGX components (V09), 15 TDX components, an unknown status (X08: fails closed), empty levels, no tdxModule', () => {
    const short = (key: string) => (doc: JsonObject) => {
      const tcb = tcbOf(levels(doc)[0]!);
      tcb[key] = (tcb[key] as unknown[]).slice(0, 15);
    };
    expectSyntheticFailure(platform({ tcbInfo: { mutate: short('sgxtcbcomponents') } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
    expectSyntheticFailure(platform({ tcbInfo: { mutate: short('tdxtcbcomponents') } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
    expectSyntheticFailure(platform({ tcbInfo: { mutate: (d) => (levels(d)[1]!['tcbStatus'] = 'Fine') } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
    expectSyntheticFailure(platform({ tcbInfo: { fields: { tcbLevels: [] } } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
    expectSyntheticFailure(platform({ tcbInfo: { mutate: (d) => delete d['tdxModule'] } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
    expectSyntheticFailure(platform({ tcbInfo: { mutate: (d) => (tcbOf(levels(d)[0]!)['pcesvn'] = 70000) } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
    expectSyntheticFailure(platform({ tee: 'sgx', tcbInfo: { mutate: (d) => (tcbOf(levels(d)[0]!)['tdxtcbcomponents'] = []) } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
  });

  it('T18: tcbType other than 0; unparsable or missing dates reject (X01: NaN never passes a window)', () => {
    expectSyntheticFailure(platform({ tcbInfo: { fields: { tcbType: 1 } } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T18' });
    expectSyntheticFailure(platform({ tcbInfo: { fields: { nextUpdate: 'soon' }, validate: false } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
    expectSyntheticFailure(platform({ tcbInfo: { fields: { issueDate: '2026-02-30T00:00:00Z' }, validate: false } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
    expectSyntheticFailure(platform({ tcbInfo: { mutate: (d) => delete d['issueDate'], validate: false } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
    expectSyntheticFailure(platform({ tcbInfo: { mutate: (d) => (levels(d)[0]!['tcbDate'] = 'yesterday') } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
  });

  it('T18: not yet issued, or past nextUpdate', () => {
    const later = new Date(AT.getTime() + 1000).toISOString();
    expectSyntheticFailure(platform({ tcbInfo: { fields: { issueDate: later } } }), { errorClass: 'EXPIRED', check: 'T18' });
    const earlier = new Date(AT.getTime() - 1000).toISOString();
    expectSyntheticFailure(platform({ tcbInfo: { fields: { nextUpdate: earlier } } }), { errorClass: 'EXPIRED', check: 'T18' });
  });

  it('T19: FMSPC or PCE-ID of another platform, compared as decoded bytes', () => {
    expectSyntheticFailure(platform({ tcbInfo: { fields: { fmspc: '90C06F000001' } } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T19' });
    expectSyntheticFailure(platform({ tcbInfo: { fields: { pceId: '0100' } } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T19' });
    expect(verifySynthetic(platform({ tcbInfo: { fields: { fmspc: '90c06f000000' } } })).tcbStatus).toBe('UpToDate'); // case is not identity
  });

  it('T20: a QE identity signed by another key, or under a foreign chain', () => {
    expectSyntheticFailure(platform({ qeIdentity: { signature: 'corrupt' } }), { errorClass: 'COLLATERAL_SIG', check: 'T20' });
    const p = platform();
    expectSyntheticFailure(platform({ qeIdentity: { issuerChainPem: p.pki.pckCa.pem + p.pki.root.pem } }), { errorClass: 'CHAIN', check: 'T20' });
  });

  it('T21: id QVE, version 1 / 3, a 31-byte MRSIGNER, an unknown status, no levels, expired, below the minimum', () => {
    expectSyntheticFailure(platform({ qeIdentity: { fields: { id: 'QVE' } } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T21' });
    expectSyntheticFailure(platform({ qeIdentity: { fields: { version: 1 } } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T21' });
    expectSyntheticFailure(platform({ qeIdentity: { fields: { version: 3 } } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T21' });
    expectSyntheticFailure(platform({ qeIdentity: { fields: { mrsigner: 'AB'.repeat(31) } } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T21' });
    expectSyntheticFailure(platform({ qeIdentity: { mutate: (d) => (levels(d)[0]!['tcbStatus'] = 'SWHardeningNeeded') } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T21' });
    expectSyntheticFailure(platform({ qeIdentity: { fields: { tcbLevels: [] } } }), { errorClass: 'COLLATERAL_FORMAT', check: 'T21' });
    expectSyntheticFailure(platform({ qeIdentity: { fields: { nextUpdate: new Date(AT.getTime() - 1).toISOString() } } }), { errorClass: 'EXPIRED', check: 'T21' });
    // Below the caller's minimum, and (session 5) below the TCB info's number even without a minimum.
    const p = platform({ tcbInfo: { fields: { tcbEvaluationDataNumber: 20 } }, qeIdentity: { fields: { tcbEvaluationDataNumber: 10 } } });
    expectSyntheticFailure(p, { errorClass: 'COLLATERAL_MISMATCH', check: 'T21' }, { minTcbEvaluationDataNumber: 15 });
    expectSyntheticFailure(p, { errorClass: 'COLLATERAL_MISMATCH', check: 'T21' });
    const newer = platform({ tcbInfo: { fields: { tcbEvaluationDataNumber: 10 } }, qeIdentity: { fields: { tcbEvaluationDataNumber: 20 } } });
    expect(verifySynthetic(newer).warnings).toEqual(['T21: QE identity evaluation data number 20 is newer than the TCB info\'s 10']);
  });

  it('T47: a synthetic SGX TCB info and QE identity for a TDX quote, and TDX ones for an SGX quote', () => {
    expectSyntheticFailure(platform({ tcbInfo: { fields: { id: 'SGX' } } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T47' });
    expectSyntheticFailure(platform({ qeIdentity: { fields: { id: 'QE' } } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T47' });
    expectSyntheticFailure(platform({ tee: 'sgx', tcbInfo: { fields: { id: 'TDX' } } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T47' });
    expectSyntheticFailure(platform({ tee: 'sgx', qeIdentity: { fields: { id: 'TD_QE' } } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T47' });
  });

  it('T48: a TDX TCB info of version 2; other versions are T18', () => {
    expectSyntheticFailure(platform({ tcbInfo: { fields: { version: 2 } } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T48' });
    expectSyntheticFailure(platform({ tcbInfo: { fields: { version: 4 } } }), { errorClass: 'COLLATERAL_MISMATCH', check: 'T18' });
  });

  it('T45: every artifact is checked against its own recorded window', () => {
    const p = platform();
    const before = new Date(AT.getTime() - 1000).toISOString();
    for (const kind of ['tcbInfo', 'qeIdentity', 'pckCrl', 'rootCaCrl'] as const) {
      const a = p.collateral[kind]!;
      const collateral = { ...p.collateral, [kind]: { ...a, validity: { ...a.validity, notAfter: before } } };
      expectSyntheticFailure(p, { errorClass: 'EXPIRED', check: 'T45' }, { collateral });
    }
  });
});
