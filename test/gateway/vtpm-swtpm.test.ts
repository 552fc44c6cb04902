/**
 * The real vTPM provider (Tpm2ToolsVtpmProvider: tpm2-tools through
 * acquireVtpmEvidence) against a software TPM (Debian swtpm on 127.0.0.1),
 * with the simulated TDX TEE as the hardware part. The swtpm's PCRs are
 * extended with the same generated boot log and IMA list as the simulated
 * vTPM's, so that image's reference list applies. The provider creates its
 * ECC AK under the EK; the hardware report binds it; a chat verifies through
 * /v1/attestation and the same evidence through /aTLS. Skipped, with a
 * visible message, when swtpm or tpm2-tools are missing.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestedClient, akPublicSha256, attestAtls } from '../../src/gateway/index.js';
import { SimulatedVtpmProvider, Tpm2ToolsVtpmProvider } from '../../src/tee/index.js';
import { Swtpm, missingSwtpmTools } from '../helpers/swtpm.js';
import { clientOptions, mrTdOf, ollamaChat, simulated, startHarness, tdxPolicy, type ClientOptions, type Harness } from './helpers.js';

async function missingTools(): Promise<string[]> {
  const missing = await missingSwtpmTools();
  for (const tool of ['tpm2_readpublic']) {
    try {
      await promisify(execFile)('sh', ['-c', `command -v ${tool}`]);
    } catch {
      missing.push(tool);
    }
  }
  return missing;
}

const missing = await missingTools();
if (missing.length > 0) console.warn(`[tee-verify tests] gateway swtpm vTPM suite SKIPPED: missing ${missing.join(', ')}`);

describe.skipIf(missing.length > 0)('gateway vTPM path with the real provider against swtpm', () => {
  const image = new SimulatedVtpmProvider({ hardware: simulated });
  let tpm: Swtpm;
  let provider: Tpm2ToolsVtpmProvider;
  let h: Harness;
  let options: ClientOptions;

  beforeAll(async () => {
    tpm = await Swtpm.start();
    for (const e of [...image.bootLog.extends, ...image.imaList.extends]) await tpm.extend(e.pcr, e.digests as Record<'sha1' | 'sha256', Uint8Array>);
    const eventLogPath = await tpm.writeFile('binary_bios_measurements', image.bootLog.bytes);
    const imaPath = await tpm.writeFile('binary_runtime_measurements', image.imaList.binary);
    provider = new Tpm2ToolsVtpmProvider({ hardware: simulated, tcti: tpm.tcti, eventLogPath, imaPath });
    h = await startHarness({ provider, attestationsPerSecond: 1000 });
    options = { ...clientOptions(tdxPolicy(await mrTdOf(simulated), { vtpm: { unknownImaEntries: 'violation' } })), reference: image.referenceList() };
    writeFileSync(join(h.dir, 'reference.json'), JSON.stringify(image.referenceList()));
  }, 180_000);

  afterAll(async () => {
    await h?.close();
    await provider?.close();
    await tpm?.stop();
  });

  it('a chat verifies: swtpm quote by the provider\'s AK (bound by the hardware report), replays of the boot log and IMA list, the reference list', async () => {
    const before = h.upstream.received.length;
    const client = new AttestedClient(h.gateway.url, options);
    try {
      const res = await client.fetch('/api/chat', { method: 'POST', headers: { authorization: `Bearer ${h.token}` }, body: ollamaChat('hello swtpm') });
      expect(await res.text()).toContain('"done":true');
      expect(h.upstream.received.length).toBe(before + 1);
      const v = client.last!.vtpm!;
      expect(v.akSha256).toBe(akPublicSha256(await provider.attestationKeyPublic()).toString('hex'));
      expect(v.akSha256).not.toBe(akPublicSha256(image.tpm.akPublic).toString('hex'));
      expect(v).toMatchObject({ quoted: ['sha256: 24 PCRs'], eventLogEvents: image.bootLog.log.events.length, imaEntries: image.imaList.entries.length, bootAggregate: 'match' });
    } finally {
      await client.close();
    }
  }, 120_000);

  it('/aTLS with the real TPM: the raw ECDSA signature and extraData = nonce verify with our client', async () => {
    const v = await attestAtls(h.gateway.url, options);
    expect(v.certificatePem).toBe(h.gateway.certificatePem);
    expect(v.vtpm!.checks).toEqual(expect.arrayContaining(['VT07', 'VT10', 'VT15', 'VT16']));
  }, 120_000);
});
