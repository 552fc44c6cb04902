/**
 * Regressions named after what published verifiers got wrong (checklist
 * §6.2). Each failure must be the typed error, never a success. The status
 * regressions live with their checks: go-tdx-guest V22 and automata V05 in
 * tcb.test.ts, automata V03 in quote.test.ts.
 */
import { describe, expect, it } from 'vitest';

import type { JsonObject } from '../../../src/testing/index.js';
import { catchError } from '../../helpers/expect-error.js';
import { HAVE_VECTORS } from '../../helpers/vectors.js';
import { mutated, realSetup, runReal, withBodyByte, withBrokenJsonSignature } from './helpers/real.js';
import { AT, expectSyntheticFailure, platform } from './helpers/synthetic.js';

function expectReal(run: () => unknown, errorClass: string, check: string): void {
  const err = catchError(run);
  expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass, check });
}

describe.skipIf(!HAVE_VECTORS)('peer failures on genuine evidence', () => {
  const s = () => realSetup('phala-dcap-qvl/tdx_quote');

  it('broken PCK CRL signature (@phala/dcap-qvl 0.3.9 accepts it)', () => {
    const setup = s();
    expectReal(() => runReal(setup, { collateral: { ...setup.collateral, pckCrl: withBodyByte(setup.collateral.pckCrl!, 2, 0x10) } }), 'COLLATERAL_SIG', 'T14');
  });

  it('broken TCB info signature (teekit never checks it; dcap-qvl-web calls it an RSA error)', () => {
    const setup = s();
    expectReal(() => runReal(setup, { collateral: { ...setup.collateral, tcbInfo: withBrokenJsonSignature(setup.collateral.tcbInfo!) } }), 'COLLATERAL_SIG', 'T17');
  });

  it('broken QE identity signature (@phala/dcap-qvl-web 0.3.3 accepts it)', () => {
    const setup = s();
    expectReal(() => runReal(setup, { collateral: { ...setup.collateral, qeIdentity: withBrokenJsonSignature(setup.collateral.qeIdentity!) } }), 'COLLATERAL_SIG', 'T20');
  });

  it('expired collateral is a failure, not success with an expiration flag (QvE / QVL, V39)', () => {
    const setup = s();
    // One second after the PCK CRL's nextUpdate; everything else is still current.
    expectReal(() => runReal(setup, { at: new Date('2025-07-19T10:00:36Z') }), 'EXPIRED', 'T14');
    // After the TCB info's nextUpdate, with the CRLs relaxed away.
    const { pckCrl: _p, rootCaCrl: _r, ...rest } = setup.collateral;
    expectReal(() => runReal(setup, { at: new Date('2025-07-19T10:16:04Z'), collateral: rest, relaxations: { skipCrl: true } }), 'EXPIRED', 'T18');
  });

  it('TDX v5 with no matching TCB level is TCB_UNSUPPORTED, not UpToDate (teekit)', () => {
    expectReal(() => runReal(realSetup('phala-dcap-qvl/tdx_quote_outdated')), 'TCB_UNSUPPORTED', 'T30');
  });

  it('tampered body: one flipped bit in the TD report', () => {
    const setup = s();
    expectReal(() => runReal(setup, { bytes: mutated(setup.bytes, (b) => (b[0x238] = (b[0x238] ?? 0) ^ 0x80)) }), 'SIG_QUOTE', 'T26'); // REPORTDATA
  });
});

describe('peer failures on the synthetic platform', () => {
  it('TDX v5 (TD 1.5) whose SGX components match but whose TDX components match no level (teekit ignores them)', () => {
    const raise = (d: JsonObject) => (d['tcbLevels'] as JsonObject[]).forEach((l) => (((l['tcb'] as JsonObject)['tdxtcbcomponents'] as { svn: number }[])[3]!.svn = 1));
    expectSyntheticFailure(platform({ version: 5, bodyType: 3, tcbInfo: { mutate: raise } }), { errorClass: 'TCB_UNSUPPORTED', check: 'T30' });
  });

  it('expired collateral of each kind', () => {
    const past = new Date(AT.getTime() - 1000);
    expectSyntheticFailure(platform({ rootCaCrl: { nextUpdate: past } }), { errorClass: 'EXPIRED', check: 'T13' });
    expectSyntheticFailure(platform({ pckCrl: { nextUpdate: past } }), { errorClass: 'EXPIRED', check: 'T14' });
    expectSyntheticFailure(platform({ tcbInfo: { fields: { nextUpdate: past.toISOString() } } }), { errorClass: 'EXPIRED', check: 'T18' });
    expectSyntheticFailure(platform({ qeIdentity: { fields: { nextUpdate: past.toISOString() } } }), { errorClass: 'EXPIRED', check: 'T21' });
  });
});
