/**
 * Session 16 change review #3 (low): the clock was compared with the database server's only at start, so a clock
 * stepped later (a VM resumed from suspend, a wrong NTP step) stretched nonce lifetimes by the step while /health kept
 * answering ok. Now the comparison is repeated (every minute, and with /health's database ping; broker.checkClockSkew
 * runs the same comparison on demand): beyond the bound /health answers 503 and every /kbs/v1 request is refused with
 * 503 ERR_KBS_CLOCK_SKEW until a later comparison is within the bound again.
 *
 * No timing: B's clock is injected and stepped by hand; the comparison is started by /health or checkClockSkew.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createPgDatabase, PG_SKIP_REASON, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';
import { makePlatform, newClient, startHarness, tdxPolicy, transferBody, transferPath, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/s16-r2-pg-clock-recheck.test.ts');

const TEN_MINUTES = 600_000;

describe.skipIf(PG_SKIP_REASON)('a serving instance compares its clock with the database server\'s again (s16 change review #3)', () => {
  let db: PgTestDatabase;
  let A: Harness;
  let B: Harness;
  let step = 0;
  const lines: string[] = [];
  const platform = makePlatform();
  const client = newClient(2048);
  let keyId = '';

  beforeAll(async () => {
    db = await createPgDatabase();
    const base = { allowNoNonce: false, env: { TEE_KBS_MASTER_KEY: randomBytes(32).toString('base64') }, rateLimit: { burst: 100_000, perSecond: 100_000 } };
    A = await startHarness(base, platform, 'postgres', db.url);
    B = await startHarness({ ...base, now: () => new Date(Date.now() + step), log: (l) => lines.push(l) }, platform, 'postgres', db.url);
    const tok = A.token || B.token;
    const pol = await A.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(platform), token: tok });
    const key = await A.call('POST', '/kbs/v1/keys', { body: { key_information: {}, transfer_policy_id: pol.json.id }, token: tok });
    keyId = key.json.id as string;
  }, 60_000);
  afterAll(async () => {
    await A?.close();
    await B?.close();
    await db?.drop();
  });

  const release = async (on: Harness): Promise<{ status: number; json: any }> => {
    const n = await on.call('POST', transferPath(keyId), { token: null });
    if (n.status !== 200) return n;
    return on.call('POST', transferPath(keyId), { body: transferBody(A, client, { nonce: n.json }), token: null, headers: { 'attestation-type': 'TDX' } });
  };

  it('B stepped 10 minutes back after its start: /health 503, nonces, releases and the admin API refused with ERR_KBS_CLOCK_SKEW; A unaffected', async () => {
    expect((await release(B)).status).toBe(200);
    step = -TEN_MINUTES;
    // The first probe pings the database, which compares the clocks.
    const health = await B.call('GET', '/health', { token: null });
    expect(health.status).toBe(503);
    expect(health.json).toMatchObject({ status: 'clock-skew', code: 'ERR_KBS_CLOCK_SKEW', database: 'postgres' });
    expect(health.json.skew_seconds).toBeGreaterThan(590);
    const nonce = await B.call('POST', transferPath(keyId), { token: null });
    expect({ status: nonce.status, code: nonce.json?.code }).toEqual({ status: 503, code: 'ERR_KBS_CLOCK_SKEW' });
    expect(nonce.json.error ?? nonce.json.message ?? '').toMatch(/6\d\d\.\d s behind the database server's/);
    expect(nonce.headers['retry-after']).toBe('60');
    // A nonce issued on A cannot be used on B meanwhile (the red team's stretched-nonce case).
    const n = await A.call('POST', transferPath(keyId), { token: null });
    const onB = await B.call('POST', transferPath(keyId), { body: transferBody(A, client, { nonce: n.json }), token: null, headers: { 'attestation-type': 'TDX' } });
    expect({ status: onB.status, code: onB.json?.code }).toEqual({ status: 503, code: 'ERR_KBS_CLOCK_SKEW' });
    expect((await B.call('GET', '/kbs/v1/keys')).json?.code).toBe('ERR_KBS_CLOCK_SKEW');
    expect(lines.filter((l) => /WARNING: this instance's clock is now 6\d\d\.\d s behind/.test(l))).toHaveLength(1);
    // A is within the bound and serves (it also uses the nonce B refused).
    const onA = await A.call('POST', transferPath(keyId), { body: transferBody(A, client, { nonce: n.json }), token: null, headers: { 'attestation-type': 'TDX' } });
    expect(onA.status).toBe(200);
    expect((await A.call('GET', '/health', { token: null })).status).toBe(200);
    // Corrected: the next comparison lets B serve again.
    step = 0;
    expect(await B.broker.checkClockSkew()).toMatchObject({ ok: true });
    expect((await B.call('GET', '/health', { token: null })).status).toBe(200);
    expect((await release(B)).status).toBe(200);
    expect(lines.filter((l) => /clock is within 5 s of the database server's again/.test(l))).toHaveLength(1);
  }, 60_000);

  it('ahead of the database: refused the same way; a step within the bound changes nothing', async () => {
    step = TEN_MINUTES;
    const verdict = await B.broker.checkClockSkew();
    expect(verdict.ok).toBe(false);
    expect(verdict.skewMs).toBeLessThan(-590_000);
    const r = await B.call('POST', transferPath(keyId), { token: null });
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 503, code: 'ERR_KBS_CLOCK_SKEW' });
    expect(r.json.error ?? r.json.message ?? '').toMatch(/6\d\d\.\d s ahead of the database server's/);
    step = 2_000; // within the default 5 s
    expect((await B.broker.checkClockSkew()).ok).toBe(true);
    expect((await release(B)).status).toBe(200);
    step = 0;
  }, 60_000);
});
