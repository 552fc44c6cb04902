/**
 * Review s7b, item 8: `tee-verify dev vtpm-evidence` exited 70 ("internal error") when a tpm2-tools
 * call passed its deadline, though that ERR_VTPM_ACQUIRE is marked retryable: the TPM may answer
 * later. It now exits 3 ("unavailable, retry later"); other acquisition failures stay 70.
 *
 * acquireVtpmEvidence itself runs (its error mapping is what is tested); only its command runner is
 * replaced, so no test waits for the 30 s default deadline: the runner rejects as the real one does
 * for a child killed at its deadline.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { run } from '../../src/cli/index.js';
import type { CommandRunner } from '../../src/vtpm/acquire.js';

const runner = vi.hoisted(() => ({ run: undefined as CommandRunner | undefined }));

vi.mock('../../src/vtpm/acquire.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/vtpm/acquire.js')>();
  return { ...real, acquireVtpmEvidence: (o: Parameters<typeof real.acquireVtpmEvidence>[0] = {}) => real.acquireVtpmEvidence({ ...o, ...(runner.run ? { run: runner.run } : {}) }) };
});

/** What the execFile runner rejects with for a child killed at its deadline (tpm2ToolsRunner). */
const killedAtDeadline: CommandRunner = async () => {
  throw Object.assign(new Error('Command failed: tpm2_readpublic'), { killed: true, signal: 'SIGKILL', toolTimedOut: true, timeoutMs: 30_000, exited: true, stderrText: '' });
};
const failing: CommandRunner = async () => {
  throw Object.assign(new Error('Command failed: tpm2_readpublic'), { code: 1, stderrText: 'ERROR: handle 0x81000003 does not exist' });
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s7b-dev-vtpm-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function devVtpm(): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const io = { stdout: { write: () => undefined }, stderr: { write: (t: string) => void (stderr += t) }, env: {} };
  const code = await run(['dev', 'vtpm-evidence', '--out', join(dir, 'evidence.json'), '--ak', '0x81000003', '--no-hcl', '--no-event-log', '--no-ima'], io);
  return { code, stderr };
}

describe('review s7b item 8: dev vtpm-evidence exit status of a TPM that did not answer', () => {
  it('a tpm2-tools call past its deadline: exit 3 (retry later), one error line', async () => {
    runner.run = killedAtDeadline;
    const r = await devVtpm();
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error: ERR_VTPM_ACQUIRE: tpm2_readpublic did not finish within 30000 ms \(killed\).*retry later\n$/);
  });

  it('a tool that fails: still exit 70 (nothing says retrying helps)', async () => {
    runner.run = failing;
    const r = await devVtpm();
    expect(r.code).toBe(70);
    expect(r.stderr).toContain('ERR_VTPM_ACQUIRE');
  });
});
