/**
 * Every checklist id that is a decision lives in src/ (or cpp/) and is
 * asserted by a running test: as a quoted id outside comments, titles and
 * disabled tests, or (REPORTED_AS ids) through the check id or error code its
 * failures carry, in the call or table row that names it.
 */
import { describe, expect, it } from 'vitest';

// @ts-expect-error plain ESM script without declarations
import { assertedIds, assertedThroughReports, coverage } from '../scripts/check-ids.js';

const asserted = (src: string): string[] => [...(assertedIds(src) as Set<string>)].sort();
const through = (src: string, reportedAs: Record<string, string[]>): string[] => [...(assertedThroughReports(src, reportedAs) as Set<string>)].sort();

describe('checklist id coverage', () => {
  it('every required id appears where its check lives and is asserted by a test', () => {
    const c = coverage() as { missingInSource: string[]; missingInTests: string[]; notAsserted: string[] };
    expect(c.missingInSource).toEqual([]);
    expect(c.missingInTests).toEqual([]);
    expect(c.notAsserted).toEqual([]);
  });
});

describe('what counts as asserting an id', () => {
  it('a quoted id in test code counts, with any quote', () => {
    expect(asserted(`expect(e.check).toBe('T13'); f("T14"); g(\`T15\`);`)).toEqual(['T13', 'T14', 'T15']);
  });

  it('comments, test titles and strings that only contain the id do not', () => {
    expect(asserted(`// 'T13'\n/* "T14" */\nit('T15', () => {});\ndescribe("T16 block", () => {});\nf('T17: message');`)).toEqual([]);
  });

  it('the title of it.each / describe.skipIf is the second call; the table and condition are code', () => {
    expect(asserted(`it.each([['T13', 1]])('%s T14', (id) => expect(id).toBe('T15'));`)).toEqual(['T13', 'T15']);
    expect(asserted(`describe.skipIf(x === 'T16')('T17', () => { f('T18'); });`)).toEqual(['T16', 'T18']);
  });

  it('strings in regular expressions, URLs and template substitutions are read correctly', () => {
    expect(asserted(`const r = /'T13'/; const u = 'https://x//T14'; const s = \`a\${'T15'}b\`; const v = a / b; f('T16');`)).toEqual(['T16']);
  });

  it('nothing inside a skipped, todo or expected-to-fail test counts', () => {
    expect(asserted(`it.skip('a', () => f('T13')); it.fails('b', () => f('T14')); describe.skip('c', () => { it('d', () => f('T15')); }); it('e', () => f('T16'));`)).toEqual(['T16']);
  });

  it('a REPORTED_AS id counts when the call or row naming it asserts a listed value', () => {
    const map = { X04: ['T13', 'S09'] };
    expect(through(`it('X04: wrong AKI', () => { expect(e.check).toBe('T13'); });`, map)).toEqual(['X04']);
    expect(through(`const CASES = [{ name: 'X04: wrong AKI', expected: err('COLLATERAL_MISMATCH', 'S09') }];`, map)).toEqual(['X04']);
  });

  it('a REPORTED_AS id does not count from another test, an unlisted value, a comment or a failing test', () => {
    const map = { X04: ['T13'] };
    expect(through(`it('X04: wrong AKI', () => { ok(); }); it('other', () => { expect(e.check).toBe('T13'); });`, map)).toEqual([]);
    expect(through(`it('X04: wrong AKI', () => { expect(e.check).toBe('T14'); });`, map)).toEqual([]);
    expect(through(`// X04\nit('a', () => { expect(e.check).toBe('T13'); });`, map)).toEqual([]);
    expect(through(`it.fails('X04: wrong AKI', () => { expect(e.check).toBe('T13'); });`, map)).toEqual([]);
  });
});
