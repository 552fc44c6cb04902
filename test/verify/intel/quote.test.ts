/**
 * Section D (T22–T26) with T43: the QE report signature by the PCK leaf, the
 * QE binding of the attestation key, the QE against Intel's QE identity, its
 * TCB level, and the quote signature. A revoked QE still gets its quote
 * signature checked (automata V03).
 */
import { describe, expect, it } from 'vitest';

import { deriveEcKeyPair, qeReportDataBinding, type JsonObject } from '../../../src/testing/index.js';
import { catchError } from '../../helpers/expect-error.js';
import { HAVE_VECTORS } from '../../helpers/vectors.js';
import { mutated, realSetup, runReal } from './helpers/real.js';
import { expectSyntheticFailure, platform, verifySynthetic } from './helpers/synthetic.js';

function expectReal(run: () => unknown, errorClass: string, check: string): void {
  const err = catchError(run);
  expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass, check });
}

const flip = (i: number) => (b: Uint8Array) => {
  b[i] = (b[i] ?? 0) ^ 0x01;
};
const AUTH = Uint8Array.from({ length: 32 }, (_, i) => i);
const levels = (doc: JsonObject) => doc['tcbLevels'] as JsonObject[];

describe.skipIf(!HAVE_VECTORS)('QE and quote signatures on genuine quotes', () => {
  it('T22: a flipped byte in the QE report signature (v4, SGX v3)', () => {
    const s = realSetup('phala-dcap-qvl/tdx_quote');
    expectReal(() => runReal(s, { bytes: mutated(s.bytes, flip(0x4c1)) }), 'SIG_QE_REPORT', 'T22');
    const g = realSetup('phala-dcap-qvl/sgx_quote');
    expectReal(() => runReal(g, { bytes: mutated(g.bytes, flip(0x3f3)) }), 'SIG_QE_REPORT', 'T22');
  });

  it('T22: a flipped byte inside the QE report itself', () => {
    const s = realSetup('phala-dcap-qvl/tdx_quote');
    expectReal(() => runReal(s, { bytes: mutated(s.bytes, flip(0x302 + 0x40)) }), 'SIG_QE_REPORT', 'T22');
  });

  it('T23: a changed QE auth data byte breaks the binding while the QE signature stays valid', () => {
    const s = realSetup('phala-dcap-qvl/tdx_quote');
    expectReal(() => runReal(s, { bytes: mutated(s.bytes, flip(0x4c4)) }), 'QE_BINDING', 'T23');
  });

  it('T26: a tampered body, a tampered header, a tampered v5 TD 1.5 body, a tampered SGX enclave report', () => {
    const s = realSetup('phala-dcap-qvl/tdx_quote');
    expectReal(() => runReal(s, { bytes: mutated(s.bytes, flip(0xb8)) }), 'SIG_QUOTE', 'T26'); // MRTD
    expectReal(() => runReal(s, { bytes: mutated(s.bytes, flip(0x1c)) }), 'SIG_QUOTE', 'T26'); // user_data: signed, never interpreted (T44)
    const v5 = realSetup('go-tdx-guest/quote_v5_sample');
    expectReal(() => runReal(v5, { bytes: mutated(v5.bytes, flip(0x28e)) }), 'SIG_QUOTE', 'T26'); // MRSERVICETD
    const g = realSetup('phala-dcap-qvl/sgx_quote');
    expectReal(() => runReal(g, { bytes: mutated(g.bytes, flip(0x70)) }), 'SIG_QUOTE', 'T26'); // MRENCLAVE
    expectReal(() => runReal(s, { bytes: mutated(s.bytes, flip(0x2bb)) }), 'SIG_QUOTE', 'T26'); // the signature itself
  });
});

describe('QE and quote signatures on the synthetic platform', () => {
  it('T22: QE report signature corrupted, or made by a key other than the PCK leaf', () => {
    expectSyntheticFailure(platform({ quote: { signing: { qeReport: 'corrupt' } } }), { errorClass: 'SIG_QE_REPORT', check: 'T22' });
    expectSyntheticFailure(platform({ quote: { pckKey: deriveEcKeyPair('other', 'pck', 'P-256').privateKey } }), { errorClass: 'SIG_QE_REPORT', check: 'T22' });
  });

  it('T23: REPORTDATA[32:64] not zero, and a binding over another key, both under a valid QE signature', () => {
    const p = platform();
    const upper = qeReportDataBinding(p.quote.attestationKeyXY, AUTH);
    upper[40] = 1;
    expectSyntheticFailure(platform({ quote: { qeReport: { reportData: upper } } }), { errorClass: 'QE_BINDING', check: 'T23' });
    const otherKey = qeReportDataBinding(new Uint8Array(64).fill(7), AUTH);
    expectSyntheticFailure(platform({ quote: { qeReport: { reportData: otherKey } } }), { errorClass: 'QE_BINDING', check: 'T23' });
  });

  it('T24: MRSIGNER, ISVPRODID, MISCSELECT and ATTRIBUTES against the QE identity', () => {
    expectSyntheticFailure(platform({ qeIdentity: { fields: { mrsigner: 'DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5' } } }), { errorClass: 'QE_IDENTITY', check: 'T24' });
    expectSyntheticFailure(platform({ qeIdentity: { fields: { isvprodid: 1 } } }), { errorClass: 'QE_IDENTITY', check: 'T24' });
    expectSyntheticFailure(platform({ quote: { qeReport: { miscSelect: 1 } } }), { errorClass: 'QE_IDENTITY', check: 'T24' });
    expectSyntheticFailure(platform({ qeIdentity: { fields: { attributes: '13000000000000000000000000000000' } } }), { errorClass: 'QE_IDENTITY', check: 'T24' });
    // Intel's mask covers DEBUG: a debug QE fails T24 already.
    const debug = Uint8Array.from(Buffer.from('1300000000000000e700000000000000', 'hex'));
    expectSyntheticFailure(platform({ quote: { qeReport: { attributes: debug } } }), { errorClass: 'QE_IDENTITY', check: 'T24' });
    // Bits outside the mask do not matter.
    expect(verifySynthetic(platform({ quote: { qeReport: { miscSelect: 1 } }, qeIdentity: { fields: { miscselectMask: 'FFFFFFFE' } } })).tcbStatus).toBe('UpToDate');
  });

  it('T43: a debug QE is refused even when the identity mask leaves DEBUG out, and without any QE identity', () => {
    const debug = Uint8Array.from(Buffer.from('1300000000000000e700000000000000', 'hex'));
    const lax = platform({ quote: { qeReport: { attributes: debug } }, qeIdentity: { fields: { attributesMask: 'F9FFFFFFFFFFFFFF0000000000000000' } } });
    expectSyntheticFailure(lax, { errorClass: 'QE_IDENTITY', check: 'T43' });
    const none = platform({ quote: { qeReport: { attributes: debug } }, qeIdentity: { omit: true } });
    expectSyntheticFailure(none, { errorClass: 'QE_IDENTITY', check: 'T43' }, { relaxations: { skipQeIdentity: true } });
  });

  it('T25: a QE ISVSVN below every QE level is TCB_UNSUPPORTED; levels are taken highest first', () => {
    expectSyntheticFailure(platform({ quote: { qeReport: { isvSvn: 1 } }, qeIdentity: { mutate: (d) => levels(d).forEach((l, i) => ((l['tcb'] as JsonObject)['isvsvn'] = 5 + i)) } }), { errorClass: 'TCB_UNSUPPORTED', check: 'T25' });
    // Listed lowest first: the verifier still picks the highest reachable level.
    const reversed = platform({ qeIdentity: { mutate: (d) => (d['tcbLevels'] = [...levels(d)].reverse()) } });
    const r = verifySynthetic(reversed);
    expect(r.claims.kind === 'tdx' && r.claims.qe.status).toBe('UpToDate');
  });

  it('V03 (automata): a revoked QE is refused as REVOKED, but only after T26 ran', () => {
    const revoked = { mutate: (d: JsonObject) => (levels(d)[0]!['tcbStatus'] = 'Revoked') };
    expectSyntheticFailure(platform({ qeIdentity: revoked }), { errorClass: 'REVOKED', check: 'T33' });
    // With a bad quote signature the failure is T26: the revoked QE did not return early.
    expectSyntheticFailure(platform({ qeIdentity: revoked, quote: { signing: { quote: 'corrupt' } } }), { errorClass: 'SIG_QUOTE', check: 'T26' });
  });

  it('T26: a corrupted quote signature; an attestation key that is not a P-256 point', () => {
    expectSyntheticFailure(platform({ quote: { signing: { quote: 'corrupt' } } }), { errorClass: 'SIG_QUOTE', check: 'T26' });
    const offCurve = new Uint8Array(64);
    offCurve[31] = 1;
    offCurve[63] = 1;
    const p = platform({
      quote: { qeReport: { reportData: qeReportDataBinding(offCurve, AUTH) }, mutate: (b, layout) => b.set(offCurve, layout.attestationKeyOffset) },
    });
    expectSyntheticFailure(p, { errorClass: 'SIG_QUOTE', check: 'T26' });
  });
});
