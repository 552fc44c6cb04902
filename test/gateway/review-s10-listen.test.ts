/**
 * Review s10, G3: `tee-gateway serve` on a port in use exited 2 ("usage": fix the command line, do
 * not restart) with an untyped "listen EADDRINUSE". Now the start fails with ERR_GATEWAY_LISTEN:
 * exit 75 (EX_TEMPFAIL, a supervisor may retry) for a port in use, 78 (EX_CONFIG) for an address
 * this machine does not have. Nothing stays open after the refused start: the port's owner keeps
 * it, and the same command succeeds once the port is free.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exitCodeOf, runGatewayCli } from '../../src/gateway/cli.js';
import { GatewayError } from '../../src/gateway/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s10-listen-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function serve(listen: string): Promise<{ code: number; stderr: string; close: () => Promise<void> }> {
  let stderr = '';
  const io = { stdout: () => {}, stderr: (t: string) => void (stderr += t), env: {} as NodeJS.ProcessEnv };
  const r = await runGatewayCli(['serve', '--upstream', 'http://127.0.0.1:9', '--db', join(dir, 'g.sqlite'), '--simulated-tee', '--listen', listen], io);
  return { code: r.code, stderr, close: async () => r.gateway?.close() };
}

describe('tee-gateway serve on an address it cannot bind', () => {
  let holder: Server;
  let port: number;
  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    port = (holder.address() as AddressInfo).port;
  });
  afterAll(() => holder?.close());

  it('a port in use: exit 75 and ERR_GATEWAY_LISTEN naming the address; once the port is free the same command starts', async () => {
    const refused = await serve(`127.0.0.1:${port}`);
    expect(refused.code).toBe(75);
    expect(refused.stderr).toContain(`tee-gateway: ERR_GATEWAY_LISTEN: cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
    await new Promise<void>((r) => holder.close(() => r()));
    const started = await serve(`127.0.0.1:${port}`);
    try {
      expect(started.code).toBe(0);
    } finally {
      await started.close();
    }
  });

  it('an address this machine does not have (TEST-NET-1): exit 78, EADDRNOTAVAIL', async () => {
    const refused = await serve('192.0.2.1:0');
    expect(refused.code).toBe(78);
    expect(refused.stderr).toContain('ERR_GATEWAY_LISTEN: cannot listen on 192.0.2.1:0: EADDRNOTAVAIL');
  });

  it('exitCodeOf: EADDRINUSE and EAI_AGAIN 75, EACCES and any other errno 78', () => {
    const listenError = (code: string): GatewayError => new GatewayError('ERR_GATEWAY_LISTEN', 500, 'x', {}, { cause: Object.assign(new Error(code), { code }) });
    expect(exitCodeOf(listenError('EADDRINUSE'))).toBe(75);
    expect(exitCodeOf(listenError('EAI_AGAIN'))).toBe(75);
    expect(exitCodeOf(listenError('EACCES'))).toBe(78);
    expect(exitCodeOf(listenError('EADDRNOTAVAIL'))).toBe(78);
    expect(exitCodeOf(new GatewayError('ERR_GATEWAY_LISTEN', 500, 'no errno'))).toBe(78);
  });
});
