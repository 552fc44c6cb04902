/**
 * Session 16 round-2 change review #3 (low, CI reliability): the periodic clock comparison (every 60 s) judged the
 * broker's injected clock against the database server's real one, so a PostgreSQL test harness with a frozen or
 * hand-moved clock was refused (503 ERR_KBS_CLOCK_SKEW) on every request once it lived past a minute, or once a tick
 * fell inside a moved-clock window (admin.test.ts, review-s9-admin-audit, s16-r2-pg-token-expiry). Now the period is
 * the library option clockRecheckMs (default 60 000, 0 = off, logged as a WARNING; tee-kbs has no flag for it), and
 * test/kbs/helpers.ts starts every PostgreSQL harness with an injected clock with it off unless the test sets it.
 * GET /health and checkClockSkew() still compare (s16-r2-pg-clock-recheck); the start-up check always runs
 * (s16-pg-clock-skew).
 *
 * No timed assertion: the timer's own test sets a short period and waits for the verdict it produces (a /kbs/v1
 * request answered 503, then 200), never for an amount of time.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startKeyBroker, type KeyBrokerOptions } from '../../src/kbs/index.js';
import { CLOCK_RECHECK_MS } from '../../src/kbs/server.js';
import { createPgDatabase, PG_SKIP_REASON, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';
import { collateralOf, makePlatform, startHarness, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/s16-r3-pg-clock-recheck-timer.test.ts');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const OFF_WARNING = /WARNING: the periodic clock comparison is off \(clockRecheckMs: 0\)/;

/** Polls (a bounded number of times) until `done()` says the awaited state is reached. */
async function until(what: string, done: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await done()) return;
    await sleep(10);
  }
  throw new Error(`never reached: ${what}`);
}

describe('clockRecheckMs is checked with the other start-up options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kbs-s16r3-recheck-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const platform = makePlatform();
  const start = async (o: Partial<KeyBrokerOptions>): Promise<{ err: (Error & { code?: string }) | undefined; files: string[] }> => {
    const sub = mkdtempSync(join(dir, 'b-'));
    const err = await startKeyBroker({ db: join(sub, 'kbs.sqlite'), plainHttp: true, port: 0, collateral: collateralOf(platform), trustRoots: platform.trustRoots, log: () => {}, ...o }).then(
      async (b) => (await b.close(), undefined),
      (e: unknown) => e as Error & { code?: string },
    );
    return { err, files: readdirSync(sub) };
  };
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, '60' as unknown as number]) {
    it(`clockRecheckMs ${String(bad)}: ERR_KBS_CONFIG, nothing created`, async () => {
      const { err, files } = await start({ clockRecheckMs: bad });
      expect({ code: err?.code, named: err?.message.startsWith('clockRecheckMs must') }).toEqual({ code: 'ERR_KBS_CONFIG', named: true });
      expect(files).toEqual([]);
    });
  }
  it('the default is a minute; the tee-kbs command line never sets the option', () => {
    expect(CLOCK_RECHECK_MS).toBe(60_000);
    expect(readFileSync(new URL('../../src/kbs/cli.ts', import.meta.url), 'utf8')).not.toMatch(/clockRecheckMs/);
  });
});

describe.skipIf(PG_SKIP_REASON)('the periodic clock comparison (PostgreSQL; s16 round-2 change review #3)', () => {
  let db: PgTestDatabase;
  const hs: Harness[] = [];
  const env = { TEE_KBS_MASTER_KEY: randomBytes(32).toString('base64') };
  let tok = '';
  beforeAll(async () => {
    db = await createPgDatabase();
    // The first start on the database mints the admin token the other harnesses' calls use.
    const first = await startHarness({ env }, undefined, 'postgres', db.url);
    hs.push(first);
    tok = first.token;
  }, 60_000);
  afterAll(async () => {
    for (const h of hs) await h.close();
    await db?.drop();
  });
  const start = async (o: Partial<KeyBrokerOptions>, lines: string[]): Promise<Harness> => {
    const h = await startHarness({ env, log: (l) => lines.push(l), ...o }, undefined, 'postgres', db.url);
    hs.push(h);
    return h;
  };

  it('with a period set, the timer alone (no /health, no checkClockSkew) refuses a stepped clock and serves again once it is back', async () => {
    let step = 0;
    const lines: string[] = [];
    const h = await start({ now: () => new Date(Date.now() + step), clockRecheckMs: 20 }, lines);
    expect(lines.filter((l) => OFF_WARNING.test(l))).toEqual([]);
    expect((await h.call('GET', '/kbs/v1/keys', { token: tok })).status).toBe(200);
    step = -600_000;
    await until('a /kbs/v1 request is refused by the timer\'s verdict', async () => (await h.call('GET', '/kbs/v1/keys', { token: tok })).json?.code === 'ERR_KBS_CLOCK_SKEW');
    expect(lines.filter((l) => /WARNING: this instance's clock is now 6\d\d\.\d s behind/.test(l))).toHaveLength(1);
    step = 0;
    await until('the timer lets the instance serve again', async () => (await h.call('GET', '/kbs/v1/keys', { token: tok })).status === 200);
    expect(lines.filter((l) => /clock is within 5 s of the database server's again/.test(l))).toHaveLength(1);
  }, 120_000);

  it('clockRecheckMs 0: no periodic comparison (logged as a WARNING); a stepped clock is refused only once /health or checkClockSkew compares', async () => {
    let step = 0;
    const lines: string[] = [];
    const h = await start({ now: () => new Date(Date.now() + step), clockRecheckMs: 0 }, lines);
    expect(lines.filter((l) => OFF_WARNING.test(l))).toHaveLength(1);
    step = -600_000;
    expect((await h.call('GET', '/kbs/v1/keys', { token: tok })).status).toBe(200); // nothing compared since the start
    expect((await h.call('GET', '/health', { token: null })).status).toBe(503);
    expect((await h.call('GET', '/kbs/v1/keys', { token: tok })).json?.code).toBe('ERR_KBS_CLOCK_SKEW');
    step = 0;
    expect((await h.broker.checkClockSkew()).ok).toBe(true);
    expect((await h.call('GET', '/kbs/v1/keys', { token: tok })).status).toBe(200);
  }, 60_000);

  it('the test harness turns the timer off for an injected clock on PostgreSQL, and only then', async () => {
    const injected: string[] = [];
    await start({ now: () => new Date() }, injected);
    expect(injected.filter((l) => OFF_WARNING.test(l)), 'an injected clock: timer off').toHaveLength(1);
    const wall: string[] = [];
    await start({}, wall);
    expect(wall.filter((l) => OFF_WARNING.test(l)), 'the wall clock: timer on').toEqual([]);
  }, 60_000);
});
