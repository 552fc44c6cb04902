/** Assertions on typed errors: codes, classes and checklist ids, never messages. */
import { expect } from 'vitest';

import { TeeVerifyError } from '../../src/index.js';

export interface ExpectedError {
  code: string;
  errorClass?: string;
  check?: string;
  offset?: number;
}

export function catchError(fn: () => unknown): TeeVerifyError {
  try {
    fn();
  } catch (err) {
    expect(err, 'a TeeVerifyError, never a plain Error').toBeInstanceOf(TeeVerifyError);
    return err as TeeVerifyError;
  }
  throw new Error('expected the call to throw');
}

export function expectError(fn: () => unknown, expected: ExpectedError): TeeVerifyError {
  const err = catchError(fn);
  const actual: Record<string, unknown> = { code: err.code };
  if (expected.errorClass !== undefined) actual['errorClass'] = err.errorClass;
  if (expected.check !== undefined) actual['check'] = err.check;
  if (expected.offset !== undefined) actual['offset'] = err.offset;
  expect(actual).toEqual(expected);
  return err;
}
