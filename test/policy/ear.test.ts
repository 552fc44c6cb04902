/**
 * Appraisals as EAR (draft-ietf-rats-ear, Veraison profile) and as signed EAR
 * JWTs (ES256 / ES384), plus the open-webui claims. Signatures are checked
 * independently with WebCrypto (raw r‖s is its native ECDSA format).
 */
import { generateKeyPairSync, webcrypto, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import {
  defaultPolicy,
  EAR_PROFILE,
  EarTokenError,
  evaluatePolicy,
  loadPolicy,
  openWebUiClaims,
  signEarJwt,
  toEar,
  verifyEarJwt,
  type Ear,
} from '../../src/policy/index.js';
import type { VerificationResult } from '../../src/verify/types.js';
import { catchError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, SNP_MILAN, TDX_OUTOFDATE, TDX_UPTODATE, TDX_V5, realIntelResult, realSnpResult, snp, syntheticSnp, syntheticTdx, tdx } from './helpers.js';
import { NOW, claimsWith, keys as s10Keys, signed } from './review-s10-jwt-helpers.js';

const IAT = 1_752_919_234; // 2025-07-19T10:00:34Z, the phala vector's instant
const ANY_TDX = { tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
// EC keys without a key-generation job: their public halves are exported as JWKs (src/crypto/ec-keys.ts).
const p256 = generateEcKeyObjects('P-256');
const p384 = generateEcKeyObjects('P-384');

function earOf(r: VerificationResult, policy = defaultPolicy(r.tee), extra: Partial<Parameters<typeof toEar>[2]> = {}): Ear {
  return toEar(r, evaluatePolicy(r, policy), { verifierId: 'tee-verify 0.1.0', iat: IAT, ...extra });
}

const cpu0 = (e: Ear) => e.submods['cpu0']!;

describe('toEar: EAR claims', () => {
  it.skipIf(!HAVE_VECTORS)('an affirming appraisal of the genuine UpToDate TDX quote', () => {
    const r = realIntelResult(TDX_UPTODATE);
    const e = earOf(r, defaultPolicy('tdx'), { nonce: 'bm9uY2Utbm9uY2U' });
    expect(Object.keys(e)).toEqual(['eat_profile', 'iat', 'ear.verifier-id', 'eat_nonce', 'submods']);
    expect(e.eat_profile).toBe('tag:github.com,2023:veraison/ear');
    expect(e.iat).toBe(IAT);
    expect(e['ear.verifier-id']).toEqual({ developer: 'tee-verify', build: 'tee-verify 0.1.0' });
    expect(e.eat_nonce).toBe('bm9uY2Utbm9uY2U');
    expect(Object.keys(e.submods)).toEqual(['cpu0']);
    const s = cpu0(e);
    expect(s['ear.status']).toBe('affirming');
    expect(s['ear.trustworthiness-vector']).toEqual({
      'instance-identity': 0,
      configuration: 2,
      executables: 2,
      'file-system': 0,
      hardware: 2,
      'runtime-opaque': 2,
      'storage-opaque': 0,
      'sourced-data': 0,
    });
    expect(s['ear.appraisal-policy-id']).toBe('tee-verify:default-tdx');
    const ev = s['ear.veraison.annotated-evidence'] as { tdx: { quote: { header: Record<string, string>; body: Record<string, string> }; td_attributes: Record<string, boolean>; tcb_status: string }; report_data: string };
    expect(ev.tdx.quote.body['mr_td']).toBe(tdx(r).mrTd);
    expect(ev.tdx.quote.body['rtmr_3']).toBe(tdx(r).rtmr3);
    expect(ev.tdx.quote.body['td_attributes']).toBe('0000001000000000');
    expect(ev.tdx.quote.header).toEqual({ version: '0400', att_key_type: '0200', tee_type: '81000000', vendor_id: '939a7233f79c4ca9940a0db3957f0607' });
    expect(ev.tdx.td_attributes).toMatchObject({ debug: false, septve_disable: true, migratable: false });
    expect(ev.tdx.tcb_status).toBe('UpToDate');
    expect(ev.report_data).toBe(tdx(r).reportData);
    expect(s['ear.veraison.policy-claims']).toMatchObject({ ok: true, tee: 'tdx', tcb_status: 'UpToDate', violations: [], verified_at: r.at });
    expect(JSON.parse(JSON.stringify(e))).toEqual(e);
  });

  it.skipIf(!HAVE_VECTORS)('contraindicated: the OutOfDate quote under the default policy, with the violation in the policy claims', () => {
    const e = earOf(realIntelResult(TDX_OUTOFDATE));
    expect(cpu0(e)['ear.status']).toBe('contraindicated');
    expect(cpu0(e)['ear.trustworthiness-vector'].hardware).toBe(96);
    const claims = cpu0(e)['ear.veraison.policy-claims'] as { ok: boolean; violations: { check: string }[] };
    expect(claims.ok).toBe(false);
    expect(claims.violations.map((v) => v.check)).toEqual(['T33']);
  });

  it.skipIf(!HAVE_VECTORS)('warning: an accepted OutOfDate status (hardware 32), and a result verified under relaxations', () => {
    const e = earOf(realIntelResult(TDX_OUTOFDATE), loadPolicy({ ...ANY_TDX, tcb: { acceptedStatuses: ['OutOfDate'] } }));
    expect(cpu0(e)['ear.status']).toBe('warning');
    expect(cpu0(e)['ear.trustworthiness-vector'].hardware).toBe(32);
    const relaxed = realIntelResult(TDX_V5); // its source shipped no CRLs and no QE identity
    expect(relaxed.warnings.length).toBeGreaterThan(0);
    expect(cpu0(earOf(relaxed))['ear.status']).toBe('warning');
  });

  it('a debug TD allowed by the policy: warning, memory visible (runtime-opaque 96)', () => {
    const r = syntheticTdx({ quote: { tdBody: { tdAttributes: 0x10000001n } } });
    const s = cpu0(earOf(r, loadPolicy({ ...ANY_TDX, allowDebug: true })));
    expect(s['ear.status']).toBe('warning');
    expect(s['ear.trustworthiness-vector']['runtime-opaque']).toBe(96);
    expect(s['ear.trustworthiness-vector'].configuration).toBe(32);
  });

  it('an unknown measurement: executables 33 (unrecognized), contraindicated; the policy id is the policy\'s', () => {
    const s = cpu0(earOf(syntheticTdx(), loadPolicy({ ...ANY_TDX, id: 'kbs/llama', mrTd: ['00'.repeat(48)] })));
    expect(s['ear.status']).toBe('contraindicated');
    expect(s['ear.trustworthiness-vector'].executables).toBe(33);
    expect(s['ear.appraisal-policy-id']).toBe('kbs/llama');
  });

  it.skipIf(!HAVE_VECTORS)('SEV-SNP: trustee-style snp.* claims', () => {
    const r = realSnpResult(SNP_MILAN);
    const ev = cpu0(earOf(r))['ear.veraison.annotated-evidence'] as { snp: Record<string, unknown> };
    expect(ev.snp).toMatchObject({ measurement: snp(r).measurement, product: 'Milan', signing_key: 'vcek', reported_tcb_snp: snp(r).tcb.reported.snp, policy_debug_allowed: false });
  });

  it('options are checked: iat in whole seconds, nonce 8–88 characters, a verifier id', () => {
    const r = syntheticSnp();
    const a = evaluatePolicy(r, defaultPolicy('snp'));
    const bad = [{ verifierId: 'v', iat: 1.5 }, { verifierId: 'v', iat: -1 }, { verifierId: 'v', iat: 1, nonce: 'short' }, { verifierId: '', iat: 1 }, { verifierId: { developer: 'x' }, iat: 1 }];
    for (const o of bad) expect(catchError(() => toEar(r, a, o as Parameters<typeof toEar>[2])).code).toBe('ERR_INVALID_ARGUMENT');
    expect(toEar(r, a, { verifierId: { developer: 'https://example.org', build: '1' }, iat: 1 })['ear.verifier-id']).toEqual({ developer: 'https://example.org', build: '1' });
  });
});

describe('openWebUiClaims', () => {
  it('tee and tcb-status: a JSON string of the flattened tdx.quote.* claims', () => {
    const r = syntheticTdx();
    const c = openWebUiClaims(r);
    expect(Object.keys(c)).toEqual(['tee', 'tcb-status']);
    expect(c.tee).toBe('tdx');
    const flat = JSON.parse(c['tcb-status']) as Record<string, unknown>;
    expect(flat['tdx.quote.body.mr_td']).toBe(tdx(r).mrTd);
    expect(flat['tdx.quote.body.report_data']).toBe(tdx(r).reportData);
    expect(flat['tdx.quote.header.version']).toBe('0400');
    expect(flat['tdx.td_attributes.debug']).toBe(false);
    expect(flat['tdx.tcb_status']).toBe('UpToDate');
    expect(Object.values(flat).every((v) => typeof v !== 'object' || Array.isArray(v))).toBe(true);
    expect(openWebUiClaims(r, { jti: 'id-1', iat: 10, exp: 20 })).toMatchObject({ jti: 'id-1', iat: 10, exp: 20 });
  });
});

describe('signEarJwt / verifyEarJwt', () => {
  const r = syntheticTdx();
  const ear = toEar(r, evaluatePolicy(r, defaultPolicy('tdx')), { verifierId: 'test', iat: IAT });
  const opts = { jti: 'f3c2a1b0-0000-4000-8000-000000000001', now: IAT, expiresIn: 300 };

  async function webCryptoVerifies(token: string, key: KeyObject, curve: 'P-256' | 'P-384'): Promise<boolean> {
    const [h, p, s] = token.split('.') as [string, string, string];
    const pub = await webcrypto.subtle.importKey('jwk', key.export({ format: 'jwk' }), { name: 'ECDSA', namedCurve: curve }, false, ['verify']);
    const hash = curve === 'P-256' ? 'SHA-256' : 'SHA-384';
    return webcrypto.subtle.verify({ name: 'ECDSA', hash }, pub, Buffer.from(s, 'base64url'), Buffer.from(`${h}.${p}`));
  }

  for (const [alg, pair, curve, sigLen] of [
    ['ES256', p256, 'P-256', 64],
    ['ES384', p384, 'P-384', 96],
  ] as const) {
    it(`${alg}: signs, verifies, and WebCrypto agrees`, async () => {
      const token = signEarJwt(ear, pair.privateKey, { ...opts, alg, kid: 'kbs-1' });
      expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      expect(Buffer.from(token.split('.')[2]!, 'base64url')).toHaveLength(sigLen);
      const { header, claims } = verifyEarJwt(token, pair.publicKey, { now: IAT + 10 });
      expect(header).toEqual({ alg, typ: 'JWT', kid: 'kbs-1' });
      expect(claims).toEqual({ ...ear, iat: IAT, exp: IAT + 300, jti: opts.jti });
      expect(await webCryptoVerifies(token, pair.publicKey, curve)).toBe(true);
    });
  }

  it('carries the open-webui claims as extra top-level claims', () => {
    const token = signEarJwt(ear, p256.privateKey, { ...opts, alg: 'ES256', extraClaims: { ...openWebUiClaims(r) } });
    const { claims } = verifyEarJwt(token, p256.publicKey, { now: IAT });
    expect(claims['tee']).toBe('tdx');
    expect(typeof claims['tcb-status']).toBe('string');
    expect(claims.submods['cpu0']!['ear.status']).toBe('affirming');
    expect(['jti', 'tee', 'iat', 'exp', 'tcb-status'].every((k) => k in claims)).toBe(true);
  });

  it('a tampered token is rejected: claims, header or signature changed, another key', () => {
    const token = signEarJwt(ear, p256.privateKey, { ...opts, alg: 'ES256' });
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Ear;
    cpu0(claims)['ear.status'] = 'affirming';
    claims.iat += 1;
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    const sig = Buffer.from(s, 'base64url');
    sig[10]! ^= 1;
    const cases = [forged, `${h}.${p}.${sig.toString('base64url')}`];
    for (const t of cases) expect(catchError(() => verifyEarJwt(t, p256.publicKey, { now: IAT })).code).toBe('ERR_TOKEN_SIGNATURE');
    const other = generateEcKeyObjects('P-256');
    expect(catchError(() => verifyEarJwt(token, other.publicKey, { now: IAT })).code).toBe('ERR_TOKEN_SIGNATURE');
    expect(catchError(() => verifyEarJwt(token, p384.publicKey, { now: IAT })).code).toBe('ERR_TOKEN_SIGNATURE');
  });

  it('algorithm confusion: "none", HS256 and a header alg that does not match the key are refused', () => {
    const token = signEarJwt(ear, p256.privateKey, { ...opts, alg: 'ES256' });
    const [, p, s] = token.split('.') as [string, string, string];
    const header = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    expect(catchError(() => verifyEarJwt(`${header({ alg: 'none' })}.${p}.`, p256.publicKey, { now: IAT })).code).toBe('ERR_TOKEN_MALFORMED');
    expect(catchError(() => verifyEarJwt(`${header({ alg: 'HS256' })}.${p}.${s}`, p256.publicKey, { now: IAT })).code).toBe('ERR_TOKEN_MALFORMED');
    expect(catchError(() => verifyEarJwt(`${header({ alg: 'ES384' })}.${p}.${s}`, p256.publicKey, { now: IAT })).code).toBe('ERR_TOKEN_SIGNATURE');
    expect(catchError(() => verifyEarJwt(token, p256.publicKey, { now: IAT, algorithms: ['ES384'] })).code).toBe('ERR_TOKEN_MALFORMED');
    expect(catchError(() => verifyEarJwt(`${header({ alg: 'ES256', crit: ['x'] })}.${p}.${s}`, p256.publicKey, { now: IAT })).code).toBe('ERR_TOKEN_MALFORMED');
  });

  it('malformed tokens: parts, base64url, duplicate JSON keys', () => {
    const token = signEarJwt(ear, p256.privateKey, { ...opts, alg: 'ES256' });
    const [h, p, s] = token.split('.') as [string, string, string];
    const dup = Buffer.from('{"alg":"ES256","alg":"ES256"}').toString('base64url');
    for (const t of [`${h}.${p}`, `${token}.x`, `${h}=.${p}.${s}`, `${h}.${p}.${s}+`, `${dup}.${p}.${s}`, '']) {
      const err = catchError(() => verifyEarJwt(t, p256.publicKey, { now: IAT }));
      expect(err.code).toBe('ERR_TOKEN_MALFORMED');
      expect(err).toBeInstanceOf(EarTokenError);
    }
  });

  it('expiry: exp reached, iat in the future (beyond the skew) are FRESHNESS errors', () => {
    const token = signEarJwt(ear, p256.privateKey, { ...opts, alg: 'ES256' });
    const expired = catchError(() => verifyEarJwt(token, p256.publicKey, { now: IAT + 300 }));
    expect({ code: expired.code, errorClass: expired.errorClass }).toEqual({ code: 'ERR_TOKEN_EXPIRED', errorClass: 'FRESHNESS' });
    expect(catchError(() => verifyEarJwt(token, p256.publicKey, { now: IAT - 61 })).code).toBe('ERR_TOKEN_EXPIRED');
    expect(verifyEarJwt(token, p256.publicKey, { now: IAT - 60 }).claims.jti).toBe(opts.jti);
  });

  it('signing checks its arguments: key type and curve, times, jti, EAR, no overriding claims', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const bad: [KeyObject, Record<string, unknown>][] = [
      [p256.privateKey, { alg: 'ES384' }],
      [p384.privateKey, { alg: 'ES256' }],
      [p256.publicKey, { alg: 'ES256' }],
      [rsa.privateKey, { alg: 'ES256' }],
      [p256.privateKey, { alg: 'RS256' }],
      [p256.privateKey, { alg: 'ES256', expiresIn: 0 }],
      [p256.privateKey, { alg: 'ES256', now: -5 }],
      [p256.privateKey, { alg: 'ES256', jti: '' }],
      [p256.privateKey, { alg: 'ES256', extraClaims: { iat: 5 } }],
      [p256.privateKey, { alg: 'ES256', extraClaims: { submods: {} } }],
    ];
    for (const [key, o] of bad) {
      const err = catchError(() => signEarJwt(ear, key, { ...opts, ...o } as Parameters<typeof signEarJwt>[2]));
      expect(err.code).toBe('ERR_INVALID_ARGUMENT');
    }
    expect(catchError(() => signEarJwt({ ...ear, eat_profile: 'x' } as unknown as Ear, p256.privateKey, { ...opts, alg: 'ES256' })).code).toBe('ERR_INVALID_ARGUMENT');
    // Repeating a claim with the same value is fine (open-webui's jti / iat / exp).
    expect(() => signEarJwt(ear, p256.privateKey, { ...opts, alg: 'ES256', extraClaims: { ...openWebUiClaims(r, { jti: opts.jti, iat: IAT, exp: IAT + 300 }) } })).not.toThrow();
  });

  it('the profile is checked on verification', () => {
    expect(EAR_PROFILE).toBe('tag:github.com,2023:veraison/ear');
    // valid but for the profile, and low-S (node's raw signature is high-S half the time: refused first, review s10 J3)
    const token = signed({ alg: 'ES256', typ: 'JWT' }, claimsWith({ eat_profile: 'other' }));
    const err = catchError(() => verifyEarJwt(token, s10Keys.publicKey, { now: NOW }));
    expect({ code: err.code, claim: err.details['claim'] }).toEqual({ code: 'ERR_TOKEN_MALFORMED', claim: 'eat_profile' });
  });
});
