/**
 * tee-verify serve as a library: a real HTTP server on 127.0.0.1, simulated
 * TDX / SEV-SNP evidence of the test PKI, a fixed clock. Both body shapes,
 * the published key verifying the EAR JWT with the open-webui claims,
 * bindings, policies, typed errors.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AttestationService } from '../../src/attestation-service/index.js';
import { canonicalJson } from '../../src/attestation-service/index.js';
import { EAR_PROFILE, verifyEarJwt } from '../../src/policy/index.js';
import { NOW, NOW_SECONDS, call, mrTdOf, openWebUiBody, post, publishedKey, sha512, snp, startService, tdxQuote } from './helpers.js';

let svc: AttestationService;
let quote: Buffer;
let mrTd: string;
const pinned = () => ({ tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' });

beforeAll(async () => {
  quote = await tdxQuote();
  mrTd = mrTdOf(quote);
  svc = await startService({ policies: { pinned: pinned(), other: { ...pinned(), mrTd: ['ab'.repeat(48)] } } });
});
afterAll(async () => svc?.close());

describe('POST /v1/verify, plain body', () => {
  it('base64 evidence: ok, every check, claims, and an EAR JWT that verifies with the published key', async () => {
    const r = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64') });
    expect(r.status).toBe(200);
    // The test PKI's roots are not the pinned production roots: ok, with that warning, so the EAR says "warning".
    expect(r.json).toMatchObject({ ok: true, status: 'warning', tee: 'tdx', at: NOW.toISOString(), tcbStatus: 'UpToDate', advisoryIds: [], binding: null, trustRoots: 'test-pki' });
    expect(r.json.warnings).toEqual(['trust roots "test-pki" replace the pinned Intel / AMD production roots']);
    expect(r.json.policy).toMatchObject({ id: 'tee-verify:default-tdx', ok: true, violations: [] });
    expect(r.json.checks.map((c: { id: string }) => c.id)).toEqual(expect.arrayContaining(['T22', 'T23', 'T26']));
    expect(r.json.claims.mrTd).toBe(mrTd);

    const { header, claims } = verifyEarJwt(r.json.token, await publishedKey(svc.url), { now: NOW_SECONDS });
    expect(header).toMatchObject({ alg: 'ES256', typ: 'JWT', kid: svc.jwks.keys[0]!.kid });
    expect(claims.eat_profile).toBe(EAR_PROFILE);
    expect(claims.submods['cpu0']!['ear.status']).toBe('warning');
    // The top-level claims the patched open-webui reads.
    expect(typeof claims['jti']).toBe('string');
    expect(claims['tee']).toBe('tdx');
    expect(claims['iat']).toBe(NOW_SECONDS);
    expect(claims['exp']).toBe(NOW_SECONDS + 300);
    expect(typeof claims['tcb-status']).toBe('string');
    const tcb = JSON.parse(claims['tcb-status'] as string) as Record<string, unknown>;
    expect(tcb['tdx.quote.body.mr_td']).toBe(mrTd);
    expect(tcb['tdx.quote.header.version']).toBe('0400');
    expect(tcb['tdx.td_attributes.debug']).toBe(false);
    expect(tcb['tdx.tcb_status']).toBe('UpToDate');
  });

  it('hex evidence gives the same verdict; each token has its own jti', async () => {
    const a = await post(svc.url, '/v1/verify', { evidence: quote.toString('hex') });
    const b = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64') });
    expect(a.json.ok).toBe(true);
    const key = await publishedKey(svc.url);
    const jti = (t: string) => verifyEarJwt(t, key, { now: NOW_SECONDS }).claims['jti'];
    expect(jti(a.json.token)).not.toBe(jti(b.json.token));
  });

  it('a policy violation is ok:false with every violation, and a contraindicated token', async () => {
    const r = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64'), policy: 'other' });
    expect(r.status).toBe(200);
    expect(r.json.ok).toBe(false);
    expect(r.json.status).toBe('contraindicated');
    expect(r.json.policy.id).toBe('other');
    expect(r.json.policy.violations).toEqual([expect.objectContaining({ check: 'T36', path: '/mrTd', actual: mrTd })]);
    const { claims } = verifyEarJwt(r.json.token, svc.publicKey, { now: NOW_SECONDS });
    expect(claims.submods['cpu0']!['ear.status']).toBe('contraindicated');
  });

  it('a named policy that pins the MRTD is met; an unknown name is ERR_AS_UNKNOWN_POLICY', async () => {
    const r = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64'), policy: 'pinned' });
    expect(r.json).toMatchObject({ ok: true, policy: { id: 'pinned', ok: true } });
    const bad = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64'), policy: 'nope' });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('ERR_AS_UNKNOWN_POLICY');
  });

  it('an inline policy is judged under an id derived from its content, never the id it claims', async () => {
    const r = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64'), policy: { ...pinned(), id: 'pinned' } });
    expect(r.json.ok).toBe(true);
    expect(r.json.policy.id).toMatch(/^inline:sha256:[0-9a-f]{64}$/);
    const invalid = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64'), policy: { tee: 'tdx', mrTd: 'nope' } });
    expect(invalid.status).toBe(400);
    expect(invalid.json.error.code).toBe('ERR_POLICY_INVALID');
  });

  it('the trustee routes refuse an inline policy (their bare token names no policy its readers check): no token', async () => {
    const weak = { tee: 'tdx', allowDebug: true, mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
    for (const path of ['/attestation', '/v1/attestation']) {
      const r = await post(svc.url, path, { evidence: quote.toString('base64'), policy: weak });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('ERR_AS_UNKNOWN_POLICY');
      expect(r.text).not.toMatch(/^ey/);
    }
    // The same request on /v1/verify is judged under the inline policy's own content id.
    const verify = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64'), policy: weak });
    expect(verify.json.policy.id).toMatch(/^inline:sha256:/);
  });

  it('a tampered quote is a typed error with the check that failed, and no token', async () => {
    const bad = Buffer.from(quote);
    bad[300] = (bad[300] ?? 0) ^ 0xff; // inside the TD report body: the quote signature breaks
    const r = await post(svc.url, '/v1/verify', { evidence: bad.toString('base64') });
    expect(r.status).toBe(422);
    expect(Object.keys(r.json)).toEqual(['error']);
    expect(r.json.error).toEqual({ code: 'ERR_SIG_QUOTE', message: expect.any(String), check: 'T26' });
  });

  it('truncated evidence is the parser\'s typed error', async () => {
    const r = await post(svc.url, '/v1/verify', { evidence: quote.subarray(0, 100).toString('base64') });
    expect(r.status).toBe(422);
    expect(r.json.error.code).toBe('ERR_TRUNCATED');
  });
});

describe('bindings', () => {
  it('nonce: REPORTDATA = SHA-512(nonce) is ok and the token carries eat_nonce', async () => {
    const nonce = randomBytes(32);
    const q = await tdxQuote(sha512(nonce));
    const r = await post(svc.url, '/v1/verify', { evidence: q.toString('base64'), nonce: nonce.toString('base64') });
    expect(r.json.ok).toBe(true);
    expect(r.json.binding).toEqual({ source: 'nonce', reportData: sha512(nonce).toString('hex') });
    expect(verifyEarJwt(r.json.token, svc.publicKey, { now: NOW_SECONDS }).claims.eat_nonce).toBe(nonce.toString('base64url'));
  });

  it('nonce mismatch (evidence made for another nonce) is refused with ERR_AS_BINDING_MISMATCH, no token', async () => {
    const q = await tdxQuote(sha512(randomBytes(32)));
    const r = await post(svc.url, '/v1/verify', { evidence: q.toString('base64'), nonce: randomBytes(32).toString('base64') });
    expect(r.status).toBe(422);
    expect(r.json.error).toMatchObject({ code: 'ERR_AS_BINDING_MISMATCH', check: 'T41' });
  });

  it('a nonce outside 16-64 bytes, or nonce together with reportData, is a bad request', async () => {
    expect((await post(svc.url, '/v1/verify', { evidence: quote.toString('base64'), nonce: randomBytes(8).toString('base64') })).json.error.code).toBe('ERR_AS_BAD_REQUEST');
    const both = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64'), nonce: randomBytes(32).toString('base64'), reportData: '00'.repeat(64) });
    expect(both.status).toBe(400);
  });

  it('reportData (128 hex digits) must equal REPORTDATA exactly', async () => {
    const rd = randomBytes(64);
    const q = await tdxQuote(rd);
    expect((await post(svc.url, '/v1/verify', { evidence: q.toString('base64'), reportData: rd.toString('hex') })).json.ok).toBe(true);
    const other = Buffer.from(rd);
    other[63] = (other[63] ?? 0) ^ 1;
    expect((await post(svc.url, '/v1/verify', { evidence: q.toString('base64'), reportData: other.toString('hex') })).json.error.code).toBe('ERR_AS_BINDING_MISMATCH');
  });

  it("trustee runtime_data: SHA-384 of the RFC 8785 form, zero-padded to 64 bytes, as trustee computes it", async () => {
    const structured = { nonce: randomBytes(32).toString('base64'), 'tee-pubkey': { kty: 'EC', crv: 'P-256', alg: 'ECDH-ES+A256KW', x: 'eA', y: 'eQ' } };
    const rd = Buffer.alloc(64);
    (await import('node:crypto')).createHash('sha384').update(canonicalJson(structured)).digest().copy(rd);
    const q = await tdxQuote(rd);
    const ok = await post(svc.url, '/v1/verify', openWebUiBody(q, { runtime_data: { structured } }));
    expect(ok.json).toMatchObject({ ok: true, binding: { source: 'runtime_data', reportData: rd.toString('hex') } });
    const raw = await post(svc.url, '/v1/verify', openWebUiBody(q, { runtime_data: { raw: Buffer.from('other').toString('base64url') } }));
    expect(raw.json.error).toMatchObject({ code: 'ERR_AS_BINDING_MISMATCH', check: 'T41' });
  });
});

describe('trustee-shaped bodies (what open-webui posts)', () => {
  it('POST /attestation answers the JWT text itself; it verifies with the JWKS and carries tcb-status as a JSON string', async () => {
    const r = await post(svc.url, '/attestation', openWebUiBody(quote));
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/jwt');
    const { claims } = verifyEarJwt(r.text, await publishedKey(svc.url), { now: NOW_SECONDS });
    expect(claims['tee']).toBe('tdx');
    expect(JSON.parse(claims['tcb-status'] as string)['tdx.quote.body.mr_td']).toBe(mrTd);
  });

  it('the same body on /v1/verify gives the JSON result; trustee\'s wrapped form is accepted too', async () => {
    expect((await post(svc.url, '/v1/verify', openWebUiBody(quote))).json).toMatchObject({ ok: true, tee: 'tdx', tcbStatus: 'UpToDate' });
    const inner = JSON.parse(openWebUiBody(quote)) as Record<string, unknown>;
    delete inner['policy_ids'];
    const wrapped = await post(svc.url, '/v1/attestation', { verification_requests: [inner], policy_ids: ['pinned'] });
    expect(wrapped.status).toBe(200);
    expect(verifyEarJwt(wrapped.text, svc.publicKey, { now: NOW_SECONDS }).claims.submods['cpu0']!['ear.appraisal-policy-id']).toBe('pinned');
  });

  it('a policy the evidence does not meet gets no token on the trustee route: 403 with the violations', async () => {
    const r = await post(svc.url, '/attestation', openWebUiBody(quote, { policy_ids: ['other'] }));
    expect(r.status).toBe(403);
    expect(r.json.error).toMatchObject({ code: 'ERR_AS_POLICY_VIOLATION', check: 'T36' });
    expect(r.json.error.violations).toHaveLength(1);
  });

  it('cc_eventlog is reported as not replayed; a declared tee that is not the evidence\'s is refused', async () => {
    const withLog = JSON.parse(openWebUiBody(quote)) as Record<string, unknown>;
    withLog['evidence'] = Buffer.from(JSON.stringify({ quote: quote.toString('base64'), cc_eventlog: 'AAAA' })).toString('base64url');
    const r = await post(svc.url, '/v1/verify', withLog);
    expect(r.json.warnings).toEqual(expect.arrayContaining([expect.stringContaining('cc_eventlog was not replayed')]));
    const sgx = await post(svc.url, '/v1/verify', openWebUiBody(quote, { tee: 'sgx' }));
    expect(sgx.status).toBe(422);
    expect(sgx.json.error.code).toBe('ERR_AS_TEE_MISMATCH');
  });

  it('init_data and unknown TEEs are refused, not ignored', async () => {
    expect((await post(svc.url, '/attestation', openWebUiBody(quote, { init_data: { init_data_digest: 'AAAA' } }))).json.error.code).toBe('ERR_AS_UNSUPPORTED');
    expect((await post(svc.url, '/attestation', openWebUiBody(quote, { tee: 'az-snp-vtpm' }))).json.error.code).toBe('ERR_AS_UNSUPPORTED');
  });
});

describe('SEV-SNP through the service', () => {
  it('a simulated Milan report with its certificate table verifies; the token carries snp.* claims', async () => {
    const nonce = randomBytes(32);
    const ev = await snp.getEvidence(sha512(nonce));
    const r = await post(svc.url, '/v1/verify', { evidence: Buffer.from(ev.evidence).toString('base64'), certTable: Buffer.from(ev.auxblob!).toString('base64'), nonce: nonce.toString('base64') });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, tee: 'snp', tcbStatus: null, policy: { id: 'tee-verify:default-snp' }, binding: { source: 'nonce' } });
    const { claims } = verifyEarJwt(r.json.token, svc.publicKey, { now: NOW_SECONDS });
    expect(claims['tee']).toBe('snp');
    expect(JSON.parse(claims['tcb-status'] as string)['snp.measurement']).toBe(r.json.claims.measurement);
  });

  it('a SEV-SNP report bound to another nonce is refused with check S29', async () => {
    const ev = await snp.getEvidence(sha512(randomBytes(32)));
    const r = await post(svc.url, '/v1/verify', { evidence: Buffer.from(ev.evidence).toString('base64'), nonce: randomBytes(32).toString('base64') });
    expect(r.json.error).toMatchObject({ code: 'ERR_AS_BINDING_MISMATCH', check: 'S29' });
  });
});

describe('requests the service refuses', () => {
  it('bad JSON is 400 ERR_AS_BAD_REQUEST; an unknown field too', async () => {
    const r = await post(svc.url, '/v1/verify', '{"evidence": ');
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('ERR_AS_BAD_REQUEST');
    expect((await post(svc.url, '/v1/verify', { evidence: 'AAAA', extra: 1 })).json.error.code).toBe('ERR_AS_BAD_REQUEST');
  });

  it('unknown route 404, wrong method 405', async () => {
    expect((await call(svc.url, 'GET', '/nope')).json.error.code).toBe('ERR_AS_NOT_FOUND');
    const r = await call(svc.url, 'GET', '/v1/verify');
    expect(r.status).toBe(405);
    expect(r.json.error.code).toBe('ERR_AS_METHOD_NOT_ALLOWED');
  });

  it('/health and /metrics', async () => {
    expect((await call(svc.url, 'GET', '/health')).json).toMatchObject({ status: 'ok', alg: 'ES256', kid: svc.jwks.keys[0]!.kid });
    const m = await call(svc.url, 'GET', '/metrics');
    expect(m.text).toMatch(/^tee_verify_as_appraisals_total\{outcome="ok"\} [1-9]\d*$/m);
    expect(m.text).toMatch(/^tee_verify_as_rejections_total\{code="ERR_SIG_QUOTE"\} [1-9]\d*$/m);
    expect(m.text).toMatch(/^tee_verify_as_requests_total\{route="verify",status="422"\} [1-9]\d*$/m);
  });
});
