/**
 * Review of session 9 (verifier tests), finding 4: T18 refuses a TCB info
 * whose module identities repeat an id (ids compare uppercased, as QVL
 * looks them up) or name no "TDX_%02X". Without that, the lookup of T27 takes
 * the first "TDX_01" / "tdx_01" in document order: one order verifies, the
 * other fails T28, the order dependence the s7 fix removed for levels.
 */
import { describe, expect, it } from 'vitest';

import type { JsonObject } from '../../src/testing/index.js';
import type { TdxClaims } from '../../src/verify/types.js';
import { catchError } from '../helpers/expect-error.js';
import { expectSyntheticFailure, platform, verifySynthetic, type PlatformOptions } from './intel/helpers/synthetic.js';

const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const identities = (d: JsonObject) => d['tdxModuleIdentities'] as JsonObject[];

/** A second identity, copied from TDX_01 with another id, signer and levels, before or after it. */
function secondIdentity(id: string, order: 'copy-first' | 'copy-second') {
  return (d: JsonObject) => {
    const list = identities(d);
    const other: JsonObject = { ...copy(list[0]!), id, mrsigner: '5A'.repeat(48), tcbLevels: [{ tcb: { isvsvn: 1 }, tcbDate: '2023-08-09T00:00:00Z', tcbStatus: 'OutOfDate' }] };
    list.splice(order === 'copy-first' ? 0 : 1, 0, other);
  };
}

function refusal(o: PlatformOptions) {
  const err = catchError(() => verifySynthetic(platform(o)));
  return { errorClass: err.errorClass, check: err.check, malformedOrRepeated: /malformed or repeated/.test(err.message) };
}

const ORDERS = ['copy-first', 'copy-second'] as const;

describe('review s9: module identity ids are well formed and unique (T18)', () => {
  it.each(ORDERS)('TDX_01 and tdx_01 with different signers and levels (%s): COLLATERAL_FORMAT at T18', (order) => {
    const o: PlatformOptions = { tcbInfo: { mutate: secondIdentity('tdx_01', order) } };
    expect(refusal(o)).toEqual({ errorClass: 'COLLATERAL_FORMAT', check: 'T18', malformedOrRepeated: true });
    expectSyntheticFailure(platform(o), { errorClass: 'COLLATERAL_FORMAT', check: 'T18' });
  });

  it.each(ORDERS)('TDX_01 twice (%s): COLLATERAL_FORMAT at T18', (order) => {
    expect(refusal({ tcbInfo: { mutate: secondIdentity('TDX_01', order) } })).toEqual({ errorClass: 'COLLATERAL_FORMAT', check: 'T18', malformedOrRepeated: true });
  });

  it('an id that is not TDX_ and two hex digits, next to a good TDX_01: COLLATERAL_FORMAT at T18', () => {
    for (const id of ['TDX-02', 'TDX_2', 'TDX_0G', 'SGX_02']) {
      expect(refusal({ tcbInfo: { mutate: secondIdentity(id, 'copy-second') } })).toEqual({ errorClass: 'COLLATERAL_FORMAT', check: 'T18', malformedOrRepeated: true });
    }
  });

  it('control: a second, distinct identity TDX_02 is accepted and TDX_01 still judges the module', () => {
    const r = verifySynthetic(platform({ tcbInfo: { mutate: secondIdentity('TDX_02', 'copy-first') } }));
    expect(r.tcbStatus).toBe('UpToDate');
    expect((r.claims as TdxClaims).module?.id).toBe('TDX_01');
  });
});
