/**
 * Review s12 (kbs), finding 2: `--nonce-ttl` / nonceTtlSeconds was not checked. `0` or `-5` started
 * a broker whose every nonce was issued already expired, so each transfer was refused as the
 * client's ERR_KBS_NONCE "expired" (T42) though the fault was the operator's; `abc` (NaN) made each
 * nonce request a 500 ERR_KBS_STORAGE; `1e9` gave nonces valid for ~31 years (T42's freshness a
 * single-use token that hardly expires). Now the flag is a number of seconds from 1 to 3600 (T42: "TTL
 * of minutes"; the default 300 lies within), else usage, exit 2, naming the flag, before anything is
 * created; the library refuses nonceTtlSeconds outside that range with ERR_KBS_CONFIG (exit 78). The
 * reviewer's reproduction (a real transfer bound to a broker nonce) is adapted for the bound.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { exitCodeOf, runKbsCli, startKeyBroker } from '../../src/kbs/index.js';
import { collateralOf, makePlatform, mrTdHex, newClient, quoteFor, sha512, transferPath } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'review-s12-kbs-ttl-'));
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

describe('tee-kbs serve --nonce-ttl (review s12 kbs #2)', () => {
  it.each(['0', '-5', 'abc', '', '1e9', '3601', '0.5', 'Infinity', '5m'])('--nonce-ttl %j: usage, exit 2, naming the flag, nothing created', async (value) => {
    const r = await serve([`--nonce-ttl=${value}`]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^tee-kbs: --nonce-ttl must be a number from 1 to 3600/m);
    expect(r.broker).toBeUndefined();
    expect(existsSync(r.db)).toBe(false);
  });

  it('--nonce-ttl 3600 (the bound) starts, and a transfer with a fresh nonce is released', async () => {
    const r = await serve(['--nonce-ttl', '3600']);
    expect(r.code, r.stderr).toBe(0);
    const b = r.broker!;
    try {
      const admin = { authorization: `Bearer ${b.initialAdminToken}`, 'content-type': 'application/json' };
      const pol = (await (await fetch(`${b.url}/kbs/v1/key-transfer-policies`, { method: 'POST', headers: admin, body: JSON.stringify({ tee: 'tdx', mrTd: [mrTdHex(p)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }) })).json()) as { id: string };
      const key = (await (await fetch(`${b.url}/kbs/v1/keys`, { method: 'POST', headers: admin, body: JSON.stringify({ transfer_policy_id: pol.id }) })).json()) as { id: string };
      const nres = await fetch(`${b.url}${transferPath(key.id)}`, { method: 'POST' });
      expect(nres.status).toBe(200);
      const nonce = (await nres.json()) as { val: string; iat: string; signature: string };
      const client = newClient(2048);
      const rd = sha512(Buffer.from(nonce.val, 'base64'), Buffer.from(nonce.iat, 'base64'), client.spkiDer);
      const res = await fetch(`${b.url}${transferPath(key.id)}`, { method: 'POST', headers: { 'content-type': 'application/json', 'attestation-type': 'TDX' }, body: JSON.stringify({ quote: quoteFor(p, rd).toString('base64'), user_data: client.userData, nonce }) });
      expect(res.status, await res.clone().text()).toBe(200);
    } finally {
      await b.close();
    }
  });

});

describe('startKeyBroker: nonceTtlSeconds is checked (ERR_KBS_CONFIG, nothing created)', () => {
  const start = (o: Record<string, unknown>) => {
    const db = join(dir, `lib-${n++}.sqlite`);
    return { db, started: startKeyBroker({ db, port: 0, plainHttp: true, collateral: collateralOf(p), trustRoots: p.trustRoots, log: () => {}, ...o }) };
  };
  it.each([0, -5, Number('abc'), 0.5, 3601, 1e9, Infinity, '300'])('nonceTtlSeconds %s is refused', async (v) => {
    const { db, started } = start({ nonceTtlSeconds: v });
    await expect(started).rejects.toMatchObject({ code: 'ERR_KBS_CONFIG', message: expect.stringMatching(/^nonceTtlSeconds must be /) });
    expect(existsSync(db)).toBe(false);
  });
  it('the CLI maps the library refusal to exit 78 (configuration)', async () => {
    const { started } = start({ nonceTtlSeconds: 0 });
    expect(exitCodeOf(await started.catch((e: unknown) => e))).toBe(78);
  });
});
