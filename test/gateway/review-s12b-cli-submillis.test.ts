/**
 * Change review s12 (svcgw), finding 3: after the timer bounds (cc8bfc0), `--upstream-timeout 0.5`
 * and `--shutdown-grace 0.0005` passed the command line's checks and then failed the start with exit
 * 78 and a message naming the library option (`upstreamTimeoutMs`, `shutdownGraceMs`), which a CLI
 * user never wrote; before, both started. Now every flag that becomes a timer is rounded to whole
 * milliseconds, at least 1 (as --headers-timeout / --request-timeout / --keep-alive-timeout already
 * were), so a sub-millisecond value starts with a 1 ms timer. The bounds above still name the flag.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it, vi } from 'vitest';

import type { GatewayOptions } from '../../src/gateway/server.js';

const seen = vi.hoisted(() => ({ options: undefined as GatewayOptions | undefined }));
vi.mock('../../src/gateway/server.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/gateway/server.js')>();
  return {
    ...real,
    startGateway: (o: GatewayOptions) => {
      seen.options = o;
      return real.startGateway(o);
    },
  };
});

const { runGatewayCli } = await import('../../src/gateway/cli.js');

const dir = mkdtempSync(join(tmpdir(), 'review-s12b-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; stderr: string; options: GatewayOptions | undefined }> {
  seen.options = undefined;
  let stderr = '';
  const io = { stdout: () => {}, stderr: (t: string) => void (stderr += t), env: {} as NodeJS.ProcessEnv };
  const r = await runGatewayCli(['serve', '--upstream', 'http://127.0.0.1:9', '--db', join(dir, 'cli.sqlite'), '--listen', '127.0.0.1:0', '--simulated-tee', ...args], io);
  await r.gateway?.close();
  return { code: r.code, stderr, options: seen.options };
}

describe('sub-millisecond timer flags (s12 change review, finding 3)', () => {
  it.each([
    ['--upstream-timeout', '0.5', 'upstreamTimeoutMs', 1],
    ['--upstream-timeout', '0.0001', 'upstreamTimeoutMs', 1],
    ['--upstream-timeout', '1500.4', 'upstreamTimeoutMs', 1500],
    ['--shutdown-grace', '0.0005', 'shutdownGraceMs', 1],
    ['--shutdown-grace', '0.0000001', 'shutdownGraceMs', 1],
    ['--shutdown-grace', '0.3', 'shutdownGraceMs', 300],
    ['--shutdown-grace', '1.0004', 'shutdownGraceMs', 1000],
    ['--headers-timeout', '0.0001', 'headersTimeoutMs', 1],
  ] as const)('%s %s starts, with %s = %i', async (flag, value, option, ms) => {
    const r = await run([flag, value]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.options?.[option]).toBe(ms);
    expect(r.stderr).not.toMatch(/ERR_GATEWAY_CONFIG/);
  });

  it.each([
    ['--upstream-timeout', '2147483648'],
    ['--shutdown-grace', '2147484'],
  ])('%s %s (just over the bound): exit 78 naming the flag, not the library option', async (flag, value) => {
    const r = await run([flag, value]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(new RegExp(`^tee-gateway: ERR_GATEWAY_CONFIG: ${flag} `, 'm'));
    expect(r.stderr).not.toMatch(/upstreamTimeoutMs|shutdownGraceMs/);
  });
});
