/**
 * The key broker's cryptography, all node:crypto:
 * - keys at rest: AES-256-GCM under the master key, AAD = "tee-kbs key v2" ‖ id ‖ version ‖
 *   policy id ‖ SHA-256(policy document), so a ciphertext cannot be moved to another row and a key
 *   row pointed at another policy no longer opens (review s7; the first brokers' AAD had only id and
 *   version, kept for the one-time upgrade);
 * - row integrity (review s7): keys derived from the master key with HKDF-SHA256, one per label,
 *   MAC the policy rows and the admin-token rows; an admin token is stored as
 *   HMAC(SHA-256(token)), so write access to the database alone cannot add a policy, change one
 *   or mint a token;
 * - release: a fresh 256-bit SWK per request; wrapped_key = the 12-byte-header
 *   container (protocols.md §1.3) of AES-256-GCM(SWK, key); wrapped_swk =
 *   RSA-OAEP(SHA-256, MGF1-SHA-256, empty label)(SWK) under the requester key (§4.3);
 * - the requester key from `user_data`: exactly one DER SubjectPublicKeyInfo (CNAP / loader
 *   clients) or Intel's raw form u32-LE exponent ‖ modulus (BE for TDX, LE for SGX) of a whole key
 *   size; nothing else may share the bytes REPORTDATA binds (review s11 #1);
 * - the REPORTDATA binding (T41 / S29 / X11): SHA-512(user_data) or, in nonce
 *   mode, SHA-512(val ‖ iat ‖ user_data) (protocols.md §3, §5).
 */
import { constants, createCipheriv, createDecipheriv, createHash, createHmac, createPublicKey, hkdfSync, publicEncrypt, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

import { KbsError } from './errors.js';

export const MASTER_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Intel's ITA KBS requires more than 2048 bits; we accept 2048 and above (brief: reject under 2048). */
export const MIN_RSA_BITS = 2048;
/**
 * The largest modulus and exponent a requester key may have (review s9 K4): each release costs one
 * OAEP encryption under it, and a ~3070-bit exponent made that a private-key-sized exponentiation
 * (about 85 times e = 65537). The exponent fits the raw form's u32, as Intel's format allows.
 */
export const MAX_RSA_BITS = 8192;
export const MAX_RSA_EXPONENT = 2n ** 32n - 1n;

export interface SealedKey {
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/** What a sealed key is bound to besides its id and version: the policy that decides its release. */
export interface SealBinding {
  policyId: string;
  /** SHA-256 (hex) of the policy document, policyDigest(). */
  policyDigest: string;
}

/** Without a binding: the AAD of the brokers before review s7 (read once, at the integrity upgrade). */
const keyAad = (id: string, version: number, binding?: SealBinding): Buffer =>
  binding === undefined
    ? Buffer.from(`tee-kbs key\0${id}\0${version}`, 'utf8')
    : Buffer.from(`tee-kbs key v2\0${id}\0${version}\0${binding.policyId}\0${binding.policyDigest}`, 'utf8');

export const policyDigest = (document: string): string => createHash('sha256').update(document, 'utf8').digest('hex');

/** Encrypts key material under the master key for storage, bound to its policy (a binding is always given except in tests of the upgrade). */
export function sealKey(master: Buffer, id: string, version: number, material: Uint8Array, binding?: SealBinding): SealedKey {
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', master, iv);
  c.setAAD(keyAad(id, version, binding));
  const ciphertext = Buffer.concat([c.update(material), c.final()]);
  return { iv, ciphertext, tag: c.getAuthTag() };
}

/**
 * Decrypts stored key material. The master key was checked at start, so a failure means the row was
 * changed outside the broker (moved to another key or policy, another version): ERR_KBS_INTEGRITY.
 */
export function openKey(master: Buffer, id: string, version: number, sealed: SealedKey, binding?: SealBinding): Buffer {
  try {
    const d = createDecipheriv('aes-256-gcm', master, sealed.iv);
    d.setAAD(keyAad(id, version, binding));
    d.setAuthTag(sealed.tag);
    return Buffer.concat([d.update(sealed.ciphertext), d.final()]);
  } catch (cause) {
    throw new KbsError('ERR_KBS_INTEGRITY', 500, `key ${id}: its sealed material does not authenticate for this id, version and policy (the row was changed or moved outside the broker); nothing is released`, { cause });
  }
}

/** The keys derived from the master key (HKDF-SHA256, one info label each). */
export interface IntegrityKeys {
  /** MAC of a policy row: id, format, document. */
  policy: Buffer;
  /** The stored form of an admin token: HMAC(SHA-256(token)). */
  tokenDigest: Buffer;
  /** MAC of an admin-token row: id, digest, created, expiry. */
  tokenRow: Buffer;
}

const derive = (master: Buffer, label: string): Buffer => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `tee-kbs ${label} v1`, 32));

export function integrityKeys(master: Buffer): IntegrityKeys {
  return { policy: derive(master, 'policy row mac'), tokenDigest: derive(master, 'admin token digest'), tokenRow: derive(master, 'admin token row mac') };
}

/** HMAC over length-prefixed fields: no two field lists give the same input. */
function macOf(key: Buffer, domain: string, fields: readonly string[]): string {
  const h = createHmac('sha256', key).update(domain, 'utf8');
  for (const f of fields) {
    const b = Buffer.from(f, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length, 0);
    h.update(len).update(b);
  }
  return h.digest('hex');
}

/** The MAC of a policy row: everything that decides a release under it. */
export const policyMac = (k: IntegrityKeys, id: string, format: string, document: string): string => macOf(k.policy, 'policy', [id, format, document]);

/** The stored form of an admin token: HMAC over its SHA-256 (so rows of the SHA-256 era convert without the token). */
export const tokenDigest = (k: IntegrityKeys, sha256Hex: string): string => macOf(k.tokenDigest, 'token', [sha256Hex]);

/** The MAC of an admin-token row, its scopes included (review s9: a database writer cannot widen a token's scopes). */
export const tokenRowMac = (k: IntegrityKeys, id: string, digest: string, createdAt: string, expiresAt: string | null, scopes: string): string =>
  macOf(k.tokenRow, 'token row', [id, digest, createdAt, expiresAt ?? '', scopes]);

/** The MAC of an admin-token row before scopes (schema 4 to 6): read once, by the scopes migration. */
export const tokenRowMacV1 = (k: IntegrityKeys, id: string, digest: string, createdAt: string, expiresAt: string | null): string =>
  macOf(k.tokenRow, 'token row', [id, digest, createdAt, expiresAt ?? '']);

/** Constant-time comparison of two hex MACs. */
export function sameMac(a: string | null | undefined, b: string): boolean {
  if (typeof a !== 'string' || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The 12-byte-header container of protocols.md §1.3: LE u32 iv_len, tag_len, data_len (= ciphertext + tag), IV, ciphertext, tag. */
export function encryptContainer(key: Uint8Array, plaintext: Uint8Array): Buffer {
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
  const header = Buffer.alloc(12);
  header.writeUInt32LE(IV_BYTES, 0);
  header.writeUInt32LE(TAG_BYTES, 4);
  header.writeUInt32LE(ciphertext.length + TAG_BYTES, 8);
  return Buffer.concat([header, iv, ciphertext, c.getAuthTag()]);
}

/** Reads the container (tests and tools); data_len is checked, not trusted. */
export function decryptContainer(key: Uint8Array, container: Uint8Array): Buffer {
  const b = Buffer.from(container.buffer, container.byteOffset, container.byteLength);
  if (b.length < 12) throw new KbsError('ERR_KBS_BAD_REQUEST', 400, 'container shorter than its header');
  const ivLen = b.readUInt32LE(0);
  const tagLen = b.readUInt32LE(4);
  const dataLen = b.readUInt32LE(8);
  if (ivLen !== IV_BYTES || tagLen !== TAG_BYTES || 12 + ivLen + dataLen !== b.length) {
    throw new KbsError('ERR_KBS_BAD_REQUEST', 400, 'container header does not match its length');
  }
  try {
    const d = createDecipheriv('aes-256-gcm', key, b.subarray(12, 12 + ivLen));
    d.setAuthTag(b.subarray(b.length - tagLen));
    return Buffer.concat([d.update(b.subarray(12 + ivLen, b.length - tagLen)), d.final()]);
  } catch (cause) {
    // A wrong key, a tampered ciphertext or tag: the same answer, and no plaintext.
    throw new KbsError('ERR_KBS_BAD_REQUEST', 400, 'container does not decrypt under this key (authentication failed)', { cause });
  }
}

/** wrapped_key and wrapped_swk for one release (protocols.md §4.3); the SWK never leaves this function unwrapped. */
export function wrapForRequester(material: Uint8Array, requester: KeyObject): { wrappedKey: string; wrappedSwk: string } {
  const swk = randomBytes(32);
  try {
    const wrappedKey = encryptContainer(swk, material).toString('base64');
    const wrappedSwk = publicEncrypt({ key: requester, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, swk).toString('base64');
    return { wrappedKey, wrappedSwk };
  } finally {
    swk.fill(0);
  }
}

export type UserDataForm = 'spki-der' | 'ita-raw';

export interface RequesterKey {
  key: KeyObject;
  bits: number;
  form: UserDataForm;
}

const base64url = (b: Buffer): string => b.toString('base64url');

/** The raw form's modulus sizes: whole multiples of 1024 bits (2048, 3072, 4096, … 8192). */
export const RAW_MODULUS_STEP_BITS = 1024;

function rsaFromRaw(u: Buffer, modulusOrder: 'be' | 'le'): KeyObject {
  const e = u.readUInt32LE(0);
  if (e < 3 || e % 2 === 0) throw new KbsError('ERR_KBS_USER_DATA', 400, 'user_data: raw form exponent must be odd and at least 3', { check: 'X11' });
  const modulus = Buffer.from(u.subarray(4));
  if (modulusOrder === 'le') modulus.reverse();
  // The raw form has no length field: the modulus is whatever follows the exponent. Holding it to a
  // whole key size, top bit set, leaves no room for bytes put in front of a client's key (review s11 #1:
  // a relaying broker's prefix would make a longer modulus whose factors it chose).
  if ((modulus[0] ?? 0) < 0x80 || (modulus.length * 8) % RAW_MODULUS_STEP_BITS !== 0) {
    throw new KbsError('ERR_KBS_USER_DATA', 400, `user_data: the raw form's modulus must be a whole key size (a multiple of ${RAW_MODULUS_STEP_BITS} bits, top bit set); this one is ${modulus.length} bytes`, { check: 'X11' });
  }
  const eBytes = Buffer.alloc(4);
  eBytes.writeUInt32BE(e, 0);
  let i = 0;
  while (i < 3 && eBytes[i] === 0) i++;
  return createPublicKey({ key: { kty: 'RSA', n: base64url(modulus), e: base64url(eBytes.subarray(i)) }, format: 'jwk' });
}

/**
 * The requester's RSA public key from user_data bytes (X11). DER SPKI starts
 * with 0x30 (SEQUENCE); the raw form's first byte is the exponent's low byte,
 * which is odd for any valid exponent, so the two never collide.
 */
export function parseRequesterKey(u: Buffer, tee: 'tdx' | 'sgx' | 'snp'): RequesterKey {
  if (u.length < 64) throw new KbsError('ERR_KBS_USER_DATA', 400, 'user_data is too short to hold an RSA public key', { check: 'X11' });
  let key: KeyObject;
  let form: UserDataForm;
  try {
    if (u[0] === 0x30) {
      key = createPublicKey({ key: u, format: 'der', type: 'spki' });
      // Exactly one DER SPKI (review s11 #1): the parser stops at the end of the first structure, and
      // bytes after it (or a non-DER spelling of it) would let REPORTDATA bind more than the key used.
      if (!equalBytes(key.export({ type: 'spki', format: 'der' }), u)) {
        throw new KbsError('ERR_KBS_USER_DATA', 400, 'user_data must be exactly one DER SubjectPublicKeyInfo: bytes follow it or it is not in DER', { check: 'X11' });
      }
      form = 'spki-der';
    } else {
      key = rsaFromRaw(u, tee === 'sgx' ? 'le' : 'be');
      form = 'ita-raw';
    }
  } catch (cause) {
    if (cause instanceof KbsError) throw cause;
    throw new KbsError('ERR_KBS_USER_DATA', 400, 'user_data is neither a DER SubjectPublicKeyInfo nor the raw exponent ‖ modulus form', { check: 'X11', cause });
  }
  if (key.asymmetricKeyType !== 'rsa') throw new KbsError('ERR_KBS_USER_DATA', 400, `user_data holds a ${key.asymmetricKeyType ?? 'non-RSA'} key; RSA is required`, { check: 'X11' });
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) throw new KbsError('ERR_KBS_USER_DATA', 400, `the RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required`, { check: 'X11' });
  if (bits > MAX_RSA_BITS) throw new KbsError('ERR_KBS_USER_DATA', 400, `the RSA key has ${bits} bits; at most ${MAX_RSA_BITS} are accepted`, { check: 'X11' });
  const e = key.asymmetricKeyDetails?.publicExponent ?? 0n;
  if (e < 3n || e > MAX_RSA_EXPONENT || e % 2n === 0n) {
    throw new KbsError('ERR_KBS_USER_DATA', 400, `the RSA public exponent must be odd and from 3 to 2^32 - 1 (65537 is usual); this one has ${e.toString(2).length} bits`, { check: 'X11' });
  }
  return { key, bits, form };
}

/**
 * What identifies a release without a nonce (review s9 K1): SHA-256 over the key id, the version
 * released, its policy id, the evidence (without zero padding) and user_data, each length-prefixed.
 * The same body replayed gives the same digest, so its release is counted, not logged again; a
 * rotation or a move gives a new full row.
 */
export function releaseDigest(keyId: string, version: number, policyId: string, evidence: Uint8Array, userData: Uint8Array): string {
  const h = createHash('sha256').update('tee-kbs release v1', 'utf8');
  for (const f of [Buffer.from(keyId, 'utf8'), Buffer.from(String(version), 'utf8'), Buffer.from(policyId, 'utf8'), evidence, userData]) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(f.length, 0);
    h.update(len).update(f);
  }
  return h.digest('hex');
}

/** T41 / S29: the 64 bytes REPORTDATA must equal. */
export function expectedReportData(userData: Buffer, nonce?: { val: Buffer; iat: Buffer }): Buffer {
  const h = createHash('sha512');
  if (nonce) h.update(nonce.val).update(nonce.iat);
  return h.update(userData).digest();
}

/** SHA-256 of the token text: what the first brokers stored, the input of tokenDigest now. */
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

export const newToken = (): string => randomBytes(32).toString('base64url');

/** The nonce signature: HMAC-SHA256 under a key derived from the master key. */
export function nonceSignature(master: Buffer, val: Buffer, iat: Buffer): Buffer {
  const k = createHmac('sha256', master).update('tee-kbs nonce signing key').digest();
  return createHmac('sha256', k).update(val).update(Buffer.from([0])).update(iat).digest();
}

export function equalBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
