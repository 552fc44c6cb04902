/**
 * Every checklist id that is a decision lives in src/ (or cpp/) and is
 * asserted by a running test as the check of a refusal: a quoted id outside
 * comments, titles and disabled tests, as a `check` value, compared with a
 * `check`, or beside an error class, ERR_ code or policy path in its call or
 * row; or (REPORTED_AS ids) through the check id or error code its failures
 * carry, in the call or table row that names it. A list of passed checks (a
 * positive control) does not count (review of session 9). Every case stands
 * inside an assertion, or in a named expected value a running assertion reads
 * (review s14 tests #6): stubs, constructed errors, fixtures, table rows and
 * warnings do not count, nor warnings asserted through expect.objectContaining /
 * arrayContaining, an alias of `.warnings` or a warning helper (s14 change
 * review round 2, finding 2).
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
    expect(asserted(`expectError(f, { code: 'ERR_CHAIN', check: 'T13' }); expect(g()).toEqual({ check: "T14" }); expect(h).toThrow(expect.objectContaining({ check: \`T15\` }));`)).toEqual(['T13', 'T14', 'T15']);
  });

  it('an id compared with a check counts: toBe / toEqual / toStrictEqual on .check, and check ===', () => {
    expect(asserted(`expect(e.check).toBe('T13'); expect(err.check).toEqual('T14'); expect(x.check).toStrictEqual('T15'); expect(a.violations.some((v) => v.check === 'T16')).toBe(true);`)).toEqual(['T13', 'T14', 'T15', 'T16']);
  });

  it('an id beside an error class, an ERR_ code or a policy path in its call or row counts', () => {
    expect(asserted(`expectFailure(run, 'CHAIN', 'T13'); expectReal(run, 'EXPIRED', 'T14'); expect(rows).toEqual([[0x30, 'PARSE', 'T15'], ['T16', 'ERR_BAD_DER']]);`)).toEqual(['T13', 'T14', 'T15', 'T16']);
    expect(asserted(`expectOnly(evaluatePolicy(r, p), 'T33', '/tcb/acceptedStatuses'); expect(pairs(a)).toEqual([['T36', '/mrEnclave']]);`)).toEqual(['T33', 'T36']);
  });

  it('the error classes are read from src/errors.ts', () => {
    expect([...(ERROR_CLASSES as Set<string>)]).toEqual(expect.arrayContaining(['PARSE', 'CHAIN', 'EXPIRED', 'SNP_TCB', 'TCB_STATUS']));
    expect(asserted(`expectFailure(f, 'NOT_A_CLASS', 'T13');`)).toEqual([]);
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
    expect(asserted(`it.each([['T13', 'CHAIN']])('%s T14', (id) => expect(e.check).toBe('T15'));`)).toEqual(['T15']);
    expect(asserted(`describe.skipIf(expect(e.check).toBe('T16'))('T17', () => { expectFailure(f, 'CHAIN', 'T18'); });`)).toEqual(['T16']);
  });

  it('strings in regular expressions, URLs and template substitutions are read correctly', () => {
    expect(asserted(`const r = /'T13'/; const u = 'https://x//T14'; const s = \`a\${expect(f).toEqual({ check: 'T15' })}b\`; const v = a / b; expect(f).toEqual({ check: 'T16' });`)).toEqual(['T16']);
  });

  it('nothing inside a skipped, todo or expected-to-fail test counts', () => {
    const src = `it.skip('a', () => expectError(f, { check: 'T13' })); it.fails('b', () => expectFailure(f, 'CHAIN', 'T14')); describe.skip('c', () => { it('d', () => expectError(f, { check: 'T15' })); }); it('e', () => expectError(f, { check: 'T16' }));`;
    expect(asserted(src)).toEqual(['T16']);
  });

  it('nothing inside a conditional block counts: skipIf / runIf, describe, it or test (review s12 tests #1)', () => {
    const src = `describe.skipIf(!HAVE_VECTORS)('a', () => { it('b', () => expectError(f, { check: 'T13' })); }); it.runIf(x)('c', () => expectFailure(f, 'CHAIN', 'T14')); test.skipIf(y)('d', () => expect(e.check).toBe('T15')); it('f', () => expectError(f, { check: 'T16' }));`;
    expect(asserted(src)).toEqual(['T16']);
    expect(through(`describe.skipIf(!HAVE_VECTORS)('v', () => { it('X04: wrong AKI', () => { expect(e.check).toBe('T13'); }); });`, { X04: ['T13'] })).toEqual([]);
  });

  it('only inside an assertion (review s14 tests #6): a stub answer, a constructed error, a fixture, a table row or a warning does not count', () => {
    // a stand-in server's answer
    expect(asserted(`res.writeHead(401).end(JSON.stringify({ error: 'x', code: 'ERR_KBS_NONCE', checks: [{ check: 'T42' }] }));`)).toEqual([]);
    // an error the test builds as input, even when its conversion is then asserted
    expect(asserted(`const e = fromLibraryError(new TeeVerifyError('CHAIN', 'ERR_CHAIN', 'm', { check: 'T10' })); expect(e.code).toBe('ERR_CHAIN');`)).toEqual([]);
    expect(asserted(`expect(JSON.stringify(e.toJSON())).toBe(JSON.stringify({ error: { code, check: 'T16' } }));`)).toEqual([]);
    expect(asserted(`expect(convert(new TeeVerifyError('CHAIN', 'ERR_CHAIN', 'm', { check: 'T11' }))).toBe(422);`)).toEqual([]);
    // a fixture that reaches no assertion, and a table row or helper call outside one
    expect(asserted(`it('x', () => { const fake = { check: 'S16' }; server.reply(fake); expect(1).toBe(1); });`)).toEqual([]);
    expect(asserted(`const CASES = [{ name: 'a', expected: err('CHAIN', 'S08') }]; const rows = [['S15', 'SNP_TCB']]; for (const c of CASES) expectError(run(c), c.expected);`)).toEqual([]);
    // warnings on an accepted result, and a negated matcher
    expect(asserted(`expect(a.warnings).toContainEqual({ check: 'T40', message: expect.any(String) }); expect(a).toEqual({ ok: true, warnings: [{ check: 'T34' }] });`)).toEqual([]);
    expect(asserted(`expect(e.check).not.toBe('T13');`)).toEqual([]);
    // an id in a REPORTED_AS row asserted only through a class outside an assertion
    expect(through(`it('X09: truncated', () => { const wanted = ['PARSE']; run(wanted); });`, { X09: ['PARSE'] })).toEqual([]);
  });

  it('a warning does not count through an asymmetric matcher, an alias of .warnings or a warning helper (s14 change review round 2, finding 2)', () => {
    // expect.objectContaining / arrayContaining inside a matcher about warnings, or as a `warnings:` value
    expect(asserted(`expect(r.warnings).toContainEqual(expect.objectContaining({ check: 'S15', code: 'ERR_SNP_TCB' }));`)).toEqual([]);
    expect(asserted(`expect(r).toMatchObject({ warnings: expect.arrayContaining([{ check: 'S15', code: 'ERR_SNP_TCB' }]) });`)).toEqual([]);
    expect(asserted(`expect(r).toMatchObject({ ok: true, warnings: expect.arrayContaining([expect.objectContaining({ check: 'S16' })]) });`)).toEqual([]);
    // an alias of .warnings (member or destructured), and a helper whose name says warning
    expect(asserted(`const w = r.warnings; expect(w).toContainEqual({ check: 'S15', code: 'ERR_SNP_TCB' });`)).toEqual([]);
    expect(asserted(`const ws: Warning[] = result?.warnings ?? []; expect(ws[0]).toMatchObject({ check: 'S15' });`)).toEqual([]);
    expect(asserted(`const { warnings: got } = r; expect(got).toEqual([{ check: 'S15', code: 'ERR_SNP_TCB' }]);`)).toEqual([]);
    expect(asserted(`expect(r.ok).toBe(true); expectWarning(r, { check: 'S15' });`)).toEqual([]);
    expect(asserted(`assertWarns(r, 'SNP_TCB', 'S15');`)).toEqual([]);
    // a selector over warnings (s15): .some / .find / .filter on `.warnings`, through `?.` or a parenthesised receiver
    expect(asserted(`expect(r.warnings.some((w) => w.check === 'S15')).toBe(true);`)).toEqual([]);
    expect(asserted(`expect(r?.warnings.find((w) => w.check === 'S16')).toBeDefined(); expect((r.warnings ?? []).filter((w) => w.check === 'S17')).toHaveLength(1);`)).toEqual([]);
    expect(asserted(`const w = r.warnings; expect(w.some((x) => x.check === 'S18')).toBe(true);`)).toEqual([]);
    // an asymmetric matcher outside any assertion (a stub's answer, a fixture) does not count either
    expect(asserted(`stub.mockRejectedValue(expect.objectContaining({ check: 'S15', code: 'ERR_SNP_TCB' }));`)).toEqual([]);
    // controls: the same forms about a refusal still count
    expect(asserted(`expect(e).toMatchObject(expect.objectContaining({ check: 'S15', code: 'ERR_SNP_TCB' }));`)).toEqual(['S15']);
    expect(asserted(`expect(r.errors).toContainEqual(expect.objectContaining({ check: 'S16' }));`)).toEqual(['S16']);
    expect(asserted(`expect(r.errors.some((e) => e.check === 'S17')).toBe(true);`)).toEqual(['S17']);
    expect(asserted(`await expect(p).rejects.toThrow(expect.objectContaining({ check: 'S08' }));`)).toEqual(['S08']);
    expect(asserted(`const w = r.warnings; const e = r.error; expect(e).toMatchObject({ check: 'S15' });`)).toEqual(['S15']);
    expect(asserted(`expectError(() => f(), { check: 'S15', code: 'ERR_SNP_TCB' });`)).toEqual(['S15']);
  });

  it('a named expected value counts where a running assertion reads it, not where none does', () => {
    expect(asserted(`const T08 = { code: 'ERR_BAD_PEM', errorClass: 'PARSE', check: 'T08' }; it('a', () => expectError(() => f(), T08));`)).toEqual(['T08']);
    expect(asserted(`const E: Expected = { code: 'ERR_CHAIN', check: 'T09' }; it('a', () => expect(g()).toMatchObject(E));`)).toEqual(['T09']);
    // declared but passed to no assertion, or read only by a skipped / conditional test
    expect(asserted(`const T08 = { code: 'ERR_BAD_PEM', check: 'T08' }; it('a', () => f(T08));`)).toEqual([]);
    expect(asserted(`const EXPECTED = { v: { code: 'ERR_UNSUPPORTED_CERT_DATA_TYPE', check: 'T07' } }; describe.skipIf(!HAVE_VECTORS)('a', () => { it('b', () => expectError(f, EXPECTED.v)); });`)).toEqual([]);
    // a value built by a call is not a named expected value
    expect(asserted(`const E = make({ code: 'ERR_CHAIN', check: 'T09' }); it('a', () => expectError(f, E));`)).toEqual([]);
  });

  it('a REPORTED_AS id counts when the call or row naming it asserts a listed value', () => {
    const map = { X04: ['T13', 'S09'], X09: ['PARSE'] };
    expect(through(`it('X04: wrong AKI', () => { expect(e.check).toBe('T13'); });`, map)).toEqual(['X04']);
    expect(through(`expectError(f, { name: 'X04: wrong AKI', errorClass: 'COLLATERAL_MISMATCH', check: 'S09' });`, map)).toEqual(['X04']);
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
