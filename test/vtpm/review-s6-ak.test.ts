/**
 * Review s6, finding 6: VT05 (the AK is a restricted signing key) is passed
 * only when the attributes are bound: by the AK's Name pinned by the caller
 * (trustedAkName), since HCLAkPub and a pinned key are bare public keys. A
 * PEM AK, an Azure JWK without TPMT_PUBLIC, and a TPMT_PUBLIC under a pinned
 * public key give a VT05 "not checked" record and a warning. On the real GCE
 * COS 85 quote with the AK Name its source states, and on generated quotes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import type { VtpmBundle } from '../../src/vtpm/bundle.js';
import { parseTpmPublic } from '../../src/vtpm/parse.js';
import { keyFromTpmPublic, tpmName } from '../../src/vtpm/tpm-key.js';
import { verifyVtpmEvidence, type VtpmVerificationResult } from '../../src/vtpm/verify.js';
import { HAVE_VECTORS, VECTORS_DIR, loadManifest } from '../helpers/vectors.js';
import { quotedBundle } from './review-s6-bundle.js';

const vt05 = (r: VtpmVerificationResult) => ({
  records: r.checks.filter((c) => c.id === 'VT05').map((c) => c.description),
  warnings: r.warnings.filter((w) => w.startsWith('VT05')),
});

describe('review s6-6: VT05 is "not checked" where nothing binds the attributes', () => {
  const PCR = { 0: new Uint8Array(32) };

  it('TPMT_PUBLIC under a pinned public key: not checked, with a warning (the comparison covers no attribute)', async () => {
    const { bundle, nonce, trustedAk } = quotedBundle(PCR);
    const r = await verifyVtpmEvidence(bundle, { nonce, trustedAk });
    expect(vt05(r)).toEqual({ records: [expect.stringMatching(/^not checked: .*nothing binds them/)], warnings: [expect.stringMatching(/^VT05 not checked/)] });
  });

  it('a PEM AK: not checked, with a warning (no attributes at all)', async () => {
    const { bundle, nonce, trustedAk } = quotedBundle(PCR);
    const pem: VtpmBundle = { ...bundle, tpm: { ...bundle.tpm, ak: { pem: trustedAk.export({ type: 'spki', format: 'pem' }).toString() } } };
    const r = await verifyVtpmEvidence(pem, { nonce, trustedAk });
    expect(vt05(r)).toEqual({ records: [expect.stringMatching(/^not checked: the bundle PEM attestation key comes without a TPMT_PUBLIC/)], warnings: [expect.stringMatching(/^VT05 not checked/)] });
  });

  it("the AK's Name pinned: VT05 passes on the TPMT_PUBLIC it binds, no warning", async () => {
    const { bundle, nonce, trustedAk, akPublic } = quotedBundle(PCR);
    const r = await verifyVtpmEvidence(bundle, { nonce, trustedAk, trustedAkName: tpmName(parseTpmPublic(akPublic)) });
    expect(vt05(r)).toEqual({ records: [expect.stringMatching(/bound by the pinned Name/)], warnings: [] });
  });

  it('a pinned Name the TPMT_PUBLIC does not have, or a pinned Name with a PEM AK: ERR_VTPM_AK', async () => {
    const { bundle, nonce, trustedAk, akPublic } = quotedBundle(PCR);
    const name = tpmName(parseTpmPublic(akPublic));
    const other = name.slice();
    other[5]! ^= 1;
    await expect(verifyVtpmEvidence(bundle, { nonce, trustedAk, trustedAkName: other })).rejects.toMatchObject({ code: 'ERR_VTPM_AK', check: 'VT05' });
    const pem: VtpmBundle = { ...bundle, tpm: { ...bundle.tpm, ak: { pem: trustedAk.export({ type: 'spki', format: 'pem' }).toString() } } };
    await expect(verifyVtpmEvidence(pem, { nonce, trustedAk, trustedAkName: name })).rejects.toMatchObject({ code: 'ERR_VTPM_AK', check: 'VT05' });
  });
});

describe.skipIf(!HAVE_VECTORS)('review s6-6 on the real GCE COS 85 quote', () => {
  const dir = 'go-tpm-tools/extracted/gce-cos-85-nonce9009';
  const read = (rel: string) => new Uint8Array(readFileSync(join(VECTORS_DIR, dir, rel)));
  const entry = () => loadManifest().find((m) => m.id === 'go-tpm-tools/gce-cos-85-nonce9009-quote-sha256')!;
  const bundle = (): VtpmBundle => ({
    tpm: {
      ak: { public: read('ak_pub.tpmt_public') },
      quotes: [{ attest: read('quote_sha256.tpms_attest'), signature: read('quote_sha256.tpmt_signature') }],
      pcrs: { sha256: Object.fromEntries(Object.entries(entry().expected.pcrs!['sha256']!).map(([i, h]) => [i, new Uint8Array(Buffer.from(h, 'hex'))])) },
    },
  });
  const options = () => ({ at: new Date('2021-12-22T21:31:37Z'), nonce: new Uint8Array([0x90, 0x09]), trustedAk: keyFromTpmPublic(parseTpmPublic(read('ak_pub.tpmt_public'))).key });

  it('the AK pinned as a public key: VT05 not checked, warned', async () => {
    expect(vt05(await verifyVtpmEvidence(bundle(), options())).warnings).toHaveLength(1);
  });

  it("the AK's Name as the source states it pinned: VT05 passes", async () => {
    const name = new Uint8Array(Buffer.from((entry().checks['ak_public'] as { name: string }).name, 'hex'));
    const r = await verifyVtpmEvidence(bundle(), { ...options(), trustedAkName: name });
    expect(vt05(r)).toEqual({ records: [expect.stringMatching(/bound by the pinned Name/)], warnings: [] });
  });
});
