/**
 * Review s13 policy #5: the EAR trustworthiness vector treats a TD as under debug when DEBUG
 * (bit 0) or any TUD bit (7:1) of TDATTRIBUTES is set, as the T34 check and the key broker do
 * (docs/policy.md, Decisions): runtime-opaque 96 and configuration 32 under allowDebug. Before,
 * the vector read bit 0 only, so a TD debuggable through a TUD bit got runtime-opaque 2
 * ("encrypted memory") beside the T34 "memory is visible to the host" warning.
 * The claim is changed on a verified result (no builder signs such a TD), as test/policy does.
 */
import { describe, expect, it } from 'vitest';

import { evaluatePolicy, loadPolicy, toEar } from '../../src/policy/index.js';
import { TD_DEBUG_GROUP, tdUnderDebug } from '../../src/policy/td-debug.js';
import { syntheticTdx, tdx, withClaims } from './helpers.js';
import type { TdxClaims } from '../../src/verify/types.js';

const LAX = loadPolicy({ tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', allowDebug: true });
const u64 = (v: bigint) => `0x${v.toString(16).padStart(16, '0')}`;

function vectorWith(bits: bigint, debug = false) {
  const r0 = syntheticTdx();
  const r = withClaims<TdxClaims>(r0, { tdAttributes: u64(BigInt(tdx(r0).tdAttributes) | bits), debug });
  const a = evaluatePolicy(r, LAX);
  const sub = toEar(r, a, { verifierId: 't', iat: 1 }).submods['cpu0']!;
  return { warnings: a.warnings, vector: sub['ear.trustworthiness-vector'], status: sub['ear.status'] };
}

describe('EAR vector of a TD under debug', () => {
  it('each TUD bit (7:1) gives runtime-opaque 96 and configuration 32, as DEBUG does', () => {
    for (let bit = 1n; bit <= 7n; bit++) {
      const { warnings, vector, status } = vectorWith(1n << bit);
      expect(warnings.some((w) => w.startsWith('T34: debug TD accepted')), `bit ${bit}`).toBe(true);
      expect([vector['runtime-opaque'], vector.configuration, status], `bit ${bit}`).toEqual([96, 32, 'warning']);
    }
  });

  it('DEBUG (bit 0) as before, and a TD with neither stays 2 / 2 (controls)', () => {
    const d = vectorWith(1n, true).vector;
    expect([d['runtime-opaque'], d.configuration]).toEqual([96, 32]);
    const clean = vectorWith(0n).vector;
    expect([clean['runtime-opaque'], clean.configuration]).toEqual([2, 2]);
    const bit8 = vectorWith(1n << 8n).vector; // outside the debug group
    expect([bit8['runtime-opaque'], bit8.configuration]).toEqual([2, 2]);
  });

  it('tdUnderDebug is the group 7:0; an unreadable TDATTRIBUTES counts as debug', () => {
    expect(TD_DEBUG_GROUP).toBe(0xffn);
    expect(tdUnderDebug({ tdAttributes: '0x0000000010000080', debug: false })).toBe(true);
    expect(tdUnderDebug({ tdAttributes: '0x0000000010000100', debug: false })).toBe(false);
    expect(tdUnderDebug({ tdAttributes: '0x0000000010000000', debug: true })).toBe(true);
    expect(tdUnderDebug({ tdAttributes: 'zz', debug: false })).toBe(true);
  });
});
