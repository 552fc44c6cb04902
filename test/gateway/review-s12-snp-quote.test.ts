/**
 * Review s12 (gateway), finding 2: GET /api/v1/tee/quote serves TDX quotes only, yet on an SEV-SNP
 * gateway every call took a slot of the instance's evidence rate and a TEE report before its 404, so
 * any web page (the route is CORS `*`, no credentials) could lock /v1/attestation clients out (429).
 * The 404 now comes before the limiter and the TEE whenever the TEE is known: declared by the provider
 * (the simulated TEE's `tee`, a vTPM provider's hardware), or learned from evidence this process got.
 */
import { afterEach, describe, expect, it } from 'vitest';

import type { EvidenceProvider, TeeEvidence } from '../../src/tee/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { SimulatedVtpmProvider } from '../../src/tee/simulated-vtpm.js';
import { startHarness, type Harness } from './helpers.js';

const snp = new SimulatedTeeProvider({ tee: 'snp' });
const nonce = Buffer.alloc(32, 7).toString('base64');

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A provider that counts the reports it makes; `declare` keeps or hides the inner provider's `tee`. */
function counting(inner: EvidenceProvider & { tee?: string }, declare: boolean): EvidenceProvider & { asked: number } {
  const p = {
    asked: 0,
    name: inner.name,
    getEvidence(rd: Uint8Array): Promise<TeeEvidence> {
      p.asked += 1;
      return inner.getEvidence(rd);
    },
    ...(declare ? { tee: inner.tee } : {}),
  };
  return p;
}

/** Evidence rate 2 per second, all of it to one client, on a clock that never moves (no window slides). */
const tight = { attestationsPerSecond: 2, attestationsPerClient: 2, limiterClock: () => 0 };

async function quote(hh: Harness): Promise<{ status: number; code: unknown }> {
  const r = await hh.call('GET', '/api/v1/tee/quote', { token: null });
  return { status: r.status, code: r.json?.error?.code };
}

describe('GET /api/v1/tee/quote on a non-TDX gateway (s12 finding 2)', () => {
  it('a provider that declares SEV-SNP: 404 without a report or a slot of the evidence rate', async () => {
    const provider = counting(snp, true);
    h = await startHarness({ provider, ...tight });
    for (let i = 0; i < 4; i++) expect(await quote(h)).toEqual({ status: 404, code: 'ERR_GATEWAY_NOT_FOUND' });
    expect(provider.asked).toBe(0);
    const a = await h.call('POST', '/v1/attestation', { token: null, body: JSON.stringify({ nonce }) });
    expect(a.status).toBe(200);
    expect(provider.asked).toBe(1);
  });

  it('a vTPM provider over SEV-SNP hardware: the hardware\'s TEE counts', async () => {
    const hardware = counting(snp, true);
    h = await startHarness({ provider: new SimulatedVtpmProvider({ hardware }), ...tight });
    for (let i = 0; i < 3; i++) expect((await quote(h)).status).toBe(404);
    expect(hardware.asked).toBe(0);
  });

  it('a provider that declares nothing: its TEE is learned from the first evidence, then 404 at once', async () => {
    const provider = counting(snp, false);
    h = await startHarness({ provider, ...tight });
    // Learned from /v1/attestation: the quote route never asks the TEE.
    expect((await h.call('POST', '/v1/attestation', { token: null, body: JSON.stringify({ nonce }) })).status).toBe(200);
    expect(provider.asked).toBe(1);
    for (let i = 0; i < 4; i++) expect(await quote(h)).toEqual({ status: 404, code: 'ERR_GATEWAY_NOT_FOUND' });
    expect(provider.asked).toBe(1);
    // One slot of two spent: the second attestation still passes.
    expect((await h.call('POST', '/v1/attestation', { token: null, body: JSON.stringify({ nonce }) })).status).toBe(200);
  });

  it('learned from the quote route itself: at most the first call asks the TEE', async () => {
    const provider = counting(snp, false);
    h = await startHarness({ provider, ...tight });
    for (let i = 0; i < 4; i++) expect((await quote(h)).status).toBe(404);
    expect(provider.asked).toBe(1);
    expect((await h.call('POST', '/v1/attestation', { token: null, body: JSON.stringify({ nonce }) })).status).toBe(200);
  });

  it('a TDX gateway still serves the quote', async () => {
    const provider = counting(new SimulatedTeeProvider({ tee: 'tdx' }), true);
    h = await startHarness({ provider, ...tight });
    const r = await h.call('GET', '/api/v1/tee/quote', { token: null });
    expect(r.status).toBe(200);
    expect(r.json.status).toBe(true);
    expect(provider.asked).toBe(1);
  });
});

