/**
 * Review s8, finding D1: POST /tdx_attest needs no credentials (CORS *), so what it may cost must be
 * bounded. Anything that is not a TDX quote is FAILED before verifyEvidence (an SEV-SNP report made
 * the gateway fetch VCEKs from AMD KDS and spend the collateral fetch budget a genuine TDX quote
 * needs), and the route has its own per-client rate. Also: verdicts that must never be SUCCESS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BundleSource, CollateralService } from '../../src/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { simulated, startHarness, type Harness } from './helpers.js';

const snp = new SimulatedTeeProvider({ tee: 'snp' });

/** Collateral sources that count every request (AMD: always "not found", as KDS for an unknown chip). */
function countingSources(): { collateral: CollateralService; asked: string[] } {
  const asked: string[] = [];
  const missing = (what: string) => async (): Promise<never> => {
    asked.push(what);
    throw Object.assign(new Error('not found'), { status: 404 });
  };
  const bundle = new BundleSource([...simulated.collateral]);
  const intel = {
    tcbInfo: (r: never) => (asked.push('tcbInfo'), bundle.tcbInfo(r)),
    qeIdentity: (r: never) => (asked.push('qeIdentity'), bundle.qeIdentity(r)),
    pckCrl: (r: never) => (asked.push('pckCrl'), bundle.pckCrl(r)),
    rootCaCrl: () => (asked.push('rootCaCrl'), bundle.rootCaCrl()),
  };
  const amd = { vcek: missing('vcek'), certChain: missing('certChain'), crl: missing('crl') };
  return { collateral: new CollateralService({ intel, amd, cache: null } as never), asked };
}

const post = (g: Harness, quote: Uint8Array, headers: Record<string, string> = {}) =>
  g.call('POST', '/tdx_attest', { body: JSON.stringify({ raw_quote_data: Buffer.from(quote).toString('hex') }), token: null, headers });

describe('POST /tdx_attest: only TDX quotes reach a collateral source (D1)', () => {
  let g: Harness;
  let sources: ReturnType<typeof countingSources>;
  beforeAll(async () => {
    sources = countingSources();
    g = await startHarness({ quoteVerifier: { collateral: sources.collateral, trustRoots: simulated.trustRoots }, quoteVerificationsPerSecond: 50, quoteVerificationsPerClient: 50 });
  });
  afterAll(async () => g?.close());

  it('SEV-SNP reports are FAILED and no source is asked anything; a genuine TDX quote still passes', async () => {
    for (let i = 0; i < 3; i++) {
      const report = Buffer.from((await snp.getEvidence(new Uint8Array(64))).evidence);
      report.writeUInt32LE(i, 0x1a0); // another chip id each time: each would be a new VCEK to fetch
      const r = await post(g, report, { origin: 'https://elsewhere.example' });
      expect(r.status).toBe(200);
      expect(r.json.attestation_result).toBe('FAILED');
    }
    expect(sources.asked).toEqual([]);
    const garbage = await post(g, Buffer.from('00'.repeat(40), 'hex'));
    expect(garbage.json.attestation_result).toBe('FAILED');
    expect(sources.asked).toEqual([]);
    const good = await post(g, (await simulated.getEvidence(new Uint8Array(64))).evidence);
    expect(good.json.attestation_result).toBe('SUCCESS');
    expect(sources.asked.length).toBeGreaterThan(0); // the counting sources do see what they serve
  });
});

describe('POST /tdx_attest: a per-client rate (D1)', () => {
  it('beyond the client share: 429 ERR_GATEWAY_RATE_LIMITED with Retry-After and CORS, not a verdict', async () => {
    const g = await startHarness({
      quoteVerifier: { collateral: new CollateralService({ intel: new BundleSource([...simulated.collateral]), cache: null }), trustRoots: simulated.trustRoots },
      quoteVerificationsPerSecond: 1,
      limiterClock: () => 5_000, // time stands still: the second call is inside the window however slow the machine
    });
    try {
      const quote = (await simulated.getEvidence(new Uint8Array(64))).evidence;
      expect((await post(g, quote)).json.attestation_result).toBe('SUCCESS');
      const limited = await post(g, quote, { origin: 'https://elsewhere.example' });
      expect(limited.status).toBe(429);
      expect(limited.json.error.code).toBe('ERR_GATEWAY_RATE_LIMITED');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(limited.headers['access-control-allow-origin']).toBe('*');
      expect(limited.json.attestation_result).toBeUndefined();
    } finally {
      await g.close();
    }
  });

  it('a bad bound is refused at start (ERR_GATEWAY_CONFIG)', async () => {
    await expect(startHarness({ quoteVerificationsPerSecond: 0 })).rejects.toMatchObject({ code: 'ERR_GATEWAY_CONFIG' });
  });
});

describe('POST /tdx_attest verdicts that are never SUCCESS', () => {
  const verifierFor = (p: SimulatedTeeProvider) => ({ collateral: new CollateralService({ intel: new BundleSource([...p.collateral]), cache: null }), trustRoots: p.trustRoots });

  it('a quote chaining to another root, an SEV-SNP report, a quote whose collateral has expired: FAILED', async () => {
    const otherRoot = new SimulatedTeeProvider({ tee: 'tdx' });
    const old = new SimulatedTeeProvider({ tee: 'tdx', at: new Date(Date.now() - 120 * 86_400_000) });
    const pinned = await startHarness({ quoteVerifier: verifierFor(simulated) });
    const ofOld = await startHarness({ quoteVerifier: verifierFor(old) });
    try {
      const verdicts = [
        await post(pinned, (await otherRoot.getEvidence(new Uint8Array(64))).evidence),
        await post(pinned, (await snp.getEvidence(new Uint8Array(64))).evidence),
        await post(ofOld, (await old.getEvidence(new Uint8Array(64))).evidence),
      ];
      expect(verdicts.map((r) => [r.status, r.json.attestation_result])).toEqual([[200, 'FAILED'], [200, 'FAILED'], [200, 'FAILED']]);
      // The control: the same gateways pass their own platform's current quote.
      expect((await post(pinned, (await simulated.getEvidence(new Uint8Array(64))).evidence)).json.attestation_result).toBe('SUCCESS');
    } finally {
      await pinned.close();
      await ofOld.close();
    }
  });
});
