/**
 * Review s7b (second round of the evidence-provider review), items 1, 3 and 4, against fake
 * tpm2-tools on PATH (fake-tpm2-tools.ts):
 *
 * 1. a hung TPM no longer builds a queue where each request waits for every earlier one's
 *    deadline: requests are refused at once (retryable ERR_TSM_UNAVAILABLE) while a conversation
 *    is stuck, after a timeout until the TPM answers again, and beyond the waiting bound;
 * 3. after a timeout the next conversation first flushes transient objects and loaded sessions
 *    (the runner's own timer after the deadline: review-s7b-runner.test.ts);
 * 4. close() stops later use: no AK directory is made after it.
 *
 * No timing is asserted: "at once" means before the hung conversation has ended (it is ended by
 * the test, killing the tool), and the count of tool processes comes from their pid files.
 */
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { Tpm2ToolsVtpmProvider } from '../../src/tee/index.js';
import { FakeTpm2Tools, hardware, until } from './fake-tpm2-tools.js';

let fake: FakeTpm2Tools;
beforeAll(async () => {
  fake = await FakeTpm2Tools.install('review-s7b-tpm2-');
});
afterAll(async () => {
  await fake.uninstall();
});
beforeEach(async () => {
  await fake.readpublicWorking();
  await fake.tool('tpm2_flushcontext', 'exit 0');
  await rm(join(fake.dir, 'tpm2_quote.pids'), { force: true });
  fake.resetRuns();
});

const request = (i: number) => ({ reportData: new Uint8Array(64), extraData: new Uint8Array(32).fill(i + 1) });

/** Starts the requests together and records each outcome as it settles, in order. */
function startAll(p: Tpm2ToolsVtpmProvider, n: number) {
  const settled: { i: number; error?: { code?: string; details?: Record<string, unknown> } }[] = [];
  const all = Array.from({ length: n }, (_, i) =>
    p.getVtpmEvidence(request(i)).then(
      () => void settled.push({ i }),
      (e: { code?: string; details?: Record<string, unknown> }) => void settled.push({ i, error: e }),
    ),
  );
  return { settled, all: Promise.all(all) };
}

const unavailableAtOnce = { error: { code: 'ERR_TSM_UNAVAILABLE', details: { reason: 'tpm-unresponsive', retryable: true } } };

describe('review s7b item 1: no queue behind a hung TPM', () => {
  it('the quote hangs: of 3 requests, 2 are refused at once (retryable) and exactly one tool process is started', async () => {
    await fake.hanging('tpm2_quote', { deadline: 'long' });
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', run: fake.run, eventLogPath: null, imaPath: null, stuckAfterMs: 0 });
    await p.attestationKeyPublic();
    const { settled, all } = startAll(p, 3);
    await until(() => settled.length >= 2);
    // Both refusals came while the third request's quote still hangs (its deadline is 20 s away; the test ends it).
    expect(settled).toHaveLength(2);
    for (const s of settled) expect(s).toMatchObject(unavailableAtOnce);
    await until(async () => (await fake.pidsOf('tpm2_quote')).length > 0);
    const [pid] = await fake.pidsOf('tpm2_quote');
    process.kill(pid as number, 'SIGKILL');
    await all;
    expect(settled[2]).toMatchObject({ error: { code: 'ERR_VTPM_ACQUIRE' } }); // killed by us, not at a deadline
    expect(await fake.pidsOf('tpm2_quote')).toEqual([pid]);
    await p.close();
  });

  it('after a timeout, until the TPM answers again: one request tries the TPM, the others are refused at once; then requests queue again', async () => {
    await fake.hanging('tpm2_quote');
    // stuckAfterMs far away: here only the timeout marks the TPM, and a slow machine's spawns must not (the queue below).
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', run: fake.run, eventLogPath: null, imaPath: null, stuckAfterMs: 60_000 });
    await expect(p.getVtpmEvidence(request(0))).rejects.toMatchObject({ code: 'ERR_TSM_UNAVAILABLE', details: { reason: 'timeout' } });
    // Counted at the runner, not by pid file: killed at the 300 ms deadline, a slow-starting script may have recorded no pid.
    expect(fake.runsOf('tpm2_quote')).toBe(1);
    await rm(join(fake.dir, 'tpm2_quote.pids'), { force: true });
    await fake.hanging('tpm2_quote', { deadline: 'long' });
    const { settled, all } = startAll(p, 3);
    await until(() => settled.length >= 2);
    expect(settled).toHaveLength(2);
    for (const s of settled) expect(s).toMatchObject(unavailableAtOnce);
    await until(async () => (await fake.pidsOf('tpm2_quote')).length > 0);
    const [pid] = await fake.pidsOf('tpm2_quote');
    expect(fake.runsOf('tpm2_quote')).toBe(2); // the first request's, then the one that tried again
    await fake.failing('tpm2_quote', 'ERROR: quote refused');
    process.kill(pid as number, 'SIGKILL');
    await all;
    expect(fake.runsOf('tpm2_quote')).toBe(2); // the two refused requests never reached the TPM
    // That attempt ended without a timeout (the TPM answered, if with an error): concurrent requests wait their turn again.
    const again = startAll(p, 3);
    await again.all;
    expect(again.settled.map((s) => s.error?.code)).toEqual(['ERR_VTPM_ACQUIRE', 'ERR_VTPM_ACQUIRE', 'ERR_VTPM_ACQUIRE']);
    await p.close();
  });

  it('beyond maxWaiting conversations behind the running one, a request is refused at once (queue-full)', async () => {
    await fake.hanging('tpm2_quote', { deadline: 'long' });
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', run: fake.run, eventLogPath: null, imaPath: null, maxWaiting: 1, stuckAfterMs: 60_000 });
    await p.attestationKeyPublic();
    const { settled, all } = startAll(p, 3);
    await until(() => settled.length >= 1);
    expect(settled).toEqual([{ i: 2, error: expect.objectContaining({ code: 'ERR_TSM_UNAVAILABLE', details: { reason: 'queue-full', retryable: true, maxWaiting: 1 } }) }]);
    await until(async () => (await fake.pidsOf('tpm2_quote')).length > 0);
    await fake.failing('tpm2_quote', 'ERROR: quote refused');
    process.kill((await fake.pidsOf('tpm2_quote'))[0] as number, 'SIGKILL');
    await all;
    // The waiting one ran after the first, with the tool that answers.
    expect(settled.slice(1).map((s) => [s.i, s.error?.code])).toEqual([[0, 'ERR_VTPM_ACQUIRE'], [1, 'ERR_VTPM_ACQUIRE']]);
    await p.close();
  });
});

describe('review s7b item 3: the TPM is flushed after a timeout (the runner\'s own timer: review-s7b-runner.test.ts)', () => {
  it('after a timeout the next conversation first runs tpm2_flushcontext -t and -l (transient objects, loaded sessions)', async () => {
    const calls = join(fake.dir, 'calls.log');
    await rm(calls, { force: true });
    const recording = (name: string, then: string) => fake.tool(name, `echo "${name} $*" >> "${calls}"\n${then}`);
    await recording('tpm2_flushcontext', 'exit 0');
    await recording('tpm2_quote', 'echo "ERROR: quote refused" >&2\nexit 1');
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', run: fake.run, eventLogPath: null, imaPath: null });
    await expect(p.getVtpmEvidence(request(0))).rejects.toMatchObject({ code: 'ERR_VTPM_ACQUIRE' });
    const lines = async () => (await readFile(calls, 'utf8')).trim().split('\n');
    // Without a timeout: only the flush of transient objects after each call, never -l.
    expect(await lines()).not.toContain('tpm2_flushcontext -l');
    await fake.hanging('tpm2_quote');
    await expect(p.getVtpmEvidence(request(1))).rejects.toMatchObject({ code: 'ERR_TSM_UNAVAILABLE', details: { reason: 'timeout' } });
    await rm(calls);
    await recording('tpm2_quote', 'echo "ERROR: quote refused" >&2\nexit 1');
    await expect(p.getVtpmEvidence(request(2))).rejects.toMatchObject({ code: 'ERR_VTPM_ACQUIRE' });
    // Before anything else of that conversation (tpm2_readpublic, not recorded, is followed by its own flush -t).
    expect(await lines()).toEqual(['tpm2_flushcontext -t', 'tpm2_flushcontext -l', 'tpm2_flushcontext -t', expect.stringMatching(/^tpm2_quote /), 'tpm2_flushcontext -t']);
    // Flushed once: the conversation after that has no -l.
    await rm(calls);
    await expect(p.getVtpmEvidence(request(3))).rejects.toMatchObject({ code: 'ERR_VTPM_ACQUIRE' });
    expect(await lines()).toEqual(['tpm2_flushcontext -t', expect.stringMatching(/^tpm2_quote /), 'tpm2_flushcontext -t']);
    await p.close();
  });
});

describe('review s7b item 4: close() stops later use', () => {
  it('a request after close() is refused (ERR_TSM_PROVIDER) and makes no AK directory', async () => {
    const saved = process.env['TMPDIR'];
    const own = await mkdtemp(join(tmpdir(), 'review-s7b-close-'));
    process.env['TMPDIR'] = own; // the AK directories of this test only
    try {
      await fake.hanging('tpm2_quote', { deadline: 'long' });
      const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', run: fake.run, eventLogPath: null, imaPath: null });
      await p.attestationKeyPublic(); // the reviewer's close-leak: a request between its AK and its quote
      expect(readdirSync(own)).toHaveLength(1);
      await p.close();
      expect(readdirSync(own)).toEqual([]);
      await expect(p.getVtpmEvidence(request(0))).rejects.toMatchObject({ code: 'ERR_TSM_PROVIDER' });
      await expect(p.attestationKeyPublic()).rejects.toMatchObject({ code: 'ERR_TSM_PROVIDER' });
      expect(readdirSync(own)).toEqual([]);
      expect(await fake.pidsOf('tpm2_quote')).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
      await rm(own, { recursive: true, force: true });
    }
  });

  it('a request waiting for the TPM when close() is called is refused, not run', async () => {
    await fake.hanging('tpm2_quote', { deadline: 'long' });
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', run: fake.run, eventLogPath: null, imaPath: null, stuckAfterMs: 60_000 });
    await p.attestationKeyPublic();
    const { settled, all } = startAll(p, 2);
    await until(async () => (await fake.pidsOf('tpm2_quote')).length > 0);
    await p.close();
    process.kill((await fake.pidsOf('tpm2_quote'))[0] as number, 'SIGKILL');
    await all;
    expect(settled.map((s) => [s.i, s.error?.code])).toEqual([[0, 'ERR_VTPM_ACQUIRE'], [1, 'ERR_TSM_PROVIDER']]);
    expect(await fake.pidsOf('tpm2_quote')).toHaveLength(1);
  });
});
