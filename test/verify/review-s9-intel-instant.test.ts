/**
 * Review of session 9 (verifier tests, found while fixing finding 8): the Intel
 * context read the caller's Date through its own getTime() twice (validate,
 * then copy), and verifyEvidence handed the caller's Date object to the
 * collateral service and the verifier. A Date whose getTime() moves was
 * validated at one instant and used at another; a hostile Date gave an
 * untyped RangeError / TypeError. Now the instant is read once from the
 * Date's own time value (src/verify/instant.ts) and copied (T01, X01).
 */
import { describe, expect, it } from 'vitest';

import { BundleSource, CollateralCache, CollateralService, verifyEvidence } from '../../src/index.js';
import { verifyIntelQuote } from '../../src/verify/intel/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { expectError } from '../helpers/expect-error.js';
import { AT, parsed, platform } from './intel/helpers/synthetic.js';

const LATER = Date.parse('2099-01-01T00:00:00Z'); // after every synthetic certificate

/** Holds `held`; its getTime() answers `first` once, then 2099, and counts the calls. */
function movingDate(held: number, first = held): Date & { calls: number } {
  class MovingDate extends Date {
    calls = 0;
    override getTime(): number {
      this.calls++;
      return this.calls === 1 ? first : LATER;
    }
    override valueOf(): number {
      return this.getTime();
    }
  }
  return new MovingDate(held);
}

describe('review s9: one Intel instant per verification (T01)', () => {
  it('verifyIntelQuote: a Date whose getTime() moves is read once from its own time value', () => {
    const p = platform();
    const at = movingDate(AT.getTime());
    const result = verifyIntelQuote(parsed(p), p.collateral, { at, trustRoots: p.trustRoots });
    expect(result.ok).toBe(true);
    expect(result.at).toBe(AT.toISOString());
    expect(at.calls).toBe(0);
  });

  it('control: the same verification at 2099 fails (the moving value would have been refused)', () => {
    const p = platform();
    expect(() => verifyIntelQuote(parsed(p), p.collateral, { at: new Date(LATER), trustRoots: p.trustRoots })).toThrow();
  });

  it('X01: an invalid Date whose getTime() claims a valid instant is ERR_INVALID_ARGUMENT', () => {
    class LyingDate extends Date {
      override getTime(): number {
        return AT.getTime();
      }
    }
    const p = platform();
    expectError(() => verifyIntelQuote(parsed(p), p.collateral, { at: new LyingDate(Number.NaN), trustRoots: p.trustRoots }), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('X01: an object that only inherits from Date.prototype is a typed ERR_INVALID_ARGUMENT, not a TypeError', () => {
    const p = platform();
    const fake = Object.create(Date.prototype) as Date;
    expectError(() => verifyIntelQuote(parsed(p), p.collateral, { at: fake, trustRoots: p.trustRoots }), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('verifyEvidence: the collateral service and the verifier get one private copy of the instant', async () => {
    const now = new Date();
    const tee = new SimulatedTeeProvider({ tee: 'tdx', at: now });
    const { evidence } = await tee.getEvidence(new Uint8Array(64));
    const seen: Date[] = [];
    const service = new CollateralService({ intel: new BundleSource([...tee.collateral]), cache: new CollateralCache({ directory: null }) });
    const forEvidence = service.forEvidence.bind(service);
    service.forEvidence = (e, at, t) => {
      seen.push(at);
      return forEvidence(e, at, t);
    };
    const at = movingDate(now.getTime());
    const result = await verifyEvidence(evidence, { collateral: service, at, trustRoots: tee.trustRoots });
    expect(result.at).toBe(now.toISOString());
    expect(at.calls).toBe(0);
    expect(seen.length).toBeGreaterThan(0);
    for (const d of seen) {
      expect(d).not.toBe(at);
      expect(Object.getPrototypeOf(d)).toBe(Date.prototype);
      expect(d.getTime()).toBe(now.getTime());
    }
  });
});
