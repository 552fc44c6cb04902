/**
 * Review s8, finding 4: an SGX miscSelect value with bits outside its mask
 * could never match and is refused like tdAttributes and attributes (X07,
 * keyword "mask").
 */
import { describe, expect, it } from 'vitest';

import { PolicyError, loadPolicy } from '../../src/policy/index.js';
import { catchError } from '../helpers/expect-error.js';

const SGX = { tee: 'sgx', mrEnclave: 'any', mrSigner: ['a'.repeat(64)] };

function refusal(f: () => unknown): { path: unknown; keyword: unknown } {
  const err = catchError(f);
  expect(err).toBeInstanceOf(PolicyError);
  expect(err.code).toBe('ERR_POLICY_INVALID');
  return { path: err.details['path'], keyword: err.details['keyword'] };
}

describe('X07: miscSelect value bits outside its mask', () => {
  it.each([
    ['bit 0 under an empty mask', { value: 1, mask: 0 }],
    ['bit 31 under a mask without it', { value: 0x80000000, mask: 0x7fffffff }],
  ])('refuses %s', (_name, miscSelect) => {
    expect(refusal(() => loadPolicy({ ...SGX, miscSelect }))).toMatchObject({ path: '/miscSelect/value', keyword: 'mask' });
  });

  it.each([
    ['bits inside the mask', { value: 0x80000001, mask: 0x80000001 }, { value: 0x80000001, mask: 0x80000001 }],
    ['no mask (all ones by default)', { value: 0xffffffff }, { value: 0xffffffff, mask: 0xffffffff }],
    ['zero under an empty mask', { value: 0, mask: 0 }, { value: 0, mask: 0 }],
  ])('accepts %s', (_name, miscSelect, loaded) => {
    const p = loadPolicy({ ...SGX, miscSelect });
    expect(p.tee === 'sgx' && p.miscSelect).toEqual(loaded);
  });
});
