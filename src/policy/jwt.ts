/**
 * EAR as a signed JWT (RFC 7519 / RFC 7515 compact JWS), ES256 or ES384,
 * with node:crypto only: IEEE P1363 r‖s signatures, base64url without
 * padding. The key is the caller's; the time is passed in.
 *
 * verifyEarJwt is strict: exactly three base64url parts, a strict-JSON
 * header (no duplicate keys) with alg ES256 | ES384 matching the key's curve
 * (never "none", never HMAC, no "crit"), a P1363 signature of the curve's
 * length in the low-S form, a strict-JSON claims object with the EAR profile and the claims the Ear
 * type promises (whole-second `iat`, `ear.verifier-id`, non-empty `submods`
 * with a known `ear.status` each), numeric `exp` not in the past and `iat` /
 * `nbf` not in the future.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

import { parseStrictJson } from '../collateral/strict-json.js';
import { InvalidArgumentError } from '../errors.js';
import { checkOptionKeys, type OptionKeys } from '../option-keys.js';
import { EAR_PROFILE, EAR_STATUSES, type Ear } from './ear.js';
import { EarTokenError } from './errors.js';

export type EarJwtAlgorithm = 'ES256' | 'ES384';

export interface SignEarJwtOptions {
  alg: EarJwtAlgorithm;
  kid?: string;
  /** Lifetime in seconds: exp = now + expiresIn. */
  expiresIn: number;
  /** Unique token id. */
  jti: string;
  /** Issue time, seconds since the epoch (the JWT's iat). */
  now: number;
  /** Further top-level claims (e.g. openWebUiClaims(result)); may not change eat_profile, submods, ear.verifier-id, iat, exp or jti. */
  extraClaims?: Record<string, unknown>;
}

export interface VerifyEarJwtOptions {
  /** The instant to judge exp / nbf / iat against, whole seconds since the epoch; default the wall clock, read once. */
  now?: number;
  /** Allowed clock skew for iat / nbf, whole seconds in [0, MAX_CLOCK_SKEW_SECONDS]; default 60. */
  clockSkewSeconds?: number;
  /** Algorithms to accept: a non-empty list of ES256 / ES384; default both. */
  algorithms?: readonly EarJwtAlgorithm[];
  /** When given, the token's `iss` must be exactly this string (ERR_TOKEN_ISSUER, class POLICY, otherwise). */
  issuer?: string;
  /**
   * When given, the token's `eat_nonce` must be exactly this (ERR_TOKEN_NONCE, class FRESHNESS,
   * otherwise): a string as it stands, or the challenge's bytes, compared as their base64url form
   * (what the attestation service writes, whatever base64 the request used).
   */
  nonce?: string | Uint8Array;
}

/**
 * The keys each options bag accepts (review s13 policy #2: decisions.md, session 12, "library
 * options are closed sets"). A misspelt `nonce` / `issuer` (`eat_nonce`, `iss`) was ignored, so a
 * token made for another challenge or by another issuer verified. The compiler keeps each list
 * equal to its type.
 */
const VERIFY_EAR_JWT_OPTION_KEYS: OptionKeys<VerifyEarJwtOptions> = { now: true, clockSkewSeconds: true, algorithms: true, issuer: true, nonce: true };
const SIGN_EAR_JWT_OPTION_KEYS: OptionKeys<SignEarJwtOptions> = { alg: true, kid: true, expiresIn: true, jti: true, now: true, extraClaims: true };

/** The largest clockSkewSeconds verifyEarJwt takes (10 minutes): skew is for drifting clocks, not a lifetime. */
export const MAX_CLOCK_SKEW_SECONDS = 600;

export interface VerifiedEarJwt {
  header: { alg: EarJwtAlgorithm; typ?: string; kid?: string };
  claims: Ear & Record<string, unknown>;
}

/** `order` is the group order n (SEC 2): the low-S rule below needs it. */
const CURVES: Record<EarJwtAlgorithm, { curve: string; hash: string; sigLength: number; order: bigint }> = {
  ES256: { curve: 'prime256v1', hash: 'sha256', sigLength: 64, order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n },
  ES384: {
    curve: 'secp384r1',
    hash: 'sha384',
    sigLength: 96,
    order: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
};

/*
 * ECDSA is malleable: if (r, s) verifies, so does (r, n − s), which gives a
 * second token string with the same claims and jti (review s10 J3). Tokens
 * are signed in the low-S form (s ≤ n/2) and verification refuses the other
 * one, so each signature has exactly one token string.
 */
const sOf = (signature: Uint8Array): bigint => BigInt(`0x${Buffer.from(signature.subarray(signature.length / 2)).toString('hex')}`);
const isHighS = (signature: Uint8Array, alg: EarJwtAlgorithm): boolean => sOf(signature) > CURVES[alg].order / 2n;

function toLowS(signature: Buffer, alg: EarJwtAlgorithm): Buffer {
  if (!isHighS(signature, alg)) return signature;
  const half = signature.length / 2;
  const low = Buffer.from((CURVES[alg].order - sOf(signature)).toString(16).padStart(half * 2, '0'), 'hex');
  return Buffer.concat([signature.subarray(0, half), low]);
}

const b64url = (data: Uint8Array | string) => Buffer.from(data).toString('base64url');

function curveOf(key: KeyObject): string | undefined {
  return key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : undefined;
}

function checkSignOptions(ear: Ear, key: KeyObject, o: SignEarJwtOptions): void {
  const bad = (message: string): never => {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `signEarJwt: ${message}`);
  };
  if (typeof ear !== 'object' || ear === null || ear.eat_profile !== EAR_PROFILE) bad('ear must come from toEar');
  checkOptionKeys(o, SIGN_EAR_JWT_OPTION_KEYS, 'signEarJwt');
  if (!o || !(o.alg in CURVES)) bad('alg must be ES256 or ES384');
  if (key?.type !== 'private' || curveOf(key) !== CURVES[o.alg].curve) bad(`${o.alg} needs a ${CURVES[o.alg].curve} private key`);
  if (!Number.isSafeInteger(o.now) || o.now < 0) bad('now must be whole seconds since the epoch');
  if (!Number.isSafeInteger(o.expiresIn) || o.expiresIn <= 0) bad('expiresIn must be a positive number of seconds');
  if (typeof o.jti !== 'string' || o.jti.length === 0) bad('jti must be a non-empty string');
  if (o.kid !== undefined && (typeof o.kid !== 'string' || o.kid.length === 0)) bad('kid must be a non-empty string');
}

function mergeClaims(ear: Ear, o: SignEarJwtOptions): Record<string, unknown> {
  const claims: Record<string, unknown> = { ...ear, iat: o.now, exp: o.now + o.expiresIn, jti: o.jti };
  for (const [k, v] of Object.entries(o.extraClaims ?? {})) {
    if (Object.hasOwn(claims, k) && JSON.stringify(claims[k]) !== JSON.stringify(v)) {
      throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `signEarJwt: extraClaims may not change "${k}"`);
    }
    claims[k] = v;
  }
  return claims;
}

/** The EAR as a compact JWS: base64url(header).base64url(claims).base64url(r‖s). */
export function signEarJwt(ear: Ear, key: KeyObject, options: SignEarJwtOptions): string {
  checkSignOptions(ear, key, options);
  const header = { alg: options.alg, typ: 'JWT', ...(options.kid === undefined ? {} : { kid: options.kid }) };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(mergeClaims(ear, options)))}`;
  const signature = sign(CURVES[options.alg].hash, Buffer.from(input, 'latin1'), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(toLowS(signature, options.alg))}`;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

function decodePart(part: string, what: string): Buffer {
  // base64url without padding; Buffer would silently skip other characters
  if (!B64URL.test(part) || part.length % 4 === 1) throw new EarTokenError('ERR_TOKEN_MALFORMED', `the token's ${what} is not base64url`);
  const bytes = Buffer.from(part, 'base64url');
  if (bytes.toString('base64url') !== part) throw new EarTokenError('ERR_TOKEN_MALFORMED', `the token's ${what} is not canonical base64url`);
  return bytes;
}

function jsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseStrictJson(new Uint8Array(bytes), { maxBytes: 1024 * 1024, maxDepth: 32 });
  } catch (err) {
    throw new EarTokenError('ERR_TOKEN_MALFORMED', `the token's ${what} is not strict JSON`, { cause: err instanceof Error ? err.message : String(err) });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new EarTokenError('ERR_TOKEN_MALFORMED', `the token's ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function checkHeader(header: Record<string, unknown>, key: KeyObject, allowed: readonly EarJwtAlgorithm[]): EarJwtAlgorithm {
  const alg = header['alg'];
  if (typeof alg !== 'string' || !allowed.includes(alg as EarJwtAlgorithm)) throw new EarTokenError('ERR_TOKEN_MALFORMED', `algorithm ${JSON.stringify(alg)} is not accepted`);
  if (header['crit'] !== undefined) throw new EarTokenError('ERR_TOKEN_MALFORMED', 'critical header parameters are not supported');
  if (header['typ'] !== undefined && header['typ'] !== 'JWT') throw new EarTokenError('ERR_TOKEN_MALFORMED', `typ ${JSON.stringify(header['typ'])} is not JWT`);
  // the header is returned typed as kid?: string (review s10 J2)
  if (header['kid'] !== undefined && typeof header['kid'] !== 'string') throw new EarTokenError('ERR_TOKEN_MALFORMED', 'kid is not a string');
  if (curveOf(key) !== CURVES[alg as EarJwtAlgorithm].curve) throw new EarTokenError('ERR_TOKEN_SIGNATURE', `${alg} does not match the verification key`);
  return alg as EarJwtAlgorithm;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmptyString = (v: unknown): boolean => typeof v === 'string' && v.length > 0;

/**
 * The claims the returned `Ear` type promises, so a caller never meets a
 * plain TypeError reading them (review s10 J2): `iat` whole seconds, the
 * verifier id, and at least one submodule, each with a known `ear.status`.
 * Other EAR claims (trustworthiness vector, policy id, ...) stay unchecked:
 * the type keeps them but no caller here depends on their shape.
 */
function checkEarClaims(claims: Record<string, unknown>): void {
  const malformed = (claim: string, message: string): never => {
    throw new EarTokenError('ERR_TOKEN_MALFORMED', message, { claim });
  };
  if (claims['eat_profile'] !== EAR_PROFILE) malformed('eat_profile', `eat_profile is not ${EAR_PROFILE}`);
  const iat = claims['iat'];
  if (!Number.isSafeInteger(iat) || (iat as number) < 0) malformed('iat', 'iat is not whole seconds since the epoch');
  const id = claims['ear.verifier-id'];
  if (!isObject(id) || !nonEmptyString(id['developer']) || !nonEmptyString(id['build'])) malformed('ear.verifier-id', 'ear.verifier-id needs a developer and a build');
  if (claims['eat_nonce'] !== undefined && typeof claims['eat_nonce'] !== 'string') malformed('eat_nonce', 'eat_nonce is not a string');
  const submods = claims['submods'];
  if (!isObject(submods) || Object.keys(submods).length === 0) malformed('submods', 'submods is not a non-empty object');
  for (const [name, appraisal] of Object.entries(submods as Record<string, unknown>)) {
    const status = isObject(appraisal) ? appraisal['ear.status'] : undefined;
    if (!(EAR_STATUSES as readonly unknown[]).includes(status)) malformed('submods', `submodule ${JSON.stringify(name)} has no ear.status of ${EAR_STATUSES.join(' | ')}`);
  }
}

function checkTimes(claims: Record<string, unknown>, now: number, skew: number): void {
  const exp = claims['exp'];
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new EarTokenError('ERR_TOKEN_MALFORMED', 'the token has no numeric exp');
  if (now >= exp) throw new EarTokenError('ERR_TOKEN_EXPIRED', `the token expired at ${exp}`, { exp, now });
  for (const name of ['iat', 'nbf']) {
    const t = claims[name];
    if (t === undefined) continue;
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new EarTokenError('ERR_TOKEN_MALFORMED', `${name} is not numeric`);
    if (t > now + skew) throw new EarTokenError('ERR_TOKEN_EXPIRED', `${name} ${t} is in the future`, { [name]: t, now });
  }
}

/**
 * The options as numbers the time checks can trust: a NaN `now` or skew made
 * every comparison false, so an expired token passed (review s6); an unknown
 * algorithm name reached the curve table as a TypeError.
 */
interface CheckedVerifyOptions {
  now: number | undefined;
  skew: number;
  algorithms: readonly EarJwtAlgorithm[];
  issuer: string | undefined;
  /** The expected eat_nonce as a string (bytes as base64url). */
  nonce: string | undefined;
}

function checkVerifyOptions(o: VerifyEarJwtOptions): CheckedVerifyOptions {
  const bad = (message: string): never => {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `verifyEarJwt: ${message}`);
  };
  if (typeof o !== 'object' || o === null) bad('options must be an object');
  checkOptionKeys(o, VERIFY_EAR_JWT_OPTION_KEYS, 'verifyEarJwt');
  // an own expectation whose value is undefined (an expected value lost to a bug) is not "no check"
  for (const option of ['issuer', 'nonce'] as const) {
    if (Object.hasOwn(o, option) && o[option] === undefined) {
      throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `verifyEarJwt: options.${option} is undefined (omit the key to check no ${option === 'issuer' ? 'iss' : 'eat_nonce'})`, { details: { option } });
    }
  }
  const { now, clockSkewSeconds: skew = 60, algorithms = ['ES256', 'ES384'], issuer, nonce } = o;
  if (now !== undefined && (!Number.isSafeInteger(now) || now < 0)) bad('now must be whole seconds since the epoch');
  if (!Number.isSafeInteger(skew) || skew < 0 || skew > MAX_CLOCK_SKEW_SECONDS) bad(`clockSkewSeconds must be whole seconds from 0 to ${MAX_CLOCK_SKEW_SECONDS}`);
  if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((a) => typeof a === 'string' && Object.hasOwn(CURVES, a))) {
    bad('algorithms must be a non-empty list of ES256 / ES384');
  }
  // an empty expected value would read as "no check" to a caller skimming the code: refused
  if (issuer !== undefined && !nonEmptyString(issuer)) bad('issuer must be a non-empty string');
  let expectedNonce: string | undefined;
  if (nonce instanceof Uint8Array) {
    if (nonce.length === 0) bad('nonce must not be empty');
    expectedNonce = Buffer.from(nonce.buffer, nonce.byteOffset, nonce.length).toString('base64url');
  } else if (nonce !== undefined) {
    if (!nonEmptyString(nonce)) bad('nonce must be a non-empty string or bytes');
    expectedNonce = nonce;
  }
  return { now, skew, algorithms, issuer, nonce: expectedNonce };
}

/** The relying party's expectations, compared exactly; only when the caller names them. */
function checkExpected(claims: Record<string, unknown>, o: CheckedVerifyOptions): void {
  if (o.issuer !== undefined && claims['iss'] !== o.issuer) {
    throw new EarTokenError('ERR_TOKEN_ISSUER', `iss is not ${JSON.stringify(o.issuer)}`, { claim: 'iss', expected: o.issuer, actual: claims['iss'] ?? null });
  }
  // a nonce that is not the caller's challenge means the token was not made for this request: freshness
  if (o.nonce !== undefined && claims['eat_nonce'] !== o.nonce) {
    throw new EarTokenError('ERR_TOKEN_NONCE', 'eat_nonce is not the expected nonce', { claim: 'eat_nonce' });
  }
}

/** Verifies a token from signEarJwt (signature, algorithm, EAR claims, times) and returns its header and claims. */
export function verifyEarJwt(token: string, publicKey: KeyObject, options: VerifyEarJwtOptions = {}): VerifiedEarJwt {
  const checked = checkVerifyOptions(options);
  const now = checked.now ?? Math.floor(Date.now() / 1000); // entry point: the clock is read once, here
  if (typeof token !== 'string' || token.length > 1024 * 1024) throw new EarTokenError('ERR_TOKEN_MALFORMED', 'a token is a string of at most 1 MiB');
  const key = publicKey?.type === 'private' ? createPublicKey(publicKey) : publicKey;
  if (key?.type !== 'public') throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'verifyEarJwt: publicKey must be an EC KeyObject');
  const parts = token.split('.');
  if (parts.length !== 3) throw new EarTokenError('ERR_TOKEN_MALFORMED', 'a compact JWS has exactly three parts');
  const [h, p, s] = parts as [string, string, string];
  const header = jsonObject(decodePart(h, 'header'), 'header');
  const alg = checkHeader(header, key, checked.algorithms);
  const signature = decodePart(s, 'signature');
  if (signature.length !== CURVES[alg].sigLength) throw new EarTokenError('ERR_TOKEN_SIGNATURE', `an ${alg} signature is ${CURVES[alg].sigLength} bytes`);
  if (isHighS(signature, alg)) throw new EarTokenError('ERR_TOKEN_SIGNATURE', 'the signature is not in the low-S form (s > n/2)');
  if (!verify(CURVES[alg].hash, Buffer.from(`${h}.${p}`, 'latin1'), { key, dsaEncoding: 'ieee-p1363' }, signature)) {
    throw new EarTokenError('ERR_TOKEN_SIGNATURE', 'the token signature does not verify');
  }
  const claims = jsonObject(decodePart(p, 'claims'), 'claims');
  checkEarClaims(claims);
  checkTimes(claims, now, checked.skew);
  checkExpected(claims, checked);
  return { header: header as VerifiedEarJwt['header'], claims: claims as VerifiedEarJwt['claims'] };
}
