/**
 * Review s14, vTPM finding 4: `options.userData` = an empty Uint8Array passed VT14 ("user-data starts
 * with the expected 0-byte value"): a pin that pins nothing, with no warning. Review s13 CR polb #1
 * made the pins strict (a null, '' or 0 must not read as "none"); an empty userData is now
 * ERR_INVALID_ARGUMENT (details.option userData) before any check, as checkUserData refuses it too.
 */
import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../src/errors.js';
import { checkUserData, type AzureRuntimeData } from '../../src/vtpm/azure.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';
import { quotedBundle } from './review-s6-bundle.js';

describe('review s14 vTPM #4: an empty userData pin is an invalid option', () => {
  it('verifyVtpmEvidence refuses userData: new Uint8Array(0) before any check (ERR_INVALID_ARGUMENT, option userData)', async () => {
    const q = quotedBundle({ 0: new Uint8Array(32) });
    const err = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk, userData: new Uint8Array(0) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', details: { option: 'userData' } });
  });

  it('checkUserData refuses an empty expected prefix instead of recording VT14 as passed', () => {
    const runtime = { userData: new Uint8Array(64).fill(7) } as unknown as AzureRuntimeData;
    const checks: { id: string; description: string }[] = [];
    expect(() => checkUserData(runtime, new Uint8Array(0), checks)).toThrow(InvalidArgumentError);
    expect(checks).toEqual([]);
    // control: a real prefix is compared
    checkUserData(runtime, new Uint8Array(4).fill(7), checks);
    expect(checks.map((c) => c.id)).toEqual(['VT14']);
  });
});
