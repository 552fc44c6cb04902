/**
 * Every checklist id that is a decision lives in src/ (or cpp/) and is
 * asserted by a running test as the check of a refusal: a quoted id outside
 * comments, titles and disabled tests, as a `check` value, compared with a
 * `check`, or beside an error class, ERR_ code or policy path in its call or
 * row; or (REPORTED_AS ids) through the check id or error code its failures
 * carry, in the call or table row that names it. A list of passed checks (a
 * positive control) does not count (review of session 9).
 */
import { describe, expect, it } from 'vitest';

// @ts-expect-error plain ESM script without declarations
import { ERROR_CLASSES, assertedIds, assertedThroughReports, coverage } from '../scripts/check-ids.js';

const asserted = (src: string): string[] => [...(assertedIds(src) as Set<string>)].sort();
const through = (src: string, reportedAs: Record<string, string[]>): string[] => [...(assertedThroughReports(src, reportedAs) as Set<string>)].sort();

describe('checklist id coverage', () => {
  it('every required id appears where its check lives and is asserted by a test', () => {
    const c = coverage() as { missingInSource: string[]; missingInTests: string[]; notAsserted: string[]; staleAllowList: string[] };
    expect(c.missingInSource).toEqual([]);
    expect(c.missingInTests).toEqual([]);
    expect(c.notAsserted).toEqual([]);
    // an id allowed as asserted only under skipIf / runIf that now has an unconditional test leaves the list
    expect(c.staleAllowList).toEqual([]);
  });
});

describe('what counts as asserting an id', () => {
  it('an id as the check of a refusal counts, with any quote', () => {
    expect(asserted(`expectError(f, { code: 'ERR_CHAIN', check: 'T13' }); g({ check: "T14" }); h({ check: \`T15\` });`)).toEqual(['T13', 'T14', 'T15']);
  });

  it('an id compared with a check counts: toBe / toEqual / toStrictEqual on .check, and check ===', () => {
    expect(asserted(`expect(e.check).toBe('T13'); expect(err.check).toEqual('T14'); expect(x.check).toStrictEqual('T15'); v.find((v) => v.check === 'T16');`)).toEqual(['T13', 'T14', 'T15', 'T16']);
  });

  it('an id beside an error class, an ERR_ code or a policy path in its call or row counts', () => {
    expect(asserted(`err('CHAIN', 'T13'); expectReal(run, 'EXPIRED', 'T14'); const rows = [[0x30, 'PARSE', 'T15'], ['T16', 'ERR_BAD_DER']];`)).toEqual(['T13', 'T14', 'T15', 'T16']);
    expect(asserted(`expectOnly(evaluatePolicy(r, p), 'T33', '/tcb/acceptedStatuses'); const CASES = [['T36', '/mrEnclave', (c) => c]];`)).toEqual(['T33', 'T36']);
  });

  it('the error classes are read from src/errors.ts', () => {
    expect([...(ERROR_CLASSES as Set<string>)]).toEqual(expect.arrayContaining(['PARSE', 'CHAIN', 'EXPIRED', 'SNP_TCB', 'TCB_STATUS']));
    expect(asserted(`f('NOT_A_CLASS', 'T13');`)).toEqual([]);
  });

  it('a positive control does not count: a list of passed checks, toContain, an id property, a marker in another call', () => {
    expect(asserted(`it('genuine report verifies', () => { expect(result.checks.map((c) => c.id)).toContain('S13'); expect(ids).toEqual(['T30', 'T32']); });`)).toEqual([]);
    expect(asserted(`expect(result.checks).toContainEqual({ id: 'T13', description: 'x' }); expect(ids.includes('T14')).toBe(true); f('T15', 'tcbInfo');`)).toEqual([]);
    expect(asserted(`expect(ids).toContain('T13'); expect(e.errorClass).toBe('CHAIN');`)).toEqual([]);
  });

  it('comments, test titles and strings that only contain the id do not', () => {
    expect(asserted(`// check: 'T13'\n/* { check: "T14" } */\nit('T15', () => {});\ndescribe("T16 block", () => {});\nf({ check: 'T17: message' });`)).toEqual([]);
  });

  it('the title of it.each / describe.skipIf is the second call; the table and condition are code', () => {
    expect(asserted(`it.each([['T13', 'CHAIN']])('%s T14', (id) => expect(e.check).toBe('T15'));`)).toEqual(['T13', 'T15']);
    expect(asserted(`describe.skipIf(e.check === 'T16')('T17', () => { f('CHAIN', 'T18'); });`)).toEqual(['T16']);
  });

  it('strings in regular expressions, URLs and template substitutions are read correctly', () => {
    expect(asserted(`const r = /'T13'/; const u = 'https://x//T14'; const s = \`a\${f({ check: 'T15' })}b\`; const v = a / b; f({ check: 'T16' });`)).toEqual(['T16']);
  });

  it('nothing inside a skipped, todo or expected-to-fail test counts', () => {
    const src = `it.skip('a', () => f({ check: 'T13' })); it.fails('b', () => f('CHAIN', 'T14')); describe.skip('c', () => { it('d', () => f({ check: 'T15' })); }); it('e', () => f({ check: 'T16' }));`;
    expect(asserted(src)).toEqual(['T16']);
  });

  it('nothing inside a conditional block counts: skipIf / runIf, describe, it or test (review s12 tests #1)', () => {
    const src = `describe.skipIf(!HAVE_VECTORS)('a', () => { it('b', () => f({ check: 'T13' })); }); it.runIf(x)('c', () => f('CHAIN', 'T14')); test.skipIf(y)('d', () => expect(e.check).toBe('T15')); it('f', () => f({ check: 'T16' }));`;
    expect(asserted(src)).toEqual(['T16']);
    expect(through(`describe.skipIf(!HAVE_VECTORS)('v', () => { it('X04: wrong AKI', () => { expect(e.check).toBe('T13'); }); });`, { X04: ['T13'] })).toEqual([]);
  });

  it('a REPORTED_AS id counts when the call or row naming it asserts a listed value', () => {
    const map = { X04: ['T13', 'S09'], X09: ['PARSE'] };
    expect(through(`it('X04: wrong AKI', () => { expect(e.check).toBe('T13'); });`, map)).toEqual(['X04']);
    expect(through(`const CASES = [{ name: 'X04: wrong AKI', expected: err('COLLATERAL_MISMATCH', 'S09') }];`, map)).toEqual(['X04']);
    expect(through(`it('X09: truncated', () => { expect(e.errorClass).toBe('PARSE'); });`, map)).toEqual(['X09']);
  });

  it('a REPORTED_AS id does not count from another test, an unlisted value, a comment, a failing test or a listed id in a positive control', () => {
    const map = { X04: ['T13'] };
    expect(through(`it('X04: wrong AKI', () => { ok(); }); it('other', () => { expect(e.check).toBe('T13'); });`, map)).toEqual([]);
    expect(through(`it('X04: wrong AKI', () => { expect(e.check).toBe('T14'); });`, map)).toEqual([]);
    expect(through(`// X04\nit('a', () => { expect(e.check).toBe('T13'); });`, map)).toEqual([]);
    expect(through(`it.fails('X04: wrong AKI', () => { expect(e.check).toBe('T13'); });`, map)).toEqual([]);
    expect(through(`it('X04: CRL checked', () => { expect(result.checks.map((c) => c.id)).toContain('T13'); });`, map)).toEqual([]);
  });
});
