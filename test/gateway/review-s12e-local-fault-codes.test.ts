/**
 * Hardening from the s12 change review (core): isLocalFault decided by error class alone, so any
 * INTERNAL or ARGUMENT error from the verify step passed through as the client's own fault, no
 * verdict on the gateway's TEE. A future ARGUMENT error thrown from an evidence-derived value (the
 * ECDSA helpers threw ERR_BAD_PUBLIC_KEY / ERR_BAD_SIGNATURE_ENCODING with class ARGUMENT until session 14)
 * would then have been a way for a TEE to avoid revocation. Now only an explicit list of local codes,
 * each with its class, passes through: the addon failing to load (ERR_NATIVE_LOAD), OpenSSL's own
 * failure (ERR_INTERNAL), a bad caller argument (ERR_INVALID_ARGUMENT, ERR_COLLATERAL_CACHE_DIR).
 * Anything else the verifier throws is ERR_ATTEST_EVIDENCE, a verdict on the bound TEE.
 * review-s12-local-fault.test.ts keeps covering the listed codes end to end.
 *
 * The unlisted-code cases fail on the code before (the error was thrown as is); the listed ones are
 * controls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EvidenceParseError, InvalidArgumentError, NativeAddonError, TeeVerifyError, BundleSource, CollateralService } from '../../src/index.js';
import { AttestationRefusedError, AttestedClient } from '../../src/gateway/index.js';
import { isLocalFault, judgesBoundTee } from '../../src/gateway/verify.js';
import { clientOptions, mrTdOf, simulated, startHarness, tdxPolicy, type ClientOptions, type Harness } from './helpers.js';

let h: Harness;
let good: ClientOptions;

/** A collateral service whose answers throw `fault` (as a verifier error would surface from verifyEvidence). */
class FaultyService extends CollateralService {
  constructor(private readonly fault: () => Error) {
    super({ intel: new BundleSource([...(simulated.collateral as never[])]), cache: null });
  }
  override cachedFor(): undefined {
    return undefined;
  }
  override forEvidence(): never {
    throw this.fault();
  }
}

beforeAll(async () => {
  h = await startHarness({ attestationsPerSecond: 1000 });
  good = clientOptions(tdxPolicy(await mrTdOf(simulated)));
});
afterAll(async () => h?.close());

describe('isLocalFault: an explicit list of local codes, not an error class', () => {
  it('the listed codes, each with its class, are local', () => {
    expect(isLocalFault(new NativeAddonError('ERR_NATIVE_LOAD', 'x'))).toBe(true);
    expect(isLocalFault(new NativeAddonError('ERR_INTERNAL', 'x'))).toBe(true);
    expect(isLocalFault(new TeeVerifyError('INTERNAL', 'ERR_INTERNAL', 'x'))).toBe(true);
    expect(isLocalFault(new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'x'))).toBe(true);
    expect(isLocalFault(new InvalidArgumentError('ERR_COLLATERAL_CACHE_DIR', 'x'))).toBe(true);
  });

  it('an unlisted ARGUMENT or INTERNAL code is not, nor a listed code under another class', () => {
    expect(isLocalFault(new TeeVerifyError('ARGUMENT', 'ERR_BAD_PUBLIC_KEY', 'public key is not a point on the curve'))).toBe(false);
    expect(isLocalFault(new TeeVerifyError('ARGUMENT', 'ERR_BAD_SIGNATURE_ENCODING', 'x'))).toBe(false);
    expect(isLocalFault(new TeeVerifyError('INTERNAL', 'ERR_BAD_DER', 'x'))).toBe(false);
    expect(isLocalFault(new EvidenceParseError('ERR_INVALID_ARGUMENT' as never, 'x'))).toBe(false);
    expect(isLocalFault(new Error('ERR_INTERNAL'))).toBe(false);
  });
});

const UNLISTED = [
  ['ERR_BAD_PUBLIC_KEY (class ARGUMENT, as the ECDSA helpers threw it for an off-curve key before session 14)', () => new TeeVerifyError('ARGUMENT', 'ERR_BAD_PUBLIC_KEY', 'public key is not a point on the curve')],
  ['ERR_BAD_SIGNATURE_ENCODING (class ARGUMENT)', () => new TeeVerifyError('ARGUMENT', 'ERR_BAD_SIGNATURE_ENCODING', 'P-256 signature must be 64 bytes (r || s)')],
] as const;

describe('an unlisted ARGUMENT-class code from the verifier is a verdict', () => {
  for (const [what, fault] of UNLISTED) {
    it(`${what}: ERR_ATTEST_EVIDENCE, a verdict on the bound TEE`, async () => {
      const client = new AttestedClient(h.gateway.url, { ...good, collateral: new FaultyService(fault) });
      try {
        const e = await client.attest().catch((x: unknown) => x);
        expect(e).toBeInstanceOf(AttestationRefusedError);
        expect((e as AttestationRefusedError).code).toBe('ERR_ATTEST_EVIDENCE');
        expect(((e as AttestationRefusedError).cause as TeeVerifyError).code).toBe(fault().code);
        expect(judgesBoundTee(e)).toBe(true);
      } finally {
        await client.close();
      }
    });
  }

  it('control: a listed code (ERR_COLLATERAL_CACHE_DIR) is still thrown as is, no verdict', async () => {
    const client = new AttestedClient(h.gateway.url, { ...good, collateral: new FaultyService(() => new InvalidArgumentError('ERR_COLLATERAL_CACHE_DIR', 'not private')) });
    try {
      const e = await client.attest().catch((x: unknown) => x);
      expect(e).not.toBeInstanceOf(AttestationRefusedError);
      expect((e as TeeVerifyError).code).toBe('ERR_COLLATERAL_CACHE_DIR');
      expect(judgesBoundTee(e)).toBe(false);
    } finally {
      await client.close();
    }
  });
});
