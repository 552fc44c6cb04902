/**
 * Session 16 finding 3 (red team): a nonce's expiry is written on the issuing instance's clock and
 * checked on the consuming instance's, so an instance whose clock is behind stretched nonce lifetimes
 * by its skew (10 minutes behind: a nonce expired on the others was still accepted there). Decision
 * (docs/scale-out.md, Clocks): on PostgreSQL an instance compares its clock with the database server's
 * at start and refuses to start beyond maxClockSkewSeconds / --max-clock-skew (default 5 s); a larger
 * bound is an explicit relaxation, warned at start. No timing: the clocks are injected, minutes apart.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { runKbsCli } from '../../src/kbs/index.js';
import { createPgDatabase, PG_SKIP_REASON, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';
import { makePlatform, registerKey, startHarness, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/s16-pg-clock-skew.test.ts');

const TEN_MINUTES = 600_000;

describe.skipIf(PG_SKIP_REASON)('an instance whose clock is far from the database server\'s does not start (s16 F3)', () => {
  let db: PgTestDatabase;
  const env = { TEE_KBS_MASTER_KEY: randomBytes(32).toString('base64') };
  const platform = makePlatform();
  const open: Harness[] = [];
  const start = async (o: Parameters<typeof startHarness>[0]): Promise<Harness> => {
    const h = await startHarness({ env, allowNoNonce: false, ...o }, platform, 'postgres', db.url);
    open.push(h);
    return h;
  };

  beforeAll(async () => {
    db = await createPgDatabase();
  });
  afterAll(async () => {
    for (const h of open) await h.close();
    await db?.drop();
  });

  it.each([
    ['behind', -TEN_MINUTES],
    ['ahead of', TEN_MINUTES],
  ])('a clock 10 minutes %s the database: ERR_KBS_CONFIG naming the skew and the option, nothing written', async (word, offset) => {
    const lines: string[] = [];
    const started = startHarness({ env, now: () => new Date(Date.now() + offset), log: (l) => lines.push(l) }, platform, 'postgres', db.url);
    await expect(started).rejects.toMatchObject({ code: 'ERR_KBS_CONFIG', message: expect.stringMatching(new RegExp(`clock is 6\\d\\d\\.\\d s ${word} the database server's.*maxClockSkewSeconds / --max-clock-skew`)) });
    // Refused before the migrations: the database is still empty.
    const probe = await createProbe(db.url);
    expect(probe).toBe(0);
  });

  it('the explicit relaxation starts it, with a WARNING; the default clock starts without one', async () => {
    const plain: string[] = [];
    const A = await start({ log: (l) => plain.push(l) });
    expect(plain.filter((l) => /clock skew/.test(l))).toEqual([]);
    const lines: string[] = [];
    const B = await start({ now: () => new Date(Date.now() - TEN_MINUTES), maxClockSkewSeconds: 3600, log: (l) => lines.push(l) });
    expect(lines.filter((l) => /WARNING: clock skew against the database of up to 3600 s accepted/.test(l))).toHaveLength(1);
    // Both serve the one database.
    const keyId = await registerKey(A, randomBytes(32));
    expect((await B.call('GET', `/kbs/v1/keys/${keyId}`, { token: A.token || B.token })).status).toBe(200);
  });

  it.each([0, 0.5, -1, 86_401, Number.NaN, Infinity])('maxClockSkewSeconds %s: ERR_KBS_CONFIG before any database work', async (v) => {
    await expect(startHarness({ env, maxClockSkewSeconds: v }, platform, 'postgres', db.url)).rejects.toMatchObject({ code: 'ERR_KBS_CONFIG', message: expect.stringMatching(/^maxClockSkewSeconds must be /) });
  });
});

async function createProbe(url: string): Promise<number> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = current_schema()")).rows[0].n as number;
  } finally {
    await c.end();
  }
}

describe('tee-kbs serve --max-clock-skew is checked like every numeric flag', () => {
  const dir = mkdtempSync(join(tmpdir(), 's16-clock-skew-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const p = makePlatform();
  const c = p.collateral;
  writeFileSync(join(dir, 'bundle.json'), exportBundle([c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a) => a !== undefined) as never));
  writeFileSync(join(dir, 'root.pem'), p.pki.root.pem);
  it.each(['0', '0.5', 'abc', '86401', '1e3'])('--max-clock-skew %j: usage, exit 2, naming the flag', async (value) => {
    let stderr = '';
    const r = await runKbsCli(['serve', '--db', join(dir, 'x.sqlite'), '--listen', '127.0.0.1:0', '--plain-http', '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json'), `--max-clock-skew=${value}`], {
      stdout: () => {},
      stderr: (t) => (stderr += t),
      env: {},
    });
    expect(r.code, stderr).toBe(2);
    expect(stderr).toMatch(/^tee-kbs: --max-clock-skew must be /m);
  });
});
