/**
 * Review of session 9 (verifier tests), mutation probe of convergence.ts:
 * T33 refuses a Revoked level wherever it was matched, and checks both each
 * matched level and the converged status, so deleting one of those lines
 * still refused every Revoked case (the other caught it). The refusal names
 * the levels that are Revoked (`details.revoked`); these cases pin that list,
 * so each line has a test that fails without it.
 */
import { describe, expect, it } from 'vitest';

import type { JsonObject } from '../../src/testing/index.js';
import { catchError } from '../helpers/expect-error.js';
import { platform, verifySynthetic, type PlatformOptions } from './intel/helpers/synthetic.js';

const levels = (d: JsonObject) => d['tcbLevels'] as JsonObject[];
const tdxSvns = (level: JsonObject) => (level['tcb'] as JsonObject)['tdxtcbcomponents'] as { svn: number }[];
const tee = (...head: number[]) => Uint8Array.from([...head, ...new Array(16 - head.length).fill(0)]);

function isvLevels(...ls: [number, string][]) {
  return ls.map(([isvsvn, tcbStatus]) => ({ tcb: { isvsvn }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus }));
}

function refusal(o: PlatformOptions) {
  const err = catchError(() => verifySynthetic(platform(o)));
  return { errorClass: err.errorClass, check: err.check, revoked: err.details['revoked'] };
}

const revoked = (...names: string[]) => ({ errorClass: 'REVOKED', check: 'T33', revoked: names });

describe('review s9: a Revoked level is refused at T33 naming that level', () => {
  it('the one platform level of an SGX quote', () => {
    expect(refusal({ tee: 'sgx', tcbInfo: { mutate: (d) => (levels(d)[0]!['tcbStatus'] = 'Revoked') } })).toEqual(revoked('platform level'));
  });

  it('the TDX level below a current SGX level', () => {
    // Level 0 (UpToDate) is reached by the SGX components only; level 1, Revoked, by both.
    const mutate = (d: JsonObject) => {
      tdxSvns(levels(d)[0]!)[2]!.svn = 3;
      levels(d)[1]!['tcbStatus'] = 'Revoked';
    };
    expect(refusal({ quote: { tdBody: { teeTcbSvn: tee(5, 1, 2) } }, tcbInfo: { mutate } })).toEqual(revoked('platform TDX level'));
  });

  it('the SGX level above a current TDX level', () => {
    const mutate = (d: JsonObject) => {
      tdxSvns(levels(d)[0]!)[2]!.svn = 3;
      levels(d)[0]!['tcbStatus'] = 'Revoked';
      levels(d)[1]!['tcbStatus'] = 'UpToDate';
    };
    expect(refusal({ quote: { tdBody: { teeTcbSvn: tee(5, 1, 2) } }, tcbInfo: { mutate } })).toEqual(revoked('platform SGX level'));
  });

  it('the module level', () => {
    const mutate = (d: JsonObject) => ((d['tdxModuleIdentities'] as JsonObject[])[0]!['tcbLevels'] = isvLevels([7, 'UpToDate'], [3, 'Revoked']));
    expect(refusal({ tcbInfo: { mutate } })).toEqual(revoked('module TDX_01 level'));
  });

  it('the QE level', () => {
    const mutate = (d: JsonObject) => (d['tcbLevels'] = isvLevels([9, 'UpToDate'], [7, 'Revoked']));
    expect(refusal({ qeIdentity: { mutate } })).toEqual(revoked('QE level'));
  });
});
