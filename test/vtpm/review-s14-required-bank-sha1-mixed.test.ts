/**
 * s14 change review, R1 (review s14 vTPM finding 2 partly fixed): with `requiredBank: 'sha1'` and
 * allowSha1, a quote set holding SHA-1 plus any other bank passed VT12 as "the required sha1 bank is
 * quoted" with no allowSha1 warning; the warning came only when SHA-1 was the only bank. The SHA-1
 * values are what is relied on (the set has no SHA-256, or the caller asked for SHA-1 anyway), so
 * the relaxation is a warning whatever other banks are quoted. Fails on the code before (2 of 3;
 * the control passes).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import { buildAkPublic, buildTpmsAttest, quotePcrDigest, signTpmsAttest } from '../../src/testing/index.js';
import type { VtpmBundle } from '../../src/vtpm/bundle.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';

type Bank = 'sha1' | 'sha256' | 'sha384';
const SIZE: Record<Bank, number> = { sha1: 20, sha256: 32, sha384: 48 };

/** One quote: SHA-1 PCRs 0 and 7 (the values judged) and `other` PCR 23 alone. */
function mixedBundle(other: Exclude<Bank, 'sha1'>) {
  const { publicKey, privateKey } = generateEcKeyObjects('P-256');
  const nonce = new Uint8Array(randomBytes(32));
  const values: Partial<Record<Bank, Record<number, Uint8Array>>> = {
    sha1: { 0: new Uint8Array(SIZE.sha1).fill(1), 7: new Uint8Array(SIZE.sha1).fill(7) },
    [other]: { 23: new Uint8Array(SIZE[other]) },
  };
  const selections = [{ bank: 'sha1' as const, pcrs: [0, 7] }, { bank: other, pcrs: [23] }];
  const attest = buildTpmsAttest({
    qualifiedSigner: new Uint8Array(Buffer.concat([Buffer.from([0, 0x0b]), randomBytes(32)])),
    extraData: nonce,
    selections,
    pcrDigest: quotePcrDigest(selections, values),
  });
  const bundle: VtpmBundle = {
    nonce,
    tpm: {
      ak: { public: buildAkPublic(publicKey) },
      quotes: [{ attest, signature: signTpmsAttest(attest, privateKey) }],
      pcrs: { sha1: { '0': values.sha1![0]!, '7': values.sha1![7]! }, [other]: { '23': values[other]![23]! } },
    },
  };
  return { bundle, nonce, publicKey };
}

describe('s14 change review R1: requiredBank sha1 is a warning whatever other banks are quoted', () => {
  it('control: the default required bank refuses SHA-1 + SHA-384 even with allowSha1 (ERR_VTPM_BANK)', async () => {
    const q = mixedBundle('sha384');
    const err = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.publicKey, allowSha1: true }).then(() => undefined, (e: { code?: string }) => e);
    expect(err?.code).toBe('ERR_VTPM_BANK');
  });

  for (const other of ['sha384', 'sha256'] as const) {
    it(`requiredBank sha1 + allowSha1, SHA-1 PCRs 0/7 + ${other} PCR 23: passes with the allowSha1 warning and a VT12 record naming the relaxation`, async () => {
      const q = mixedBundle(other);
      const r = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.publicKey, requiredBank: 'sha1', allowSha1: true });
      expect(r.ok).toBe(true);
      expect(r.warnings).toContain(`allowSha1: the required PCR bank is SHA-1 (requiredBank sha1; also quoted: ${other})`);
      const vt12 = r.checks.filter((c) => c.id === 'VT12');
      expect(vt12).toHaveLength(1);
      expect(vt12[0]!.description).toMatch(/allowSha1 relaxation/);
      expect(vt12[0]!.status).toBeUndefined();
    });
  }
});
