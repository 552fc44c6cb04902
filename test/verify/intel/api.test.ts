/**
 * The entry point's contract: one instant (T01), argument checks, the
 * artifacts in the right slots, relaxations reported only when used, and
 * random mutations of genuine evidence and collateral never verifying and
 * never escaping as anything but a typed error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { parseEvidence, TeeVerifyError } from '../../../src/index.js';
import { createSyntheticIntelPlatform } from '../../../src/testing/index.js';
import { verifyIntelQuote } from '../../../src/verify/intel/index.js';
import { splitPemCertificates } from '../../../src/x509/index.js';
import { catchError, expectError } from '../../helpers/expect-error.js';
import { HAVE_VECTORS } from '../../helpers/vectors.js';
import { realSetup, runReal } from './helpers/real.js';
import { parsed, platform, verifySynthetic } from './helpers/synthetic.js';

describe('verifyIntelQuote entry point', () => {
  it('T01: an invalid instant is an argument error, never a window that NaN passes', () => {
    const p = platform();
    expectError(() => verifyIntelQuote(parsed(p), p.collateral, { at: new Date('nope'), trustRoots: p.trustRoots }), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
  });

  it('T01: without options.at the wall clock is read once and reported', () => {
    const now = new Date();
    const p = createSyntheticIntelPlatform({ tee: 'tdx', at: now });
    const before = Date.now();
    const r = verifyIntelQuote(parsed(p), p.collateral, { trustRoots: p.trustRoots });
    expect(Date.parse(r.at)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(r.at)).toBeLessThanOrEqual(Date.now());
    expect(r.checks[0]).toEqual({ id: 'T01', description: `verification instant ${r.at}` });
  });

  it('rejects what is not a parsed Intel quote, and bad options', () => {
    const p = platform();
    expectError(() => verifyIntelQuote({ kind: 'snp' } as never, p.collateral, { at: p.at }), { code: 'ERR_INVALID_ARGUMENT' });
    expectError(() => verifyIntelQuote(parsed(p), null as never, { at: p.at }), { code: 'ERR_INVALID_ARGUMENT' });
    expectError(() => verifyIntelQuote(parsed(p), p.collateral, { at: p.at, minTcbEvaluationDataNumber: -1 }), { code: 'ERR_INVALID_ARGUMENT' });
    expectError(() => verifyIntelQuote(parsed(p), p.collateral, { at: p.at, trustRoots: {} as never }), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('an artifact in the wrong slot is COLLATERAL_MISMATCH at the check that needs it', () => {
    const p = platform();
    const c = p.collateral;
    for (const [collateral, check] of [
      [{ ...c, tcbInfo: c.qeIdentity! }, 'T16'],
      [{ ...c, qeIdentity: c.tcbInfo! }, 'T20'],
      [{ ...c, pckCrl: c.rootCaCrl! }, 'T14'],
      [{ ...c, rootCaCrl: c.pckCrl! }, 'T13'],
    ] as const) {
      const err = catchError(() => verifySynthetic(p, { collateral }));
      expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'COLLATERAL_MISMATCH', check });
    }
  });

  it('relaxations that do not apply leave no warning; used ones each leave one per skipped check', () => {
    const p = platform();
    expect(verifySynthetic(p, { relaxations: { skipCrl: true, skipQeIdentity: true } }).warnings).toEqual([]);
    const { pckCrl: _p, rootCaCrl: _r, qeIdentity: _q, ...tcbOnly } = p.collateral;
    const r = verifySynthetic(p, { collateral: tcbOnly, relaxations: { skipCrl: true, skipQeIdentity: true } });
    expect(r.warnings.map((w) => w.slice(0, 3))).toEqual(['T13', 'T14', 'T20', 'T21', 'T24', 'T25']);
    expect(r.collateral.artifacts.map((a) => a.kind)).toEqual(['intel-tcb-info']);
  });

  it('is synchronous and pure: the same inputs give the same result twice', () => {
    const p = platform({ tee: 'sgx' });
    expect(verifySynthetic(p)).toEqual(verifySynthetic(p));
  });
});

describe.skipIf(!HAVE_VECTORS)('random mutations of genuine evidence never verify', () => {
  const s = realSetup('phala-dcap-qvl/tdx_quote');
  const quote = parseEvidence(s.bytes);
  if (quote.kind === 'snp') throw new Error('not Intel');
  const pem = quote.signatureData.pckCertChainPem;
  const chainStart = pem.byteOffset - quote.bytes.byteOffset;
  const chainEnd = chainStart + pem.length; // 70 bytes of zero padding follow (T05)
  const derChain = (bytes: Uint8Array) => {
    try {
      return splitPemCertificates(bytes.subarray(chainStart, chainEnd)).map((d) => Buffer.from(d).toString('hex'));
    } catch {
      return undefined;
    }
  };
  const original = derChain(s.bytes);

  function mutate(at: number, xor: number): Uint8Array {
    const bytes = Uint8Array.from(s.bytes);
    bytes[at] = (bytes[at] ?? 0) ^ xor;
    return bytes;
  }

  function outcome(bytes: Uint8Array): 'verified' | 'typed error' {
    try {
      runReal(s, { bytes });
      return 'verified';
    } catch (err) {
      expect(err).toBeInstanceOf(TeeVerifyError);
      expect((err as TeeVerifyError).errorClass).not.toBe('INTERNAL');
      return 'typed error';
    }
  }

  it('any single-byte change of the signed or structural bytes fails with a typed error', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: chainStart - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        expect(outcome(mutate(at, xor))).toBe('typed error');
      }),
      { numRuns: 300 },
    );
  });

  it('a change of the (unsigned) PEM chain verifies only if the certificates decode unchanged', () => {
    fc.assert(
      fc.property(fc.integer({ min: chainStart, max: chainEnd - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const bytes = mutate(at, xor);
        if (outcome(bytes) === 'verified') expect(derChain(bytes)).toEqual(original);
      }),
      { numRuns: 200 },
    );
  });

  it('any single-byte change of the signed TCB info or QE identity member fails with a typed error', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }), (tcb, pos, xor) => {
        const a = tcb ? s.collateral.tcbInfo! : s.collateral.qeIdentity!;
        const body = Uint8Array.from(a.body);
        // Outside the signature member (hex there is case-insensitive: "a" and "A" are the same signature).
        const end = Buffer.from(body).lastIndexOf('"signature"');
        const at = pos % end;
        body[at] = (body[at] ?? 0) ^ xor;
        const collateral = { ...s.collateral, [tcb ? 'tcbInfo' : 'qeIdentity']: { ...a, body } };
        const err = catchError(() => runReal(s, { collateral }));
        expect(err.errorClass).not.toBe('INTERNAL');
      }),
      { numRuns: 300 },
    );
  });

  it('the genuine quote itself still verifies (positive control of the properties)', () => {
    expect(runReal(s).tcbStatus).toBe('UpToDate');
    expect(original).toHaveLength(3);
  });
});
