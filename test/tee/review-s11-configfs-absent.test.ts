/**
 * Review s11 #3: a machine without configfs-tsm (not a TEE guest, configfs not mounted, a kernel
 * before 6.7) has no report directory, and mkdir under it fails with ENOENT. That is permanent:
 * ERR_TSM_IO with details.retryable false and `tee-model load` exit 2, not exit 3 ("retry later"),
 * which a supervisor that restarts on 3 would loop on for ever. A provider not registered yet
 * (ENXIO) stays the retryable ERR_TSM_UNAVAILABLE.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../src/model/cli.js';
import { ConfigfsTsmProvider, type TsmFs } from '../../src/tee/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'configfs-absent-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('configfs-tsm without a report directory (review s11 #3)', () => {
  it('tee-model load --configfs-root <missing> exits 2 with ERR_TSM_IO and the hint, before any broker contact', async () => {
    const model = join(dir, 'model');
    await mkdir(model);
    let stderr = '';
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => ((stderr += s), true) } };
    // Port 1 on 127.0.0.1: nothing listens, so reaching the broker would give exit 3, not 2.
    const code = await run(['load', '--kbs', 'https://127.0.0.1:1', '--key-id', 'k', '-i', model, '-o', join(dir, 'out'), '--configfs-root', join(dir, 'no-tsm'), '--nonce', 'no'], io);
    expect(stderr).toMatch(/ERR_TSM_IO: cannot create a configfs-tsm report instance under .*no-tsm: the report directory does not exist: this is not a TEE guest, the kernel is older than 6\.7 \(no configfs-tsm\), or configfs is not mounted or the guest driver/);
    // Early in boot ENOENT passes: the hint names the ordering that avoids it, not "retrying will not help" (review s11 changes-a #5).
    expect(stderr).toMatch(/not retried: a service started early in boot must be ordered After=sys-kernel-config\.mount systemd-modules-load\.service/);
    expect(stderr).not.toMatch(/retrying will not help/);
    expect(code).toBe(2);
  });

  it('the provider error carries retryable: false for ENOENT and retryable: true for ENXIO', async () => {
    await expect(new ConfigfsTsmProvider({ root: join(dir, 'no-tsm') }).getEvidence(randomBytes(64))).rejects.toMatchObject({
      code: 'ERR_TSM_IO',
      details: { root: join(dir, 'no-tsm'), errno: 'ENOENT', retryable: false },
    });
    const enxio: TsmFs = {
      mkdir: async () => {
        throw Object.assign(new Error('ENXIO'), { code: 'ENXIO' });
      },
      rmdir: async () => undefined,
      readFile: async () => new Uint8Array(),
      writeFile: async () => undefined,
    };
    await expect(new ConfigfsTsmProvider({ root: '/tsm', fs: enxio }).getEvidence(randomBytes(64))).rejects.toMatchObject({
      code: 'ERR_TSM_UNAVAILABLE',
      message: expect.stringMatching(/no TSM provider is registered yet.*retry later/),
      details: { errno: 'ENXIO', retryable: true },
    });
  });
});
