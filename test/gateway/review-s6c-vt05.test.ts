/**
 * Review session 6c, finding 2: every gateway vTPM attestation recorded VT05 (the AK is a restricted
 * signing key) as "not checked", with a warning. The hardware report binds SHA-256 of the AK's
 * TPMT_PUBLIC exactly as the bundle carries it (docs/gateway.md, binding table), and those bytes
 * parse only as one whole TPMT_PUBLIC, so the AK's Name (for nameAlg SHA-256: 0x000b ‖ akSha256) is
 * bound as well: the client pins it and VT05 passes on the bound attributes. Real TLS on 127.0.0.1,
 * the simulated TDX TEE with the simulated vTPM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestedClient, akPublicSha256 } from '../../src/gateway/index.js';
import { SimulatedVtpmProvider } from '../../src/tee/index.js';
import { clientOptions, mrTdOf, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';

const vtpm = new SimulatedVtpmProvider({ hardware: simulated });
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ provider: vtpm, requireApiKey: false, attestationsPerSecond: 1000 });
});
afterAll(async () => h?.close());

describe('VT05 on the gateway vTPM path', () => {
  it('passes on the hardware-bound AK Name: listed as a check, no VT05 warning, akName = 0x000b ‖ akSha256', async () => {
    const policy = tdxPolicy(await mrTdOf(simulated), { vtpm: { unknownImaEntries: 'violation' } });
    const client = new AttestedClient(h.gateway.url, { ...clientOptions(policy), reference: vtpm.referenceList() });
    try {
      const v = await client.attest();
      const akSha256 = akPublicSha256(vtpm.tpm.akPublic).toString('hex');
      expect(v.vtpm?.akSha256).toBe(akSha256);
      expect(v.vtpm?.akName).toBe(`000b${akSha256}`);
      expect(v.vtpm?.checks).toContain('VT05');
      expect(v.warnings.filter((w) => w.includes('VT05'))).toEqual([]);
    } finally {
      await client.close();
    }
  });
});
