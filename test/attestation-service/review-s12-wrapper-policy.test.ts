/**
 * Review s12 (svc #1): in trustee's wrapper form `{"verification_requests": [<request>], "policy_ids": [...]}`
 * a `policy_ids` inside the request was accepted and never read, so the client's policy did not run and
 * the default judged instead (a 200 token on /attestation for evidence its policy rejects). trustee's
 * IndividualAttestationRequest has no policy_ids (only the outer AttestationRequest does): an inner one is
 * 400 ERR_AS_BAD_REQUEST.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';

import { loadPolicy } from '../../src/index.js';
import { post, startService, tdxQuote } from './helpers.js';

let svc: Awaited<ReturnType<typeof startService>>;
let quote: Buffer;
beforeAll(async () => {
  quote = await tdxQuote();
  // "strict" pins an MRTD the quote does not have.
  const strict = loadPolicy({ tee: 'tdx', mrTd: ['00'.repeat(48)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' });
  svc = await startService({ policies: { strict } });
});
afterAll(async () => svc?.close());

const ev = () => Buffer.from(JSON.stringify({ quote: quote.toString('base64') })).toString('base64url');

it('an inner policy_ids is 400 ERR_AS_BAD_REQUEST on every route, whatever it names', async () => {
  for (const path of ['/attestation', '/v1/attestation', '/v1/verify']) {
    for (const ids of [['strict'], ['no-such-policy'], [], ['default']]) {
      for (const outer of [undefined, ['strict'], []]) {
        const body = { verification_requests: [{ tee: 'tdx', evidence: ev(), policy_ids: ids }], ...(outer ? { policy_ids: outer } : {}) };
        const r = await post(svc.url, path, body);
        expect(r.status, `${path} inner ${JSON.stringify(ids)} outer ${JSON.stringify(outer)}`).toBe(400);
        expect(r.json.error.code).toBe('ERR_AS_BAD_REQUEST');
        expect(r.json.error.message).toContain('policy_ids');
      }
    }
  }
});

it('the outer policy_ids of the wrapper is honoured, as the flat one is', async () => {
  const wrapped = await post(svc.url, '/attestation', { verification_requests: [{ tee: 'tdx', evidence: ev() }], policy_ids: ['strict'] });
  expect(wrapped.status).toBe(403);
  expect(wrapped.json.error.code).toBe('ERR_AS_POLICY_VIOLATION');
  const flat = await post(svc.url, '/attestation', { tee: 'tdx', evidence: ev(), policy_ids: ['strict'] });
  expect(flat.status).toBe(403);
  const unknown = await post(svc.url, '/attestation', { verification_requests: [{ tee: 'tdx', evidence: ev() }], policy_ids: ['no-such-policy'] });
  expect(unknown.status).toBe(400);
  expect(unknown.json.error.code).toBe('ERR_AS_UNKNOWN_POLICY');
  const plain = await post(svc.url, '/attestation', { verification_requests: [{ tee: 'tdx', evidence: ev() }] });
  expect(plain.status).toBe(200);
});
