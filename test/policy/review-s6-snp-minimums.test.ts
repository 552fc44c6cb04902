/**
 * Review s6, finding 6: `tcbMinimums` for Milan only, with `products` left at
 * its default (all three), put no TCB floor on Genoa or Turin reports (S17 /
 * S18 look up the report's own product). The loader now refuses minimums that
 * miss an accepted product (ERR_POLICY_INVALID, keyword `contradiction`).
 */
import { describe, expect, it } from 'vitest';

import { loadPolicy } from '../../src/policy/index.js';
import type { SnpPolicy } from '../../src/policy/types.js';

const SNP = { tee: 'snp', measurement: 'any', hostData: 'any' };
const MILAN = { reported: { snp: 0x18 } };

function problem(doc: object): { code?: string; keyword?: string; path?: string; message?: string } {
  try {
    loadPolicy(doc);
  } catch (e) {
    const err = e as { code?: string; message?: string; details?: { keyword?: string; path?: string } };
    return { code: err.code, keyword: err.details?.keyword, path: err.details?.path, message: err.message };
  }
  return {};
}

describe('tcbMinimums must cover every accepted product (review s6)', () => {
  it('Milan minimums with the default products (Milan, Genoa, Turin): refused, naming Genoa and Turin', () => {
    const p = problem({ ...SNP, tcbMinimums: { Milan: MILAN } });
    expect(p).toMatchObject({ code: 'ERR_POLICY_INVALID', keyword: 'contradiction', path: '/tcbMinimums' });
    expect(p.message).toContain('Genoa, Turin');
  });

  it('Milan minimums with products [Milan, Genoa]: refused, naming Genoa', () => {
    const p = problem({ ...SNP, products: ['Milan', 'Genoa'], tcbMinimums: { Milan: MILAN } });
    expect(p).toMatchObject({ code: 'ERR_POLICY_INVALID', keyword: 'contradiction', path: '/tcbMinimums' });
    expect(p.message).toMatch(/product Genoa \(/);
  });

  it('accepted: minimums for exactly the products, for more than the products, or no minimums at all', () => {
    expect((loadPolicy({ ...SNP, products: ['Milan'], tcbMinimums: { Milan: MILAN } }) as SnpPolicy).tcbMinimums.Milan).toEqual(MILAN);
    expect(loadPolicy({ ...SNP, products: ['Genoa'], tcbMinimums: { Milan: MILAN, Genoa: MILAN } })).toBeDefined();
    expect(loadPolicy({ ...SNP, tcbMinimums: { Milan: MILAN, Genoa: MILAN, Turin: { reported: { snp: 0x1b, fmc: 1 } } } })).toBeDefined();
    expect((loadPolicy(SNP) as SnpPolicy).tcbMinimums).toEqual({});
  });
});
