/**
 * Adversarial review: hostile request shapes must be typed 4xx answers, never
 * an internal error (stack logged, 500).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AttestationService } from '../../src/attestation-service/index.js';
import { loadPolicy } from '../../src/index.js';
import { mrTdOf, openWebUiBody, post, startService, tdxQuote } from './helpers.js';

let svc: AttestationService;
const logged: string[] = [];
let quote: Buffer;
beforeAll(async () => {
  quote = await tdxQuote();
  svc = await startService({ log: (l) => logged.push(l) });
});
afterAll(async () => svc?.close());

describe('review: deeply nested JSON', () => {
  it('structured runtime_data nested beyond the canonicaliser\'s depth is 400 ERR_AS_BAD_REQUEST, not 500', async () => {
    const depth = 200_000; // fits the 512 KiB body limit (2 bytes per level)
    const body = openWebUiBody(quote).replace(/}$/, `,"runtime_data":{"structured":${'['.repeat(depth)}${']'.repeat(depth)}}}`);
    const r = await post(svc.url, '/attestation', body);
    expect(r.json?.error?.code).toBe('ERR_AS_BAD_REQUEST');
    expect(r.status).toBe(400);
    expect(logged.filter((l) => l.includes('internal error'))).toEqual([]);
  });

  it('a deeply nested inline policy is a typed 4xx, not 500', async () => {
    const depth = 200_000;
    const body = `{"evidence":"${quote.toString('base64')}","policy":{"tee":"tdx","x":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    const r = await post(svc.url, '/v1/verify', body);
    expect(r.status).toBe(400);
    expect(logged.filter((l) => l.includes('internal error'))).toEqual([]);
  });
});

describe('review: /v1/verify tokens never carry the claims open-webui trusts unless the service\'s own policy passed', () => {
  const claimsOf = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
  const pinnedTo = (mrTd: string) => ({ tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' });

  it('a contraindicated appraisal (the service policy pins another MRTD): the trustee route refuses, /v1/verify signs it without tee / tcb-status', async () => {
    const other = await startService({ policies: { prod: loadPolicy(pinnedTo('11'.repeat(48))) }, defaultPolicies: { tdx: 'prod' } });
    try {
      expect((await post(other.url, '/attestation', openWebUiBody(quote))).status).toBe(403);
      const r = await post(other.url, '/v1/verify', openWebUiBody(quote));
      expect(r.status).toBe(200);
      expect(r.json.ok).toBe(false);
      const claims = claimsOf(r.json.token);
      expect(claims['tee']).toBeUndefined();
      expect(claims['tcb-status']).toBeUndefined();
      expect((claims['submods'] as Record<string, Record<string, unknown>>)['cpu0']!['ear.status']).toBe('contraindicated');
    } finally {
      await other.close();
    }
  });

  it('an inline (client-chosen) policy that passes: no tee / tcb-status either; the service\'s own passing policy: both', async () => {
    const own = await startService({ policies: { prod: loadPolicy(pinnedTo(mrTdOf(quote))) }, defaultPolicies: { tdx: 'prod' } });
    try {
      const inline = await post(own.url, '/v1/verify', { evidence: quote.toString('base64'), policy: { ...pinnedTo('any') , mrTd: 'any' } });
      expect(inline.status).toBe(200);
      expect(inline.json.ok).toBe(true);
      expect(claimsOf(inline.json.token)['tcb-status']).toBeUndefined();
      expect(claimsOf(inline.json.token)['tee']).toBeUndefined();
      const served = await post(own.url, '/v1/verify', { evidence: quote.toString('base64') });
      expect(served.json.ok).toBe(true);
      expect(claimsOf(served.json.token)['tee']).toBe('tdx');
      expect(typeof claimsOf(served.json.token)['tcb-status']).toBe('string');
    } finally {
      await own.close();
    }
  });
});
