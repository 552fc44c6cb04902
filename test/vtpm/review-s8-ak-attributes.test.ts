/**
 * Review s8, finding 1: VT05 requires the whole attestation-key template,
 * fixedTPM | fixedParent | sensitiveDataOrigin | restricted | sign (0x50032),
 * and refuses decrypt beside it. A restricted | sign key without the other
 * bits may have been generated outside any TPM (or imported, or be
 * duplicable): whoever holds its private key signs any "quote". Checked with
 * the Name pinned (the library and the gateway's vtpm-verify path) and on a
 * TPMT_PUBLIC that is not pinned (its own attributes admit it).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import { verifyVtpmPart } from '../../src/gateway/vtpm-verify.js';
import { AK_OBJECT_ATTRIBUTES, buildAkPublic, buildTpmsAttest, quotePcrDigest, signTpmsAttest, tpmNameOf } from '../../src/testing/index.js';
import type { VtpmBundle } from '../../src/vtpm/bundle.js';
import { AK_REQUIRED_ATTRIBUTES, TPMA_OBJECT } from '../../src/vtpm/tpm-key.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';

const AT = new Date('2026-01-01T00:00:00Z');

/** A genuine signature by a software key over a quote of PCR 0, the AK's TPMT_PUBLIC carrying `objectAttributes`. */
function bundleWith(objectAttributes: number) {
  const { publicKey, privateKey } = generateEcKeyObjects('P-256'); // no key-generation job: buildAkPublic exports a JWK
  const akPublic = buildAkPublic(publicKey, { objectAttributes });
  const nonce = new Uint8Array(randomBytes(32));
  const values = { 0: new Uint8Array(32).fill(0x42) };
  const selections = [{ bank: 'sha256' as const, pcrs: [0] }];
  const attest = buildTpmsAttest({ qualifiedSigner: tpmNameOf(akPublic), extraData: nonce, selections, pcrDigest: quotePcrDigest(selections, { sha256: values }) });
  const bundle: VtpmBundle = { nonce, tpm: { ak: { public: akPublic }, quotes: [{ attest, signature: signTpmsAttest(attest, privateKey) }], pcrs: { sha256: { '0': values[0] } } } };
  return { bundle, nonce, trustedAk: publicKey, akPublic, name: tpmNameOf(akPublic) };
}

const pinned = (b: ReturnType<typeof bundleWith>) => verifyVtpmEvidence(b.bundle, { at: AT, nonce: b.nonce, trustedAk: b.trustedAk, trustedAkName: b.name });

describe('review s8-1: VT05 requires fixedTPM | fixedParent | sensitiveDataOrigin | restricted | sign', () => {
  it('the mask is 0x50032 and the builder default (tpm2_createak template, 0x50072) passes with the Name pinned', async () => {
    expect(AK_REQUIRED_ATTRIBUTES).toBe(0x50032);
    const r = await pinned(bundleWith(AK_OBJECT_ATTRIBUTES));
    expect(r.checks.find((c) => c.id === 'VT05')?.description).toMatch(/fixedTPM \| fixedParent \| sensitiveDataOrigin \| restricted \| sign, not decrypt.*bound by the pinned Name/);
    expect(r.warnings).toEqual([]);
  });

  it('restricted | sign only (0x50000, the reproducer): ERR_VTPM_AK at VT05 naming the three missing bits', async () => {
    await expect(pinned(bundleWith(0x50000))).rejects.toMatchObject({
      code: 'ERR_VTPM_AK',
      check: 'VT05',
      details: { objectAttributes: 0x50000, missing: ['fixedTPM', 'fixedParent', 'sensitiveDataOrigin'] },
    });
  });

  const bits = [
    ['fixedTPM', TPMA_OBJECT.fixedTPM],
    ['fixedParent', TPMA_OBJECT.fixedParent],
    ['sensitiveDataOrigin', TPMA_OBJECT.sensitiveDataOrigin],
    ['restricted', TPMA_OBJECT.restricted],
    ['sign', TPMA_OBJECT.sign],
  ] as const;
  it.each(bits)('0x50032 without %s: ERR_VTPM_AK at VT05 naming it', async (name, bit) => {
    const attrs = AK_REQUIRED_ATTRIBUTES & ~bit;
    await expect(pinned(bundleWith(attrs))).rejects.toMatchObject({ code: 'ERR_VTPM_AK', check: 'VT05', details: { objectAttributes: attrs, missing: [name] } });
  });

  it('decrypt set beside restricted | sign: ERR_VTPM_AK at VT05', async () => {
    await expect(pinned(bundleWith(AK_OBJECT_ATTRIBUTES | TPMA_OBJECT.decrypt))).rejects.toMatchObject({ code: 'ERR_VTPM_AK', check: 'VT05', details: { unexpected: ['decrypt'] } });
  });

  it('a TPMT_PUBLIC that is not pinned by Name but says fixedTPM is clear is refused too (its own attributes admit it)', async () => {
    const b = bundleWith(AK_OBJECT_ATTRIBUTES & ~TPMA_OBJECT.fixedTPM);
    await expect(verifyVtpmEvidence(b.bundle, { at: AT, nonce: b.nonce, trustedAk: b.trustedAk })).rejects.toMatchObject({ code: 'ERR_VTPM_AK', check: 'VT05' });
  });

  it("the gateway's vtpm-verify path (Name pinned from the hardware-bound TPMT_PUBLIC) refuses 0x50000 with check VT05", async () => {
    const b = bundleWith(0x50000);
    await expect(verifyVtpmPart(b.bundle, b.akPublic, b.nonce, { at: AT })).rejects.toMatchObject({ code: 'ERR_ATTEST_VTPM', details: { checks: ['VT05'] } });
    const good = bundleWith(AK_OBJECT_ATTRIBUTES);
    await expect(verifyVtpmPart(good.bundle, good.akPublic, good.nonce, { at: AT })).resolves.toMatchObject({ ok: true });
  });
});
