/**
 * Review s12 docs #1: the options of evaluatePolicy, verifyEvidence and
 * parseEvidence accept only the keys their types name. A misspelt key
 * (`reportdata`) or an own `reportData` that is undefined silently left
 * T41 / S29 unchecked and the appraisal ok; `skipCRL` was ignored.
 */
import { describe, expect, it } from 'vitest';

import { defaultPolicy, evaluatePolicy, parseEvidence, verifyEvidence, type ParseOptions } from '../../src/index.js';
import type { EvaluateOptions } from '../../src/policy/types.js';
import type { VerifyEvidenceOptions } from '../../src/verify/index.js';
import { catchError, expectError } from '../helpers/expect-error.js';
import { syntheticTdx } from './helpers.js';
import { platform } from '../verify/intel/helpers/synthetic.js';

const WRONG = 'ab'.repeat(64);

async function rejection(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; errorClass?: string; details?: Record<string, unknown> };
  }
  throw new Error('expected a rejection');
}

describe('evaluatePolicy options', () => {
  const result = syntheticTdx();
  const policy = defaultPolicy('tdx');

  it('a wrong reportData is a T41 violation (unchanged)', () => {
    const a = evaluatePolicy(result, policy, { reportData: WRONG });
    expect(a.ok).toBe(false);
    expect(a.violations.map((v) => v.check)).toEqual(['T41']);
  });

  it('a misspelt key is ERR_INVALID_ARGUMENT naming the key, not an ok appraisal', () => {
    const err = expectError(() => evaluatePolicy(result, policy, { reportdata: WRONG } as unknown as EvaluateOptions), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
    expect(err.details['option']).toBe('reportdata');
    expect(err.message).toContain('reportdata');
  });

  it('an own reportData that is undefined is ERR_INVALID_ARGUMENT, not "nothing to bind"', () => {
    const expected: string | undefined = undefined;
    const err = expectError(() => evaluatePolicy(result, policy, { reportData: expected }), { code: 'ERR_INVALID_ARGUMENT' });
    expect(err.details['option']).toBe('reportData');
  });

  it('a non-enumerable unknown key is refused too; a non-object is refused', () => {
    const o = Object.defineProperty({}, 'reportdata', { value: WRONG, enumerable: false });
    expectError(() => evaluatePolicy(result, policy, o as EvaluateOptions), { code: 'ERR_INVALID_ARGUMENT' });
    expectError(() => evaluatePolicy(result, policy, 'now' as unknown as EvaluateOptions), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('the accepted keys still work; no options, {} and null mean none', () => {
    const bound = evaluatePolicy(result, policy, { reportData: result.claims.reportData, now: new Date(result.at) });
    expect(bound.ok).toBe(true);
    for (const o of [undefined, {}, null]) expect(evaluatePolicy(result, policy, o as EvaluateOptions).ok).toBe(true);
  });
});

describe('verifyEvidence options', () => {
  const p = platform();

  it('an unknown key (skipCRL, reportData) is ERR_INVALID_ARGUMENT before anything is parsed or fetched', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ skipCRL: true }, 'skipCRL'],
      [{ reportData: WRONG }, 'reportData'],
      [{ relaxations: { skipCRL: true } }, 'skipCRL'],
    ];
    for (const [extra, key] of cases) {
      const options = { collateral: { forEvidence: () => Promise.reject(new Error('must not be asked')) }, at: p.at, trustRoots: p.trustRoots, ...extra } as unknown as VerifyEvidenceOptions;
      const err = await rejection(verifyEvidence(p.quote.bytes, options));
      expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
      expect(err.details?.['option']).toBe(key);
    }
  });
});

describe('parseEvidence options', () => {
  const p = platform();

  it('an unknown key is ERR_INVALID_ARGUMENT naming it; the accepted ones parse', () => {
    const err = catchError(() => parseEvidence(p.quote.bytes, { Kind: 'tdx' } as unknown as ParseOptions));
    expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
    expect(err.details['option']).toBe('Kind');
    expect(parseEvidence(p.quote.bytes, { kind: 'tdx', encoding: 'binary', trailing: 'strict' }).kind).toBe('tdx');
  });
});
