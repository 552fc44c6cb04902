/**
 * Review s14, vTPM finding 3: when VT09 cannot run (the AK known only as a key, without its
 * TPMT_PUBLIC: every Azure bundle, whose AK is HCLAkPub), its record said "qualifiedSigner not
 * compared" with no status, so --json and the human report showed it as passed. VT09 is defined
 * (docs/vtpm.md) against the AK's nameAlg or an expected Qualified Name: with neither it does not
 * apply. The record now says "not applicable" and why, with status 'not-checked' (JSON
 * "not-checked", SKIP in the human report); no warning, since nothing the verification relies on
 * is left unestablished (the AK is bound by VT04 and the signature). With expectedQualifiedSigner
 * VT09 runs and passes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { checkStatus } from '../../src/cli/verify-report.js';
import type { Evidence } from '../../src/evidence/types.js';
import { amdCollateralFromCertTable, verifySnpReport } from '../../src/verify/snp/index.js';
import type { HardwareVerifier } from '../../src/vtpm/azure.js';
import type { VtpmBundle } from '../../src/vtpm/bundle.js';
import { parseTpmQuote } from '../../src/vtpm/parse.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';
import { splitPemCertificates } from '../../src/x509/index.js';
import { HAVE_VECTORS, VECTORS_DIR } from '../helpers/vectors.js';

const readText = (rel: string) => readFileSync(join(VECTORS_DIR, rel), 'utf8');
const NONCE = '0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f';
const AT = new Date('2025-02-23T02:21:48Z');

function sig(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(6 + raw.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0x0014);
  v.setUint16(2, 0x000b);
  v.setUint16(4, raw.length);
  out.set(raw, 6);
  return out;
}

function genoa(): VtpmBundle {
  const e = JSON.parse(readText('trustee/deps/verifier/test_data/az-snp-vtpm/evidence-genoa.json')) as { quote: { message: number[]; signature: number[]; pcrs: number[][] }; report: number[]; vcek: string };
  const chain = splitPemCertificates(readText('trustee/deps/verifier/src/snp/genoa_ask_ark_asvk.pem'));
  return {
    nonce: new Uint8Array(Buffer.from(NONCE, 'hex')),
    hardware: { hclReport: new Uint8Array(e.report), certificates: [...splitPemCertificates(e.vcek), ...chain] },
    tpm: {
      quotes: [{ attest: new Uint8Array(e.quote.message), signature: sig(new Uint8Array(e.quote.signature)) }],
      pcrs: { sha256: Object.fromEntries(e.quote.pcrs.map((v, i) => [String(i), new Uint8Array(v)])) },
    },
  };
}

const crl = () => new Uint8Array(Buffer.from(readText('openpcc/extracted/test_amd_genoa_crl.pem').replace(/-----(BEGIN|END) [A-Z509 ]+-----/g, '').replace(/\s+/g, ''), 'base64'));
const hw: HardwareVerifier = async (evidence: Evidence, table) => {
  if (evidence.kind !== 'snp') throw new Error('snp');
  return verifySnpReport(evidence, amdCollateralFromCertTable(table, 'vcek', crl()), { at: AT });
};

describe.skipIf(!HAVE_VECTORS)('review s14 vTPM #3: VT09 without a TPMT_PUBLIC is recorded as not applicable (real Azure Genoa bundle)', () => {
  it('HCLAkPub, no expectedQualifiedSigner: VT09 "not applicable", status not-checked, no VT09 warning; the bundle still verifies', async () => {
    const r = await verifyVtpmEvidence(genoa(), { at: AT, nonce: new Uint8Array(Buffer.from(NONCE, 'hex')), verifyHardware: hw });
    expect(r.ok).toBe(true);
    const vt09 = r.checks.filter((c) => c.id === 'VT09');
    expect(vt09).toHaveLength(1);
    expect(vt09[0]!.status).toBe('not-checked');
    expect(checkStatus(vt09[0]!)).toBe('not-checked'); // what --json shows (SKIP in the human report)
    expect(vt09[0]!.description).toMatch(/^quote 0: not applicable: qualifiedSigner not compared: the HCLAkPub attestation key comes without its TPMT_PUBLIC/);
    // Only VT05's warning, as before (review s6-6).
    expect(r.warnings).toEqual([expect.stringMatching(/^VT05 not checked/)]);
  });

  it('with expectedQualifiedSigner VT09 runs: passed, no status', async () => {
    const b = genoa();
    const expectedQualifiedSigner = new Uint8Array(parseTpmQuote(b.tpm.quotes[0]!.attest).qualifiedSigner);
    const r = await verifyVtpmEvidence(b, { at: AT, nonce: new Uint8Array(Buffer.from(NONCE, 'hex')), verifyHardware: hw, expectedQualifiedSigner });
    const vt09 = r.checks.find((c) => c.id === 'VT09')!;
    expect(vt09.status).toBeUndefined();
    expect(vt09.description).toBe('quote 0: qualifiedSigner equals the expected Qualified Name of the attestation key');
  });
});
