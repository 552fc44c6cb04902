/**
 * Review (session 3): the verifier's structure re-checks hold for quote
 * objects not built by parseEvidence: non-zero trailing bytes pass only with
 * the dangerouslyLenient parse's own warning (not with any warning), and an
 * SGX v3 quote's signed range must be exactly [0, 0x1B0).
 */
import { describe, expect, it } from 'vitest';

import { parseEvidence, type SgxQuote, type TdxQuote } from '../../../src/index.js';
import { catchError } from '../../helpers/expect-error.js';
import { parsed, platform, verifySynthetic } from './helpers/synthetic.js';

describe('T05 / T04 re-checks on hand-built quote objects', () => {
  it('non-zero trailing bytes with an unrelated warning are still ERR_TRAILING_DATA (T05)', () => {
    const p = platform();
    const withJunk = new Uint8Array([...p.quote.bytes, 7, 7]);
    const lenient = parseEvidence(withJunk, { trailing: 'dangerouslyLenient' }) as TdxQuote;
    expect(verifySynthetic(p, { quote: lenient }).warnings.some((w) => w.includes('dangerouslyLenient'))).toBe(true);
    const forged = { ...lenient, warnings: ['some other note'] } as TdxQuote;
    const err = catchError(() => verifySynthetic(p, { quote: forged }));
    expect({ code: err.code, check: err.check }).toEqual({ code: 'ERR_TRAILING_DATA', check: 'T05' });
  });

  it('an SGX v3 quote whose signed range is not [0, 0x1B0) is refused (T04)', () => {
    const p = platform({ tee: 'sgx' });
    const q = parsed(p) as SgxQuote;
    expect(verifySynthetic(p, { quote: q }).tee).toBe('sgx');
    const shifted = { ...q, signedRange: { offset: 0, length: 0x1b0 - 0x40 } } as SgxQuote;
    const err = catchError(() => verifySynthetic(p, { quote: shifted }));
    expect({ code: err.code, check: err.check }).toEqual({ code: 'ERR_BAD_LENGTH', check: 'T04' });
  });
});
