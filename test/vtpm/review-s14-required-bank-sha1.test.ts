/**
 * Review s14, vTPM finding 2: `requiredBank: 'sha1'` accepted a SHA-1-only quote set without
 * allowSha1 and without a warning (VT12 "the required sha1 bank is quoted"), against docs/vtpm.md
 * VT12 and decisions.md ("SHA-1 PCR banks … are refused unless allowSha1, each use a warning").
 * Now requiredBank 'sha1' without allowSha1 is ERR_INVALID_ARGUMENT (option requiredBank), and with
 * it a SHA-1-only set passes with the allowSha1 warning. requiredBank must name a bank.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import { buildAkPublic, buildTpmsAttest, quotePcrDigest, signTpmsAttest } from '../../src/testing/index.js';
import type { VtpmBundle } from '../../src/vtpm/bundle.js';
import { keyFromTpmPublic } from '../../src/vtpm/tpm-key.js';
import { parseTpmPublic, parseTpmQuote, parseTpmSignature } from '../../src/vtpm/parse.js';
import { pcrBanksFrom, verifyTpmQuotes } from '../../src/vtpm/quote.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';

function sha1OnlyBundle() {
  const { publicKey, privateKey } = generateEcKeyObjects('P-256');
  const nonce = new Uint8Array(randomBytes(32));
  const values = { 0: new Uint8Array(20).fill(1), 7: new Uint8Array(20).fill(7) };
  const selections = [{ bank: 'sha1' as const, pcrs: [0, 7] }];
  const attest = buildTpmsAttest({
    qualifiedSigner: new Uint8Array(Buffer.concat([Buffer.from([0, 0x0b]), randomBytes(32)])),
    extraData: nonce,
    selections,
    pcrDigest: quotePcrDigest(selections, { sha1: values }),
  });
  const akPublic = buildAkPublic(publicKey);
  const bundle: VtpmBundle = {
    nonce,
    tpm: { ak: { public: akPublic }, quotes: [{ attest, signature: signTpmsAttest(attest, privateKey) }], pcrs: { sha1: { '0': values[0], '7': values[7] } } },
  };
  return { bundle, nonce, publicKey, akPublic };
}

const codeOf = async (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string; details?: { option?: string } }) => `${e.code}:${e.details?.option ?? ''}`);

describe('review s14 vTPM #2: requiredBank sha1 is the SHA-1 relaxation', () => {
  it('control: the default required bank refuses a SHA-1-only set (ERR_VTPM_BANK)', async () => {
    const q = sha1OnlyBundle();
    expect(await codeOf(verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.publicKey }))).toBe('ERR_VTPM_BANK:');
  });

  it("verifyVtpmEvidence: requiredBank 'sha1' without allowSha1 is ERR_INVALID_ARGUMENT (requiredBank)", async () => {
    const q = sha1OnlyBundle();
    expect(await codeOf(verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.publicKey, requiredBank: 'sha1' }))).toBe('ERR_INVALID_ARGUMENT:requiredBank');
  });

  it("verifyTpmQuotes: requiredBank 'sha1' without allowSha1 is ERR_INVALID_ARGUMENT (requiredBank)", async () => {
    const q = sha1OnlyBundle();
    const quotes = q.bundle.tpm.quotes.map((x) => ({ quote: parseTpmQuote(x.attest), signature: parseTpmSignature(x.signature) }));
    const ak = keyFromTpmPublic(parseTpmPublic(q.akPublic));
    expect(await codeOf(Promise.resolve().then(() => verifyTpmQuotes(quotes, ak, pcrBanksFrom(q.bundle.tpm.pcrs), { nonce: q.nonce, requiredBank: 'sha1' })))).toBe('ERR_INVALID_ARGUMENT:requiredBank');
  });

  it("with allowSha1, requiredBank 'sha1' passes a SHA-1-only set with the allowSha1 warning", async () => {
    const q = sha1OnlyBundle();
    const r = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.publicKey, requiredBank: 'sha1', allowSha1: true });
    expect(r.warnings).toContain('allowSha1: only the SHA-1 PCR bank is quoted (requiredBank sha1)');
    expect(r.checks.find((c) => c.id === 'VT12')?.description).toMatch(/allowSha1 relaxation/);
  });

  it('requiredBank must name a bank', async () => {
    const q = sha1OnlyBundle();
    for (const requiredBank of ['SHA1', 'md5', '', 7] as unknown as 'sha256'[]) {
      expect(await codeOf(verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.publicKey, requiredBank }))).toBe('ERR_INVALID_ARGUMENT:requiredBank');
    }
  });
});
