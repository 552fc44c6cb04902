/**
 * Review session 6, finding 2: a re-attestation REFUSED for the key the client already trusted left
 * that key trusted, so the next request went out without attesting again. Now a refusal that judges
 * the TEE behind the key (policy, debug, evidence, vTPM; tested: policy and evidence) ends the key's trust, drops the parked
 * connection and retires the pool; refusals a relay or the network can cause (an exchange error,
 * evidence bound to another key) leave it trusted. A real gateway on 127.0.0.1 whose evidence
 * provider the test switches.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestationRefusedError, AttestedClient } from '../../src/gateway/index.js';
import { SimulatedTeeProvider, type EvidenceProvider } from '../../src/tee/index.js';
import { SECRET, clientOptions, mrTdOf, ollamaChat, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';

/** What the gateway's TEE does now: the genuine image, another image, a failure, or evidence for other REPORTDATA. */
let mode: 'genuine' | 'other-image' | 'other-platform' | 'broken' | 'unbound' = 'genuine';
let calls = 0;
const otherImage = new SimulatedTeeProvider({ state: { ...simulated.exportState(), seed: 'another image' } });
const otherPlatform = new SimulatedTeeProvider({ tee: 'tdx', seed: 'another platform' });
const switching: EvidenceProvider = {
  name: 'simulated',
  getEvidence: async (rd) => {
    calls += 1;
    if (mode === 'broken') throw new Error('the TEE is busy');
    if (mode === 'unbound') return simulated.getEvidence(new Uint8Array(64));
    return (mode === 'other-image' ? otherImage : mode === 'other-platform' ? otherPlatform : simulated).getEvidence(rd);
  },
};

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ provider: switching, requireApiKey: false, attestationsPerSecond: 1000 });
});
afterAll(async () => h?.close());

const chat = async (client: AttestedClient, prompt: string): Promise<number> => {
  const r = await client.fetch('/api/chat', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ollamaChat(prompt, false) });
  await r.text();
  return r.status;
};

async function trustedClient(): Promise<AttestedClient> {
  mode = 'genuine';
  const client = new AttestedClient(h.gateway.url, clientOptions(tdxPolicy(await mrTdOf(simulated))));
  expect(await chat(client, 'hello')).toBe(200);
  return client;
}

describe('a refused re-attestation of the trusted key', () => {
  it('policy refused (T36) for the same key: the key is no longer trusted, the next request attests again and is refused; the upstream receives nothing', async () => {
    const client = await trustedClient();
    try {
      mode = 'other-image';
      const refused = await client.attest().catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(AttestationRefusedError);
      expect((refused as AttestationRefusedError).code).toBe('ERR_ATTEST_POLICY');
      expect((refused as AttestationRefusedError).details.checks).toContain('T36');
      const before = h.upstream.received.length;
      const callsBefore = calls;
      const err = await chat(client, SECRET).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AttestationRefusedError);
      expect((err as AttestationRefusedError).code).toBe('ERR_ATTEST_POLICY');
      expect(calls).toBeGreaterThan(callsBefore); // it attested again instead of trusting the key
      expect(h.upstream.received.length).toBe(before);
      // The TEE is back to the genuine image: the key is attested again and trusted.
      mode = 'genuine';
      expect(await chat(client, 'back')).toBe(200);
    } finally {
      await client.close();
    }
  });

  it('evidence refused (a platform outside the trust roots) for the same key: revoked as well', async () => {
    const client = await trustedClient();
    try {
      mode = 'other-platform';
      const refused = await client.attest().catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(AttestationRefusedError);
      expect((refused as AttestationRefusedError).code).toBe('ERR_ATTEST_EVIDENCE');
      const before = h.upstream.received.length;
      const err = await chat(client, SECRET).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AttestationRefusedError);
      expect((err as AttestationRefusedError).code).toBe('ERR_ATTEST_EVIDENCE');
      expect(h.upstream.received.length).toBe(before);
    } finally {
      mode = 'genuine';
      await client.close();
    }
  });
});

describe('refusals that a relay or the network can cause leave the key trusted', () => {
  it('the gateway answers 503 (its TEE gave no evidence): ERR_ATTEST_EXCHANGE, and the next request goes out on the trusted key without attesting', async () => {
    const client = await trustedClient();
    try {
      mode = 'broken';
      const refused = await client.attest().catch((e: unknown) => e);
      expect((refused as AttestationRefusedError).code).toBe('ERR_ATTEST_EXCHANGE');
      expect((refused as AttestationRefusedError).details.status).toBe(503);
      const callsBefore = calls;
      expect(await chat(client, 'still trusted')).toBe(200);
      expect(calls).toBe(callsBefore);
    } finally {
      mode = 'genuine';
      await client.close();
    }
  });

  it('evidence not bound to this connection\'s key (T41): the key stays trusted', async () => {
    const client = await trustedClient();
    try {
      mode = 'unbound';
      const refused = await client.attest().catch((e: unknown) => e);
      expect((refused as AttestationRefusedError).code).toBe('ERR_ATTEST_BINDING');
      const callsBefore = calls;
      expect(await chat(client, 'still trusted')).toBe(200);
      expect(calls).toBe(callsBefore);
    } finally {
      mode = 'genuine';
      await client.close();
    }
  });
});
