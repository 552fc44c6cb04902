/**
 * Review s7, findings 5-7: an unparsable request target is the client's error (400, no stack in the
 * log); the 503 transfer answer no longer shows unauthenticated clients the collateral source's URL
 * (the log and the attestation row keep it); a master key file that group or others may read, or
 * that is reached through a symbolic link, refuses the start; the self-signed TLS key is created
 * exclusively with mode 0600.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CollateralService, HttpClient, IntelPcsClient } from '../../src/index.js';
import { startKeyBroker } from '../../src/kbs/index.js';
import { collateralOf, makePlatform, newClient, registerKey, startHarness, transferBody, transferPath, type Harness } from './helpers.js';

/** One raw HTTP/1.1 request over TLS; the answer as text. */
function rawRequest(url: string, head: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => s.write(head));
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString('utf8')));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('an unparsable request target (review s7 #5)', () => {
  let h: Harness;
  const lines: string[] = [];
  beforeAll(async () => {
    h = await startHarness({ log: (l) => lines.push(l) });
  }, 60_000);
  afterAll(async () => h?.close());

  it('GET http://[::1/kbs/v1/keys: 400 ERR_KBS_BAD_REQUEST, no internal error or stack in the log', async () => {
    const answer = await rawRequest(h.broker.url, 'GET http://[::1/kbs/v1/keys HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    // The body may arrive chunked: look for the code in it.
    expect(answer.slice(answer.indexOf('\r\n\r\n') + 4)).toContain('"code":"ERR_KBS_BAD_REQUEST"');
    expect(lines.filter((l) => l.includes('internal error') || /\n\s+at /.test(l))).toEqual([]);
  });
});

describe('collateral unavailable (review s7 #6)', () => {
  let h: Harness;
  const lines: string[] = [];
  let source = '';
  beforeAll(async () => {
    // A port nothing listens on: the collateral source refuses the connection. Port 1, not a port probed free and
    // closed: the kernel never hands out port 1 for listen(0), so no server of a test running alongside can take it.
    source = 'http://127.0.0.1:1/internal-pccs-7f3a';
    const collateral = new CollateralService({ intel: new IntelPcsClient({ http: new HttpClient({ retries: 0 }), baseUrl: source }), cache: null });
    h = await startHarness({ collateral, log: (l) => lines.push(l) });
  }, 60_000);
  afterAll(async () => h?.close());

  it('the 503 answer is generic; the source shows in the log and the attestation row', async () => {
    const keyId = await registerKey(h, randomBytes(32));
    const r = await h.call('POST', transferPath(keyId), { body: transferBody(h, newClient(2048)), headers: { 'attestation-type': 'TDX' }, token: null });
    expect({ status: r.status, code: r.json?.code, retry: r.headers['retry-after'] }).toEqual({ status: 503, code: 'ERR_KBS_COLLATERAL_UNAVAILABLE', retry: '30' });
    expect(r.text).not.toContain('internal-pccs-7f3a');
    expect(r.text).not.toContain('127.0.0.1');
    expect(lines.some((l) => l.includes('ERR_KBS_COLLATERAL_UNAVAILABLE') && l.includes('internal-pccs-7f3a'))).toBe(true);
    const db = await h.storage();
    const row = await db.get<{ error: string }>('SELECT error FROM attestation_log WHERE key_id = ? ORDER BY seq DESC LIMIT 1', [keyId]);
    expect((JSON.parse(row!.error) as { detail: string }).detail).toContain('internal-pccs-7f3a');
  });
});

describe('secret files (review s7 #7)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-s7-files-'));
  const platform = makePlatform();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const start = (db: string, masterKeyFile?: string) =>
    startKeyBroker({ db, port: 0, collateral: collateralOf(platform), trustRoots: platform.trustRoots, log: () => {}, env: {}, synchronous: 'NORMAL', ...(masterKeyFile ? { masterKeyFile } : {}) });

  it('a master key file readable by group or others refuses the start (ERR_KBS_CONFIG); at 0600 it starts', async () => {
    const db = join(dir, 'mode.sqlite');
    const key = `${db}.master-key`;
    writeFileSync(key, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    for (const mode of [0o644, 0o640, 0o604]) {
      chmodSync(key, mode);
      await expect(start(db)).rejects.toMatchObject({ code: 'ERR_KBS_CONFIG', message: expect.stringContaining(`mode ${mode.toString(8)}`) });
    }
    chmodSync(key, 0o600);
    await (await start(db)).close();
  });

  it('a master key file reached through a symbolic link refuses the start', async () => {
    const target = join(dir, 'real-master-key');
    writeFileSync(target, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const link = join(dir, 'link-master-key');
    symlinkSync(target, link);
    await expect(start(join(dir, 'link.sqlite'), link)).rejects.toMatchObject({ code: 'ERR_KBS_CONFIG', message: expect.stringContaining('symbolic link') });
  });

  it('the self-signed TLS key is created with mode 0600; a symlink at its path refuses the start and nothing is written through it', async () => {
    const db = join(dir, 'tls.sqlite');
    await (await start(db)).close();
    expect(statSync(`${db}.tls-key.pem`).mode & 0o777).toBe(0o600);
    const db2 = join(dir, 'tls2.sqlite');
    const target = join(dir, 'elsewhere.pem');
    symlinkSync(target, `${db2}.tls-key.pem`);
    await expect(start(db2)).rejects.toMatchObject({ code: 'ERR_KBS_CONFIG' });
    expect(existsSync(target)).toBe(false);
    expect(lstatSync(`${db2}.tls-key.pem`).isSymbolicLink()).toBe(true);
    expect(readFileSync(`${db}.tls-key.pem`, 'utf8')).toContain('PRIVATE KEY');
  });
});
