/**
 * s16 change review of the providers fixes, #3 (low): the sweep of dead runs' configfs-tsm report
 * instances (and of staging leftovers) took any kill(pid, 0) error other than EPERM for "no such
 * process" (src/model/run-identity.ts processExists). Under SELinux or AppArmor a denied signal check
 * fails with EACCES, so a LIVE process's instance (the gateway's, mid-report, in another confined
 * domain of the same pid namespace) was removed by the next tee-model run. Only ESRCH proves a pid free.
 * The LSM denial is stood in for by a spy on process.kill that throws EACCES for a live child's pid.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, expect, it, vi } from 'vitest';

import { processExists, stagingIdentity } from '../../src/model/run-identity.js';
import { ConfigfsTsmProvider } from '../../src/tee/index.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const errno = (code: string): Error => Object.assign(new Error(`kill ${code}`), { code, syscall: 'kill' });

it('processExists: only ESRCH means no such process (EPERM, EACCES and any other error: alive)', () => {
  const spy = vi.spyOn(process, 'kill');
  for (const [code, alive] of [['ESRCH', false], ['EPERM', true], ['EACCES', true], ['EINVAL', true]] as const) {
    spy.mockImplementationOnce(() => {
      throw errno(code);
    });
    expect(processExists(4_000_000), code).toBe(alive);
  }
  spy.mockImplementationOnce(() => true);
  expect(processExists(4_000_000)).toBe(true);
});

it('the configfs-tsm sweep leaves a live process\'s instance alone when kill(pid, 0) is denied with EACCES', async () => {
  const root = await mkdtemp(join(tmpdir(), 's16-r2-sweep-'));
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const pid = child.pid as number;
    const ns = stagingIdentity().pidNamespace;
    const live = `tee-model-pidns${ns}-${pid}-0123456789abcdef`;
    // A dead run's instance (a pid no process has: ESRCH) is still swept.
    const dead = `tee-model-pidns${ns}-4000001-fedcba9876543210`;
    await mkdir(join(root, live));
    await mkdir(join(root, dead));
    const real = process.kill.bind(process);
    vi.spyOn(process, 'kill').mockImplementation(((p: number, s?: string | number) => {
      if (p === pid && s === 0) throw errno('EACCES');
      if (p === 4_000_001 && s === 0) throw errno('ESRCH');
      return real(p, s as never);
    }) as typeof process.kill);
    const provider = new ConfigfsTsmProvider({ root, onWarning: () => {} });
    // Not a real configfs-tsm root: the report itself fails; the sweep runs first.
    await provider.getEvidence(new Uint8Array(64)).catch(() => {});
    const left = await readdir(root);
    expect(child.exitCode).toBeNull();
    expect(left).toContain(live);
    if (ns !== 'unknown') expect(left).not.toContain(dead);
  } finally {
    child.kill();
    await rm(root, { recursive: true, force: true });
  }
});
