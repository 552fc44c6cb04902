/**
 * Review (session 3): the verifier's structure re-checks hold for quote
 * objects not built by parseEvidence: non-zero trailing bytes pass only with
 * the dangerouslyLenient parse's own warning (not with any warning). Since
 * session 5 the verifier re-frames the bytes (T49), so a signed range written
 * on the object is never used: the SGX v3 range is the bytes' [0, 0x1B0).
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

  it('an SGX v3 quote object claiming another signed range is verified over the bytes\' own [0, 0x1B0) (T04, T49)', () => {
    const p = platform({ tee: 'sgx' });
    const q = parsed(p) as SgxQuote;
    const genuine = verifySynthetic(p, { quote: q });
    expect(genuine.tee).toBe('sgx');
    const shifted = { ...q, signedRange: { offset: 0, length: 0x1b0 - 0x40 } } as SgxQuote;
    expect(verifySynthetic(p, { quote: shifted })).toEqual(genuine);
  });
});
