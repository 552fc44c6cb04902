/**
 * Review s14 (vTPM follow-up, lead): the attested client's vTPM options are
 * the caller's, so a bad one is refused when the client is made, as a typed
 * ERR_INVALID_ARGUMENT, and never at attest() time as ERR_ATTEST_VTPM, a
 * refusal that reads as a verdict on the gateway's TEE. `requiredBank: 'sha1'`
 * without allowSha1 is the SHA-1 relaxation in disguise (vTPM finding 2); a
 * truthy non-boolean allowSha1 does not relax; a reference list without a
 * policy vtpm section was an untyped RangeError. On the verify step itself a
 * local fault passes through untouched.
 */
import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../src/errors.js';
import { AttestedClient, AttestationRefusedError } from '../../src/gateway/index.js';
import { verifyVtpmPart } from '../../src/gateway/vtpm-verify.js';
import { SimulatedVtpmProvider } from '../../src/tee/index.js';
import { clientOptions, simulated, tdxPolicy } from './helpers.js';

const url = 'https://127.0.0.1:1';
const base = () => clientOptions(tdxPolicy('00'.repeat(48)));

describe('review s14: AttestedClient vTPM options are checked when the client is made', () => {
  it("requiredBank 'sha1' without allowSha1 is ERR_INVALID_ARGUMENT; with allowSha1 true it is accepted", () => {
    const e = (() => {
      try {
        new AttestedClient(url, { ...base(), requiredBank: 'sha1' });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT');
    expect(() => new AttestedClient(url, { ...base(), requiredBank: 'sha1', allowSha1: true })).not.toThrow();
  });

  it('a bank that does not exist, and a non-boolean allowSha1, are ERR_INVALID_ARGUMENT', () => {
    expect(() => new AttestedClient(url, { ...base(), requiredBank: 'md5' as never })).toThrow(InvalidArgumentError);
    expect(() => new AttestedClient(url, { ...base(), requiredBank: 'sha1', allowSha1: 'yes' as never })).toThrow(InvalidArgumentError);
  });

  it('a reference list for a policy without a vtpm section is ERR_INVALID_ARGUMENT, not a RangeError', () => {
    expect(() => new AttestedClient(url, { ...base(), reference: { ima: { files: {} } } })).toThrow(InvalidArgumentError);
  });

  it('verifyVtpmPart passes a local fault (a bad option) through, not as ERR_ATTEST_VTPM', async () => {
    const ak = await new SimulatedVtpmProvider({ hardware: simulated }).attestationKeyPublic();
    const err = await verifyVtpmPart({} as never, ak, new Uint8Array(32), { at: new Date(), vtpm: { requiredBank: 'sha1' } }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err).not.toBeInstanceOf(AttestationRefusedError);
  });
});
