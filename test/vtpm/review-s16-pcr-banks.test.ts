/**
 * Review s16 (providers red team) finding 4: vTPM acquisition over a PCR bank the TPM has not
 * allocated. The TPM leaves such a bank out of both the quote and tpm2_pcrread, yet the bundle got
 * an entry for every PCR asked: an empty value no quote covers, which the gateway served (200) and
 * every client refused as malformed. With the unallocated bank first, the values read back were
 * paired with the wrong PCRs and the only outcome, after 3 quotes, was the misleading "PCR values
 * ... kept changing". Now the quoted selection must be the one asked (ERR_VTPM_ACQUIRE naming the
 * bank, not retried) and tpm2_pcrread must return exactly one value of its bank's size per PCR.
 *
 * Real swtpm + tpm2-tools, with only SHA-256 allocated (tpm2_pcrallocate, then a TPM reset through
 * swtpm's control channel). Skipped with a visible message when a tool is missing.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { truncate } from 'node:fs/promises';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SimulatedTeeProvider, Tpm2ToolsVtpmProvider } from '../../src/tee/index.js';
import { acquireVtpmEvidence, tpm2ToolsRunner, type AcquireOptions } from '../../src/vtpm/acquire.js';
import { Swtpm, missingSwtpmTools, type SwtpmAk } from '../helpers/swtpm.js';

const run = promisify(execFile);
const missing = await missingSwtpmTools();
for (const tool of ['swtpm_ioctl', 'tpm2_pcrallocate', 'tpm2_readpublic']) {
  await run('sh', ['-c', `command -v ${tool}`]).catch(() => missing.push(tool));
}
if (missing.length > 0) console.warn(`[tee-verify tests] review-s16-pcr-banks SKIPPED: missing ${missing.join(', ')} (apt-get install swtpm swtpm-tools tpm2-tools)`);

async function outcome(p: Promise<unknown>): Promise<{ code?: string; message?: string; details?: Record<string, unknown> } | 'served'> {
  try {
    await p;
    return 'served';
  } catch (e) {
    const err = e as { code?: string; message?: string; details?: Record<string, unknown> };
    return { code: err.code, message: err.message, details: err.details };
  }
}

describe.skipIf(missing.length > 0)('review s16 providers #4: a PCR bank the TPM has not allocated', () => {
  let tpm: Swtpm;
  let ak: SwtpmAk;
  let base: AcquireOptions;

  beforeAll(async () => {
    tpm = await Swtpm.start();
    await tpm.tool('tpm2_pcrallocate', ['sha1:none+sha256:all+sha384:none+sha512:none']);
    // The allocation takes effect at the next TPM reset: power-cycle through swtpm's control channel.
    await run('swtpm_ioctl', ['--tcp', `127.0.0.1:${tpm.port + 1}`, '-i']);
    await tpm.tool('tpm2_startup', ['-c']);
    ak = await tpm.createAk('rsa');
    base = { tcti: tpm.tcti, ak: ak.context, hcl: false, eventLogPath: null, imaPath: null };
  }, 120_000);

  afterAll(async () => {
    await tpm?.stop();
  });

  it('an unallocated bank after an allocated one: ERR_VTPM_ACQUIRE naming the bank, no bundle with values no quote covers', async () => {
    const r = await outcome(acquireVtpmEvidence({ ...base, pcrs: 'sha256:0,1,2+sha384:5,6', nonce: randomBytes(32) }));
    expect(r).toMatchObject({ code: 'ERR_VTPM_ACQUIRE', details: { reason: 'pcr-selection-not-quoted', bank: 'sha384', quoted: 'sha256:0,1,2' } });
    expect((r as { message: string }).message).toMatch(/PCR bank sha384 is not allocated on this TPM/);
  });

  it('an unallocated bank first: the same error at once, not "kept changing"', async () => {
    const r = await outcome(acquireVtpmEvidence({ ...base, pcrs: 'sha1:0+sha256:0,1,2', nonce: randomBytes(32) }));
    expect(r).toMatchObject({ code: 'ERR_VTPM_ACQUIRE', details: { reason: 'pcr-selection-not-quoted', bank: 'sha1' } });
    expect((r as { message: string }).message).not.toMatch(/kept changing/);
  });

  it('tpm2_pcrread returning fewer bytes than the PCRs asked: ERR_VTPM_ACQUIRE pcr-read-length', async () => {
    const real = tpm2ToolsRunner();
    const short: AcquireOptions['run'] = async (file, args, env) => {
      const out = await real(file, args, env);
      if (file === 'tpm2_pcrread') await truncate(args[args.indexOf('-o') + 1]!, 64);
      return out;
    };
    const r = await outcome(acquireVtpmEvidence({ ...base, pcrs: 'sha256:0,1,2', nonce: randomBytes(32), run: short }));
    expect(r).toMatchObject({ code: 'ERR_VTPM_ACQUIRE', details: { reason: 'pcr-read-length', length: 64, expected: 96 } });
  });

  it('the allocated bank alone still gives a bundle: one 32-byte value per PCR asked', async () => {
    const { bundle } = await acquireVtpmEvidence({ ...base, pcrs: 'sha256:0,1,2', nonce: randomBytes(32) });
    expect(Object.keys(bundle.tpm.pcrs)).toEqual(['sha256']);
    expect(Object.entries(bundle.tpm.pcrs.sha256!).map(([i, v]) => [i, v.length])).toEqual([['0', 32], ['1', 32], ['2', 32]]);
  });

  it('the gateway\'s provider (Tpm2ToolsVtpmProvider, --vtpm-pcrs with an unallocated bank) refuses instead of returning that bundle', async () => {
    const provider = new Tpm2ToolsVtpmProvider({ hardware: new SimulatedTeeProvider(), tcti: tpm.tcti, ak: ak.context, pcrs: 'sha256:0+sha384:0', eventLogPath: null, imaPath: null });
    try {
      const r = await outcome(provider.getVtpmEvidence({ reportData: new Uint8Array(64), extraData: new Uint8Array(randomBytes(32)) }));
      expect(r).toMatchObject({ code: 'ERR_VTPM_ACQUIRE', details: { bank: 'sha384' } });
    } finally {
      await provider.close();
    }
  });
});
