/**
 * T49 (review 2, session 5): a Uint8Array that lies about its storage. The
 * native framing and the signature read a typed array's real storage, but a
 * view built through its `buffer` / `byteOffset` getters reads wherever those
 * point. Before the fix a subclass, or a plain Uint8Array with an own
 * `buffer` getter, pointing at an edited shadow copy gave a debug TD
 * debug=false (Intel) and a REPORT_DATA the signature does not cover
 * (SEV-SNP). The verifiers now copy the bytes first; these tests fail on the
 * old code.
 */
import { describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, verifyEvidence, type CollateralArtifact, type SnpReport, type TdxQuote } from '../../src/index.js';
import type { SyntheticIntelPlatform } from '../../src/testing/index.js';
import { verifySnpReport } from '../../src/verify/snp/index.js';
import { privateCopy } from '../../src/verify/private-bytes.js';
import type { SnpClaims, TdxClaims } from '../../src/verify/types.js';
import { catchError } from '../helpers/expect-error.js';
import { parsed, platform, verifySynthetic } from './intel/helpers/synthetic.js';
import { setup } from './snp/helpers/synthetic.js';

/** TDATTRIBUTES in a TDX v4 quote: header 48, then TEE_TCB_SVN 16, MRSEAM 48, MRSIGNERSEAM 48, SEAMATTRIBUTES 8. */
const TD_ATTRIBUTES = 48 + 16 + 48 + 48 + 8;
/** SEV-SNP REPORT_DATA. */
const SNP_REPORT_DATA = 0x50;

/** Every way found for a Uint8Array to show its readers other bytes than its storage holds. */
function liars(real: Uint8Array, shadow: Uint8Array): [string, Uint8Array][] {
  class Subclass extends Uint8Array {
    override get buffer(): ArrayBuffer {
      return shadow.buffer as ArrayBuffer;
    }
    override get byteOffset(): number {
      return shadow.byteOffset;
    }
    override get length(): number {
      return shadow.length;
    }
    override subarray(begin?: number, end?: number): Uint8Array<ArrayBuffer> {
      return shadow.subarray(begin, end) as Uint8Array<ArrayBuffer>;
    }
  }
  const own = new Uint8Array(real);
  Object.defineProperty(own, 'buffer', { get: () => shadow.buffer });
  Object.defineProperty(own, 'byteOffset', { get: () => shadow.byteOffset });
  Object.defineProperty(own, 'subarray', { value: (b?: number, e?: number) => shadow.subarray(b, e) });
  return [
    ['a subclass overriding buffer, byteOffset, length and subarray', new Subclass(real)],
    ['a plain Uint8Array with own buffer / byteOffset / subarray properties', own],
  ];
}

describe('privateCopy reads internal storage, never the getters', () => {
  const real = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const shadow = Uint8Array.from([9, 9, 9, 9, 9, 9, 9, 9]);

  it.each(liars(real, shadow))('%s', (_name, liar) => {
    // The liar does show the shadow through its getters (else this test proves nothing)...
    expect(Array.from(new Uint8Array(liar.buffer, liar.byteOffset, 8))).toEqual(Array.from(shadow));
    // ...and the copy holds the real bytes, in a plain Uint8Array of its own.
    const copy = privateCopy(liar, 'bytes');
    expect(Array.from(copy)).toEqual(Array.from(real));
    expect(Object.getPrototypeOf(copy)).toBe(Uint8Array.prototype);
    expect(copy.buffer).not.toBe(real.buffer);
    expect(copy.buffer).not.toBe(shadow.buffer);
  });

  it('a view into a larger buffer copies only its own span', () => {
    const big = Uint8Array.from([0, 1, 2, 3, 4, 5]);
    expect(Array.from(privateCopy(big.subarray(2, 4), 'bytes'))).toEqual([2, 3]);
  });

  it('an object that only inherits from Uint8Array.prototype is ARGUMENT', () => {
    const fake = Object.create(Uint8Array.prototype) as Uint8Array;
    expect(catchError(() => privateCopy(fake, 'bytes')).code).toBe('ERR_INVALID_ARGUMENT');
  });

  it('another typed array, a plain array and a detached Uint8Array are ARGUMENT', () => {
    expect(catchError(() => privateCopy(new Uint16Array(4), 'bytes')).code).toBe('ERR_INVALID_ARGUMENT');
    expect(catchError(() => privateCopy([1, 2], 'bytes')).code).toBe('ERR_INVALID_ARGUMENT');
    const detached = new Uint8Array(8);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    expect(catchError(() => privateCopy(detached, 'bytes')).code).toBe('ERR_INVALID_ARGUMENT');
  });
});

function serviceOf(p: SyntheticIntelPlatform): CollateralService {
  const artifacts = Object.values(p.collateral).filter((a): a is CollateralArtifact => a !== undefined);
  return new CollateralService({ intel: new BundleSource(artifacts), cache: null });
}

describe('Intel: a debug TD whose bytes lie about their storage is still debug', () => {
  const p = platform({ quote: { tdBody: { tdAttributes: 1n } } });
  const honest = verifySynthetic(p);
  const real = new Uint8Array(p.quote.bytes);
  const shadow = new Uint8Array(real);
  shadow[TD_ATTRIBUTES] = 0;

  it('the honest verification reports debug', () => {
    expect((honest.claims as TdxClaims).debug).toBe(true);
    expect(real[TD_ATTRIBUTES]).toBe(1);
  });

  it.each(liars(real, shadow))('verifyIntelQuote: %s', (_name, liar) => {
    const q = { ...(parsed(p) as TdxQuote), bytes: liar };
    const r = verifySynthetic(p, { quote: q });
    expect((r.claims as TdxClaims).debug).toBe(true);
    expect(r.claims).toEqual(honest.claims);
  });

  it.each(liars(real, shadow))('verifyEvidence(parsed object): %s', async (_name, liar) => {
    const q = { ...(parsed(p) as TdxQuote), bytes: liar };
    const r = await verifyEvidence(q, { collateral: serviceOf(p), at: p.at, trustRoots: p.trustRoots });
    expect((r.claims as TdxClaims).debug).toBe(true);
    expect(r.claims).toEqual(honest.claims);
  });
});

describe('SEV-SNP: REPORT_DATA and DEBUG come from the signed bytes, whatever the array claims', () => {
  const s = setup({ report: { policy: 0x30000n | (1n << 19n) } });
  const honest = verifySnpReport(s.report, s.collateral, s.options);
  const real = new Uint8Array(s.report.bytes);
  const shadow = new Uint8Array(real);
  shadow[SNP_REPORT_DATA] = shadow[SNP_REPORT_DATA]! ^ 0xff;
  shadow[0x08 + 2] = shadow[0x08 + 2]! & ~(1 << 3); // POLICY bit 19 (DEBUG) cleared

  it('the honest verification reports a debug guest', () => {
    expect((honest.claims as SnpClaims).policy.debug).toBe(true);
  });

  it.each(liars(real, shadow))('verifySnpReport: %s', (_name, liar) => {
    const r = verifySnpReport({ ...s.report, bytes: liar } as SnpReport, s.collateral, s.options);
    expect((r.claims as SnpClaims).policy.debug).toBe(true);
    expect(r.claims).toEqual(honest.claims);
  });
});
