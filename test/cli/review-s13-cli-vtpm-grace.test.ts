/**
 * Review s13 CLI, finding 1: `verify <vTPM bundle>` applies the policy's collateral.expiryGraceSeconds
 * to the hardware report inside the bundle exactly as `verify <report>` does (clarifications,
 * "Expired collateral": an explicit grace, each use a warning). Before the fix the bundle path
 * dropped it: the same Genoa report and policy at the same instant passed as a report (exit 0, grace
 * warnings) and were rejected inside a bundle (exit 1, ERR_EXPIRED S09).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { defaultPolicy } from '../../src/index.js';
import { serializeVtpmBundle, type VtpmBundle } from '../../src/vtpm/bundle.js';
import { HAVE_VECTORS, VECTORS_DIR, vectorPath } from '../helpers/vectors.js';
import { TempDirs, VectorServers, cliJson, entryOf } from './helpers.js';

const temps = new TempDirs();
const servers = new VectorServers();
afterAll(async () => {
  await servers.closeAll();
  temps.cleanup();
});

const GENOA_ID = 'trustee/az_snp_vtpm_evidence_genoa';
const GENOA_NONCE = '0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f';
// The recorded AMD Genoa CRL's nextUpdate is 2025-11-03T01:00:00Z: one hour later, inside a day's grace.
const AT = '2025-11-03T02:00:00Z';

function genoaBundleText(): string {
  const e = JSON.parse(readFileSync(join(VECTORS_DIR, 'trustee/deps/verifier/test_data/az-snp-vtpm/evidence-genoa.json'), 'utf8')) as {
    quote: { message: number[]; signature: number[]; pcrs: number[][] };
    report: number[];
    vcek: string;
  };
  // TPMT_SIGNATURE: RSASSA (0x0014), SHA-256 (0x000b), 256-byte signature.
  const sig = Buffer.concat([Buffer.from([0x00, 0x14, 0x00, 0x0b, 0x01, 0x00]), Buffer.from(e.quote.signature)]);
  const bundle: VtpmBundle = {
    nonce: new Uint8Array(Buffer.from(GENOA_NONCE, 'hex')),
    hardware: { hclReport: new Uint8Array(e.report), certificatesPem: e.vcek },
    tpm: {
      quotes: [{ attest: new Uint8Array(e.quote.message), signature: new Uint8Array(sig) }],
      pcrs: { sha256: Object.fromEntries(e.quote.pcrs.map((v, i) => [String(i), new Uint8Array(v)])) },
    },
  };
  return serializeVtpmBundle(bundle);
}

function policyFile(graceSeconds: number | undefined): string {
  const policy = { ...(defaultPolicy('snp') as unknown as Record<string, unknown>), ...(graceSeconds === undefined ? {} : { collateral: { expiryGraceSeconds: graceSeconds } }) };
  return temps.file('policy.json', JSON.stringify(policy));
}

describe.skipIf(!HAVE_VECTORS)('verify: the policy collateral grace for the hardware report of a vTPM bundle', () => {
  const common = async (policy: string): Promise<string[]> => ['--at', AT, '--kds-url', (await servers.for(GENOA_ID)).url, '--no-cache', '--retries', '0', '--policy', policy];

  it('the same report passes with grace warnings, bare and inside a bundle', async () => {
    const args = await common(policyFile(86_400));
    const report = await cliJson(['verify', vectorPath(entryOf(GENOA_ID).file), ...args]);
    expect(report.code).toBe(0);
    const reportGrace = (report.json['warnings'] as string[]).filter((w) => w.startsWith('grace period used'));
    expect(reportGrace.length).toBeGreaterThan(0);

    const bundle = await cliJson(['verify', temps.file('genoa.json', genoaBundleText()), '--nonce', GENOA_NONCE, ...args]);
    expect(bundle.json['error']).toBeNull();
    expect(bundle.code).toBe(0);
    expect(bundle.json['ok']).toBe(true);
    const bundleGrace = (bundle.json['warnings'] as string[]).filter((w) => w.startsWith('grace period used'));
    expect(bundleGrace).toEqual(reportGrace);
  });

  it('control: without a grace in the policy the bundle is rejected as the report is (expired collateral, exit 1)', async () => {
    const args = await common(policyFile(undefined));
    const report = await cliJson(['verify', vectorPath(entryOf(GENOA_ID).file), ...args]);
    const bundle = await cliJson(['verify', temps.file('genoa.json', genoaBundleText()), '--nonce', GENOA_NONCE, ...args]);
    for (const r of [report, bundle]) {
      expect(r.code).toBe(1);
      expect(r.json['error']).toMatchObject({ errorClass: 'EXPIRED' });
    }
    expect(bundle.json['error']).toEqual(report.json['error']);
  });
});
