/**
 * Review s12 (svc #4): request fields that were accepted and did nothing, each hiding a client's mistake
 * about binding: runtime_data_hash_algorithm without runtime_data (ok, binding null, no warning),
 * init_data_hash_algorithm never read or checked ("md5" passed), a certTable with TDX / SGX evidence
 * dropped. Each is now 400 ERR_AS_BAD_REQUEST; init_data_hash_algorithm is checked against the same
 * names as runtime_data_hash_algorithm (sha256, sha384, sha512).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';

import { post, snp, startService, tdxQuote } from './helpers.js';

let svc: Awaited<ReturnType<typeof startService>>;
let quote: Buffer;
beforeAll(async () => {
  quote = await tdxQuote();
  svc = await startService();
});
afterAll(async () => svc?.close());

const ev = () => Buffer.from(JSON.stringify({ quote: quote.toString('base64') })).toString('base64url');

async function refused(body: unknown, field: string): Promise<void> {
  for (const path of ['/v1/verify', '/attestation']) {
    const r = await post(svc.url, path, body);
    expect(r.status, `${path} ${JSON.stringify(body).slice(0, 200)}`).toBe(400);
    expect(r.json.error.code).toBe('ERR_AS_BAD_REQUEST');
    expect(r.json.error.message).toContain(field);
  }
}

it('a hash algorithm without its data is 400, flat and wrapped', async () => {
  for (const alg of ['sha512', 'sha384', 'SHA256']) {
    await refused({ tee: 'tdx', evidence: ev(), runtime_data_hash_algorithm: alg }, 'runtime_data_hash_algorithm');
    await refused({ verification_requests: [{ tee: 'tdx', evidence: ev(), runtime_data_hash_algorithm: alg }] }, 'runtime_data_hash_algorithm');
    await refused({ tee: 'tdx', evidence: ev(), init_data_hash_algorithm: alg }, 'init_data_hash_algorithm');
  }
});

it('an unknown or weak init_data_hash_algorithm is 400 (the runtime_data names), with or without init_data', async () => {
  for (const alg of ['md5', 'sha1', 'constructor', '__proto__', '', 5, ['sha384']]) {
    await refused({ tee: 'tdx', evidence: ev(), init_data_hash_algorithm: alg }, 'init_data_hash_algorithm');
    await refused({ tee: 'tdx', evidence: ev(), init_data: { init_data_digest: 'AAAA' }, init_data_hash_algorithm: alg }, 'init_data_hash_algorithm');
  }
  // A known name with init_data: init_data itself is not accepted, as before (422).
  const r = await post(svc.url, '/attestation', { tee: 'tdx', evidence: ev(), init_data: { init_data_digest: 'AAAA' }, init_data_hash_algorithm: 'sha384' });
  expect([r.status, r.json.error.code]).toEqual([422, 'ERR_AS_UNSUPPORTED']);
});

it('null stays "absent"; an algorithm with its data binds as before', async () => {
  const a = await post(svc.url, '/v1/verify', { tee: 'tdx', evidence: ev(), runtime_data_hash_algorithm: null, init_data_hash_algorithm: null, runtime_data: null });
  expect([a.status, a.json.ok, a.json.binding]).toEqual([200, true, null]);
  const b = await post(svc.url, '/v1/verify', { tee: 'tdx', evidence: ev(), runtime_data: { raw: 'AA' }, runtime_data_hash_algorithm: 'sha512' });
  expect([b.status, b.json.error?.code]).toEqual([422, 'ERR_AS_BINDING_MISMATCH']);
});

it('a certTable with TDX evidence is 400; with SEV-SNP evidence it is used', async () => {
  const table = Buffer.alloc(24).toString('base64');
  const r = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64'), certTable: table });
  expect(r.status).toBe(400);
  expect(r.json.error.code).toBe('ERR_AS_BAD_REQUEST');
  expect(r.json.error.message).toContain('certTable');
  const hex = await post(svc.url, '/v1/verify', { evidence: quote.toString('hex'), certTable: table });
  expect([hex.status, hex.json.error.code]).toEqual([400, 'ERR_AS_BAD_REQUEST']);
  const s = await snp.getEvidence(new Uint8Array(64));
  const ok = await post(svc.url, '/v1/verify', { evidence: Buffer.from(s.evidence).toString('base64'), certTable: Buffer.from(s.auxblob!).toString('base64') });
  expect([ok.status, ok.json.ok, ok.json.tee]).toEqual([200, true, 'snp']);
});
