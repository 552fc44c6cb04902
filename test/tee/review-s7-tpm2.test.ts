/**
 * Review s7, findings 1 and 6: Tpm2ToolsVtpmProvider and acquireVtpmEvidence against fake
 * tpm2-tools on PATH (shell scripts in a temporary directory). A tool that never answers is killed
 * at the deadline (a retryable typed error), and neither the provider's queue nor its AK cache
 * keeps the failure: the next call, with a tool that answers, succeeds. Also: empty extraData,
 * `ak` validation, PCR selection order, typed read errors, close() removing the AK directory.
 * The fake tools live in fake-tpm2-tools.ts.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join, dirname } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Tpm2ToolsVtpmProvider } from '../../src/tee/index.js';
import { acquireVtpmEvidence, parsePcrSelection } from '../../src/vtpm/acquire.js';
import { FakeTpm2Tools, SHORT_DEADLINE_MS, hardware, stillRunning, until } from './fake-tpm2-tools.js';

// Only a tool installed as hanging gets the short deadline (review s7b: one 300 ms deadline for every call made the
// fakes that must answer flaky on a loaded machine).
let fake: FakeTpm2Tools;
beforeAll(async () => {
  fake = await FakeTpm2Tools.install('review-s7-tpm2-');
});
afterAll(async () => {
  await fake.uninstall();
});

describe('review s7 finding 1: a tpm2-tools call that never answers', () => {
  it('is killed at the deadline: ERR_TSM_UNAVAILABLE (retryable); the AK is not cached and the queue is free, so a later call succeeds', async () => {
    await fake.hanging('tpm2_readpublic');
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', run: fake.run });
    await expect(p.attestationKeyPublic()).rejects.toMatchObject({ code: 'ERR_TSM_UNAVAILABLE', details: { tool: 'tpm2_readpublic', reason: 'timeout', timeoutMs: SHORT_DEADLINE_MS, retryable: true } });
    const [pid] = await fake.pidsOf('tpm2_readpublic');
    // SIGKILL: no stuck tpm2-tools left behind. Waited for, not read at once: when the runner settled on its own timer
    // (kill grace passed on a starved machine) the killed child may not be reaped yet; a child not killed outlives the test.
    await until(() => !stillRunning(pid as number));
    await fake.readpublicWorking();
    expect(Buffer.from(await p.attestationKeyPublic()).equals(Buffer.from(fake.akPublic))).toBe(true);
    await p.close();
  });

  it('a hung quote during getVtpmEvidence is retryable too, and the next request reaches the TPM again', async () => {
    await fake.readpublicWorking();
    await fake.hanging('tpm2_quote');
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', run: fake.run, eventLogPath: null, imaPath: null });
    const request = { reportData: new Uint8Array(64), extraData: new Uint8Array(32).fill(1) };
    await expect(p.getVtpmEvidence(request)).rejects.toMatchObject({ code: 'ERR_TSM_UNAVAILABLE', details: { tool: 'tpm2_quote', reason: 'timeout', retryable: true } });
    await fake.failing('tpm2_quote', 'ERROR: quote refused');
    // Not hung behind the killed call: the working-but-failing tool answers with its own error.
    await expect(p.getVtpmEvidence(request)).rejects.toMatchObject({ code: 'ERR_VTPM_ACQUIRE' });
    await p.close();
  });

  it('acquireVtpmEvidence: ERR_VTPM_ACQUIRE with reason "timeout", retryable', async () => {
    await fake.hanging('tpm2_readpublic');
    await expect(acquireVtpmEvidence({ ak: '0x81000003', hcl: false, toolTimeoutMs: SHORT_DEADLINE_MS, eventLogPath: null, imaPath: null })).rejects.toMatchObject({
      code: 'ERR_VTPM_ACQUIRE',
      details: { tool: 'tpm2_readpublic', reason: 'timeout', timeoutMs: SHORT_DEADLINE_MS, retryable: true },
    });
  });
});

describe('review s7 finding 6: Tpm2ToolsVtpmProvider inputs, reads and close()', () => {
  it('refuses empty (and over-long) extraData before any tool runs: a quote without qualifying data is replayable', async () => {
    let calls = 0;
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', run: async () => ((calls += 1), Buffer.alloc(0)) });
    for (const extraData of [new Uint8Array(0), new Uint8Array(65)]) {
      await expect(p.getVtpmEvidence({ reportData: new Uint8Array(64), extraData })).rejects.toMatchObject({ code: 'ERR_TEE_REPORT_DATA', details: { field: 'extraData' } });
    }
    expect(calls).toBe(0);
  });

  it('accepts a persistent handle or a context path as ak; refuses other handles and option-like values', () => {
    for (const ak of ['0x81000003', '0x81ABCDEF', '/var/lib/tee/ak.ctx', 'ak.ctx']) expect(() => new Tpm2ToolsVtpmProvider({ hardware, ak })).not.toThrow();
    for (const ak of ['', '0x01400001', '0x80000000', '81000003', '-o', 'a\0b', '0x81000003 ']) {
      expect(() => new Tpm2ToolsVtpmProvider({ hardware, ak }), JSON.stringify(ak)).toThrow(expect.objectContaining({ code: 'ERR_TSM_PROVIDER' }));
    }
  });

  it('refuses a PCR selection out of order, with repeats or a bank twice (values are matched by position)', () => {
    for (const pcrs of ['sha256:3,1', 'sha256:1,1', 'sha256:0+sha256:1', 'sha256:0,24', 'sha256:', 'sha256:1:2', 'sha256:01x']) {
      expect(() => new Tpm2ToolsVtpmProvider({ hardware, pcrs }), pcrs).toThrow(expect.objectContaining({ code: 'ERR_VTPM_ACQUIRE' }));
    }
    expect(parsePcrSelection('sha256:0,1,7+sha1:0,23')).toEqual([['sha256', [0, 1, 7]], ['sha1', [0, 23]]]);
  });

  it('a tool that succeeds without writing its output is a typed ERR_TSM_IO, not a bare ENOENT', async () => {
    await fake.tool('tpm2_readpublic', 'exit 0');
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', run: fake.run });
    await expect(p.attestationKeyPublic()).rejects.toMatchObject({ code: 'ERR_TSM_IO', details: { errno: 'ENOENT' } });
  });

  it('close() removes the AK context directory', async () => {
    await rm(join(fake.dir, 'readpublic.out'), { force: true });
    await fake.readpublicWorking();
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', run: fake.run });
    await p.attestationKeyPublic();
    const akDir = dirname((await readFile(join(fake.dir, 'readpublic.out'), 'utf8')).trim());
    expect(existsSync(akDir)).toBe(true);
    await p.close();
    expect(existsSync(akDir)).toBe(false);
  });
});
