/**
 * Review s13 CR intel, finding 1: the exported vTPM verifiers (`tee-verify/vtpm`)
 * ignored option keys their type does not name. A misspelt `trustedAk` dropped
 * the caller's AK pin (VT04) and a genuine bundle from another CVM verified; a
 * misspelt `at` verified at the wall clock. verifyVtpmEvidence (options,
 * relaxations, eventLog), verifyTpmQuotes and verifyAzureHardware now refuse
 * such keys with ERR_INVALID_ARGUMENT naming them (details.option), as
 * verifyEvidence / verifyIntelQuote / verifySnpReport do (src/option-keys.ts).
 */
import type { KeyObject } from 'node:crypto';
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

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

function expectRefused(err: unknown, option: string): void {
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', details: { option } });
}

describe('verifyVtpmEvidence: options are a closed set (synthetic AK-pinned bundle)', () => {
  const q = () => quotedBundle({ 0: new Uint8Array(32), 7: new Uint8Array(32).fill(7) });
  const known = (b: ReturnType<typeof q>): VtpmVerifyOptions => ({ at: new Date('2025-06-01T00:00:00Z'), nonce: b.nonce, trustedAk: b.trustedAk });

  it('control: the known keys verify', async () => {
    const b = q();
    const r = await verifyVtpmEvidence(b.bundle, { ...known(b), requiredBank: 'sha256', relaxations: { skipCrl: false }, eventLog: { exclude: [10] } });
    expect(r.ok).toBe(true);
    expect(r.at).toBe('2025-06-01T00:00:00.000Z');
  });

  for (const [key, value] of [
    ['trustedAK', 'pin'],
    ['time', new Date('2025-06-01T00:00:00Z')],
    ['expectedQualifiedSigners', new Uint8Array(34)],
    ['userdata', new Uint8Array(32)],
    ['allowUnboundAK', true],
  ] as const) {
    it(`a misspelt option ${key} is ERR_INVALID_ARGUMENT naming it, before any check`, async () => {
      const b = q();
      expectRefused(await rejection(verifyVtpmEvidence(b.bundle, { ...known(b), [key]: value } as unknown as VtpmVerifyOptions)), key);
    });
  }

  it('a misspelt relaxation (skipCRL) is refused', async () => {
    const b = q();
    expectRefused(await rejection(verifyVtpmEvidence(b.bundle, { ...known(b), relaxations: { skipCRL: true } } as unknown as VtpmVerifyOptions)), 'skipCRL');
  });

  it('a misspelt eventLog option (onlytouched) is refused', async () => {
    const b = q();
    expectRefused(await rejection(verifyVtpmEvidence(b.bundle, { ...known(b), eventLog: { onlytouched: true } } as unknown as VtpmVerifyOptions)), 'onlytouched');
  });

  it('a non-enumerable unknown key is refused too', async () => {
    const b = q();
    const options = known(b);
    Object.defineProperty(options, 'trustedAK', { value: b.trustedAk, enumerable: false });
    expectRefused(await rejection(verifyVtpmEvidence(b.bundle, options)), 'trustedAK');
  });

  it('options that are not an object are refused', async () => {
    const b = q();
    const err = await rejection(verifyVtpmEvidence(b.bundle, 'at' as unknown as VtpmVerifyOptions));
    expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('verifyTpmQuotes: options are a closed set', () => {
  function parts() {
    const b = quotedBundle({ 0: new Uint8Array(32) });
    const quotes = b.bundle.tpm.quotes.map((x) => ({ quote: parseTpmQuote(x.attest), signature: parseTpmSignature(x.signature) }));
    const ak = keyFromTpmPublic(parseTpmPublic(b.akPublic));
    return { b, quotes, ak, pcrs: pcrBanksFrom(b.bundle.tpm.pcrs) };
  }

  it('control: the known keys verify', () => {
    const { b, quotes, ak, pcrs } = parts();
    expect(verifyTpmQuotes(quotes, ak, pcrs, { nonce: b.nonce, requiredBank: 'sha256' }).quotes).toHaveLength(1);
  });

  it('a misspelt trustedAKName is ERR_INVALID_ARGUMENT naming it', () => {
    const { b, quotes, ak, pcrs } = parts();
    let err: unknown;
    try {
      verifyTpmQuotes(quotes, ak, pcrs, { nonce: b.nonce, trustedAKName: new Uint8Array(34) } as unknown as QuoteVerifyOptions);
    } catch (e) {
      err = e;
    }
    expectRefused(err, 'trustedAKName');
  });

  it('no options at all is ERR_INVALID_ARGUMENT (the nonce is required), not a TypeError', () => {
    const { quotes, ak, pcrs } = parts();
    expect(() => verifyTpmQuotes(quotes, ak, pcrs, undefined as unknown as QuoteVerifyOptions)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('verifyAzureHardware: its input is a closed set', () => {
  it('a misspelt snpproduct is refused before the hardware verifier runs', async () => {
    let called = false;
    const verify: HardwareVerifier = async () => {
      called = true;
      throw new Error('not reached');
    };
    const err = await rejection(verifyAzureHardware({ hcl: {} as HclReport, snpproduct: 'Milan' } as unknown as Parameters<typeof verifyAzureHardware>[0], verify));
    expectRefused(err, 'snpproduct');
    expect(called).toBe(false);
  });
});

/** The reviewer's reproduction: a genuine Azure Genoa bundle whose HCLAkPub is not the key the caller meant to pin. */
describe.skipIf(!HAVE_VECTORS)('verifyVtpmEvidence with real Azure Genoa evidence: a misspelt pin is not dropped', () => {
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

  it('control: trustedAk (another key) is ERR_VTPM_AK at VT04', async () => {
    await expect(verifyVtpmEvidence(genoaBundle(), { at: at(), nonce: GENOA_NONCE, verifyHardware: verifier(at()), trustedAk: otherAk() })).rejects.toMatchObject({ code: 'ERR_VTPM_AK', check: 'VT04' });
  });

  it('trustedAK (misspelt) is ERR_INVALID_ARGUMENT, never ok with the pin dropped', async () => {
    const err = await rejection(verifyVtpmEvidence(genoaBundle(), { at: at(), nonce: GENOA_NONCE, verifyHardware: verifier(at()), trustedAK: otherAk() } as unknown as VtpmVerifyOptions));
    expectRefused(err, 'trustedAK');
  });

  it('time (misspelt at) is ERR_INVALID_ARGUMENT, never a verification at the wall clock', async () => {
    const err = await rejection(verifyVtpmEvidence(genoaBundle(), { time: at(), nonce: GENOA_NONCE, verifyHardware: verifier(at()) } as unknown as VtpmVerifyOptions));
    expectRefused(err, 'time');
  });
});
