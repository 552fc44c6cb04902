/**
 * Review s6, finding 1 (key broker part): the bootstrap secret is a chosen
 * password, so failed guesses share one budget across all clients (a holder
 * of many addresses or /64s gets no more tries), and a secret shorter than
 * MIN_BOOTSTRAP_SECRET_CHARS refuses the start (ERR_KBS_CONFIG, exit 78).
 * Three client addresses come from 127.0.0.1-3 (all of 127/8 is loopback).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { runKbsCli, startKeyBroker } from '../../src/kbs/index.js';
import { collateralOf, makePlatform, startHarness, type Harness } from './helpers.js';

const SECRET = 'a long bootstrap secret for review s6';

async function post(agent: Agent, url: string, body: unknown, token?: string): Promise<{ status: number; code: string | undefined; retryAfter: unknown }> {
  const res = await request(url, {
    method: body === undefined ? 'GET' : 'POST',
    dispatcher: agent,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { code?: string }).code;
  } catch {
    code = undefined;
  }
  return { status: res.statusCode, code, retryAfter: res.headers['retry-after'] };
}

describe('bootstrap secret: one failure budget for all clients', () => {
  let h: Harness;
  const agents: Agent[] = [];
  beforeAll(async () => {
    h = await startHarness({ bootstrapSecret: SECRET, bootstrapFailureLimit: { maxFailures: 3, windowMs: 60_000 } });
    for (const a of ['127.0.0.1', '127.0.0.2', '127.0.0.3']) agents.push(new Agent({ localAddress: a, connect: { rejectUnauthorized: false } }));
  });
  afterAll(async () => {
    for (const a of agents) await a.close();
    await h?.close();
  });

  it('3 wrong secrets from two addresses use the budget up: a third address is refused (429) even with the right secret; admin tokens still work', async () => {
    const token = `${h.broker.url}/kbs/v1/token`;
    const [a, b, c] = agents as [Agent, Agent, Agent];
    for (const agent of [a, a, b]) expect(await post(agent, token, { username: 'admin', password: 'wrong guess' })).toMatchObject({ status: 401, code: 'ERR_KBS_UNAUTHORIZED' });
    const refused = await post(c, token, { username: 'admin', password: SECRET });
    expect(refused).toMatchObject({ status: 429, code: 'ERR_KBS_TOO_MANY_AUTH_FAILURES' });
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    // Per-client limits are untouched (10 per client by default): the admin API answers a valid token.
    expect(await post(c, `${h.broker.url}/kbs/v1/keys`, undefined, h.token)).toMatchObject({ status: 200 });
  });
});

describe('bootstrap secret: minimum length at start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-s6-secret-'));
  const platform = makePlatform();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('startKeyBroker refuses a secret of 15 characters with ERR_KBS_CONFIG; 16 start', async () => {
    const base = { port: 0, plainHttp: true, collateral: collateralOf(platform), trustRoots: platform.trustRoots, log: () => {}, synchronous: 'NORMAL' as const };
    await expect(startKeyBroker({ ...base, db: join(dir, 'short.sqlite'), bootstrapSecret: 'x'.repeat(15) })).rejects.toMatchObject({ code: 'ERR_KBS_CONFIG' });
    const ok = await startKeyBroker({ ...base, db: join(dir, 'ok.sqlite'), bootstrapSecret: 'x'.repeat(16) });
    await ok.close();
  });

  it('tee-kbs serve with a short --bootstrap-secret-file exits 78 naming the rule', async () => {
    writeFileSync(join(dir, 'root.pem'), platform.pki.root.pem);
    writeFileSync(join(dir, 'bundle.json'), exportBundle(Object.values(platform.collateral)));
    writeFileSync(join(dir, 'secret'), 'hunter2\n', { mode: 0o600 });
    let stderr = '';
    const r = await runKbsCli(
      ['serve', '--db', join(dir, 'cli.sqlite'), '--bootstrap-secret-file', join(dir, 'secret'), '--listen', '127.0.0.1:0', '--plain-http', '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json')],
      { stdout: () => {}, stderr: (t) => (stderr += t), env: {} },
    );
    await r.broker?.close();
    expect(r.code).toBe(78);
    expect(stderr).toMatch(/ERR_KBS_CONFIG: .*at least 16 characters/);
  });
});
