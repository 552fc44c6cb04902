/**
 * Does a broker's nonce let another broker read our evidence as a key of its choosing? (review s11
 * relay, second round.)
 *
 * REPORTDATA = SHA-512(val ‖ iat ‖ user_data) carries no lengths (ITA's rule, protocols.md §5). The
 * evidence binds exactly those bytes, so whoever relays it to a broker B must hand B the same bytes,
 * split as B's nonce ‖ B's user_data. B's nonce is B's own random value: the broker we asked can place
 * it only inside the nonce it gave us, never inside our user_data (which it sees only afterwards). So
 * B's user_data is one of the suffixes of val ‖ iat ‖ user_data that start inside val or iat (offset 0
 * when B takes transfers without a nonce), or our user_data itself. Each such suffix is run through the
 * broker's own parser (parseRequesterKey), in every byte order it reads: DER SPKI, the raw form with a
 * big-endian modulus (TDX, SEV-SNP) and with a little-endian one (SGX). If one parses, the nonce is
 * refused before any evidence is made. A genuine nonce never trips this: its bytes are random or a
 * timestamp, a DER SPKI needs some 30 fixed header bytes, and the raw form needs a whole key size
 * (docs/decisions.md, "Review s11 — key broker, second round").
 */
import { parseRequesterKey } from '../kbs/crypto.js';

export interface NonceSplit {
  /** Where the key B would read starts, in val ‖ iat (0 = the whole nonce: a broker without nonces). */
  offset: number;
  /** The form B's parser read: 'spki-der', or 'ita-raw' with the modulus order of the TEE it was parsed for. */
  form: 'spki-der' | 'ita-raw-be' | 'ita-raw-le';
  bits: number;
}

/** The parses a broker runs on user_data: TDX / SEV-SNP (DER or raw big-endian) and SGX (DER or raw little-endian). */
const ORDERS = [
  ['tdx', 'ita-raw-be'],
  ['sgx', 'ita-raw-le'],
] as const;

/**
 * The first split of `nonceBytes ‖ userData` that gives a broker a requester key other than ours, or
 * undefined. `nonceBytes` is val ‖ iat as they will be hashed.
 */
export function keyInNonceSplit(nonceBytes: Uint8Array, userData: Uint8Array): NonceSplit | undefined {
  const all = Buffer.concat([nonceBytes, userData]);
  for (let offset = 0; offset < nonceBytes.length; offset++) {
    const suffix = all.subarray(offset);
    for (const [tee, raw] of ORDERS) {
      try {
        const k = parseRequesterKey(suffix, tee);
        return { offset, form: k.form === 'spki-der' ? 'spki-der' : raw, bits: k.bits };
      } catch {
        // not a key this broker accepts: the split is harmless
      }
    }
  }
  return undefined;
}
