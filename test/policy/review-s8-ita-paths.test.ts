/**
 * Review s8, finding 5: a translated ITA policy that the native loader refuses
 * points at the ITA document's field, not at the native one the caller never
 * wrote.
 */
import { describe, expect, it } from 'vitest';

import { PolicyError, translateItaPolicy } from '../../src/policy/index.js';
import { catchError } from '../helpers/expect-error.js';

function refusal(f: () => unknown): { path: unknown; keyword: unknown; paths: string[] } {
  const err = catchError(f);
  expect(err).toBeInstanceOf(PolicyError);
  expect(err.code).toBe('ERR_POLICY_INVALID');
  const problems = err.details['problems'] as { path: string }[];
  return { path: err.details['path'], keyword: err.details['keyword'], paths: problems.map((p) => p.path) };
}

describe('ITA translation errors point into the ITA document', () => {
  const A = 'a'.repeat(64);
  const M = 'b'.repeat(96);

  it.each([
    ['sgx mrenclave', { attestation_type: 'SGX', sgx: { attributes: { mrenclave: [A, A.toUpperCase()], enforce_tcb_upto_date: true } } }, '/sgx/attributes/mrenclave/1'],
    ['sgx mrsigner', { attestation_type: 'SGX', sgx: { attributes: { mrsigner: ['c'.repeat(64), A, A], enforce_tcb_upto_date: true } } }, '/sgx/attributes/mrsigner/2'],
    ['sgx isvprodid', { attestation_type: 'SGX', sgx: { attributes: { mrsigner: [A], isvprodid: [1, 1], enforce_tcb_upto_date: true } } }, '/sgx/attributes/isvprodid/1'],
    ['tdx mrtd', { attestation_type: 'TDX', tdx: { attributes: { mrtd: [M, M.toUpperCase()], enforce_tcb_upto_date: true } } }, '/tdx/attributes/mrtd/1'],
    ['tdx mrseam', { attestation_type: 'TDX', tdx: { attributes: { mrtd: [M], mrseam: [M, M], enforce_tcb_upto_date: true } } }, '/tdx/attributes/mrseam/1'],
    ['tdx mrsignerseam', { attestation_type: 'TDX', tdx: { attributes: { mrtd: [M], mrsignerseam: [M, M], enforce_tcb_upto_date: true } } }, '/tdx/attributes/mrsignerseam/1'],
  ])('a duplicate %s entry', (_name, doc, path) => {
    expect(refusal(() => translateItaPolicy(doc))).toEqual({ path, keyword: 'uniqueItems', paths: [path] });
  });

  it('every problem is mapped, the first one into details.path', () => {
    const doc = { attestation_type: 'TDX', tdx: { attributes: { mrtd: [M, M], mrseam: [M, M], enforce_tcb_upto_date: true } } };
    expect(refusal(() => translateItaPolicy(doc)).paths).toEqual(['/tdx/attributes/mrtd/1', '/tdx/attributes/mrseam/1']);
  });

  it('the message names the ITA field and the native error is the cause', () => {
    const err = catchError(() => translateItaPolicy({ attestation_type: 'SGX', sgx: { attributes: { mrenclave: [A, A], enforce_tcb_upto_date: true } } }));
    expect(err.message).toContain('/sgx/attributes/mrenclave/1');
    expect((err.cause as PolicyError).details['path']).toBe('/mrEnclave/1');
  });
});
