/**
 * Review s7, findings 1 and 6: Tpm2ToolsVtpmProvider and acquireVtpmEvidence against fake
 * tpm2-tools on PATH (shell scripts in a temporary directory). A tool that never answers is killed
 * at the deadline (a retryable typed error), and neither the provider's queue nor its AK cache
 * keeps the failure: the next call, with a tool that answers, succeeds. Also: empty extraData,
 * `ak` validation, PCR selection order, typed read errors, close() removing the AK directory.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Tpm2ToolsVtpmProvider, type EvidenceProvider } from '../../src/tee/index.js';
import { buildAkPublic } from '../../src/testing/tpm-builders.js';
import { acquireVtpmEvidence, parsePcrSelection } from '../../src/vtpm/acquire.js';

const hardware: EvidenceProvider = {
  name: 'stub',
  getEvidence: async (reportData) => ({ tee: 'tdx', provider: 'tdx_guest', evidence: new Uint8Array(16), reportData: new Uint8Array(reportData) }),
};

const akPublic = buildAkPublic(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
const sized = Buffer.concat([Buffer.from([akPublic.length >> 8, akPublic.length & 0xff]), akPublic]);

let dir: string;
let bin: string;
let savedPath: string | undefined;

/** Installs (atomically: a running copy of the old script is not disturbed) a fake tool. */
async function tool(name: string, body: string): Promise<void> {
  const tmp = join(dir, `${name}.new`);
  await writeFile(tmp, `#!/bin/sh\n${body}\n`);
  await chmod(tmp, 0o755);
  await rename(tmp, join(bin, name));
}

/** Records its pid, then becomes a process that never answers (exec: the pid is the sleeper's). */
const hanging = (name: string) => tool(name, `echo $$ >> "${dir}/${name}.pids"\nexec sleep 60`);
/** Writes the AK's TPM2B_PUBLIC to the -o argument and records that path. */
const readpublicWorking = () =>
  tool('tpm2_readpublic', `while [ $# -gt 0 ]; do if [ "$1" = "-o" ]; then cp "${dir}/ak.pub" "$2"; echo "$2" >> "${dir}/readpublic.out"; fi; shift; done`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s7-tpm2-'));
  bin = join(dir, 'bin');
  await (await import('node:fs/promises')).mkdir(bin);
  await writeFile(join(dir, 'ak.pub'), sized);
  await tool('tpm2_flushcontext', 'exit 0');
  await tool('tpm2_quote', 'echo "ERROR: /dev/tpmrm0 busy" >&2\nexit 1');
  savedPath = process.env['PATH'];
  process.env['PATH'] = `${bin}:${savedPath ?? ''}`;
});

afterAll(async () => {
  process.env['PATH'] = savedPath;
  await rm(dir, { recursive: true, force: true });
});

function stillRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function pidsOf(name: string): Promise<number[]> {
  return (await readFile(join(dir, `${name}.pids`), 'utf8')).trim().split('\n').map(Number);
}

describe('review s7 finding 1: a tpm2-tools call that never answers', () => {
  it('is killed at the deadline: ERR_TSM_UNAVAILABLE (retryable); the AK is not cached and the queue is free, so a later call succeeds', async () => {
    await hanging('tpm2_readpublic');
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', toolTimeoutMs: 300 });
    await expect(p.attestationKeyPublic()).rejects.toMatchObject({ code: 'ERR_TSM_UNAVAILABLE', details: { tool: 'tpm2_readpublic', reason: 'timeout', timeoutMs: 300, retryable: true } });
    const [pid] = await pidsOf('tpm2_readpublic');
    expect(stillRunning(pid as number)).toBe(false); // SIGKILL: no stuck tpm2-tools left behind
    await readpublicWorking();
    expect(Buffer.from(await p.attestationKeyPublic()).equals(Buffer.from(akPublic))).toBe(true);
    await p.close();
  });

  it('a hung quote during getVtpmEvidence is retryable too, and the next request reaches the TPM again', async () => {
    await readpublicWorking();
    await hanging('tpm2_quote');
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', toolTimeoutMs: 300, eventLogPath: null, imaPath: null });
    const request = { reportData: new Uint8Array(64), extraData: new Uint8Array(32).fill(1) };
    await expect(p.getVtpmEvidence(request)).rejects.toMatchObject({ code: 'ERR_TSM_UNAVAILABLE', details: { tool: 'tpm2_quote', reason: 'timeout', retryable: true } });
    await tool('tpm2_quote', 'echo "ERROR: quote refused" >&2\nexit 1');
    // Not hung behind the killed call: the working-but-failing tool answers with its own error.
    await expect(p.getVtpmEvidence(request)).rejects.toMatchObject({ code: 'ERR_VTPM_ACQUIRE' });
    await p.close();
  });

  it('acquireVtpmEvidence: ERR_VTPM_ACQUIRE with reason "timeout", retryable', async () => {
    await hanging('tpm2_readpublic');
    await expect(acquireVtpmEvidence({ ak: '0x81000003', hcl: false, toolTimeoutMs: 300, eventLogPath: null, imaPath: null })).rejects.toMatchObject({
      code: 'ERR_VTPM_ACQUIRE',
      details: { tool: 'tpm2_readpublic', reason: 'timeout', timeoutMs: 300, retryable: true },
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
    await tool('tpm2_readpublic', 'exit 0');
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', toolTimeoutMs: 5000 });
    await expect(p.attestationKeyPublic()).rejects.toMatchObject({ code: 'ERR_TSM_IO', details: { errno: 'ENOENT' } });
  });

  it('close() removes the AK context directory', async () => {
    await rm(join(dir, 'readpublic.out'), { force: true });
    await readpublicWorking();
    const p = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', toolTimeoutMs: 5000 });
    await p.attestationKeyPublic();
    const akDir = dirname((await readFile(join(dir, 'readpublic.out'), 'utf8')).trim());
    expect(existsSync(akDir)).toBe(true);
    await p.close();
    expect(existsSync(akDir)).toBe(false);
  });
});
