/**
 * s16 (providers finding 1 follow-up): `tee-gateway serve --evidence-in-flight N --evidence-queue N
 * --evidence-turn-timeout SECONDS` set the evidence queue's bounds (src/gateway/attestation.ts EvidenceQueue); values that are not whole
 * numbers in range are refused at start, naming the flag.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 's16-evidence-flags-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const run = async (args: string[]) => {
  const o = { stdout: '', stderr: '' };
  const io = { stdout: (t: string) => void (o.stdout += t), stderr: (t: string) => void (o.stderr += t), env: {} as NodeJS.ProcessEnv };
  const r = await runGatewayCli(['serve', '--upstream', 'http://127.0.0.1:9', '--db', join(dir, 'cli.sqlite'), '--listen', '127.0.0.1:0', '--simulated-tee', ...args], io);
  await r.gateway?.close();
  return { code: r.code, stderr: o.stderr };
};

describe('tee-gateway serve: the evidence queue flags', () => {
  it.each([
    ['--evidence-in-flight', '0'],
    ['--evidence-in-flight', '1.5'],
    ['--evidence-in-flight', 'x'],
    ['--evidence-queue', '-1'],
    ['--evidence-queue', '2e3'],
  ])('%s %s is refused at start, naming the flag', async (flag, value) => {
    const r = await run([`${flag}=${value}`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${flag} must be a whole number`);
  });

  it.each([['0'], ['-1'], ['x'], ['3000000']])('--evidence-turn-timeout %s is refused at start, naming the flag', async (value) => {
    const r = await run([`--evidence-turn-timeout=${value}`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--evidence-turn-timeout');
  });

  it('whole numbers in range start (a queue of 0 included)', async () => {
    expect((await run(['--evidence-in-flight', '2', '--evidence-queue', '0'])).code).toBe(0);
    expect((await run(['--evidence-in-flight', '1', '--evidence-queue', '16'])).code).toBe(0);
    expect((await run(['--evidence-turn-timeout', '0.5'])).code).toBe(0);
  });
});
