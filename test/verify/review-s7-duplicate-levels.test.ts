/**
 * Review of session 7, finding 1: a TCB level repeated with the same SVNs
 * (platform levels, QE identity levels, module identity levels) was resolved
 * by document order: an UpToDate level followed by a Revoked copy graded
 * UpToDate, the other order REVOKED. Such a document is now refused at T18 /
 * T21 as COLLATERAL_FORMAT, whatever the order.
 */
import { describe, expect, it } from 'vitest';

import type { JsonObject } from '../../src/testing/index.js';
import { catchError } from '../helpers/expect-error.js';
import { expectSyntheticFailure, platform, verifySynthetic, type PlatformOptions } from './intel/helpers/synthetic.js';

type Doc = JsonObject;
const levelsOf = (d: Doc) => d['tcbLevels'] as Doc[];
const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Inserts a Revoked copy of level 0 of `list(d)`, before it (`first`) or right after it. */
function revokedCopy(list: (d: Doc) => Doc[], order: 'revoked-first' | 'revoked-second') {
  return (d: Doc) => {
    const levels = list(d);
    const dup: Doc = { ...copy(levels[0]!), tcbStatus: 'Revoked' };
    levels.splice(order === 'revoked-first' ? 0 : 1, 0, dup);
  };
}

const moduleLevels = (d: Doc) => levelsOf((d['tdxModuleIdentities'] as Doc[])[0]!);

const ORDERS = ['revoked-first', 'revoked-second'] as const;

function refusal(o: PlatformOptions) {
  const err = catchError(() => verifySynthetic(platform(o)));
  return { errorClass: err.errorClass, check: err.check, repeats: /repeats the/.test(err.message) };
}

describe('review s7: repeated TCB levels are refused whatever their order', () => {
  it.each(ORDERS)('TDX TCB info platform levels (%s): COLLATERAL_FORMAT at T18', (order) => {
    const o: PlatformOptions = { tcbInfo: { mutate: revokedCopy(levelsOf, order) } };
    expect(refusal(o)).toEqual({ errorClass: 'COLLATERAL_FORMAT', check: 'T18', repeats: true });
    expectSyntheticFailure(platform(o), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
  });

  it.each(ORDERS)('SGX TCB info platform levels (%s): COLLATERAL_FORMAT at T18', (order) => {
    const o: PlatformOptions = { tee: 'sgx', tcbInfo: { mutate: revokedCopy(levelsOf, order) } };
    expect(refusal(o)).toEqual({ errorClass: 'COLLATERAL_FORMAT', check: 'T18', repeats: true });
  });

  it.each(ORDERS)('QE identity levels at the same isvsvn (%s): COLLATERAL_FORMAT at T21', (order) => {
    const o: PlatformOptions = { qeIdentity: { mutate: revokedCopy(levelsOf, order) } };
    expect(refusal(o)).toEqual({ errorClass: 'COLLATERAL_FORMAT', check: 'T21', repeats: true });
    expectSyntheticFailure(platform(o), { errorClass: 'COLLATERAL_FORMAT', check: 'T21' });
  });

  it.each(ORDERS)('module identity levels at the same isvsvn (%s): COLLATERAL_FORMAT at T18', (order) => {
    const o: PlatformOptions = { tcbInfo: { mutate: revokedCopy(moduleLevels, order) } };
    expect(refusal(o)).toEqual({ errorClass: 'COLLATERAL_FORMAT', check: 'T18', repeats: true });
  });

  it('levels that differ in one SVN are not repeats: the copy with a lower PCESVN / isvsvn still verifies', () => {
    const lowerPcesvn = (d: Doc) => {
      const levels = levelsOf(d);
      const other: Doc = { ...copy(levels[0]!), tcbStatus: 'OutOfDate' };
      const tcb = other['tcb'] as Doc;
      tcb['pcesvn'] = (tcb['pcesvn'] as number) - 1;
      levels.splice(1, 0, other);
    };
    const lowerIsvsvn = (d: Doc) => {
      const levels = levelsOf(d);
      const other: Doc = { ...copy(levels[0]!), tcbStatus: 'OutOfDate' };
      (other['tcb'] as Doc)['isvsvn'] = ((levels[levels.length - 1]!['tcb'] as Doc)['isvsvn'] as number) - 1;
      levels.push(other);
    };
    expect(verifySynthetic(platform({ tcbInfo: { mutate: lowerPcesvn } })).tcbStatus).toBe('UpToDate');
    expect(verifySynthetic(platform({ qeIdentity: { mutate: lowerIsvsvn } })).tcbStatus).toBe('UpToDate');
  });
});
