/**
 * Review s10, V3: the TPM simulator's RSA AK and buildAkPublic never export a
 * key made by a key-generation job as a JWK (the Node 20 deadlock,
 * src/crypto/ec-keys.ts). The race itself cannot be provoked on demand, so
 * the hazard is made visible instead: every key generateKeyPairSync returns
 * here refuses a JWK export, as a stand-in for "shares its job's lock".
 */
import type * as NodeCrypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof NodeCrypto>();
  /** Marks a job-made key: its JWK export throws; DER and PEM exports work. */
  const poison = (key: NodeCrypto.KeyObject): void => {
    const exportKey = key.export.bind(key) as (o: unknown) => unknown;
    Object.defineProperty(key, 'export', {
      value: (o: { format?: string } = {}) => {
        if (o.format === 'jwk') throw new Error('JWK export of a key made by a key-generation job');
        return exportKey(o);
      },
    });
  };
  const generateKeyPairSync = ((...args: Parameters<typeof real.generateKeyPairSync>) => {
    const made = real.generateKeyPairSync(...args) as unknown as { publicKey: NodeCrypto.KeyObject; privateKey: NodeCrypto.KeyObject };
    poison(made.publicKey);
    poison(made.privateKey);
    return made;
  }) as typeof real.generateKeyPairSync;
  return { ...real, default: { ...real, generateKeyPairSync }, generateKeyPairSync };
});

const { generateKeyPairSync } = await import('node:crypto');
const { SimulatedTpm, buildAkPublic } = await import('../../src/testing/index.js');
const { parseTpmPublic, parseTpmQuote, parseTpmSignature } = await import('../../src/vtpm/parse.js');
const { pcrBanksFrom, verifyTpmQuotes } = await import('../../src/vtpm/quote.js');
const { keyFromTpmPublic } = await import('../../src/vtpm/tpm-key.js');

describe('review s10 V3: no JWK export of a job-made key', () => {
  it('the stand-in works: a job-made key refuses a JWK export', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => publicKey.export({ format: 'jwk' })).toThrow(/key-generation job/);
  });

  it("SimulatedTpm({ akType: 'rsa' }) builds its TPMT_PUBLIC and its quotes verify", () => {
    const tpm = new SimulatedTpm({ banks: ['sha256'], akType: 'rsa' });
    const ak = keyFromTpmPublic(parseTpmPublic(tpm.akPublic));
    expect(ak.key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const nonce = new Uint8Array(32).fill(7);
    const q = tpm.quote([{ bank: 'sha256', pcrs: [0, 7] }], nonce);
    const r = verifyTpmQuotes([{ quote: parseTpmQuote(q.attest), signature: parseTpmSignature(q.signature) }], ak, pcrBanksFrom(q.pcrs), { nonce });
    expect(r.quotes[0]!.signatureScheme).toBe('rsassa');
  });

  it('buildAkPublic takes a job-made key (RSA and EC) and encodes the same public key', () => {
    for (const made of [generateKeyPairSync('rsa', { modulusLength: 2048 }), generateKeyPairSync('ec', { namedCurve: 'P-256' })]) {
      const built = keyFromTpmPublic(parseTpmPublic(buildAkPublic(made.publicKey))).key;
      expect(built.export({ type: 'spki', format: 'der' }).equals(made.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    }
  });
});
