/**
 * Property tests (checklist §7 fuzzing, JS side): random mutations of genuine
 * SNP evidence and collateral never verify, except the identity and the known
 * malleable signature (r, n - s); every failure is a typed error and never
 * INTERNAL.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { TeeVerifyError, parseEvidence, type SnpReport } from '../../../src/index.js';
import { verifySnpReport, type AmdCollateralInput } from '../../../src/verify/snp/index.js';
import { parseCrl } from '../../../src/x509/index.js';
import { HAVE_VECTORS, readEvidenceBytes } from '../../helpers/vectors.js';
import { V3_GENOA_CRL, V3_VLEK, V5_TURIN, applicableCrl, entry, optionsFor, productOf, signingCertificateOf } from './helpers/real.js';

const P384_N = 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n;
const IDS = [V3_GENOA_CRL, V3_VLEK, V5_TURIN];

function inputs(id: string) {
  const e = entry(id);
  const pem = applicableCrl(e);
  const crl = pem ? parseCrl(pem).der : undefined; // DER, so every byte matters
  const collateral: AmdCollateralInput = { signingCertificate: signingCertificateOf(e), ...(crl ? { crl } : {}) };
  const options = optionsFor(e, crl ? {} : { relaxations: { skipCrl: true } });
  return { e, bytes: readEvidenceBytes(e), collateral, options, crl };
}

/** Verifies; returns true when valid, false for a typed rejection; anything else fails the test. */
function outcome(bytes: Uint8Array, collateral: AmdCollateralInput, options: ReturnType<typeof inputs>['options'], product: string): boolean {
  try {
    const report = parseEvidence(bytes, { snpProduct: product as 'Milan' }) as SnpReport;
    verifySnpReport(report, collateral, options);
    return true;
  } catch (err) {
    expect(err).toBeInstanceOf(TeeVerifyError);
    expect((err as TeeVerifyError).errorClass).not.toBe('INTERNAL');
    return false;
  }
}

const le = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).reverse().toString('hex') || '0'}`);
function writeLe(target: Uint8Array, at: number, value: bigint, size: number): void {
  for (let i = 0; i < size; i++) target[at + i] = Number((value >> BigInt(8 * i)) & 0xffn);
}

describe.skipIf(!HAVE_VECTORS)('SNP verifier properties on genuine evidence', () => {
  it('a changed byte in the report never verifies', () => {
    const cases = IDS.map(inputs);
    fc.assert(
      fc.property(fc.constantFrom(...cases), fc.integer({ min: 0, max: 0x49f }), fc.integer({ min: 1, max: 255 }), (c, at, mask) => {
        const bytes = Uint8Array.from(c.bytes);
        bytes[at]! ^= mask;
        expect(outcome(bytes, c.collateral, c.options, productOf(c.e))).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('a changed byte in the VCEK / VLEK or the CRL never verifies', () => {
    const cases = IDS.map(inputs);
    fc.assert(
      fc.property(fc.constantFrom(...cases), fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }), (c, inCrl, pos, mask) => {
        const collateral = { ...c.collateral };
        if (inCrl && c.crl) {
          const crl = Uint8Array.from(c.crl);
          crl[pos % crl.length]! ^= mask;
          collateral.crl = crl;
        } else {
          const cert = Uint8Array.from(c.collateral.signingCertificate);
          cert[pos % cert.length]! ^= mask;
          collateral.signingCertificate = cert;
        }
        expect(outcome(c.bytes, collateral, c.options, productOf(c.e))).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('the malleable signature (r, n - s) verifies too: nothing may key on signature bytes (§4.2)', () => {
    for (const id of IDS) {
      const c = inputs(id);
      const bytes = Uint8Array.from(c.bytes);
      const s = le(bytes.subarray(0x2e8, 0x2e8 + 72));
      writeLe(bytes, 0x2e8, P384_N - s, 72);
      expect(outcome(bytes, c.collateral, c.options, productOf(c.e))).toBe(true);
      expect(outcome(c.bytes, c.collateral, c.options, productOf(c.e))).toBe(true);
    }
  });
});
