/**
 * The accumulator every check writes to: violations (never thrown, never
 * stopping at the first) and warnings. Helpers for the two shapes most rules
 * have: a value in an any-of list, and a number at least a minimum.
 */
import type { ErrorClass } from '../../errors.js';
import type { AllowList, PolicyViolation } from '../types.js';

export class Findings {
  readonly violations: PolicyViolation[] = [];
  readonly warnings: string[] = [];

  fail(path: string, check: string, errorClass: ErrorClass, expected: unknown, actual: unknown, message: string): void {
    this.violations.push({ path, expected, actual, check, errorClass, message: `${check}: ${message}` });
  }

  warn(check: string, message: string): void {
    this.warnings.push(`${check}: ${message}`);
  }

  /** `actual` must be on the list, unless the list is "any". */
  allowed<T extends string | number>(list: AllowList<T>, actual: T, path: string, check: string, what: string, errorClass: ErrorClass = 'POLICY'): void {
    if (list === 'any' || list.includes(actual)) return;
    this.fail(path, check, errorClass, list, actual, `${what} ${String(actual)} is not in the policy's allowlist`);
  }

  /** `actual` must be at least `min`, when the policy sets a minimum. */
  atLeast(min: number | undefined, actual: number, path: string, check: string, what: string, errorClass: ErrorClass = 'POLICY'): void {
    if (min === undefined || actual >= min) return;
    this.fail(path, check, errorClass, { minimum: min }, actual, `${what} ${actual} is below the policy's minimum ${min}`);
  }
}
