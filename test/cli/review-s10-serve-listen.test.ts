/**
 * Review s10, L1: `tee-verify serve` on a port in use exited 2 ("usage": fix the command line, do
 * not restart) with "serve: cannot start: listen EADDRINUSE". Now the start fails with ERR_AS_LISTEN
 * naming the address and the errno: exit 75 (EX_TEMPFAIL, a supervisor may retry) for a port in use,
 * 78 (EX_CONFIG) for an address this machine does not have. The errno mapping for a port the process
 * may not bind (EACCES; we run as root here) is a unit test of src/net/listen.ts.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../src/cli/index.js';
import { parseServeArgs, startServe } from '../../src/cli/serve.js';
import { errnoOf, listenExitCode, listenFailureMessage } from '../../src/net/listen.js';
import { capture } from './capture.js';
import { TempDirs } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

async function serve(listen: string, ...more: string[]): Promise<{ code: number; stderr: string }> {
  const io = capture({ env: { XDG_CACHE_HOME: temps.make('tee-verify-s10-listen-') } });
  const code = await run(['serve', '--listen', listen, '--offline', ...more], io.io);
  return { code, stderr: io.stderr() };
}

describe('tee-verify serve on an address it cannot bind', () => {
  let holder: Server;
  let port: number;
  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    port = (holder.address() as AddressInfo).port;
  });
  afterAll(() => holder?.close());

  it('a port in use: exit 75 and ERR_AS_LISTEN naming the address and errno', async () => {
    const refused = await serve(`127.0.0.1:${port}`);
    expect(refused.code).toBe(75);
    expect(refused.stderr).toContain(`error: ERR_AS_LISTEN: cannot listen on 127.0.0.1:${port}: EADDRINUSE: the port is in use by another process`);
  });

  it('startServe rejects with the typed error (errno as cause) and starts once the port is free', async () => {
    const args = parseServeArgs(['--listen', `127.0.0.1:${port}`, '--offline'])!;
    const io = capture({ env: { XDG_CACHE_HOME: temps.make('tee-verify-s10-listen-') } });
    const failure = await startServe(args, io.io).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect({ code: failure?.code, errno: errnoOf(failure?.cause) }).toEqual({ code: 'ERR_AS_LISTEN', errno: 'EADDRINUSE' });
    await new Promise<void>((r) => holder.close(() => r()));
    const running = await startServe(args, io.io);
    try {
      expect(running.service.url).toBe(`http://127.0.0.1:${port}`);
    } finally {
      await running.close();
    }
  });

  it('an address this machine does not have (TEST-NET-1): exit 78, EADDRNOTAVAIL', async () => {
    // Not loopback: plain HTTP there needs --force-plain-http (s16 env finding 1), else exit 2 before listening.
    const refused = await serve('192.0.2.1:0', '--force-plain-http');
    expect(refused.code).toBe(78);
    expect(refused.stderr).toContain('error: ERR_AS_LISTEN: cannot listen on 192.0.2.1:0: EADDRNOTAVAIL');
  });
});

describe('src/net/listen.ts: the errno mapping all three servers share', () => {
  const errno = (code: string): Error => Object.assign(new Error(`listen ${code}`), { code });

  it('EADDRINUSE and EAI_AGAIN 75 (retry later); EACCES, EADDRNOTAVAIL, ENOTFOUND, any other errno or none 78', () => {
    expect(['EADDRINUSE', 'EAI_AGAIN'].map((c) => listenExitCode(errno(c)))).toEqual([75, 75]);
    expect(['EACCES', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EINVAL'].map((c) => listenExitCode(errno(c)))).toEqual([78, 78, 78, 78]);
    expect(listenExitCode(new Error('no errno'))).toBe(78);
    expect(listenExitCode(undefined)).toBe(78);
  });

  it('the message names the address (IPv6 in brackets), the errno and what it means', () => {
    expect(listenFailureMessage(errno('EACCES'), '0.0.0.0', 443)).toBe('cannot listen on 0.0.0.0:443: EACCES: no permission to bind this port (ports below 1024 need privileges)');
    expect(listenFailureMessage(errno('EADDRINUSE'), '::1', 8080)).toBe('cannot listen on [::1]:8080: EADDRINUSE: the port is in use by another process; retry once it is free');
    expect(listenFailureMessage(errno('EPERM'), 'h', 1)).toBe('cannot listen on h:1: EPERM');
  });
});
