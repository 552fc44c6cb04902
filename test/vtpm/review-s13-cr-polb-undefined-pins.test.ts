/**
 * Review s13 CR polb, finding 1: the closed-set fix of the vTPM verifiers (617992c) refused a
 * misspelt key, but a correctly spelt pin whose value is undefined still dropped the check it
 * drives without a word. `verifyVtpmEvidence(bundle, { trustedAk: pins.get(vm) })` after a missed
 * lookup verified a genuine Azure bundle from another CVM, ok: true (the review s10 V1 outcome);
 * `nonce: undefined` fell back to the bundle's own nonce, `at: undefined` to the wall clock.
 * verifyTpmQuotes(…, {}) / { nonce: undefined } was a raw TypeError. Now an own pin or binding
 * whose value is undefined (or not of its kind) is ERR_INVALID_ARGUMENT naming it
 * (details.option), as evaluatePolicy's reportData and verifyEarJwt's nonce are.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../src/errors.js';
import type { Evidence } from '../../src/evidence/types.js';
import { amdCollateralFromCertTable, verifySnpReport } from '../../src/verify/snp/index.js';
import {
  parseTpmPublic,
  parseTpmQuote,
  parseTpmSignature,
  pcrBanksFrom,
  verifyAzureHardware,
  verifyTpmQuotes,
  verifyVtpmEvidence,
  type HclReport,
  type QuoteVerifyOptions,
  type VtpmBundle,
  type VtpmVerifyOptions,
} from '../../src/vtpm/index.js';
import type { HardwareVerifier } from '../../src/vtpm/azure.js';
import { keyFromTpmPublic } from '../../src/vtpm/tpm-key.js';
import { splitPemCertificates } from '../../src/x509/index.js';
import { HAVE_VECTORS, VECTORS_DIR, loadManifest } from '../helpers/vectors.js';
import { quotedBundle } from './review-s6-bundle.js';

function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => v,
    (e: unknown) => e,
  );
}

function expectRefused(err: unknown, option: string): void {
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', details: { option } });
}

describe('verifyVtpmEvidence: a pin given as an own undefined is refused (synthetic AK-pinned bundle)', () => {
  const q = () => quotedBundle({ 0: new Uint8Array(32) });
  const known = (b: ReturnType<typeof q>): VtpmVerifyOptions => ({ at: new Date('2025-06-01T00:00:00Z'), nonce: b.nonce, trustedAk: b.trustedAk });

  it('control: the pins given verify; undefined non-pins (relaxations, eventLog, collateral, allowSha1) are their defaults', async () => {
    const b = q();
    const r = await verifyVtpmEvidence(b.bundle, { ...known(b), relaxations: undefined, eventLog: undefined, collateral: undefined, allowSha1: undefined, allowUnboundAk: undefined, snpReportVersions: undefined, verifyHardware: undefined });
    expect(r.ok).toBe(true);
  });

  for (const option of ['at', 'nonce', 'trustedAkName', 'expectedQualifiedSigner', 'userData', 'requiredBank', 'snpProduct', 'trustRoots'] as const) {
    it(`${option}: undefined is ERR_INVALID_ARGUMENT naming it (was: the check silently not run)`, async () => {
      const b = q();
      expectRefused(await rejection(verifyVtpmEvidence(b.bundle, { ...known(b), [option]: undefined })), option);
    });
  }

  it('trustedAk: undefined next to allowUnboundAk is refused, not an unbound AK with a warning', async () => {
    const b = q();
    expectRefused(await rejection(verifyVtpmEvidence(b.bundle, { at: new Date('2025-06-01T00:00:00Z'), nonce: b.nonce, trustedAk: undefined, allowUnboundAk: true })), 'trustedAk');
  });

  for (const [option, value] of [
    ['trustedAk', null],
    ['nonce', ''],
    ['userData', null],
    ['trustedAkName', 0],
  ] as const) {
    it(`${option}: ${JSON.stringify(value)} (not of its kind) is refused, not read as "no pin"`, async () => {
      const b = q();
      expectRefused(await rejection(verifyVtpmEvidence(b.bundle, { ...known(b), [option]: value } as unknown as VtpmVerifyOptions)), option);
    });
  }

  it('trustedAk: a private KeyObject is refused (a pin is a public key)', async () => {
    const b = q();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expectRefused(await rejection(verifyVtpmEvidence(b.bundle, { ...known(b), trustedAk: privateKey })), 'trustedAk');
  });
});

describe('verifyTpmQuotes: the nonce is required, typed', () => {
  function parts() {
    const b = quotedBundle({ 0: new Uint8Array(32) });
    const quotes = b.bundle.tpm.quotes.map((x) => ({ quote: parseTpmQuote(x.attest), signature: parseTpmSignature(x.signature) }));
    const ak = keyFromTpmPublic(parseTpmPublic(b.akPublic));
    return { b, quotes, ak, pcrs: pcrBanksFrom(b.bundle.tpm.pcrs) };
  }

  it('control: { nonce } verifies', () => {
    const { b, quotes, ak, pcrs } = parts();
    expect(verifyTpmQuotes(quotes, ak, pcrs, { nonce: b.nonce }).quotes).toHaveLength(1);
  });

  for (const [name, options] of [
    ['{}', {}],
    ['{ nonce: undefined }', { nonce: undefined }],
    ['{ nonce: "hex text" }', { nonce: '00'.repeat(32) }],
  ] as const) {
    it(`${name} is ERR_INVALID_ARGUMENT naming nonce, not a raw TypeError`, () => {
      const { quotes, ak, pcrs } = parts();
      expectRefused(
        caught(() => verifyTpmQuotes(quotes, ak, pcrs, options as unknown as QuoteVerifyOptions)),
        'nonce',
      );
    });
  }

  for (const option of ['trustedAkName', 'expectedQualifiedSigner', 'requiredBank'] as const) {
    it(`${option}: undefined is refused`, () => {
      const { b, quotes, ak, pcrs } = parts();
      expectRefused(
        caught(() => verifyTpmQuotes(quotes, ak, pcrs, { nonce: b.nonce, [option]: undefined })),
        option,
      );
    });
  }
});

describe('verifyAzureHardware: snpProduct: undefined and a missing hcl are refused before the hardware verifier runs', () => {
  for (const [name, input, option] of [
    ['snpProduct: undefined', { hcl: { reportType: 'snp' } as HclReport, snpProduct: undefined }, 'snpProduct'],
    ['no hcl', {}, 'hcl'],
  ] as const) {
    it(name, async () => {
      let called = false;
      const verify: HardwareVerifier = async () => {
        called = true;
        throw new Error('not reached');
      };
      expectRefused(await rejection(verifyAzureHardware(input as unknown as Parameters<typeof verifyAzureHardware>[0], verify)), option);
      expect(called).toBe(false);
    });
  }
});

/** The reviewer's reproduction: a genuine Azure Genoa bundle, and a pin lookup that missed. */
describe.skipIf(!HAVE_VECTORS)('verifyVtpmEvidence with real Azure Genoa evidence: trustedAk: undefined is not a dropped pin', () => {
  const read = (rel: string) => new Uint8Array(readFileSync(join(VECTORS_DIR, rel)));
  const readText = (rel: string) => readFileSync(join(VECTORS_DIR, rel), 'utf8');
  const GENOA_NONCE = new Uint8Array(Buffer.from('0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f', 'hex'));
  function genoaBundle(): VtpmBundle {
    const e = JSON.parse(readText('trustee/deps/verifier/test_data/az-snp-vtpm/evidence-genoa.json')) as { quote: { message: number[]; signature: number[]; pcrs: number[][] }; report: number[]; vcek: string };
    const signature = new Uint8Array(Buffer.concat([Buffer.from([0x00, 0x14, 0x00, 0x0b, (e.quote.signature.length >> 8) & 0xff, e.quote.signature.length & 0xff]), Buffer.from(e.quote.signature)]));
    const chain = splitPemCertificates(readText('trustee/deps/verifier/src/snp/genoa_ask_ark_asvk.pem'));
    return {
      nonce: GENOA_NONCE,
      hardware: { hclReport: new Uint8Array(e.report), certificates: [...splitPemCertificates(e.vcek), ...chain] },
      tpm: { quotes: [{ attest: new Uint8Array(e.quote.message), signature }], pcrs: { sha256: Object.fromEntries(e.quote.pcrs.map((v, i) => [String(i), new Uint8Array(v)])) } },
    };
  }
  const at = () => new Date(loadManifest().find((e) => e.id === 'trustee/az_snp_vtpm_evidence_genoa')!.verification_time!);
  const crl = () => new Uint8Array(Buffer.from(readText('openpcc/extracted/test_amd_genoa_crl.pem').replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
  const verifier = (when: Date): HardwareVerifier => async (evidence: Evidence, table) => {
    if (evidence.kind !== 'snp') throw new Error('expected SNP');
    return verifySnpReport(evidence, amdCollateralFromCertTable(table, 'vcek', crl()), { at: when });
  };
  const otherAk = (): KeyObject => keyFromTpmPublic(parseTpmPublic(read('go-tpm-tools/extracted/gce-cos-85-nonce9009/ak_pub.tpmt_public'))).key;

  it('control: without the key the bundle verifies (hardware-bound AK); trustedAk (another key) is ERR_VTPM_AK', async () => {
    expect((await verifyVtpmEvidence(genoaBundle(), { at: at(), nonce: GENOA_NONCE, verifyHardware: verifier(at()) })).ok).toBe(true);
    await expect(verifyVtpmEvidence(genoaBundle(), { at: at(), nonce: GENOA_NONCE, verifyHardware: verifier(at()), trustedAk: otherAk() })).rejects.toMatchObject({ code: 'ERR_VTPM_AK', check: 'VT04' });
  });

  it('trustedAk: pins.get(unknown vm) is ERR_INVALID_ARGUMENT, never ok with the pin dropped', async () => {
    const pins = new Map<string, KeyObject>([['vm-1', otherAk()]]);
    expectRefused(await rejection(verifyVtpmEvidence(genoaBundle(), { at: at(), nonce: GENOA_NONCE, verifyHardware: verifier(at()), trustedAk: pins.get('vm-2') })), 'trustedAk');
  });
});
