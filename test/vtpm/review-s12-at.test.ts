/**
 * Review s12 (vTPM), finding 4: verifyVtpmEvidence with an invalid `at` ran
 * every check and then threw an untyped RangeError (at.toISOString()). It now
 * refuses the instant on entry with ERR_INVALID_ARGUMENT, the code the Intel
 * and SEV-SNP verifiers use (src/verify/instant.ts), and keeps a private copy
 * of a valid one.
 */
import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../src/errors.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';
import { quotedBundle } from './review-s6-bundle.js';

describe('review s12 finding 4: options.at is validated on entry', () => {
  for (const [what, at] of [
    ['an invalid Date', new Date('not a date')],
    ['a number', 1_700_000_000_000],
    ['a string', '2025-01-01T00:00:00Z'],
    ['a Date look-alike', { getTime: () => 0, toISOString: () => 'x' }],
  ] as const) {
    it(`${what}: ERR_INVALID_ARGUMENT, before any check`, async () => {
      const q = quotedBundle({ 0: new Uint8Array(32) });
      const err = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk, at: at as unknown as Date }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/options\.at/) });
    });
  }

  it('a valid Date is used as given, and later changes to the caller\'s object do not reach the result', async () => {
    const q = quotedBundle({ 0: new Uint8Array(32) });
    const at = new Date('2025-06-01T00:00:00Z');
    const r = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk, at });
    at.setFullYear(2000);
    expect(JSON.stringify(r)).toContain('2025-06-01T00:00:00.000Z');
    expect(JSON.stringify(r)).not.toContain('2000-06-01');
  });
});
