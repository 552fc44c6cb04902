/**
 * Review s8, finding 2: a minimum attestation-key strength, checked at VT06
 * for every source of the key: RSA of at least 2048 bits with exponent 65537,
 * EC only on P-256 / P-384. A 1024-bit AK (as a TPMT_PUBLIC, a PEM, Azure's
 * HCLAkPub JWK) and an RSA-2048 key with e = 3 are refused with
 * ERR_VTPM_SCHEME (check VT06); the real RSA-2048 AKs (GCE COS 85 TPMT_PUBLIC,
 * trustee Genoa HCLAkPub) pass.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { buildAkPublic, buildTpmsAttest, quotePcrDigest, signTpmsAttest, tpmNameOf } from '../../src/testing/index.js';
import { parseRuntimeData } from '../../src/vtpm/azure.js';
import type { VtpmBundle } from '../../src/vtpm/bundle.js';
import { parseHclReport, parseTpmPublic, parseTpmQuote, parseTpmSignature } from '../../src/vtpm/parse.js';
import { pcrBanksFrom, verifyTpmQuotes } from '../../src/vtpm/quote.js';
import { checkAkStrength, keyFromPem, keyFromTpmPublic } from '../../src/vtpm/tpm-key.js';
import type { HclReport } from '../../src/vtpm/types.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';
import { generateRsaKeyObjects } from '../helpers/fresh-rsa-keys.js';
import { HAVE_VECTORS, VECTORS_DIR } from '../helpers/vectors.js';

const AT = new Date('2026-01-01T00:00:00Z');
const VALUES = { 0: new Uint8Array(32).fill(7) };
const SELECTIONS = [{ bank: 'sha256' as const, pcrs: [0] }];

/** A quote over PCR 0 signed (RSASSA-SHA256) by `privateKey`, with the AK given as TPMT_PUBLIC or PEM. */
function rsaBundle(bits: number, o: { form: 'public' | 'pem'; exponent?: number }) {
  // buildAkPublic and hclAkPub export the key as a JWK: not the key-generation job's own key.
  const { publicKey, privateKey } = generateRsaKeyObjects(bits, o.exponent);
  const akPublic = buildAkPublic(publicKey);
  const nonce = new Uint8Array(randomBytes(32));
  const attest = buildTpmsAttest({ qualifiedSigner: tpmNameOf(akPublic), extraData: nonce, selections: SELECTIONS, pcrDigest: quotePcrDigest(SELECTIONS, { sha256: VALUES }) });
  const ak = o.form === 'public' ? { public: akPublic } : { pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
  const bundle: VtpmBundle = { nonce, tpm: { ak, quotes: [{ attest, signature: signTpmsAttest(attest, privateKey) }], pcrs: { sha256: { '0': VALUES[0] } } } };
  return { bundle, nonce, publicKey, privateKey, attest, akPublic };
}

const verify = (b: ReturnType<typeof rsaBundle>, pinName = false) =>
  verifyVtpmEvidence(b.bundle, { at: AT, nonce: b.nonce, trustedAk: b.publicKey, ...(pinName ? { trustedAkName: tpmNameOf(b.akPublic) } : {}) });

/** HCL runtime data holding `key` as HCLAkPub, parsed the way the Azure path takes it into use. */
function hclAkPub(key: KeyObject) {
  const jwk = key.export({ format: 'jwk' });
  const runtimeData = new TextEncoder().encode(JSON.stringify({ keys: [{ kid: 'HCLAkPub', key_ops: ['sign'], kty: 'RSA', e: jwk.e, n: jwk.n }] }));
  return parseRuntimeData({ runtimeData } as HclReport).ak;
}

describe('review s8-2: minimum attestation-key strength at VT06', () => {
  it('RSA-1024 as the bundle TPMT_PUBLIC (Name pinned too): ERR_VTPM_SCHEME at VT06', async () => {
    await expect(verify(rsaBundle(1024, { form: 'public' }), true)).rejects.toMatchObject({ code: 'ERR_VTPM_SCHEME', check: 'VT06', details: { keyBits: 1024, minimum: 2048 } });
  });

  it('RSA-1024 as a PEM (bundle ak.pem, pinned as trustedAk as --ak does): ERR_VTPM_SCHEME at VT06', async () => {
    await expect(verify(rsaBundle(1024, { form: 'pem' }))).rejects.toMatchObject({ code: 'ERR_VTPM_SCHEME', check: 'VT06', details: { keyBits: 1024 } });
  });

  it('RSA-1024 as Azure HCLAkPub (JWK in the runtime data): ERR_VTPM_SCHEME at VT06', () => {
    const b = rsaBundle(1024, { form: 'public' });
    const quote = { quote: parseTpmQuote(b.bundle.tpm.quotes[0]!.attest), signature: parseTpmSignature(b.bundle.tpm.quotes[0]!.signature) };
    const ak = hclAkPub(b.publicKey);
    expect(ak.source).toBe('HCLAkPub');
    expect(() => verifyTpmQuotes([quote], ak, pcrBanksFrom(b.bundle.tpm.pcrs), { nonce: b.nonce })).toThrow(expect.objectContaining({ code: 'ERR_VTPM_SCHEME', check: 'VT06' }));
  });

  it('RSA-2048 with e = 3, as TPMT_PUBLIC and as PEM: ERR_VTPM_SCHEME at VT06 naming the exponent', async () => {
    await expect(verify(rsaBundle(2048, { form: 'public', exponent: 3 }))).rejects.toMatchObject({ code: 'ERR_VTPM_SCHEME', check: 'VT06', details: { exponent: '3' } });
    await expect(verify(rsaBundle(2048, { form: 'pem', exponent: 3 }))).rejects.toMatchObject({ code: 'ERR_VTPM_SCHEME', check: 'VT06', details: { exponent: '3' } });
  });

  it('RSA-2048 with e = 65537 (TPMT_PUBLIC exponent 0) passes, and VT06 names the key size', async () => {
    const r = await verify(rsaBundle(2048, { form: 'public' }), true);
    expect(r.checks.find((c) => c.id === 'VT06')?.description).toMatch(/\(RSA-2048\)/);
  });

  it('EC keys: P-256 and P-384 pass the strength check, P-521 and secp256k1 do not', () => {
    const ec = (namedCurve: string) => ({ key: generateKeyPairSync('ec', { namedCurve }).publicKey, source: 'PEM' });
    expect(checkAkStrength(ec('P-256'))).toBe('ECC P-256');
    expect(checkAkStrength(ec('P-384'))).toBe('ECC P-384');
    expect(() => checkAkStrength(ec('P-521'))).toThrow(expect.objectContaining({ code: 'ERR_VTPM_SCHEME' }));
    expect(() => checkAkStrength(ec('secp256k1'))).toThrow(expect.objectContaining({ code: 'ERR_VTPM_SCHEME' }));
    expect(() => checkAkStrength({ key: generateKeyPairSync('ed25519').publicKey, source: 'PEM' })).toThrow(expect.objectContaining({ code: 'ERR_VTPM_SCHEME' }));
  });
});

describe.skipIf(!HAVE_VECTORS)('review s8-2 on the real RSA-2048 attestation keys', () => {
  const read = (rel: string) => new Uint8Array(readFileSync(join(VECTORS_DIR, rel)));

  it('GCE COS 85 AK (TPMT_PUBLIC) and go-attestation Windows AK are RSA-2048 / 65537', () => {
    expect(checkAkStrength(keyFromTpmPublic(parseTpmPublic(read('go-tpm-tools/extracted/gce-cos-85-nonce9009/ak_pub.tpmt_public'))))).toBe('RSA-2048');
    expect(checkAkStrength(keyFromTpmPublic(parseTpmPublic(read('go-attestation/extracted/windows_gcp_shielded_vm/ak_public.tpmt_public'))))).toBe('RSA-2048');
  });

  it('trustee Genoa HCLAkPub (JWK in the HCL runtime data) is RSA-2048 / 65537; the same key as PEM too', () => {
    const e = JSON.parse(readFileSync(join(VECTORS_DIR, 'trustee/deps/verifier/test_data/az-snp-vtpm/evidence-genoa.json'), 'utf8')) as { report: number[] };
    const ak = parseRuntimeData(parseHclReport(new Uint8Array(e.report))).ak;
    expect(checkAkStrength(ak)).toBe('RSA-2048');
    expect(checkAkStrength(keyFromPem(ak.key.export({ type: 'spki', format: 'pem' }).toString()))).toBe('RSA-2048');
  });
});
