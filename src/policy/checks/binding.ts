/**
 * T41 / S29: REPORT_DATA equals the verifier-defined binding, all 64 bytes,
 * compared exactly: never padded or truncated (the trustee regularize_data
 * trap). The expected value comes from the policy (a fixed value) and/or
 * from evaluate's options (the per-request binding); each one given is checked.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { Findings } from './findings.js';

/** The caller's expected REPORT_DATA as lowercase hex; exactly 64 bytes or an argument error. */
export function expectedReportData(value: Uint8Array | string, check: string): string {
  if (value instanceof Uint8Array) {
    if (value.length !== 64) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `options.reportData must be exactly 64 bytes, not ${value.length}`, { check });
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  }
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{128}$/.test(value)) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'options.reportData must be 64 bytes or exactly 128 hex digits', { check });
  }
  return value.toLowerCase();
}

export function checkReportData(actual: string, fromPolicy: string, fromOptions: string | undefined, check: 'T41' | 'S29', f: Findings): void {
  if (fromPolicy !== 'any' && actual !== fromPolicy) {
    f.fail('/reportData', check, 'BINDING', fromPolicy, actual, 'REPORT_DATA does not equal the policy\'s expected value');
  }
  if (fromOptions !== undefined && actual !== fromOptions) {
    f.fail('/reportData', check, 'BINDING', fromOptions, actual, 'REPORT_DATA does not equal the expected binding of this request');
  }
}
