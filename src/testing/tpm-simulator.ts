/**
 * A TPM 2.0 simulated in TypeScript for tests and the simulated vTPM
 * provider: PCR banks that start at their reset values (zeros; PCRs 17-22
 * all ones), extends, and TPM2_Quote signed by an attestation key (ECC
 * P-256 / ECDSA-SHA256 by default, or RSA-2048 / RSASSA) whose TPMT_PUBLIC
 * is built as tpm2_createak makes it. Only the quote path is simulated; no
 * command interface, no hierarchy: qualifiedSigner is the AK's Name (a real
 * TPM puts the Qualified Name there; the verifier checks only its algorithm
 * and size without an expected value).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

import { generateEcKeyObjects } from '../crypto/ec-keys.js';
import type { TpmHashName } from '../vtpm/types.js';
import { buildAkPublic, buildTpmsAttest, quotePcrDigest, signTpmsAttest, tpmNameOf, type AttestFields, type QuoteSelection } from './tpm-builders.js';

export type SimulatedBank = Exclude<TpmHashName, 'sm3_256'>;

const DIGEST_SIZE: Record<SimulatedBank, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

export interface SimulatedTpmOptions {
  /** Default ['sha1', 'sha256']. */
  banks?: readonly SimulatedBank[];
  /** Default 'ecc'. */
  akType?: 'ecc' | 'rsa';
  /** Use this key pair as the AK instead of generating one (any origin: buildAkPublic exports a DER copy, never the key itself, as a JWK). */
  akKey?: { privateKey: KeyObject; publicKey: KeyObject };
}

export interface SimulatedQuote {
  attest: Uint8Array;
  signature: Uint8Array;
  /** The values of the quoted PCRs, bank → index (decimal string) → value. */
  pcrs: Partial<Record<SimulatedBank, Record<string, Uint8Array>>>;
}

/**
 * An RSA-2048 AK whose halves do not share a lock with a key-generation job:
 * node:crypto has no job-free RSA generation (EC has, ec-keys.ts), so both
 * halves are re-imported from DER, which does not take the job's lock. A JWK
 * export of a job-made key can deadlock Node 20 (docs/decisions.md, session 8;
 * review s10, V3).
 */
function generateRsaAk(): { privateKey: KeyObject; publicKey: KeyObject } {
  const made = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey: createPrivateKey({ key: made.privateKey.export({ type: 'pkcs8', format: 'der' }), format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: made.publicKey.export({ type: 'spki', format: 'der' }), format: 'der', type: 'spki' }),
  };
}

export class SimulatedTpm {
  readonly banks: readonly SimulatedBank[];
  readonly #pcrs = new Map<SimulatedBank, Uint8Array[]>();
  readonly #ak: { privateKey: KeyObject; publicKey: KeyObject };
  /** TPMT_PUBLIC of the attestation key (no size prefix). */
  readonly akPublic: Uint8Array;
  #clock = 1_000_000n;

  constructor(o: SimulatedTpmOptions = {}) {
    this.banks = [...(o.banks ?? ['sha1', 'sha256'])];
    for (const b of this.banks) this.#pcrs.set(b, Array.from({ length: 24 }, (_, i) => new Uint8Array(DIGEST_SIZE[b]).fill(i >= 17 && i <= 22 ? 0xff : 0)));
    this.#ak = o.akKey ?? (o.akType === 'rsa' ? generateRsaAk() : generateEcKeyObjects('P-256'));
    this.akPublic = buildAkPublic(this.#ak.publicKey);
  }

  get akPrivateKey(): KeyObject {
    return this.#ak.privateKey;
  }

  /** PCR ← H(PCR ‖ digest) in each bank given. */
  extend(pcr: number, digests: Partial<Record<SimulatedBank, Uint8Array>>): void {
    for (const [bank, digest] of Object.entries(digests) as [SimulatedBank, Uint8Array][]) {
      const values = this.#pcrs.get(bank);
      if (!values) continue; // a bank this TPM does not have
      if (digest.length !== DIGEST_SIZE[bank]) throw new RangeError(`${bank} digest must be ${DIGEST_SIZE[bank]} bytes`);
      values[pcr] = new Uint8Array(createHash(bank).update(values[pcr]!).update(digest).digest());
    }
  }

  read(bank: SimulatedBank, pcr: number): Uint8Array {
    const v = this.#pcrs.get(bank)?.[pcr];
    if (!v) throw new RangeError(`no ${bank} PCR ${pcr}`);
    return new Uint8Array(v);
  }

  /**
   * TPM2_Quote over `selections` with `extraData` as qualifying data.
   * `overrides` replaces fields of the TPMS_ATTEST (defective quotes for tests).
   */
  quote(selections: readonly QuoteSelection[], extraData: Uint8Array, overrides: Partial<AttestFields> = {}): SimulatedQuote {
    if (extraData.length > 64) throw new RangeError('extraData larger than TPM2B_DATA (64 bytes)');
    const pcrs: SimulatedQuote['pcrs'] = {};
    const byIndex: Partial<Record<string, Record<number, Uint8Array>>> = {};
    for (const s of selections) {
      for (const p of s.pcrs) {
        const v = this.read(s.bank, p);
        (pcrs[s.bank] ??= {})[String(p)] = v;
        (byIndex[s.bank] ??= {})[p] = v;
      }
    }
    this.#clock += 1000n;
    const attest = buildTpmsAttest({
      qualifiedSigner: tpmNameOf(this.akPublic),
      extraData,
      clock: this.#clock,
      selections,
      pcrDigest: quotePcrDigest(selections, byIndex),
      ...overrides,
    });
    return { attest, signature: signTpmsAttest(attest, this.#ak.privateKey), pcrs };
  }
}
