/**
 * The platform memo (src/verify/intel/platform-memo.ts) must never change a
 * verdict: every verification it answers is compared with the same
 * verification under a fresh signature memo (no platform memo entry, every
 * check run), result for result and error for error. Synthetic TDX v4, v5
 * and SGX platforms from the test PKI give quotes that differ in chosen bytes
 * only, re-signed by the attestation key; the shared real vectors give real
 * windows and real failures at their variants' instants.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { SignatureMemo } from '../../../src/crypto/memo.js';
import { parseEvidence, type SgxQuote, type TdxQuote } from '../../../src/index.js';
import { createSyntheticIntelPlatform, signCollateralJson, type SyntheticIntelPlatform } from '../../../src/testing/intel-collateral.js';
import type { CollateralArtifact } from '../../../src/collateral/artifact.js';
import { verifyIntelQuote, type IntelCollateralInput, type IntelVerifyOptions } from '../../../src/verify/intel/index.js';
import { PRODUCTION_TRUST_ROOTS } from '../../../src/verify/roots/index.js';
import { TeeVerifyError } from '../../../src/errors.js';
import { HAVE_VECTORS } from '../../helpers/vectors.js';
import { intelEntriesWithCollateral, parseIntelQuote, realCollateral } from './helpers/real.js';

const AT = new Date('2026-06-01T12:00:00Z');
const DAY = 86_400_000;

type Outcome = { result: unknown } | { error: { name: string; code: string; errorClass: unknown; check: unknown; message: string; details: unknown } };

function outcomeOf(f: () => unknown): Outcome {
  try {
    return { result: f() };
  } catch (e) {
    if (!(e instanceof TeeVerifyError)) throw e;
    const v = e as TeeVerifyError & { errorClass?: unknown; check?: unknown };
    return { error: { name: v.name, code: v.code, errorClass: v.errorClass, check: v.check, message: v.message, details: v.details } };
  }
}

/** The quote's bytes with `edit` applied, signed again by its attestation key unless told not to. */
function variant(p: SyntheticIntelPlatform, edit: (bytes: Uint8Array, quote: TdxQuote | SgxQuote) => void, resign = true): Uint8Array {
  const bytes = new Uint8Array(p.quote.bytes);
  edit(bytes, parseEvidence(bytes) as TdxQuote | SgxQuote);
  if (resign) {
    const { signedLength, quoteSignatureOffset } = p.quote.layout;
    bytes.set(sign('sha256', bytes.subarray(0, signedLength), { key: p.quote.attestationKey, dsaEncoding: 'ieee-p1363' }), quoteSignatureOffset);
  }
  return bytes;
}

/** Another REPORTDATA: what tells one quote of a TD from the next. */
const newReportData = (bytes: Uint8Array, q: TdxQuote | SgxQuote): void => bytes.set(randomBytes(64), q.body.reportData.byteOffset - q.bytes.byteOffset);

const fieldOffset = (q: TdxQuote | SgxQuote, field: Uint8Array): number => field.byteOffset - q.bytes.byteOffset;

function verifier(p: SyntheticIntelPlatform, memo: SignatureMemo) {
  return (bytes: Uint8Array, o: IntelVerifyOptions & { collateral?: IntelCollateralInput } = {}) => {
    const { collateral = p.collateral, ...options } = o;
    return verifyIntelQuote(parseEvidence(bytes) as TdxQuote | SgxQuote, collateral, { at: AT, trustRoots: p.trustRoots, memo, ...options });
  };
}

/** `bytes` verified with `memo` (after whatever it holds) and with a fresh one: the same outcome. */
function expectSameAsFresh(p: SyntheticIntelPlatform, memo: SignatureMemo, bytes: Uint8Array, o: Parameters<ReturnType<typeof verifier>>[1] = {}): Outcome {
  const withMemo = outcomeOf(() => verifier(p, memo)(bytes, o));
  const fresh = outcomeOf(() => verifier(p, new SignatureMemo())(bytes, o));
  expect(withMemo).toEqual(fresh);
  return withMemo;
}

/** Whether verifying `bytes` asked the signature memo nothing: the platform memo answered T08–T25. */
function answeredByPlatformMemo(memo: SignatureMemo, run: () => unknown): boolean {
  const before = [memo.hits, memo.misses];
  outcomeOf(run);
  return memo.hits === before[0] && memo.misses === before[1];
}

const PLATFORMS = [
  ['TDX v4', () => createSyntheticIntelPlatform({ tee: 'tdx', at: AT })],
  ['TDX v5 (TD report 1.5)', () => createSyntheticIntelPlatform({ tee: 'tdx', at: AT, version: 5, bodyType: 3 })],
  ['SGX v3', () => createSyntheticIntelPlatform({ tee: 'sgx', at: AT })],
] as const;

describe.each(PLATFORMS)('platform memo, %s', (_name, create) => {
  const p = create();

  it('a quote that differs in REPORTDATA alone is answered from the memo, with the result a full verification gives', () => {
    const memo = new SignatureMemo();
    const first = verifier(p, memo)(p.quote.bytes);
    expect(first.ok).toBe(true);
    const next = variant(p, newReportData);
    expect(answeredByPlatformMemo(memo, () => verifier(p, memo)(next))).toBe(true);
    const out = expectSameAsFresh(p, memo, next) as { result: { checks: { id: string }[]; claims: { reportData: string } } };
    expect(out.result.claims.reportData).toBe(Buffer.from((parseEvidence(next) as TdxQuote).body.reportData).toString('hex'));
    // Every check of the full run, in its order, T26 among them.
    expect(out.result.checks.map((c) => c.id)).toEqual(first.checks.map((c) => c.id));
  });

  it('T26 on a memo hit: REPORTDATA changed without a new signature is SIG_QUOTE, as without the memo', () => {
    const memo = new SignatureMemo();
    verifier(p, memo)(p.quote.bytes);
    const forged = variant(p, newReportData, false);
    const out = expectSameAsFresh(p, memo, forged);
    expect('error' in out && out.error.check).toBe('T26');
  });

  it('another byte of the body (a debug TD, another TCB SVN) is a miss: the TCB evaluation and claims run again', () => {
    const memo = new SignatureMemo();
    verifier(p, memo)(p.quote.bytes);
    const debug = variant(p, (b, q) => {
      // TDATTRIBUTES (TD report offset 120) bit 0, or SGX ATTRIBUTES.flags bit 1.
      if (q.kind === 'tdx') b[p.quote.layout.bodyOffset + 120]! |= 0x01;
      else b[fieldOffset(q, q.body.attributes)]! |= 0x02;
    });
    expect(answeredByPlatformMemo(memo, () => verifier(p, memo)(debug))).toBe(false);
    const out = expectSameAsFresh(p, memo, debug) as { result: { claims: { debug: boolean } } };
    expect(out.result.claims.debug).toBe(true);
    if (p.quote.version === 5) {
      // TD report 1.5: MRSERVICETD follows REPORTDATA, between it and the signature.
      const service = variant(p, (b, q) => {
        if (q.kind === 'tdx' && q.body.mrServiceTd) b[fieldOffset(q, q.body.mrServiceTd)]! ^= 0x01;
      });
      expect(answeredByPlatformMemo(memo, () => verifier(p, memo)(service))).toBe(false);
      const o1 = expectSameAsFresh(p, memo, service) as { result: { claims: { mrServiceTd?: string } } };
      expect(o1.result.claims.mrServiceTd?.slice(0, 2)).toBe('01');
    }
    if (p.quote.version !== 3) {
      // A lower TEE_TCB_SVN than the TCB info's only level: the platform level is not matched (T30).
      const older = variant(p, (b, q) => {
        if (q.kind === 'tdx') b.fill(0, fieldOffset(q, q.body.teeTcbSvn), fieldOffset(q, q.body.teeTcbSvn) + 16);
      });
      const o2 = expectSameAsFresh(p, memo, older);
      expect('error' in o2 && o2.error.check).toBe('T30');
    }
  });

  it('the signature data after the quote signature (QE auth data, QE report, PCK chain) is compared too', () => {
    const memo = new SignatureMemo();
    verifier(p, memo)(p.quote.bytes);
    const { qeAuthDataOffset, qeReportOffset } = p.quote.layout;
    const auth = variant(p, (b) => void (b[qeAuthDataOffset]! ^= 0x01)); // breaks the QE binding (T23)
    const o1 = expectSameAsFresh(p, memo, auth);
    expect('error' in o1 && o1.error.check).toBe('T23');
    const qeSvn = variant(p, (b) => void (b[qeReportOffset + 258]! ^= 0x01)); // QE report ISVSVN: its signature fails (T22)
    const o2 = expectSameAsFresh(p, memo, qeSvn);
    expect('error' in o2 && o2.error.check).toBe('T22');
  });

  it('an instant outside the window the shared checks compared is a miss: expired and not-yet-valid collateral fail as without the memo', () => {
    const memo = new SignatureMemo();
    verifier(p, memo)(p.quote.bytes);
    const next = variant(p, newReportData);
    for (const at of [new Date(AT.getTime() + 30 * DAY), new Date(AT.getTime() - 2 * DAY)]) {
      const out = expectSameAsFresh(p, memo, next, { at });
      expect('error' in out && out.error.errorClass).toBe('EXPIRED');
    }
    // Inside the window (28 days on, collateral valid until 29), the memo answers.
    expect(answeredByPlatformMemo(memo, () => verifier(p, memo)(next, { at: new Date(AT.getTime() + 28 * DAY) }))).toBe(true);
    expectSameAsFresh(p, memo, next, { at: new Date(AT.getTime() + 28 * DAY) });
  });

  it('collateral changed in place after it was remembered is a miss, and refused as without the memo', () => {
    const memo = new SignatureMemo();
    const collateral = { ...p.collateral, tcbInfo: { ...p.collateral.tcbInfo!, body: new Uint8Array(p.collateral.tcbInfo!.body) } };
    verifier(p, memo)(p.quote.bytes, { collateral });
    const next = variant(p, newReportData);
    // Another object with the same bytes is the same collateral: a hit.
    const same = { ...collateral, tcbInfo: { ...collateral.tcbInfo, body: new Uint8Array(collateral.tcbInfo.body) } };
    expect(answeredByPlatformMemo(memo, () => verifier(p, memo)(next, { collateral: same }))).toBe(true);
    collateral.tcbInfo.body[collateral.tcbInfo.body.length - 10]! ^= 0x01; // inside the signature's hex
    const out = expectSameAsFresh(p, memo, next, { collateral });
    expect('error' in out).toBe(true);
    // A PCK CRL left out is a miss too.
    const { pckCrl: _dropped, ...withoutCrl } = p.collateral;
    const o2 = expectSameAsFresh(p, memo, next, { collateral: withoutCrl });
    expect('error' in o2 && o2.error.check).toBe('T14');
  });

  it('other trust roots, a changed root, or a higher minimum TCB evaluation number are misses that fail as without the memo', () => {
    const memo = new SignatureMemo();
    verifier(p, memo)(p.quote.bytes);
    const next = variant(p, newReportData);
    const production = expectSameAsFresh(p, memo, next, { trustRoots: PRODUCTION_TRUST_ROOTS });
    expect('error' in production && production.error.errorClass).toBe('CHAIN');
    const root = new Uint8Array(p.trustRoots.intelRootCas[0]!);
    const roots = { ...p.trustRoots, intelRootCas: [root] };
    verifier(p, memo)(next, { trustRoots: roots });
    root[root.length - 5]! ^= 0x01;
    const changed = expectSameAsFresh(p, memo, next, { trustRoots: roots });
    expect('error' in changed).toBe(true);
    const floor = expectSameAsFresh(p, memo, next, { minTcbEvaluationDataNumber: 1_000_000 });
    expect('error' in floor && floor.error.check).toBe('T18');
  });

  it('a relaxation named, even one set to false, bypasses the memo: every check runs', () => {
    const memo = new SignatureMemo();
    verifier(p, memo)(p.quote.bytes);
    const next = variant(p, newReportData);
    expect(answeredByPlatformMemo(memo, () => verifier(p, memo)(next, { relaxations: { skipCrl: false } }))).toBe(false);
    // A grace period is a relaxation: the warning appears when it applies, with or without an entry.
    const late = new Date(AT.getTime() + 30 * DAY);
    const graced = expectSameAsFresh(p, memo, next, { at: late, relaxations: { collateralGraceSeconds: 3 * 86_400 } });
    expect('result' in graced && (graced.result as { warnings: string[] }).warnings.length).toBeGreaterThan(0);
  });

  it('a caller changing its result (checks, advisory IDs) does not reach the next verification', () => {
    const memo = new SignatureMemo();
    const first = verifier(p, memo)(p.quote.bytes);
    for (const c of first.checks) c.description = 'changed by the caller';
    first.checks.splice(10, 1);
    first.advisoryIds.push('INTEL-SA-00000');
    const second = verifier(p, memo)(variant(p, newReportData)); // replayed
    for (const c of second.checks) c.description = 'changed again';
    second.advisoryIds.push('INTEL-SA-00001');
    const third = variant(p, newReportData);
    expectSameAsFresh(p, memo, third);
  });

  it('a memo that keeps nothing (capacity or byte budget 0), or a subclass, keeps no platform entries', () => {
    class Counting extends SignatureMemo {}
    for (const memo of [new SignatureMemo(0), new SignatureMemo(10_000, 0), new Counting()]) {
      verifier(p, memo)(p.quote.bytes);
      expect(answeredByPlatformMemo(memo, () => verifier(p, memo)(variant(p, newReportData)))).toBe(false);
    }
  });

  // Review s18, finding 1: what an entry copies must be what the checks read.
  it('getters and own valueOf on the collateral or the roots never get unverified bytes remembered', () => {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const forgedTcbInfo: CollateralArtifact = { ...p.collateral.tcbInfo!, body: signCollateralJson('tcbInfo', p.tcbInfo, attacker) };
    const forged = { ...p.collateral, tcbInfo: forgedTcbInfo };
    const genuine = p.collateral.tcbInfo!;
    let containerReads = 0;
    let bodyReads = 0;
    const withValueOf = new Uint8Array(genuine.body);
    Object.defineProperty(withValueOf, 'valueOf', { value: () => forgedTcbInfo.body });
    const attempts: IntelCollateralInput[] = [
      { ...p.collateral, get tcbInfo() { return ++containerReads > 1 ? forgedTcbInfo : genuine; } },
      { ...p.collateral, tcbInfo: { ...genuine, get body() { return ++bodyReads > 2 ? forgedTcbInfo.body : genuine.body; } } },
      { ...p.collateral, tcbInfo: { ...genuine, body: withValueOf } },
    ];
    for (const attempt of attempts) {
      const memo = new SignatureMemo();
      outcomeOf(() => verifier(p, memo)(p.quote.bytes, { collateral: attempt }));
      const out = expectSameAsFresh(p, memo, variant(p, newReportData), { collateral: forged });
      expect('error' in out && out.error.check).toBe('T17');
    }
    const other = createSyntheticIntelPlatform({ tee: p.quote.version === 3 ? 'sgx' : 'tdx', at: AT, seed: 'another test pki' });
    const root = new Uint8Array(p.trustRoots.intelRootCas[0]!);
    Object.defineProperty(root, 'valueOf', { value: () => other.trustRoots.intelRootCas[0] });
    const memo = new SignatureMemo();
    verifier(p, memo)(p.quote.bytes, { trustRoots: { ...p.trustRoots, intelRootCas: [root] } });
    const out = expectSameAsFresh(p, memo, variant(p, newReportData), { trustRoots: { ...p.trustRoots, intelRootCas: other.trustRoots.intelRootCas } });
    expect('error' in out && out.error.check).toBe('T09');
  });

  it('a verification that throws after its checks (an artifact without a source) leaves no entry', () => {
    const memo = new SignatureMemo();
    const { source: _source, ...noSource } = p.collateral.pckCrl!;
    expect(() => verifier(p, memo)(p.quote.bytes, { collateral: { ...p.collateral, pckCrl: noSource as CollateralArtifact } })).toThrow();
    expect(answeredByPlatformMemo(memo, () => verifier(p, memo)(variant(p, newReportData)))).toBe(false);
  });
});

describe.skipIf(!HAVE_VECTORS)('platform memo on the shared Intel vectors', () => {
  for (const entry of intelEntriesWithCollateral()) {
    if (entry.verification_time === undefined) continue;
    it(`${entry.id}: a second verification, and each variant's instant, give what a fresh verifier gives`, () => {
      const { collateral, relaxations } = realCollateral(entry);
      const quote = parseIntelQuote(entry);
      const memo = new SignatureMemo();
      const run = (m: SignatureMemo, at: string) => outcomeOf(() => verifyIntelQuote(quote, collateral, { at: new Date(at), relaxations, memo: m }));
      const first = run(memo, entry.verification_time!);
      expect(run(memo, entry.verification_time!)).toEqual(first);
      for (const v of entry.variants ?? []) {
        if (v.collateral_override) continue; // other collateral: covered by the synthetic misses above
        expect(run(memo, v.verification_time)).toEqual(run(new SignatureMemo(), v.verification_time));
      }
    });
  }
});
