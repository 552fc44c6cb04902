/**
 * Review s10, finding J4: translateItaPolicy copies an object input through
 * JSON, and JSON.stringify throws a plain TypeError on a BigInt or a cycle.
 * Such input is now a typed ERR_POLICY_INVALID (keyword `type`, check X05),
 * like text that is not JSON.
 */
import { describe, expect, it } from 'vitest';

import { PolicyError, translateItaPolicy } from '../../src/policy/index.js';
import { catchError } from '../helpers/expect-error.js';

const MRTD = 'a'.repeat(96);
const tdx = (attributes: Record<string, unknown>) => ({ attestation_type: 'TDX', tdx: { attributes: { mrtd: [MRTD], enforce_tcb_upto_date: true, ...attributes } } });

function refusal(input: object) {
  const err = catchError(() => translateItaPolicy(input));
  expect(err).toBeInstanceOf(PolicyError);
  return { code: err.code, keyword: err.details['keyword'], path: err.details['path'], check: err.check };
}

describe('translateItaPolicy: object input that has no JSON form (review s10 J4)', () => {
  it('the same document with a number is translated', () => {
    const policy = translateItaPolicy(tdx({ seamsvn: 1 }));
    expect(policy.tee === 'tdx' && policy.seamSvn).toEqual([1]);
  });

  it('seamsvn: 1n is ERR_POLICY_INVALID, not a TypeError', () => {
    expect(refusal(tdx({ seamsvn: 1n }))).toEqual({ code: 'ERR_POLICY_INVALID', keyword: 'type', path: '', check: 'X05' });
  });

  it('a circular object is ERR_POLICY_INVALID', () => {
    const doc: Record<string, unknown> = tdx({});
    doc['self'] = doc;
    expect(refusal(doc)).toEqual({ code: 'ERR_POLICY_INVALID', keyword: 'type', path: '', check: 'X05' });
  });

  it('an object whose toJSON yields nothing is ERR_POLICY_INVALID', () => {
    expect(refusal({ toJSON: () => undefined })).toMatchObject({ code: 'ERR_POLICY_INVALID', keyword: 'type' });
  });
});
