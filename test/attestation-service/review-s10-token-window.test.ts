/**
 * Review s10, finding A4: a token is never valid after the earliest collateral expiry. Under the
 * collateral-grace relaxation the service judged collateral 30 minutes past its nextUpdate and
 * signed a token with exp = iat + 1 s (Math.max(1, ...)), i.e. valid after collateral that had
 * already expired. Now no token is signed for a window that is already closed: 422
 * ERR_COLLATERAL_EXPIRED (X16), whatever the policy's verdict; before the expiry, exp is capped at it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AttestationService } from '../../src/attestation-service/index.js';
import { BundleSource, CollateralService, verifyEarJwt } from '../../src/index.js';
import { openWebUiBody, post, snp, startService, tdx, tdxQuote } from './helpers.js';

/** Every policy field the loader wants explicit, left open, plus the grace the relaxation needs to pass. */
const GRACEFUL_TDX = {
  version: 1, tee: 'tdx', mrTd: 'any', rtmr0: 'any', rtmr1: 'any', rtmr2: 'any', rtmr3: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any',
  mrSeam: 'any', mrSignerSeam: 'any', seamSvn: 'any', xfam: 'any', tdAttributes: 'any', collateral: { expiryGraceSeconds: 3600 },
};

// The simulated TDX collateral (TCB info, QE identity, both CRLs) is valid until this instant.
const EXPIRY = tdx.collateral.map((a) => Date.parse(a.validity.notAfter)).reduce((a, b) => Math.min(a, b));

describe('review s10 A4: no token outlives its collateral, grace or not', () => {
  let clock = new Date(EXPIRY + 30 * 60_000);
  let svc: AttestationService;
  beforeAll(async () => {
    // The grace is granted where it applies: the collateral service serves copies within it, verification accepts them.
    const source = new BundleSource([...tdx.collateral, ...snp.collateral]);
    const collateral = new CollateralService({ intel: source, amd: source, cache: null, graceMs: 3_600_000 });
    svc = await startService({ collateral, relaxations: { collateralGraceSeconds: 3600 }, policies: { graceful: GRACEFUL_TDX }, now: () => clock });
  });
  afterAll(async () => svc?.close());

  it('collateral 30 minutes past its window, accepted under grace: 422 ERR_COLLATERAL_EXPIRED (X16), no token, on every route and policy', async () => {
    clock = new Date(EXPIRY + 30 * 60_000);
    const evidence = (await tdxQuote()).toString('base64');
    for (const body of [{ evidence }, { evidence, policy: 'graceful' }]) {
      const r = await post(svc.url, '/v1/verify', body);
      expect([r.status, r.json.error?.code, r.json.error?.check], JSON.stringify(body.policy)).toEqual([422, 'ERR_COLLATERAL_EXPIRED', 'X16']);
      expect(r.json).not.toHaveProperty('token');
    }
    const t = await post(svc.url, '/attestation', openWebUiBody(await tdxQuote(), { policy_ids: ['graceful'] }));
    expect([t.status, t.json.error?.code]).toEqual([422, 'ERR_COLLATERAL_EXPIRED']);
  });

  it('two minutes before the expiry the same request gets a token whose exp is the expiry (not iat + the 300 s TTL)', async () => {
    clock = new Date(EXPIRY - 120_000);
    const r = await post(svc.url, '/v1/verify', { evidence: (await tdxQuote()).toString('base64'), policy: 'graceful' });
    expect([r.status, r.json.ok]).toEqual([200, true]);
    const { claims } = verifyEarJwt(r.json.token, svc.publicKey, { now: Math.floor(clock.getTime() / 1000) });
    expect(claims['exp']).toBe(Math.floor(EXPIRY / 1000));
    expect(claims['iat']).toBe(Math.floor(clock.getTime() / 1000));
  });
});
