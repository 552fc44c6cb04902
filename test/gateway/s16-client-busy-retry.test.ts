/**
 * s16 (the gateway's evidence queue): a full queue answers 503 ERR_GATEWAY_EVIDENCE_BUSY with
 * Retry-After. AttestedClient retries it once, as it retries a 429, when the wait fits in timeoutMs;
 * another 503 (a provider failure) is not retried.
 */
import type { ServerResponse } from 'node:http';

import { describe, expect, it } from 'vitest';

import { AttestationRefusedError, AttestedClient } from '../../src/gateway/index.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy } from './helpers.js';
import { startStub } from './review-s6-stub.js';

const policy = tdxPolicy(await mrTdOf(simulated));

function answer503(res: ServerResponse, code: string, retryAfterSeconds: number): void {
  const text = JSON.stringify({ error: { code, message: 'the TEE is busy; retry later' } });
  res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'retry-after': String(retryAfterSeconds) });
  res.end(text);
}

describe('AttestedClient and a full evidence queue', () => {
  it('503 ERR_GATEWAY_EVIDENCE_BUSY with Retry-After: 1, then an answer: attest() succeeds on a new connection', async () => {
    const stub = await startStub((t) => (t.n === 1 ? answer503(t.res, 'ERR_GATEWAY_EVIDENCE_BUSY', 1) : t.answer()));
    const client = new AttestedClient(stub.url, clientOptions(policy));
    try {
      const v = await client.attest();
      expect(v.spkiSha256).toBe(stub.spkiSha256);
      expect(stub.requests.filter((r) => r.path === '/v1/attestation').map((r) => r.connection)).toEqual([1, 2]);
    } finally {
      await client.close();
      await stub.close();
    }
  });

  it('only once, and never for another 503 (a provider failure)', async () => {
    for (const [code, tries] of [['ERR_GATEWAY_EVIDENCE_BUSY', 2], ['ERR_GATEWAY_EVIDENCE_PROVIDER', 1]] as const) {
      const stub = await startStub((t) => answer503(t.res, code, 1));
      const client = new AttestedClient(stub.url, clientOptions(policy));
      try {
        const err = await client.attest().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AttestationRefusedError);
        expect((err as AttestationRefusedError).details, code).toMatchObject({ status: 503, serverCode: code, retryAfterMs: 1000 });
        expect(stub.requests.filter((r) => r.path === '/v1/attestation'), code).toHaveLength(tries);
      } finally {
        await client.close();
        await stub.close();
      }
    }
  });
});
