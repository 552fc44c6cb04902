/**
 * Review s12 (kbs), finding 1: `--max-body` (and the library option maxBodyBytes behind it) was not
 * checked. `--max-body 1MB` is NaN, and no comparison with NaN is true, so the broker started
 * without any body limit (memory exhaustion by any client, before authentication); 0 and -1 were
 * accepted too. Now every numeric flag of `tee-kbs serve` (and `admin token create --expires-in`) is
 * digits in a stated range, else usage, exit 2, naming the flag, before anything is created; the
 * library refuses maxBodyBytes outside 1024 to 64 MiB with ERR_KBS_CONFIG (exit 78 through the CLI's
 * exit table). --nonce-ttl (finding 2) is in review-s12-nonce-ttl.test.ts. The reviewer's
 * reproductions are adapted here.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { runKbsCli, startKeyBroker } from '../../src/kbs/index.js';
import { collateralOf, makePlatform } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'review-s12-kbs-numbers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = makePlatform();
const c = p.collateral;
writeFileSync(join(dir, 'bundle.json'), exportBundle([c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a) => a !== undefined) as never));
writeFileSync(join(dir, 'root.pem'), p.pki.root.pem);

let n = 0;
async function serve(extra: string[]) {
  let stderr = '';
  const db = join(dir, `cli-${n++}.sqlite`);
  const r = await runKbsCli(['serve', '--db', db, '--listen', '127.0.0.1:0', '--plain-http', '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json'), ...extra], {
    stdout: () => {},
    stderr: (t) => (stderr += t),
    env: {},
  });
  return { ...r, stderr, db };
}

describe('tee-kbs serve: numeric flags are checked at start (review s12 kbs #1)', () => {
  const refused: Array<[string, string]> = [
    ['--max-body', '1MB'], ['--max-body', '0'], ['--max-body', '-1'], ['--max-body', 'abc'], ['--max-body', ''], ['--max-body', '1.5'],
    ['--max-body', '1e6'], ['--max-body', '1023'], ['--max-body', String(64 * 1024 * 1024 + 1)], ['--max-body', 'Infinity'],
    ['--rate-burst', 'abc'], ['--rate-burst', '0'], ['--rate-burst', '2.5'], ['--rate-per-second', 'abc'], ['--rate-per-second', '0'],
    ['--database-pool', '0.5'], ['--database-pool', '2.5'], ['--database-pool', '100000'],
    ['--shutdown-grace', 'Infinity'], ['--shutdown-grace', '2147484'], ['--headers-timeout', '2200000'], ['--request-timeout', '1e3'],
    ['--keep-alive-timeout', '0x10'], ['--admin-max-failures', '1.5'], ['--admin-failure-window', '-1'],
    ['--refusal-rows-per-client', '-1'], ['--refusal-rows-total', '2.5'], ['--refusal-window', '0.5'], ['--refusal-window', 'Infinity'],
  ];
  it.each(refused)('%s %j: usage, exit 2, naming the flag, nothing created', async (flag, value) => {
    const r = await serve([`${flag}=${value}`]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^tee-kbs: ${flag} must be `, 'm'));
    expect(r.broker).toBeUndefined();
    expect(existsSync(r.db)).toBe(false);
  });

  it('--max-body 4096 starts and answers 413 beyond it (the limit holds)', async () => {
    const r = await serve(['--max-body', '4096']);
    expect(r.code, r.stderr).toBe(0);
    try {
      const res = await fetch(`${r.broker!.url}/kbs/v1/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'x'.repeat(5000) }) });
      expect(res.status).toBe(413);
      expect(((await res.json()) as { code: string }).code).toBe('ERR_KBS_BODY_TOO_LARGE');
    } finally {
      await r.broker!.close();
    }
  });

  it('admin token create --expires-in: digits only, else usage naming the flag', async () => {
    for (const v of ['1e3', '0x10', '-5', '0', '1.5', ' 5']) {
      let stderr = '';
      const r = await runKbsCli(['admin', 'token', 'create', `--expires-in=${v}`, '--url', 'https://127.0.0.1:9'], { stdout: () => {}, stderr: (t) => (stderr += t), env: {} });
      expect(r.code, v).toBe(2);
      expect(stderr).toMatch(/^tee-kbs: --expires-in must be /m);
    }
  });
});

describe('startKeyBroker: maxBodyBytes is checked (ERR_KBS_CONFIG, nothing created)', () => {
  const start = (o: Record<string, unknown>) => {
    const db = join(dir, `lib-${n++}.sqlite`);
    return { db, started: startKeyBroker({ db, port: 0, plainHttp: true, collateral: collateralOf(p), trustRoots: p.trustRoots, log: () => {}, ...o }) };
  };
  it.each([Number('1MB'), 0, -1, 1.5, 1023, 64 * 1024 * 1024 + 1, Infinity, '4096'])('maxBodyBytes %s is refused', async (v) => {
    const { db, started } = start({ maxBodyBytes: v });
    await expect(started).rejects.toMatchObject({ code: 'ERR_KBS_CONFIG', message: expect.stringMatching(/^maxBodyBytes must be /) });
    expect(existsSync(db)).toBe(false);
  });
  it('the CLI maps the library refusal to exit 78 (configuration)', async () => {
    const { exitCodeOf } = await import('../../src/kbs/cli.js');
    const { started } = start({ maxBodyBytes: 0 });
    expect(exitCodeOf(await started.catch((e: unknown) => e))).toBe(78);
  });
});
