/**
 * The key broker's shared rate bucket runs on each instance's raw wall clock (it lives in the
 * database). An instance whose clock is behind the stored instant refills nothing and does not
 * move the instant back, so two instances with skewed clocks give a client no free tokens, and one
 * instance's step back leaves the others' refills alone (review s8: both a reset for far-behind
 * clocks and a never-going-back clock per instance failed one of these). On both backends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { RateLimiter } from '../../src/kbs/rate-limit.js';
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

  it.skipIf(skip)('one instance stepped back an hour: its requests refill nothing, the other instance refills as before', async () => {
    const a = new RateLimiter(s!, { burst: 3, perSecond: 1 });
    const b = new RateLimiter(s!, { burst: 3, perSecond: 1 });
    await drain(a, 'step', T);
    // A's clock steps back an hour: a request through A neither refills nor moves the bucket's instant back.
    expect(await a.take('step', T - 3_600_000 + 1000)).toBeGreaterThan(0);
    // B, whose clock is right, refills one token a second after T, as if A's request had not been seen.
    expect(await b.take('step', T + 1000)).toBe(0);
    expect(await b.take('step', T + 1000)).toBeGreaterThan(0);
  });

  it.skipIf(skip)('two instances with clocks 61 s apart, alternating: the client gets its burst and no more', async () => {
    const a = new RateLimiter(s!, { burst: 10, perSecond: 1 });
    const b = new RateLimiter(s!, { burst: 10, perSecond: 1 });
    let allowed = 0;
    for (let i = 0; i < 200; i++) if ((await (i % 2 ? b.take('skew', T - 61_000) : a.take('skew', T))) === 0) allowed++;
    expect(allowed).toBe(10);
  });
});
