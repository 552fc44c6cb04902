/**
 * Review s12 (gateway), finding 3: Node clamps a timer over 2^31−1 ms to 1 ms, so
 * `upstreamTimeoutMs: 3e9` (`--upstream-timeout 3000000000`) made every proxied request an
 * immediate 504 and a shutdown grace over ~24.8 days cut every stream at once. Every bound that
 * becomes a timer is refused at start outside 1..2^31−1 ms (ERR_GATEWAY_CONFIG, exit 78), and the
 * byte bounds outside positive finite numbers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { startGateway, type GatewayOptions } from '../../src/gateway/index.js';
import { simulated } from './helpers.js';

const MAX = 2 ** 31 - 1;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s12-timeouts-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const start = (o: Partial<GatewayOptions>) => startGateway({ upstream: 'http://127.0.0.1:9', db: join(dir, 'g.sqlite'), provider: simulated, port: 0, log: () => {}, ...o });

describe('timer bounds (s12 finding 3)', () => {
  const timers = ['upstreamTimeoutMs', 'upstreamIdleTimeoutMs', 'shutdownGraceMs', 'headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs'] as const;
  const bad = [MAX + 1, 3e9, Infinity, NaN, 0, -1];
  it.each(timers.flatMap((name) => bad.map((v) => [name, v] as const)))('%s: %s is refused, ERR_GATEWAY_CONFIG', async (name, v) => {
    const o: Partial<GatewayOptions> = { [name]: v };
    if (name === 'headersTimeoutMs') o.requestTimeoutMs = MAX; // only the bound under test is out of range
    await expect(start(o)).rejects.toMatchObject({ code: 'ERR_GATEWAY_CONFIG', message: expect.stringContaining(name) });
  });

  it.each(['maxRequestBytes', 'maxResponseBytes'] as const)('%s: non-positive or non-finite is refused', async (name) => {
    for (const v of [0, -1, NaN, Infinity]) await expect(start({ [name]: v })).rejects.toMatchObject({ code: 'ERR_GATEWAY_CONFIG', message: expect.stringContaining(name) });
  });

  it('2^31−1 ms is accepted for every timer', async () => {
    const g = await start({ upstreamTimeoutMs: MAX, upstreamIdleTimeoutMs: MAX, shutdownGraceMs: MAX, headersTimeoutMs: MAX, requestTimeoutMs: MAX, keepAliveTimeoutMs: MAX });
    await g.close();
  });
});

describe('the command line (s12 finding 3)', () => {
  const run = async (args: string[]) => {
    const o = { stdout: '', stderr: '' };
    const io = { stdout: (t: string) => void (o.stdout += t), stderr: (t: string) => void (o.stderr += t), env: {} as NodeJS.ProcessEnv };
    const r = await runGatewayCli(['serve', '--upstream', 'http://127.0.0.1:9', '--db', join(dir, 'cli.sqlite'), '--listen', '127.0.0.1:0', '--simulated-tee', ...args], io);
    await r.gateway?.close();
    return { code: r.code, stderr: o.stderr };
  };

  it.each([
    ['--upstream-timeout', '3000000000'],
    ['--shutdown-grace', '2200000'],
    ['--headers-timeout', '2200000'],
    ['--request-timeout', '2200000'],
    ['--keep-alive-timeout', '2200000'],
  ])('%s %s: exit 78, ERR_GATEWAY_CONFIG naming the flag', async (flag, value) => {
    const r = await run([flag, value]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(new RegExp(`^tee-gateway: ERR_GATEWAY_CONFIG: ${flag} `, 'm'));
  });

  it('the largest values that fit start', async () => {
    const r = await run(['--upstream-timeout', String(MAX), '--shutdown-grace', String(Math.floor(MAX / 1000))]);
    expect(r.code, r.stderr).toBe(0);
  });
});
