/**
 * TPM 2.0 quote verification (TPM 2.0 Part 2, 10.12 TPMS_ATTEST, 11.3
 * TPMT_SIGNATURE). Per quote, in order: attest structure (VT08), AK
 * attributes (VT05), key scheme vs. signature (VT06), signature over the exact
 * TPMS_ATTEST bytes (VT07), qualifiedSigner (VT09), extraData = nonce (VT10),
 * supplied PCR values → pcrDigest (VT11). Over all quotes: the required bank
 * is quoted (VT12) and every supplied PCR value is covered by a quote (VT13).
 * Ids are this project's vTPM check ids (docs/vtpm.md).
 */
import { constants, createHash, timingSafeEqual, verify as cryptoVerify } from 'node:crypto';

import { ecdsaVerify } from '../crypto/ecdsa.js';
import { InvalidArgumentError } from '../errors.js';
import { checkNoUndefinedOptions, checkOptionKeys, type OptionKeys } from '../option-keys.js';
import type { CheckRecord } from '../verify/types.js';
import { VtpmVerificationError, vtpmFail } from './errors.js';
import { toHex } from './pcrs.js';
import { AK_REQUIRED_ATTRIBUTES, TPM_ECC_CURVES, TPM_HASHES, checkAkStrength, TPMA_OBJECT, hashNameOf, tpmName, tpmaObjectNames, type AttestationKey } from './tpm-key.js';
import { TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE, TpmAlg, type TpmHashName, type TpmQuote, type TpmSignature } from './types.js';

/** One quote as the evidence carries it, parsed. */
export interface QuoteEvidence {
  quote: TpmQuote;
  signature: TpmSignature;
}

/** Supplied PCR values: bank → PCR index → value. */
export type PcrBanks = Map<TpmHashName, Map<number, Uint8Array>>;

export interface QuoteVerifyOptions {
  /** The expected extraData (the verifier's fresh nonce); under MIN_FRESH_NONCE_BYTES it is accepted with a warning. */
  nonce: Uint8Array;
  /** Bank that must be quoted; default sha256. */
  requiredBank?: TpmHashName;
  /**
   * Relaxation: accept a quote set whose only bank is SHA-1 when the required
   * bank is missing, and SHA-1 signature hashes. Each use is a warning.
   */
  allowSha1?: boolean;
  /** The AK's Qualified Name, when the caller knows it (tpm2_createak -q): compared exactly. */
  expectedQualifiedSigner?: Uint8Array;
  /**
   * The AK's Name (nameAlg ‖ H(TPMT_PUBLIC)), when the caller knows it from
   * enrolment (credential activation binds it): the bundle's TPMT_PUBLIC must
   * have this Name, which binds its attributes, so VT05 can pass.
   */
  trustedAkName?: Uint8Array;
}

/** The keys QuoteVerifyOptions accepts (the compiler keeps this list equal to the type's keys). */
export const QUOTE_VERIFY_OPTION_KEYS: OptionKeys<QuoteVerifyOptions> = {
  nonce: true,
  requiredBank: true,
  allowSha1: true,
  expectedQualifiedSigner: true,
  trustedAkName: true,
};

export interface QuoteClaims {
  /** Banks and PCR indexes this quote covers. */
  selection: { bank: TpmHashName; pcrs: number[] }[];
  signatureScheme: TpmSignature['scheme'];
  signatureHash: TpmHashName;
  qualifiedSigner: string;
  clock: string;
  resetCount: number;
  restartCount: number;
  safe: boolean;
  firmwareVersion: string;
}

export interface TpmQuotesResult {
  /** The AK's Name (hex) when its TPMT_PUBLIC was given. */
  akName?: string;
  quotes: QuoteClaims[];
  /** The quoted PCR values (lowercase hex), bank → index → value. */
  pcrs: Partial<Record<TpmHashName, Record<string, string>>>;
  checks: CheckRecord[];
  warnings: string[];
}

/**
 * VT10: the shortest expected nonce that establishes freshness (128 bits). A
 * shorter one, empty included, can be matched by a quote made in advance
 * (2 bytes: 65,536 values), so it is accepted with a warning, not refused:
 * real quotes carry such nonces (GCE's 2-byte "9009", Windows' empty one).
 */
export const MIN_FRESH_NONCE_BYTES = 16;

/** Hex of the bytes a value really holds (pcrs.ts toHex: internal slots, not overridable getters; review s14, vTPM #1). */
const hex = toHex;

/** Constant-time equality (different lengths are unequal, without a data-dependent loop). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** TPM r or s (big-endian, possibly shorter or zero-prefixed) as exactly `size` bytes; undefined if it cannot fit. */
function fixedWidth(v: Uint8Array, size: number): Uint8Array | undefined {
  let i = 0;
  while (i < v.length && v[i] === 0) i++;
  const digits = v.subarray(i);
  if (digits.length > size) return undefined;
  const out = new Uint8Array(size);
  out.set(digits, size - digits.length);
  return out;
}

/** Raw x ‖ y of an EC attestation key (from TPMT_PUBLIC or the KeyObject's JWK). */
function ecPoint(ak: AttestationKey, size: number): Uint8Array {
  const jwk = ak.key.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x ?? '', 'base64url');
  const y = Buffer.from(jwk.y ?? '', 'base64url');
  const out = new Uint8Array(2 * size);
  out.set(x, size - x.length);
  out.set(y, 2 * size - y.length);
  return out;
}

function ecCurveOf(ak: AttestationKey): 'P-256' | 'P-384' {
  if (ak.public?.ecc) {
    const c = TPM_ECC_CURVES[ak.public.ecc.curveId];
    if (c) return c;
  }
  const named = ak.key.asymmetricKeyDetails?.namedCurve;
  if (named === 'prime256v1' || named === 'P-256') return 'P-256';
  if (named === 'secp384r1' || named === 'P-384') return 'P-384';
  return vtpmFail('ERR_VTPM_SCHEME', `ECDSA attestation key on curve ${String(named)} is not verified (P-256 and P-384 are)`);
}

/**
 * VT05: a quote only means "the TPM produced this" when the AK is a
 * restricted signing key that was generated in the TPM and cannot leave it
 * (AK_REQUIRED_ATTRIBUTES: fixedTPM, fixedParent, sensitiveDataOrigin,
 * restricted, sign; decrypt clear, which no TPM allows beside restricted |
 * sign). A key without fixedTPM / sensitiveDataOrigin may have a private part
 * known outside any TPM, which can sign any "quote" (review s8, finding 1).
 * Its attributes are in the TPMT_PUBLIC, which only the key's Name binds:
 * HCLAkPub and a pinned key are public keys (their comparison covers no
 * attribute), and qualifiedSigner is a Qualified Name that needs the
 * parent's to check. So VT05 passes only with the Name pinned
 * (trustedAkName); otherwise it is recorded as not checked, with a warning
 * (review s6, finding 6). A TPMT_PUBLIC whose own attributes fall short is
 * refused either way: it says itself that it is no TPM-resident AK.
 */
function checkAkAttributes(ak: AttestationKey, options: QuoteVerifyOptions, checks: CheckRecord[], warnings: string[]): void {
  const pub = ak.public;
  const fail = (message: string, details: Record<string, unknown> = {}): never => {
    throw new VtpmVerificationError('ERR_VTPM_AK', message, details, { check: 'VT05' });
  };
  if (pub) {
    const attrs = pub.objectAttributes >>> 0;
    const shown = `objectAttributes 0x${attrs.toString(16).padStart(8, '0')}`;
    const restrictedSign = TPMA_OBJECT.restricted | TPMA_OBJECT.sign;
    if ((attrs & restrictedSign) !== restrictedSign) {
      fail(`the attestation key is not a restricted signing key (${shown})`, { objectAttributes: attrs, missing: tpmaObjectNames(restrictedSign & ~attrs) });
    }
    const missing = AK_REQUIRED_ATTRIBUTES & ~attrs;
    if (missing !== 0) {
      const names = tpmaObjectNames(missing);
      fail(`the attestation key may have been made or used outside a TPM: ${names.join(', ')} not set (${shown})`, { objectAttributes: attrs, missing: names });
    }
    if ((attrs & TPMA_OBJECT.decrypt) !== 0) {
      fail(`the attestation key is restricted and has both sign and decrypt set, which no TPM creates (${shown})`, { objectAttributes: attrs, unexpected: ['decrypt'] });
    }
  }
  if (options.trustedAkName !== undefined) {
    if (!pub) return fail(`the AK's Name was pinned, but the ${ak.source} attestation key comes without its TPMT_PUBLIC`);
    const name = tpmName(pub);
    if (!bytesEqual(name, options.trustedAkName)) fail("the attestation key's TPMT_PUBLIC does not have the pinned Name", { name: hex(name), expected: hex(options.trustedAkName) });
    checks.push({
      id: 'VT05',
      description: 'attestation key is a TPM-resident restricted signing key (TPMA_OBJECT fixedTPM | fixedParent | sensitiveDataOrigin | restricted | sign, not decrypt) per its TPMT_PUBLIC, bound by the pinned Name',
    });
    return;
  }
  const why = pub
    ? "the TPMT_PUBLIC's attributes say fixedTPM | fixedParent | sensitiveDataOrigin | restricted | sign, but nothing binds them (only its public key is compared with HCLAkPub or the pinned key; pin the AK's Name to bind them)"
    : `the ${ak.source} attestation key comes without a TPMT_PUBLIC, so its attributes are unknown`;
  checks.push({ id: 'VT05', description: `not checked: ${why}`, status: 'not-checked' });
  warnings.push(`VT05 not checked: whether the attestation key is a restricted signing key is not established: ${why}`);
}

/** VT06 (after checkAkStrength): the key type, its scheme and hash agree with the signature's; algorithms we verify. */
function checkScheme(ak: AttestationKey, sig: TpmSignature, options: QuoteVerifyOptions, warnings: string[]): TpmHashName {
  const keyType = ak.key.asymmetricKeyType;
  const wantKey = sig.scheme === 'ecdsa' ? 'ec' : 'rsa';
  if (keyType !== wantKey) vtpmFail('ERR_VTPM_SCHEME', `a ${sig.scheme.toUpperCase()} signature cannot come from a ${String(keyType).toUpperCase()} attestation key`);
  const hash = sig.hash ?? hashNameOf(sig.hashAlg);
  if (hash === undefined || hash === 'sm3_256') vtpmFail('ERR_VTPM_SCHEME', `signature hash 0x${sig.hashAlg.toString(16)} is not verified`);
  const pub = ak.public;
  if (pub && pub.schemeAlg !== TpmAlg.NULL) {
    if (pub.schemeAlg !== sig.sigAlg || pub.schemeHashAlg !== sig.hashAlg) {
      vtpmFail('ERR_VTPM_SCHEME', `the key's scheme (0x${pub.schemeAlg.toString(16)}, hash 0x${pub.schemeHashAlg.toString(16)}) differs from the signature's (0x${sig.sigAlg.toString(16)}, hash 0x${sig.hashAlg.toString(16)})`);
    }
  }
  if (sig.scheme === 'ecdsa') {
    const curve = ecCurveOf(ak);
    const natural = curve === 'P-256' ? 'sha256' : 'sha384';
    if (hash !== natural) vtpmFail('ERR_VTPM_SCHEME', `ECDSA ${curve} with ${hash} is not verified (only ${natural} on ${curve})`);
  }
  if (hash === 'sha1') {
    if (!options.allowSha1) vtpmFail('ERR_VTPM_SCHEME', 'the quote is signed with a SHA-1 hash (allowSha1 not set)');
    warnings.push('allowSha1: a quote signed with a SHA-1 hash was accepted');
  }
  return hash;
}

/** VT07: the signature over the exact TPMS_ATTEST bytes. */
function signatureValid(ak: AttestationKey, q: QuoteEvidence, hash: TpmHashName): boolean {
  const { quote, signature: sig } = q;
  if (sig.scheme === 'ecdsa') {
    const curve = ecCurveOf(ak);
    const size = curve === 'P-256' ? 32 : 48;
    const r = fixedWidth(sig.ecdsaR ?? new Uint8Array(0), size);
    const s = fixedWidth(sig.ecdsaS ?? new Uint8Array(0), size);
    if (!r || !s) return false;
    const rs = new Uint8Array(2 * size);
    rs.set(r, 0);
    rs.set(s, size);
    return ecdsaVerify(curve, ecPoint(ak, size), quote.signed, rs);
  }
  const signature = sig.rsaSignature ?? new Uint8Array(0);
  const padding = sig.scheme === 'rsapss' ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING;
  // TPMs use the largest salt (or the hash length in FIPS mode): AUTO accepts either.
  const key = sig.scheme === 'rsapss' ? { key: ak.key, padding, saltLength: constants.RSA_PSS_SALTLEN_AUTO } : { key: ak.key, padding };
  try {
    return cryptoVerify(TPM_HASHES[hash].node, quote.signed, key, signature);
  } catch {
    return false;
  }
}

/** VT08: TPM_GENERATED magic and type QUOTE; the selection's banks are ones we can hash. */
function checkAttest(quote: TpmQuote): void {
  if (quote.magic !== TPM_GENERATED_VALUE) vtpmFail('ERR_VTPM_QUOTE', `attest magic 0x${quote.magic.toString(16)} is not TPM_GENERATED_VALUE`);
  if (quote.type !== TPM_ST_ATTEST_QUOTE) vtpmFail('ERR_VTPM_QUOTE', `attest type 0x${quote.type.toString(16)} is not TPM_ST_ATTEST_QUOTE`);
}

/**
 * VT09: qualifiedSigner is a Name-sized value under the AK's nameAlg, or exactly the expected Qualified Name.
 * Both need something to compare with: without expectedQualifiedSigner and without the AK's
 * TPMT_PUBLIC (Azure's HCLAkPub, a bundle PEM, a trustedAk alone) the check does not apply, and
 * its record says so with status 'not-checked' (review s14, vTPM finding 3: it read as passed).
 */
function checkQualifiedSigner(ak: AttestationKey, quote: TpmQuote, options: QuoteVerifyOptions): string | { notApplicable: string } {
  const qs = quote.qualifiedSigner;
  if (options.expectedQualifiedSigner !== undefined) {
    if (!bytesEqual(qs, options.expectedQualifiedSigner)) {
      vtpmFail('ERR_VTPM_AK', 'qualifiedSigner is not the expected Qualified Name of the attestation key', { qualifiedSigner: hex(qs), expected: hex(options.expectedQualifiedSigner) });
    }
    return 'qualifiedSigner equals the expected Qualified Name of the attestation key';
  }
  const pub = ak.public;
  if (!pub) {
    return {
      notApplicable: `not applicable: qualifiedSigner not compared: the ${ak.source} attestation key comes without its TPMT_PUBLIC, so there is no nameAlg to check it against, and no expectedQualifiedSigner was given (the AK is bound by VT04 and the signature, VT07)`,
    };
  }
  // The TPM puts the key's Qualified Name here (H(parent QN ‖ Name)), which needs the whole
  // parent chain to recompute; what the AK alone determines is its algorithm and size.
  const nameAlg = hashNameOf(pub.nameAlg);
  const size = nameAlg ? TPM_HASHES[nameAlg].size : -1;
  const alg = qs.length >= 2 ? (qs[0]! << 8) | qs[1]! : -1;
  if (alg !== pub.nameAlg || qs.length !== 2 + size) {
    vtpmFail('ERR_VTPM_AK', `qualifiedSigner (${qs.length} bytes, alg 0x${alg.toString(16)}) is not a Name under the AK's nameAlg 0x${pub.nameAlg.toString(16)}`);
  }
  return `qualifiedSigner is a ${nameAlg} Qualified Name (the AK's nameAlg)`;
}

function pcrDigestOf(quote: TpmQuote, pcrs: PcrBanks, hash: TpmHashName): Uint8Array {
  const h = createHash(TPM_HASHES[hash].node);
  for (const sel of quote.pcrSelections) {
    const bank = sel.hash ?? hashNameOf(sel.hashAlg);
    if (bank === undefined) vtpmFail('ERR_VTPM_SCHEME', `the quote selects bank 0x${sel.hashAlg.toString(16)}, which is not supported`);
    const values = pcrs.get(bank);
    for (const index of sel.pcrs) {
      const v = values?.get(index);
      if (v === undefined) vtpmFail('ERR_VTPM_PCR_VALUES', `the quote covers ${bank} PCR ${index} but no value was supplied`, { bank, pcr: index });
      if (v.length !== TPM_HASHES[bank].size) vtpmFail('ERR_VTPM_PCR_VALUES', `${bank} PCR ${index} has ${v.length} bytes, not ${TPM_HASHES[bank].size}`, { bank, pcr: index });
      h.update(v);
    }
  }
  return h.digest();
}

function verifyOne(q: QuoteEvidence, i: number, ak: AttestationKey, pcrs: PcrBanks, options: QuoteVerifyOptions, checks: CheckRecord[], warnings: string[]): QuoteClaims {
  const { quote, signature } = q;
  const label = `quote ${i}`;
  checkAttest(quote);
  checks.push({ id: 'VT08', description: `${label}: TPMS_ATTEST with TPM_GENERATED_VALUE and type QUOTE` });
  const strength = checkAkStrength(ak);
  const hash = checkScheme(ak, signature, options, warnings);
  checks.push({ id: 'VT06', description: `${label}: ${signature.scheme.toUpperCase()}/${hash} signature agrees with the ${ak.source} attestation key (${strength}) and its scheme` });
  if (!signatureValid(ak, q, hash)) {
    vtpmFail('ERR_VTPM_QUOTE_SIGNATURE', `${label}: the signature does not verify over the TPMS_ATTEST bytes with the attestation key`, { quote: i });
  }
  checks.push({ id: 'VT07', description: `${label}: signature over the exact TPMS_ATTEST bytes verifies with the attestation key` });
  const signer = checkQualifiedSigner(ak, quote, options);
  checks.push(typeof signer === 'string' ? { id: 'VT09', description: `${label}: ${signer}` } : { id: 'VT09', description: `${label}: ${signer.notApplicable}`, status: 'not-checked' });
  if (!bytesEqual(quote.extraData, options.nonce)) {
    vtpmFail('ERR_VTPM_NONCE', `${label}: extraData is not the expected nonce`, { quote: i, extraData: hex(quote.extraData), expected: hex(options.nonce) });
  }
  checks.push({ id: 'VT10', description: `${label}: extraData equals the expected nonce (${options.nonce.length} bytes)` });
  const digest = pcrDigestOf(quote, pcrs, hash);
  if (!bytesEqual(digest, quote.pcrDigest)) {
    vtpmFail('ERR_VTPM_PCR_DIGEST', `${label}: the supplied PCR values do not hash to the quoted pcrDigest`, { quote: i, computed: hex(digest), quoted: hex(quote.pcrDigest) });
  }
  const selection = quote.pcrSelections.filter((s) => s.pcrs.length > 0).map((s) => ({ bank: (s.hash ?? hashNameOf(s.hashAlg)) as TpmHashName, pcrs: [...s.pcrs] }));
  checks.push({ id: 'VT11', description: `${label}: ${hash}(PCR values in selection order) equals pcrDigest (${selection.map((s) => `${s.bank}: ${s.pcrs.length} PCRs`).join(', ') || 'no PCRs'})` });
  return {
    selection,
    signatureScheme: signature.scheme,
    signatureHash: hash,
    qualifiedSigner: hex(quote.qualifiedSigner),
    clock: quote.clock.toString(),
    resetCount: quote.resetCount,
    restartCount: quote.restartCount,
    safe: quote.safe,
    firmwareVersion: `0x${quote.firmwareVersion.toString(16).padStart(16, '0')}`,
  };
}

/**
 * VT19: the quotes of one bundle come from one boot of one TPM: equal
 * resetCount (TPM Reset, a reboot) and restartCount (TPM Restart / Resume).
 * PCR values from two boots would otherwise be combined as one state. The
 * counters of a key outside the endorsement hierarchy are obfuscated by a
 * value fixed for that key (TPM 2.0 Part 1, clock obfuscation); all quotes
 * are by one AK, so equal still means one boot.
 */
function checkOneBoot(claims: readonly QuoteClaims[], checks: CheckRecord[]): void {
  if (claims.length < 2) return;
  const first = claims[0]!;
  claims.forEach((c, i) => {
    if (c.resetCount !== first.resetCount || c.restartCount !== first.restartCount) {
      throw new VtpmVerificationError(
        'ERR_VTPM_QUOTE',
        `quote ${i} is from another boot than quote 0 (resetCount ${c.resetCount} / restartCount ${c.restartCount}, not ${first.resetCount} / ${first.restartCount})`,
        { quote: i, resetCount: c.resetCount, restartCount: c.restartCount, expected: { resetCount: first.resetCount, restartCount: first.restartCount } },
        { check: 'VT19' },
      );
    }
  });
  checks.push({ id: 'VT19', description: `the ${claims.length} quotes share resetCount ${first.resetCount} and restartCount ${first.restartCount} (one boot)` });
}

/**
 * VT12: the required bank is quoted (a SHA-1-only set only with allowSha1, as a warning).
 * `required` is the value checkRequiredBankOption read and checked (read once: an inherited value
 * or a getter is not read again here).
 */
function checkRequiredBank(claims: QuoteClaims[], required: TpmHashName, options: QuoteVerifyOptions, checks: CheckRecord[], warnings: string[]): void {
  if (required === 'sha1' && !options.allowSha1) {
    // Refused here too, not only by the option check (s14 change review, R2: an inherited
    // requiredBank skipped that check and this branch then spoke of an allowSha1 never set).
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `verifyTpmQuotes: options.requiredBank 'sha1' accepts SHA-1 PCR values, a relaxation: set allowSha1 too (it is then a warning)`, { details: { option: 'requiredBank' } });
  }
  const banks = new Set(claims.flatMap((c) => c.selection.map((s) => s.bank)));
  if (required === 'sha1' && banks.has('sha1')) {
    // The SHA-1 values are what is relied on whatever other banks are quoted, so the relaxation is
    // a warning for any set that holds SHA-1 (s14 change review, R1: a second bank hid it).
    if (banks.size === 1) {
      warnings.push('allowSha1: only the SHA-1 PCR bank is quoted (requiredBank sha1)');
      checks.push({ id: 'VT12', description: 'only the SHA-1 bank is quoted, the required bank (requiredBank sha1), accepted by the allowSha1 relaxation' });
    } else {
      const others = [...banks].filter((b) => b !== 'sha1').join(', ');
      warnings.push(`allowSha1: the required PCR bank is SHA-1 (requiredBank sha1; also quoted: ${others})`);
      checks.push({ id: 'VT12', description: `the SHA-1 bank is quoted, the required bank (requiredBank sha1; also quoted: ${others}), accepted by the allowSha1 relaxation` });
    }
    return;
  }
  if (banks.has(required)) {
    checks.push({ id: 'VT12', description: `the required ${required} bank is quoted` });
    return;
  }
  const sha1Only = banks.size === 1 && banks.has('sha1');
  if (sha1Only && options.allowSha1) {
    warnings.push(`allowSha1: only the SHA-1 PCR bank is quoted (the required ${required} bank is missing)`);
    checks.push({ id: 'VT12', description: `only the SHA-1 bank is quoted, accepted by the allowSha1 relaxation (required: ${required})` });
    return;
  }
  vtpmFail('ERR_VTPM_BANK', `the required ${required} PCR bank is not quoted (quoted: ${[...banks].join(', ') || 'none'})`, { required, quoted: [...banks] });
}

/** VT13: a supplied value that no quote covers would be reported as attested without being so. */
function checkCoverage(claims: QuoteClaims[], pcrs: PcrBanks, checks: CheckRecord[]): Partial<Record<TpmHashName, Record<string, string>>> {
  const covered = new Map<TpmHashName, Set<number>>();
  for (const c of claims) for (const s of c.selection) for (const p of s.pcrs) (covered.get(s.bank) ?? covered.set(s.bank, new Set()).get(s.bank)!).add(p);
  const out: Partial<Record<TpmHashName, Record<string, string>>> = {};
  for (const [bank, values] of pcrs) {
    for (const [index, value] of values) {
      if (!covered.get(bank)?.has(index)) vtpmFail('ERR_VTPM_PCR_VALUES', `${bank} PCR ${index} is supplied but no quote covers it`, { bank, pcr: index });
      (out[bank] ??= {})[String(index)] = hex(value);
    }
  }
  checks.push({ id: 'VT13', description: 'every supplied PCR value is covered by a verified quote' });
  return out;
}

const REQUIRED_BANKS: ReadonlySet<string> = new Set<TpmHashName>(['sha1', 'sha256', 'sha384', 'sha512', 'sm3_256']);

/**
 * VT12's option (review s14, vTPM finding 2): `requiredBank` names a TPM hash bank, and 'sha1' is
 * the SHA-1 relaxation itself (a SHA-1-only quote set then passed VT12 as "the required sha1 bank
 * is quoted", without allowSha1 and without a warning): refused unless allowSha1 is set too.
 * The value is read once, own or inherited (a prototype's value, a getter), and returned for the
 * caller to use (s14 change review, R2: an inherited 'sha1' skipped this check, which looked at
 * own keys only, while VT12 read it through the prototype). An own undefined is refused (review s13
 * CR polb #1); undefined otherwise is the default (sha256).
 */
export function checkRequiredBankOption(options: { requiredBank?: unknown; allowSha1?: unknown }, caller: string): TpmHashName | undefined {
  const bank = options.requiredBank;
  if (bank === undefined) {
    if (Object.hasOwn(options, 'requiredBank')) {
      throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${caller}: options.requiredBank is undefined (omit the key to pin or bind nothing)`, { details: { option: 'requiredBank' } });
    }
    return undefined;
  }
  if (typeof bank !== 'string' || !REQUIRED_BANKS.has(bank)) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${caller}: options.requiredBank must be one of ${[...REQUIRED_BANKS].join(', ')}`, { details: { option: 'requiredBank' } });
  }
  if (bank === 'sha1' && !options.allowSha1) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${caller}: options.requiredBank 'sha1' accepts SHA-1 PCR values, a relaxation: set allowSha1 too (it is then a warning)`, { details: { option: 'requiredBank' } });
  }
  return bank as TpmHashName;
}

/** VT10 (review s10, V2): said once per quote set, as a missing nonce is. */
function shortNonceWarning(length: number): string {
  const what = length === 0 ? 'empty' : `${length} byte${length === 1 ? '' : 's'}`;
  return `VT10: the expected nonce is ${what}, under ${MIN_FRESH_NONCE_BYTES}: freshness is not established (a quote made in advance with this extraData matches it)`;
}

/**
 * Verifies one or more quotes by the same attestation key against the
 * supplied PCR values. Resolves only on success; every failure is a
 * VtpmVerificationError with its ERR_VTPM_* code. The options are a closed
 * set (review s13 CR intel #1): a key QuoteVerifyOptions does not name
 * (`expectedQualifiedSigners`, `trustedAKName`) is ERR_INVALID_ARGUMENT naming
 * it (details.option), never ignored with the check it was meant to drive.
 * `nonce` must be a Uint8Array, and an own requiredBank / expectedQualifiedSigner /
 * trustedAkName whose value is undefined is refused (review s13 CR polb #1).
 */
export function verifyTpmQuotes(quotes: readonly QuoteEvidence[], ak: AttestationKey, pcrs: PcrBanks, options: QuoteVerifyOptions): TpmQuotesResult {
  if (checkOptionKeys(options, QUOTE_VERIFY_OPTION_KEYS, 'verifyTpmQuotes') === undefined) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'verifyTpmQuotes: options (with the expected nonce) are required', { details: { option: 'nonce' } });
  }
  // Review s13 CR polb #1: {} or { nonce: undefined } was a raw TypeError; an own pin whose value is undefined is refused.
  checkNoUndefinedOptions(options, ['requiredBank', 'expectedQualifiedSigner', 'trustedAkName'], 'verifyTpmQuotes');
  for (const option of ['nonce', 'expectedQualifiedSigner', 'trustedAkName'] as const) {
    if ((option === 'nonce' || Object.hasOwn(options, option)) && !(options[option] instanceof Uint8Array)) {
      const what = option === 'nonce' ? 'the expected nonce is required: options.nonce must be a Uint8Array' : `options.${option} must be a Uint8Array`;
      throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `verifyTpmQuotes: ${what}`, { details: { option } });
    }
  }
  const requiredBank = checkRequiredBankOption(options, 'verifyTpmQuotes') ?? 'sha256';
  if (quotes.length === 0) vtpmFail('ERR_VTPM_QUOTE', 'no TPM quote to verify');
  const checks: CheckRecord[] = [];
  const warnings: string[] = [];
  checkAkAttributes(ak, options, checks, warnings);
  const claims = quotes.map((q, i) => verifyOne(q, i, ak, pcrs, options, checks, warnings));
  if (options.nonce.length < MIN_FRESH_NONCE_BYTES) warnings.push(shortNonceWarning(options.nonce.length));
  checkOneBoot(claims, checks);
  checkRequiredBank(claims, requiredBank, options, checks, warnings);
  const values = checkCoverage(claims, pcrs, checks);
  return {
    ...(ak.public ? { akName: hex(tpmName(ak.public)) } : {}),
    quotes: claims,
    pcrs: values,
    checks,
    warnings,
  };
}

/** PCR values from JSON-like input: { sha256: { "0": "hex", ... } }. */
export function pcrBanksFrom(input: Partial<Record<TpmHashName, Record<string, Uint8Array>>>): PcrBanks {
  const banks: PcrBanks = new Map();
  for (const [bank, values] of Object.entries(input) as [TpmHashName, Record<string, Uint8Array>][]) {
    const m = new Map<number, Uint8Array>();
    for (const [k, v] of Object.entries(values)) m.set(Number(k), v);
    banks.set(bank, m);
  }
  return banks;
}
