/**
 * Review s7b, item 3: the tpm2-tools deadline bounds the call even when the killed child does not
 * go. execFile reports only once the child has exited; a tool blocked in the TPM driver may not die
 * on SIGKILL until the driver returns, which no test can make a process do. So execFile is wrapped
 * here: for the tool `tpm2_stuck` the real child is started (and killed at the deadline by the real
 * execFile), but its report never reaches the runner, as if the child had not gone.
 */
import * as childProcess from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { acquireVtpmEvidence, tpm2ToolsEnvironment, tpm2ToolsRunner } from '../../src/vtpm/acquire.js';

const started: childProcess.ChildProcess[] = [];

vi.mock('node:child_process', async (importOriginal) => {
  const real = await importOriginal<typeof childProcess>();
  const execFile = (file: string, args: string[], options: object, callback: (...a: unknown[]) => void) => {
    if (!file.endsWith('tpm2_stuck')) return real.execFile(file, args, options, callback);
    const child = real.execFile(file, args, options, () => undefined); // the report that never comes
    started.push(child);
    return child;
  };
  return { ...real, execFile };
});

let dir: string;
let stuck: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s7b-runner-'));
  stuck = join(dir, 'tpm2_stuck');
  await writeFile(stuck, '#!/bin/sh\nexec sleep 60\n');
  await chmod(stuck, 0o755);
});
afterAll(async () => {
  for (const child of started) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('review s7b item 3: the runner settles on its own timer after the deadline', () => {
  it('a killed child that does not report: rejected with toolTimedOut, exited: false', async () => {
    const run = tpm2ToolsRunner({ timeoutMs: 100, killGraceMs: 100 });
    await expect(run(stuck, [], tpm2ToolsEnvironment(undefined))).rejects.toMatchObject({ toolTimedOut: true, timeoutMs: 100, exited: false });
    expect(started).toHaveLength(1);
  });

  it('through acquireVtpmEvidence: the typed, retryable timeout, marked as not exited', async () => {
    const run = tpm2ToolsRunner({ timeoutMs: 100, killGraceMs: 100 });
    const viaStuck: typeof run = (_file, args, env) => run(stuck, args, env);
    await expect(acquireVtpmEvidence({ ak: '0x81000003', hcl: false, eventLogPath: null, imaPath: null, run: viaStuck })).rejects.toMatchObject({
      code: 'ERR_VTPM_ACQUIRE',
      details: { reason: 'timeout', retryable: true, exited: false },
    });
  });

  it('a child that reports normally is unaffected (the timer does not fire after an answer)', async () => {
    const run = tpm2ToolsRunner({ timeoutMs: 20_000, killGraceMs: 0 });
    expect((await run('sh', ['-c', 'echo ok'], tpm2ToolsEnvironment(undefined))).toString()).toBe('ok\n');
  });
});
