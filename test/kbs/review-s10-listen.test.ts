/**
 * Review s10, L1: `tee-kbs serve` on a port in use exited 2 ("usage": fix the command line, do not
 * restart) with an untyped "listen EADDRINUSE". Now the start fails with ERR_KBS_LISTEN naming the
 * address and the errno: exit 75 (EX_TEMPFAIL, a supervisor may retry) for a port in use, 78
 * (EX_CONFIG) for an address this machine does not have. The same command starts once the port is free.
 * The errno mapping for a port the process may not bind (EACCES; we run as root here) is a unit test.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { exitCodeOf } from '../../src/kbs/cli.js';
import { KbsError } from '../../src/kbs/errors.js';
import { runKbsCli, type KeyBroker } from '../../src/kbs/index.js';
import { makePlatform } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-s10-listen-'));
const platform = makePlatform();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function serve(listen: string, extra: string[] = []): Promise<{ code: number; stderr: string; broker?: KeyBroker }> {
  let stderr = '';
  const r = await runKbsCli(
    ['serve', '--db', join(dir, 'kbs.sqlite'), '--listen', listen, '--plain-http', '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json'), ...extra],
    { stdout: () => {}, stderr: (t) => void (stderr += t), env: {} },
  );
  return { ...r, stderr };
}

describe('tee-kbs serve on an address it cannot bind', () => {
  let holder: Server;
  let port: number;
  beforeAll(async () => {
    writeFileSync(join(dir, 'root.pem'), platform.pki.root.pem);
    writeFileSync(join(dir, 'bundle.json'), exportBundle(Object.values(platform.collateral)));
    holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    port = (holder.address() as AddressInfo).port;
  });
  afterAll(() => holder?.close());

  it('a port in use: exit 75 and ERR_KBS_LISTEN naming the address and errno; once the port is free the same command starts', async () => {
    const refused = await serve(`127.0.0.1:${port}`);
    expect(refused.code).toBe(75);
    expect(refused.stderr).toContain(`tee-kbs: ERR_KBS_LISTEN: cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
    expect(refused.broker).toBeUndefined();
    // The refused first start wrote the admin token file; the retry keeps it and mints no second token.
    const tokenFile = join(dir, 'kbs.sqlite.admin-token');
    const token = readFileSync(tokenFile, 'utf8');
    await new Promise<void>((r) => holder.close(() => r()));
    const started = await serve(`127.0.0.1:${port}`);
    try {
      expect(started.code).toBe(0);
      expect(started.broker?.url).toBe(`http://127.0.0.1:${port}`);
      expect(started.broker?.initialAdminToken).toBeUndefined();
      expect(readFileSync(tokenFile, 'utf8')).toBe(token);
    } finally {
      await started.broker?.close();
    }
  });

  it('an address this machine does not have (TEST-NET-1): exit 78, EADDRNOTAVAIL', async () => {
    // Plain HTTP off loopback needs --force-plain-http (exit 2 otherwise, before any listen).
    const refused = await serve('192.0.2.1:0', ['--force-plain-http']);
    expect(refused.code).toBe(78);
    expect(refused.stderr).toContain('tee-kbs: ERR_KBS_LISTEN: cannot listen on 192.0.2.1:0: EADDRNOTAVAIL');
  });

  it('exitCodeOf: EADDRINUSE and EAI_AGAIN 75, EACCES and any other errno 78', () => {
    const listenError = (code?: string): KbsError =>
      new KbsError('ERR_KBS_LISTEN', 500, 'x', code === undefined ? {} : { cause: Object.assign(new Error(code), { code }) });
    expect(exitCodeOf(listenError('EADDRINUSE'))).toBe(75);
    expect(exitCodeOf(listenError('EAI_AGAIN'))).toBe(75);
    expect(exitCodeOf(listenError('EACCES'))).toBe(78);
    expect(exitCodeOf(listenError('EADDRNOTAVAIL'))).toBe(78);
    expect(exitCodeOf(listenError())).toBe(78);
  });
});
