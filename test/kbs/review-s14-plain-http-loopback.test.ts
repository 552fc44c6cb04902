/**
 * Review s14 #3: startKeyBroker's plain-HTTP rule took any host whose text began with "127." as
 * loopback, so a host NAME such as 127.mycorp.example or 127.0.0.1.attacker.example passed, and listen()
 * then served the transfer route and the admin API in cleartext on wherever that name resolves, without
 * forcePlainHttp. Now the rule decides by address (src/kbs/server.ts isLoopbackHost, shared with the
 * admin client's --url rule): an address literal in 127.0.0.0/8 or ::1, or the name `localhost`; no
 * other name is loopback (names are not resolved). Anything else is ERR_KBS_BAD_REQUEST before any file.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { runKbsCli, startKeyBroker } from '../../src/kbs/index.js';
import { isLoopbackHost } from '../../src/kbs/server.js';
import { collateralOf, makePlatform } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kbs-s14-loopback-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const platform = makePlatform();

describe('plain HTTP only on a loopback address (review s14 #3)', () => {
  for (const host of ['127.example.invalid', '127.0.0.1.attacker.example', '127.mycorp.example', '127.1', 'LOCALHOST', 'localhost.example', '0.0.0.0', '::', '10.0.0.1']) {
    it(`plainHttp on ${host} is refused (ERR_KBS_BAD_REQUEST) before any file is created`, async () => {
      const sub = mkdtempSync(join(dir, 'refused-'));
      const err = await startKeyBroker({ db: join(sub, 'kbs.sqlite'), plainHttp: true, host, port: 0, collateral: collateralOf(platform), trustRoots: platform.trustRoots, log: () => {} }).then(
        async (b) => (await b.close(), undefined),
        (e: unknown) => e as { code?: string; message?: string },
      );
      expect(err?.code).toBe('ERR_KBS_BAD_REQUEST');
      expect(err?.message).toContain(`${host} is not`);
      expect(readdirSync(sub)).toEqual([]);
    });
  }

  it('the CLI: serve --listen 127.example.invalid:0 --plain-http is exit 2 and creates no database', async () => {
    const db = join(dir, 'cli.sqlite');
    const c = platform.collateral;
    writeFileSync(join(dir, 'bundle.json'), exportBundle([c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a) => a !== undefined) as never));
    let stderr = '';
    const r = await runKbsCli(['serve', '--db', db, '--listen', '127.example.invalid:0', '--plain-http', '--collateral', join(dir, 'bundle.json')], {
      stdout: () => {},
      stderr: (t) => (stderr += t),
      env: {},
    });
    await r.broker?.close();
    expect(r.code).toBe(2);
    expect(stderr).toContain('ERR_KBS_BAD_REQUEST: plain HTTP is only allowed on loopback');
    expect(existsSync(db)).toBe(false);
  });

  for (const host of ['127.0.0.1', '127.0.0.2', 'localhost']) {
    it(`control: plainHttp on ${host} starts`, async () => {
      const sub = mkdtempSync(join(dir, 'ok-'));
      const b = await startKeyBroker({ db: join(sub, 'kbs.sqlite'), plainHttp: true, host, port: 0, collateral: collateralOf(platform), trustRoots: platform.trustRoots, log: () => {} });
      await b.close();
      expect(b.url.startsWith('http://')).toBe(true);
    });
  }

  it('the rule by address: 127.0.0.0/8, ::1 in any spelling, IPv4-mapped loopback, [::1]; nothing else', () => {
    for (const h of ['127.0.0.1', '127.255.255.254', '::1', '0:0:0:0:0:0:0:1', '[::1]', '::ffff:127.0.0.1', '[::ffff:7f00:1]', 'localhost']) expect([h, isLoopbackHost(h)]).toEqual([h, true]);
    for (const h of ['127.example.invalid', '127.0.0.1.nip.io', '127.1', '128.0.0.1', '126.255.255.255', '::2', '::ffff:10.0.0.1', '[127.0.0.1]', 'localhost.', '', '127.0.0.1 ']) {
      expect([h, isLoopbackHost(h)]).toEqual([h, false]);
    }
  });
});
