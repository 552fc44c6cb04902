/**
 * Review, session 6 (second round): a cached CRL's revokedSerials was a real
 * Set with locked own methods, so Set.prototype.delete.call + add.call swapped
 * the revoked PCK's serial for another one at the same size (intact() only
 * compared sizes) and every later verification accepted the revoked PCK.
 * Sealed Sets and Maps are now read-only views over private copies.
 */
import { describe, expect, it } from 'vitest';

import { createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { parseEvidence, type TdxQuote } from '../../src/index.js';
import { verifyIntelQuote } from '../../src/verify/index.js';
import { parseCrl } from '../../src/x509/index.js';
import { ReadOnlyMapView, ReadOnlySetView, seal } from '../../src/x509/sealed.js';

/** Runs `f`, ignoring what it throws (a mutation that is refused is what we want). */
function attempt(f: () => unknown): void {
  try {
    f();
  } catch {
    // refused
  }
}

describe('sealed Sets and Maps cannot be changed through their prototypes', () => {
  it('swapping a revoked serial in a cached CRL (same size) leaves the PCK revoked (sealed-set.mjs)', () => {
    const at = new Date('2026-06-01T00:00:00Z');
    const leafSerial = createSyntheticIntelPlatform({ tee: 'tdx', at }).pki.pck.serialHex;
    const p = createSyntheticIntelPlatform({ tee: 'tdx', at, pckCrl: { revokedSerials: [leafSerial] } });
    const verify = () => verifyIntelQuote(parseEvidence(p.quote.bytes) as TdxQuote, p.collateral, { at, trustRoots: p.trustRoots });
    expect(verify).toThrow(expect.objectContaining({ code: 'ERR_REVOKED', check: 'T14' }));

    const crl = parseCrl(p.collateral.pckCrl!.body);
    const listed = [...crl.revokedSerials];
    expect(listed).toHaveLength(1);
    attempt(() => Set.prototype.delete.call(crl.revokedSerials, listed[0]));
    attempt(() => Set.prototype.add.call(crl.revokedSerials, 'deadbeef'));
    // (No clear(): the old size check caught that one; the swap keeps the size.)

    expect([...parseCrl(p.collateral.pckCrl!.body).revokedSerials]).toEqual(listed);
    expect(verify).toThrow(expect.objectContaining({ code: 'ERR_REVOKED', check: 'T14' }));
  });

  it('a sealed Set is a view: reads work, every way to write throws', () => {
    const { value } = seal({ serials: new Set(['1', '2']) });
    const view = value.serials as unknown as ReadOnlySetView<string>;
    expect(view).toBeInstanceOf(ReadOnlySetView);
    expect(view.size).toBe(2);
    expect(view.has('1')).toBe(true);
    expect([...view]).toEqual(['1', '2']);
    expect([...view.entries()]).toEqual([['1', '1'], ['2', '2']]);
    const seen: string[] = [];
    view.forEach((v) => seen.push(v));
    expect(seen).toEqual(['1', '2']);
    for (const method of ['add', 'delete', 'clear'] as const) {
      expect(() => (Set.prototype[method] as (...a: unknown[]) => unknown).call(view, '1')).toThrow(TypeError);
    }
    expect(() => Object.defineProperty(view, 'has', { value: () => false })).toThrow(TypeError);
    expect(() => Object.defineProperty(ReadOnlySetView.prototype, 'has', { value: () => false })).toThrow(TypeError);
    expect(view.has('1')).toBe(true);
    // A copy is a real Set that the caller may change.
    const copy = new Set(view);
    copy.delete('1');
    expect(view.has('1')).toBe(true);
  });

  it('a sealed Map is a view, and what it holds is sealed too', () => {
    const inner = { n: 1 };
    const { value } = seal({ byName: new Map([['a', inner]]) });
    const view = value.byName as unknown as ReadOnlyMapView<string, { n: number }>;
    expect(view).toBeInstanceOf(ReadOnlyMapView);
    expect(view.get('a')).toBe(inner);
    expect(Object.isFrozen(inner)).toBe(true);
    expect([...view.keys()]).toEqual(['a']);
    for (const method of ['set', 'delete', 'clear'] as const) {
      expect(() => (Map.prototype[method] as (...a: unknown[]) => unknown).call(view, 'a', { n: 2 })).toThrow(TypeError);
    }
    expect(view.get('a')).toEqual({ n: 1 });
  });
});
