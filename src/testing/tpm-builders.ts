/**
 * TPM 2.0 structures for tests (TPM 2.0 Part 2, big-endian): an attestation
 * key's TPMT_PUBLIC, a quote's TPMS_ATTEST and its TPMT_SIGNATURE. Every
 * field can be overridden so tests can build defective quotes (another
 * nonce, a wrong pcrDigest, a wrong magic, a signature by another key).
 * The simulated TPM (tpm-simulator.ts) uses the same builders.
 */
import { createHash, createPublicKey, sign as cryptoSign, type JsonWebKey, type KeyObject } from 'node:crypto';

import { TpmAlg, TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE, type TpmHashName } from '../vtpm/types.js';

/** TPMA_OBJECT of an attestation key as tpm2_createak makes it: fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth, restricted, sign. */
export const AK_OBJECT_ATTRIBUTES = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 16) | (1 << 18);

const HASH_ALG: Record<Exclude<TpmHashName, 'sm3_256'>, number> = { sha1: TpmAlg.SHA1, sha256: TpmAlg.SHA256, sha384: TpmAlg.SHA384, sha512: TpmAlg.SHA512 };
const TPM_ECC_NIST_P256 = 0x0003;

function u16(v: number): Uint8Array {
  return Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
}

function u32(v: number): Uint8Array {
  return Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

function u64(v: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, v);
  return out;
}

/** A TPM2B: u16 size then the bytes. */
function tpm2b(b: Uint8Array): Uint8Array {
  if (b.length > 0xffff) throw new RangeError('TPM2B larger than 65535 bytes');
  return concat([u16(b.length), b]);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function hashAlgOf(bank: TpmHashName): number {
  if (bank === 'sm3_256') return TpmAlg.SM3_256;
  return HASH_ALG[bank];
}

/**
 * The JWK of a copy of `publicKey` imported from its DER. A JWK export holds
 * the key's lock while it allocates; a key made by generateKeyPair(Sync)
 * shares that lock with its key-generation job, and on Node 20 a collection
 * of the job during the export deadlocks the thread (src/crypto/ec-keys.ts).
 * The copy's lock is its own, and the DER export does not take the lock, so
 * the caller's key can come from anywhere (review s10, V3).
 */
function jwkOfCopy(publicKey: KeyObject): JsonWebKey {
  return createPublicKey({ key: publicKey.export({ type: 'spki', format: 'der' }), format: 'der', type: 'spki' }).export({ format: 'jwk' });
}

/** The public part of a node:crypto key as a TPMT_PUBLIC of a restricted signing key (ECC P-256 / ECDSA-SHA256, or RSA / RSASSA-SHA256). */
export function buildAkPublic(publicKey: KeyObject, o: { nameAlg?: number; objectAttributes?: number } = {}): Uint8Array {
  const jwk = jwkOfCopy(publicKey);
  const head = [u16(publicKey.asymmetricKeyType === 'ec' ? TpmAlg.ECC : TpmAlg.RSA), u16(o.nameAlg ?? TpmAlg.SHA256), u32((o.objectAttributes ?? AK_OBJECT_ATTRIBUTES) >>> 0), tpm2b(new Uint8Array(0))];
  if (publicKey.asymmetricKeyType === 'ec') {
    if (jwk.crv !== 'P-256') throw new RangeError('only P-256 EC attestation keys are built');
    const x = Buffer.from(jwk.x!, 'base64url');
    const y = Buffer.from(jwk.y!, 'base64url');
    // TPMS_ECC_PARMS: symmetric NULL, scheme ECDSA(SHA-256), curve P-256, kdf NULL; unique TPMS_ECC_POINT.
    return concat([...head, u16(TpmAlg.NULL), u16(TpmAlg.ECDSA), u16(TpmAlg.SHA256), u16(TPM_ECC_NIST_P256), u16(TpmAlg.NULL), tpm2b(x), tpm2b(y)]);
  }
  if (publicKey.asymmetricKeyType === 'rsa') {
    const n = Buffer.from(jwk.n!, 'base64url');
    const e = Buffer.from(jwk.e!, 'base64url');
    const exponent = e.length === 3 && e.readUIntBE(0, 3) === 65537 ? 0 : e.readUIntBE(0, e.length);
    // TPMS_RSA_PARMS: symmetric NULL, scheme RSASSA(SHA-256), keyBits, exponent (0 = 65537); unique TPM2B_PUBLIC_KEY_RSA.
    return concat([...head, u16(TpmAlg.NULL), u16(TpmAlg.RSASSA), u16(TpmAlg.SHA256), u16(n.length * 8), u32(exponent), tpm2b(n)]);
  }
  throw new RangeError(`attestation keys are EC or RSA, not ${String(publicKey.asymmetricKeyType)}`);
}

/** nameAlg ‖ H(TPMT_PUBLIC): the key's Name (SHA-256 nameAlg). */
export function tpmNameOf(akPublic: Uint8Array): Uint8Array {
  return concat([u16(TpmAlg.SHA256), createHash('sha256').update(akPublic).digest()]);
}

export interface QuoteSelection {
  bank: Exclude<TpmHashName, 'sm3_256'>;
  pcrs: readonly number[];
}

export interface AttestFields {
  /** Default TPM_GENERATED_VALUE. */
  magic?: number;
  /** Default TPM_ST_ATTEST_QUOTE. */
  type?: number;
  qualifiedSigner: Uint8Array;
  extraData: Uint8Array;
  clock?: bigint;
  resetCount?: number;
  restartCount?: number;
  safe?: boolean;
  firmwareVersion?: bigint;
  selections: readonly QuoteSelection[];
  pcrDigest: Uint8Array;
}

/** TPML_PCR_SELECTION: count, then per bank hash, sizeofSelect (3 bytes = 24 PCRs) and the bitmap. */
function pcrSelection(selections: readonly QuoteSelection[]): Uint8Array {
  const parts: Uint8Array[] = [u32(selections.length)];
  for (const s of selections) {
    const bitmap = new Uint8Array(3);
    for (const p of s.pcrs) bitmap[p >>> 3]! |= 1 << (p & 7);
    parts.push(u16(HASH_ALG[s.bank]), Uint8Array.of(3), bitmap);
  }
  return concat(parts);
}

/** TPMS_ATTEST with TPMS_QUOTE_INFO. */
export function buildTpmsAttest(f: AttestFields): Uint8Array {
  return concat([
    u32(f.magic ?? TPM_GENERATED_VALUE),
    u16(f.type ?? TPM_ST_ATTEST_QUOTE),
    tpm2b(f.qualifiedSigner),
    tpm2b(f.extraData),
    u64(f.clock ?? 1_000_000n),
    u32(f.resetCount ?? 0),
    u32(f.restartCount ?? 0),
    Uint8Array.of(f.safe === false ? 0 : 1),
    u64(f.firmwareVersion ?? 0x2000_0000_0001_0000n),
    pcrSelection(f.selections),
    tpm2b(f.pcrDigest),
  ]);
}

/** H(PCR values in selection order): the quote's pcrDigest. */
export function quotePcrDigest(selections: readonly QuoteSelection[], values: Partial<Record<string, Record<number, Uint8Array>>>, hash = 'sha256'): Uint8Array {
  const h = createHash(hash);
  for (const s of selections) {
    for (const p of [...s.pcrs].sort((a, b) => a - b)) {
      const v = values[s.bank]?.[p];
      if (!v) throw new RangeError(`no ${s.bank} value for PCR ${p}`);
      h.update(v);
    }
  }
  return new Uint8Array(h.digest());
}

/** TPMT_SIGNATURE over `attest` with SHA-256: ECDSA (r, s as TPM2B) for EC keys, RSASSA for RSA keys. */
export function signTpmsAttest(attest: Uint8Array, privateKey: KeyObject): Uint8Array {
  if (privateKey.asymmetricKeyType === 'ec') {
    const rs = cryptoSign('sha256', attest, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return concat([u16(TpmAlg.ECDSA), u16(TpmAlg.SHA256), tpm2b(rs.subarray(0, 32)), tpm2b(rs.subarray(32))]);
  }
  const sig = cryptoSign('sha256', attest, privateKey);
  return concat([u16(TpmAlg.RSASSA), u16(TpmAlg.SHA256), tpm2b(sig)]);
}
