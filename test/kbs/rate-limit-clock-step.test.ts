/**
 * The key broker's shared rate bucket runs on each instance's wall clock (it lives in the
 * database). A clock a little behind the stored instant (skew between instances) refills nothing;
 * a step back of more than CLOCK_STEP_MS (an NTP correction, a restored VM) starts the bucket over
 * full, instead of refusing the client until the wall clock catches up with the stored instant
 * (review s8 D2). On both backends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLOCK_STEP_MS, RateLimiter } from '../../src/kbs/rate-limit.js';
import { migrate, openStorage, type Storage } from '../../src/storage/index.js';
import { BACKENDS, createPgDatabase, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';

warnIfPgSkipped('test/kbs/rate-limit-clock-step.test.ts');

const DDL = 'CREATE TABLE IF NOT EXISTS rate_limits (client TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, last_ms BIGINT NOT NULL, burst DOUBLE PRECISION NOT NULL, per_ms DOUBLE PRECISION NOT NULL, denied INTEGER NOT NULL DEFAULT 0)';

describe.each(BACKENDS)('kbs rate bucket and wall-clock steps on $name', ({ name, skip }) => {
  const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-rate-step-'));
  let pg: PgTestDatabase | undefined;
  let s: Storage | undefined;

  beforeAll(async () => {
    if (skip) return;
    if (name === 'postgres') pg = await createPgDatabase();
    s = await openStorage(pg ? pg.url : `sqlite:${join(dir, 'rate.sqlite')}`);
    await migrate(s, { component: 'kbs-rate-step', migrations: [{ version: 1, name: 'rate', sql: { sqlite: DDL, postgres: DDL } }] });
  });
  afterAll(async () => {
    await s?.close();
    await pg?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const T = 1_800_000_000_000;
  const drain = async (limiter: RateLimiter, client: string, at: number): Promise<void> => {
    for (let i = 0; i < 3; i++) expect(await limiter.take(client, at)).toBe(0);
    expect(await limiter.take(client, at)).toBeGreaterThan(0);
  };

  it.skipIf(skip)('a step back of an hour: the drained bucket is full again at once, and refills from the new instant', async () => {
    const limiter = new RateLimiter(s!, { burst: 3, perSecond: 1 });
    await drain(limiter, 'step', T);
    const back = T - 3_600_000;
    // Before the fix the client waited an hour: no refill while the clock stayed behind the stored instant.
    await drain(limiter, 'step', back);
    // The bucket now counts from the stepped-back instant: one second later, one token.
    expect(await limiter.take('step', back + 1000)).toBe(0);
    expect(await limiter.take('step', back + 1000)).toBeGreaterThan(0);
  });

  it.skipIf(skip)('skew within CLOCK_STEP_MS refills nothing (no free tokens from an instance a little behind)', async () => {
    const limiter = new RateLimiter(s!, { burst: 3, perSecond: 1 });
    await drain(limiter, 'skew', T);
    expect(await limiter.take('skew', T - 500)).toBeGreaterThan(0);
    expect(await limiter.take('skew', T - CLOCK_STEP_MS)).toBeGreaterThan(0);
    // And the stored instant did not move back: at T + 1 s one token, as if the skewed takes never happened.
    expect(await limiter.take('skew', T + 1000)).toBe(0);
    expect(await limiter.take('skew', T + 1000)).toBeGreaterThan(0);
  });
});
