/**
 * Session 6: the attestation service had only instance-wide bounds (16
 * appraisals at once, 256 waiting), so one client could fill the queue and
 * every other client got 503. Now one client key holds at most a share
 * (maxPerClient, default a quarter of maxConcurrent) running or waiting; more
 * is 429 ERR_AS_RATE_LIMITED with Retry-After, and other clients still get a
 * slot. X-Forwarded-For tells clients apart only from trusted proxies.
 * Appraisals are held open by a collateral service that waits on the test.
 */
import { afterEach, describe, expect, it } from 'vitest';

import type { AttestationService } from '../../src/attestation-service/index.js';
import type { CollateralService } from '../../src/index.js';
import { post, simulatedCollateral, startService, tdxQuote, type Answer } from './helpers.js';

/** Collateral that answers only when released, and resolves `waiting(n)` once n lookups wait on it. */
function heldCollateral(): { collateral: CollateralService; waiting: (n: number) => Promise<void>; release: () => void } {
  const collateral = simulatedCollateral();
  const real = collateral.forEvidence.bind(collateral);
  const gates: (() => void)[] = [];
  const watchers: { n: number; resolve: () => void }[] = [];
  let open = false;
  collateral.cachedFor = () => undefined; // every appraisal asks forEvidence, which waits
  collateral.forEvidence = async (...args) => {
    if (!open) {
      const held = new Promise<void>((resolve) => gates.push(resolve));
      for (const w of watchers.filter((x) => gates.length >= x.n)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve();
      }
      await held;
    }
    return real(...args);
  };
  return {
    collateral,
    waiting: (n) => new Promise<void>((resolve) => (gates.length >= n ? resolve() : watchers.push({ n, resolve }))),
    release: () => ((open = true), gates.splice(0).forEach((g) => g())),
  };
}

let svc: AttestationService | undefined;
afterEach(async () => {
  await svc?.close();
  svc = undefined;
});

describe('a share of the appraisal slots per client (session 6)', () => {
  it('one client past its share gets 429 with Retry-After; another client (via a trusted proxy) still gets a slot', async () => {
    const held = heldCollateral();
    svc = await startService({ collateral: held.collateral, maxConcurrent: 8, maxPerClient: 2, trustedProxies: ['127.0.0.1/32'] });
    const body = { evidence: (await tdxQuote()).toString('base64') };
    const as = (ip: string) => ({ 'x-forwarded-for': ip });
    const first = [post(svc.url, '/v1/verify', body, as('192.0.2.1')), post(svc.url, '/v1/verify', body, as('192.0.2.1'))];
    await held.waiting(2);
    const third = await post(svc.url, '/v1/verify', body, as('192.0.2.1'));
    expect(third.status).toBe(429);
    expect(third.json.error.code).toBe('ERR_AS_RATE_LIMITED');
    expect(third.headers['retry-after']).toBe('1');
    const other = post(svc.url, '/v1/verify', body, as('192.0.2.2'));
    await held.waiting(3);
    held.release();
    const answers: Answer[] = await Promise.all([...first, other]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    // The share is free again once its appraisals end.
    expect((await post(svc.url, '/v1/verify', body, as('192.0.2.1'))).status).toBe(200);
  });

  it('X-Forwarded-For from a peer that is not a trusted proxy is ignored: both "clients" are 127.0.0.1', async () => {
    const held = heldCollateral();
    svc = await startService({ collateral: held.collateral, maxConcurrent: 8, maxPerClient: 1 });
    const body = { evidence: (await tdxQuote()).toString('base64') };
    const first = post(svc.url, '/v1/verify', body, { 'x-forwarded-for': '192.0.2.1' });
    await held.waiting(1);
    const spoofed = await post(svc.url, '/v1/verify', body, { 'x-forwarded-for': '192.0.2.2' });
    expect(spoofed.status).toBe(429);
    held.release();
    expect((await first).status).toBe(200);
  });

  it('the default share is a quarter of maxConcurrent, at least 1; an invalid share fails at start', async () => {
    const held = heldCollateral();
    svc = await startService({ collateral: held.collateral, maxConcurrent: 8 });
    const body = { evidence: (await tdxQuote()).toString('base64') };
    const running = [0, 1].map(() => post(svc!.url, '/v1/verify', body));
    await held.waiting(2);
    expect((await post(svc.url, '/v1/verify', body)).status).toBe(429);
    held.release();
    expect((await Promise.all(running)).map((a) => a.status)).toEqual([200, 200]);
    await expect(startService({ maxPerClient: 0 })).rejects.toThrow(RangeError);
  });
});
