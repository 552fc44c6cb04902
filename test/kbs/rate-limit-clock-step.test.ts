/**
 * The key broker's shared rate bucket runs on each instance's wall clock (it lives in the
 * database). An instance whose clock is behind the stored instant refills nothing, so two
 * instances with skewed clocks give a client no free tokens; an instance's own wall-clock step
 * back (an NTP correction) is absorbed by the steady wall clock the broker feeds the limiter, so
 * refills go on instead of stopping until the wall clock catches up (review s8 D2). On both backends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RateLimiter } from '../../src/kbs/rate-limit.js';
import { steadyClock } from '../../src/net/steady-clock.js';
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

  it.skipIf(skip)('a step back of an hour of the wall clock: through the steady clock, refills go on one second later', async () => {
    const limiter = new RateLimiter(s!, { burst: 3, perSecond: 1 });
    let wall = T;
    const now = steadyClock(() => wall);
    await drain(limiter, 'step', now());
    wall = T - 3_600_000;
    expect(await limiter.take('step', now())).toBeGreaterThan(0); // no free refill from the step
    wall += 1000;
    // Fed the wall clock itself, this take would wait an hour (a clock behind refills nothing).
    expect(await limiter.take('step', now())).toBe(0);
    expect(await limiter.take('step', now())).toBeGreaterThan(0);
    expect(await limiter.take('step', wall)).toBeGreaterThan(0);
  });

  it.skipIf(skip)('two instances with clocks 61 s apart, alternating: the client gets its burst and no more', async () => {
    const a = new RateLimiter(s!, { burst: 10, perSecond: 1 });
    const b = new RateLimiter(s!, { burst: 10, perSecond: 1 });
    let allowed = 0;
    for (let i = 0; i < 200; i++) if ((await (i % 2 ? b.take('skew', T - 61_000) : a.take('skew', T))) === 0) allowed++;
    expect(allowed).toBe(10);
  });
});
