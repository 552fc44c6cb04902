/**
 * Review (session 6): client-chosen names never reach Object.prototype, and a
 * client's pick of a laxer named policy never yields the claims open-webui trusts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AttestationService } from '../../src/attestation-service/index.js';
import { loadPolicy, verifyEarJwt } from '../../src/index.js';
import { mrTdOf, NOW_SECONDS, openWebUiBody, post, startService, tdxQuote } from './helpers.js';

let quote: Buffer;
beforeAll(async () => {
  quote = await tdxQuote();
});

describe('review s6: runtime_data_hash_algorithm names of Object.prototype', () => {
  let svc: AttestationService;
  const logged: string[] = [];
  beforeAll(async () => {
    svc = await startService({ log: (l) => logged.push(l) });
  });
  afterAll(async () => svc?.close());

  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    it(`"${name}" is 400 ERR_AS_BAD_REQUEST, nothing logged as internal`, async () => {
      const r = await post(svc.url, '/attestation', openWebUiBody(quote, { runtime_data: { raw: 'AAAA' }, runtime_data_hash_algorithm: name }));
      expect(r.json?.error?.code).toBe('ERR_AS_BAD_REQUEST');
      expect(r.status).toBe(400);
      expect(logged.filter((l) => l.includes('internal error'))).toEqual([]);
    });
  }
});

describe('review s6: which tokens carry open-webui\'s claims (tee, tcb-status)', () => {
  const claimsOf = (token: string): Record<string, unknown> => verifyEarJwt(token, svc.publicKey, { now: NOW_SECONDS }).claims as Record<string, unknown>;
  // "lax" accepts any TCB status and debug; "strict" pins the MRTD.
  const lax = () => loadPolicy({ tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', allowDebug: true, tcb: { acceptedStatuses: ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'OutOfDate'] } });
  const strict = () => loadPolicy({ tee: 'tdx', mrTd: [mrTdOf(quote)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' });
  let svc: AttestationService;
  beforeAll(async () => {
    svc = await startService({ policies: { lax: lax(), strict: strict() }, openWebUiPolicies: ['strict'] });
  });
  afterAll(async () => svc?.close());

  it('a named lax policy on the trustee route: a token without tee / tcb-status (its EAR names the policy)', async () => {
    const r = await post(svc.url, '/attestation', openWebUiBody(quote, { policy_ids: ['lax'] }));
    expect(r.status).toBe(200);
    const claims = claimsOf(r.text);
    expect(claims['tee']).toBeUndefined();
    expect(claims['tcb-status']).toBeUndefined();
    expect((claims['submods'] as Record<string, Record<string, unknown>>)['cpu0']!['ear.appraisal-policy-id']).toBe('lax');
  });

  it('the default policy (no policy_ids, or "default") and a policy marked for open-webui: both claims', async () => {
    for (const extra of [{}, { policy_ids: ['default'] }, { policy_ids: ['strict'] }]) {
      const r = await post(svc.url, '/attestation', openWebUiBody(quote, extra));
      expect(r.status).toBe(200);
      expect([extra, claimsOf(r.text)['tee']]).toEqual([extra, 'tdx']);
      expect(typeof claimsOf(r.text)['tcb-status']).toBe('string');
    }
  });

  it('/v1/verify with the named lax policy: ok, but no open-webui claims either', async () => {
    const r = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64'), policy: 'lax' });
    expect(r.json.ok).toBe(true);
    expect(claimsOf(r.json.token)['tee']).toBeUndefined();
  });

  it('a configured default that is a named policy keeps the claims; marking an unknown name is refused at start', async () => {
    const other = await startService({ policies: { prod: strict() }, defaultPolicies: { tdx: 'prod' } });
    try {
      const r = await post(other.url, '/attestation', openWebUiBody(quote, { policy_ids: ['prod'] }));
      expect(verifyEarJwt(r.text, other.publicKey, { now: NOW_SECONDS }).claims['tee']).toBe('tdx');
    } finally {
      await other.close();
    }
    await expect(startService({ openWebUiPolicies: ['nope'] })).rejects.toThrow(/not a configured policy/);
  });
});
