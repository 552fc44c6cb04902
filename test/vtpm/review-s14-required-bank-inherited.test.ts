/**
 * s14 change review, R2 (review s14 vTPM finding 2 bypassed): checkRequiredBankOption looked only
 * at an own `requiredBank`, while VT12 read it through the prototype chain and its 'sha1' branch
 * relied on the option check having refused it without allowSha1. verifyTpmQuotes (exported from
 * tee-verify/vtpm) given `Object.create({ requiredBank: 'sha1' })` or a class with a requiredBank
 * getter passed a SHA-1-only set as "accepted by the allowSha1 relaxation" although allowSha1 was
 * never set. Now the option check reads any value that is not undefined (own or inherited, once),
 * VT12 uses that value, and VT12 refuses 'sha1' without allowSha1 itself. Fails on the code before
 * (5 of 7; the own-key and own-undefined controls pass).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import { buildAkPublic, buildTpmsAttest, quotePcrDigest, signTpmsAttest } from '../../src/testing/index.js';
import { keyFromTpmPublic } from '../../src/vtpm/tpm-key.js';
import { parseTpmPublic, parseTpmQuote, parseTpmSignature } from '../../src/vtpm/parse.js';
import { pcrBanksFrom, verifyTpmQuotes, type QuoteVerifyOptions } from '../../src/vtpm/quote.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';

function sha1Only() {
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
  const pcrs = { sha1: { '0': values[0], '7': values[7] } };
  const q = { attest, signature: signTpmsAttest(attest, privateKey) };
  return {
    nonce, publicKey, akPublic, pcrs, q,
    quotes: [{ quote: parseTpmQuote(attest), signature: parseTpmSignature(q.signature) }],
    ak: keyFromTpmPublic(parseTpmPublic(akPublic)),
  };
}

const outcome = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    const err = e as { code?: string; details?: { option?: string } };
    return `${err.code}:${err.details?.option ?? ''}`;
  }
};

class QuoteOptions {
  constructor(readonly nonce: Uint8Array) {}
  get requiredBank() {
    return 'sha1' as const;
  }
}

describe('s14 change review R2: an inherited requiredBank is checked as an own one', () => {
  it("control: an own requiredBank 'sha1' without allowSha1 is ERR_INVALID_ARGUMENT (requiredBank)", () => {
    const t = sha1Only();
    expect(outcome(() => verifyTpmQuotes(t.quotes, t.ak, pcrBanksFrom(t.pcrs), { nonce: t.nonce, requiredBank: 'sha1' }))).toBe('ERR_INVALID_ARGUMENT:requiredBank');
  });

  it('control: an own requiredBank whose value is undefined is still refused (review s13 CR polb #1)', () => {
    const t = sha1Only();
    expect(outcome(() => verifyTpmQuotes(t.quotes, t.ak, pcrBanksFrom(t.pcrs), { nonce: t.nonce, requiredBank: undefined }))).toBe('ERR_INVALID_ARGUMENT:requiredBank');
  });

  it("verifyTpmQuotes: Object.create({ requiredBank: 'sha1' }) without allowSha1 is ERR_INVALID_ARGUMENT (requiredBank)", () => {
    const t = sha1Only();
    const options = Object.assign(Object.create({ requiredBank: 'sha1' }) as QuoteVerifyOptions, { nonce: t.nonce });
    expect(outcome(() => verifyTpmQuotes(t.quotes, t.ak, pcrBanksFrom(t.pcrs), options))).toBe('ERR_INVALID_ARGUMENT:requiredBank');
  });

  it('verifyTpmQuotes: a class whose requiredBank is a prototype getter is refused the same way', () => {
    const t = sha1Only();
    expect(outcome(() => verifyTpmQuotes(t.quotes, t.ak, pcrBanksFrom(t.pcrs), new QuoteOptions(t.nonce) as QuoteVerifyOptions))).toBe('ERR_INVALID_ARGUMENT:requiredBank');
  });

  it('an inherited requiredBank must name a bank', () => {
    const t = sha1Only();
    const options = Object.assign(Object.create({ requiredBank: 'md5' }) as QuoteVerifyOptions, { nonce: t.nonce });
    expect(outcome(() => verifyTpmQuotes(t.quotes, t.ak, pcrBanksFrom(t.pcrs), options))).toBe('ERR_INVALID_ARGUMENT:requiredBank');
  });

  it("VT12 refuses requiredBank 'sha1' without allowSha1 itself: an allowSha1 getter true on the option check, then unset", () => {
    const t = sha1Only();
    let reads = 0;
    const options = {
      nonce: t.nonce,
      requiredBank: 'sha1' as const,
      get allowSha1() {
        reads += 1;
        return reads === 1 ? true : undefined;
      },
    };
    expect(outcome(() => verifyTpmQuotes(t.quotes, t.ak, pcrBanksFrom(t.pcrs), options))).toBe('ERR_INVALID_ARGUMENT:requiredBank');
  });

  it('verifyVtpmEvidence: an inherited requiredBank sha1 is refused under its own name', async () => {
    const t = sha1Only();
    const options = Object.assign(Object.create({ requiredBank: 'sha1' }), { nonce: t.nonce, trustedAk: t.publicKey });
    const err = await verifyVtpmEvidence({ nonce: t.nonce, tpm: { ak: { public: t.akPublic }, quotes: [t.q], pcrs: t.pcrs } }, options).then(
      () => undefined,
      (e: { code?: string; message?: string; details?: { option?: string } }) => e,
    );
    expect(err?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(err?.details?.option).toBe('requiredBank');
    expect(err?.message).toMatch(/^verifyVtpmEvidence: /);
  });
});
