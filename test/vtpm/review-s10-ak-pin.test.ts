/**
 * Review s10, V1: a pinned attestation key (`trustedAk`, CLI `--ak`) is not
 * dropped when the bundle has hardware evidence. HCLAkPub is hardware-bound
 * on every genuine Azure CVM, so a bundle from another CVM that quotes the
 * caller's nonce would otherwise verify against a pin it does not satisfy.
 * Real vectors: trustee's Azure Genoa evidence, and the GCE AK as "another key".
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import type { Evidence } from '../../src/evidence/types.js';
import { amdCollateralFromCertTable, verifySnpReport } from '../../src/verify/snp/index.js';
import { parseRuntimeData, type HardwareVerifier } from '../../src/vtpm/azure.js';
import { serializeVtpmBundle, type VtpmBundle } from '../../src/vtpm/bundle.js';
import { parseHclReport, parseTpmPublic } from '../../src/vtpm/parse.js';
import { keyFromTpmPublic } from '../../src/vtpm/tpm-key.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';
import { splitPemCertificates } from '../../src/x509/index.js';
import { TempDirs, VectorServers, cliJson } from '../cli/helpers.js';
import { HAVE_VECTORS, VECTORS_DIR, loadManifest } from '../helpers/vectors.js';

const temps = new TempDirs();
const servers = new VectorServers();
afterAll(async () => {
  await servers.closeAll();
  temps.cleanup();
});

const read = (rel: string) => new Uint8Array(readFileSync(join(VECTORS_DIR, rel)));
const readText = (rel: string) => readFileSync(join(VECTORS_DIR, rel), 'utf8');
const GENOA_ID = 'trustee/az_snp_vtpm_evidence_genoa';
const GENOA_NONCE = new Uint8Array(Buffer.from('0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f', 'hex'));

/** trustee's Genoa evidence as a bundle; its raw RSASSA-SHA256 signature wrapped as a TPMT_SIGNATURE. */
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

const at = () => new Date(loadManifest().find((e) => e.id === GENOA_ID)!.verification_time!);
const crl = () => new Uint8Array(Buffer.from(readText('openpcc/extracted/test_amd_genoa_crl.pem').replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
const verifier = (when: Date): HardwareVerifier => async (evidence: Evidence, table) => {
  if (evidence.kind !== 'snp') throw new Error('expected SNP');
  return verifySnpReport(evidence, amdCollateralFromCertTable(table, 'vcek', crl()), { at: when });
};

/** HCLAkPub of the Genoa HCL report: the key the hardware binds. */
const hclAkPub = (): KeyObject => parseRuntimeData(parseHclReport(genoaBundle().hardware!.hclReport)).ak.key;
/** Another genuine RSA-2048 AK: go-tpm-tools' GCE AK. */
const otherAk = (): KeyObject => keyFromTpmPublic(parseTpmPublic(read('go-tpm-tools/extracted/gce-cos-85-nonce9009/ak_pub.tpmt_public'))).key;
const pem = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }) as string;

describe.skipIf(!HAVE_VECTORS)('review s10 V1: a pinned AK is compared with HCLAkPub', () => {
  it('the Genoa bundle with another pinned key: ERR_VTPM_AK, check VT04', async () => {
    await expect(verifyVtpmEvidence(genoaBundle(), { at: at(), nonce: GENOA_NONCE, verifyHardware: verifier(at()), trustedAk: otherAk() })).rejects.toMatchObject({
      code: 'ERR_VTPM_AK',
      check: 'VT04',
      message: expect.stringMatching(/HCLAkPub.*not the trusted key the caller pinned/),
    });
  });

  it('the Genoa bundle pinned to its own HCLAkPub: verifies, and VT04 says the pin was compared', async () => {
    const r = await verifyVtpmEvidence(genoaBundle(), { at: at(), nonce: GENOA_NONCE, verifyHardware: verifier(at()), trustedAk: hclAkPub() });
    expect(r.platform).toBe('azure-snp');
    expect(r.checks.find((c) => c.id === 'VT04')!.description).toBe('the attestation key is HCLAkPub from the hardware-bound runtime data (equal to the key the caller pinned)');
  });

  it('without a pin VT04 names HCLAkPub alone', async () => {
    const r = await verifyVtpmEvidence(genoaBundle(), { at: at(), nonce: GENOA_NONCE, verifyHardware: verifier(at()) });
    expect(r.checks.find((c) => c.id === 'VT04')!.description).toBe('the attestation key is HCLAkPub from the hardware-bound runtime data');
  });

  describe('CLI', () => {
    const args = async (ak: KeyObject, name: string) => {
      const server = await servers.for(GENOA_ID);
      const bundle = temps.file('genoa-bundle.json', serializeVtpmBundle(genoaBundle()));
      const akFile = temps.file(name, pem(ak));
      return ['verify', bundle, '--nonce', Buffer.from(GENOA_NONCE).toString('hex'), '--ak', akFile, '--at', at().toISOString(), '--kds-url', server.url, '--no-cache', '--retries', '0'];
    };

    it('verify <Azure bundle> --ak other.pem: exit 1, ERR_VTPM_AK (VT04)', async () => {
      const r = await cliJson(await args(otherAk(), 'other.pem'));
      expect(r.code).toBe(1);
      expect(r.json['ok']).toBe(false);
      expect(r.json['error']).toMatchObject({ code: 'ERR_VTPM_AK', errorClass: 'BINDING', check: 'VT04' });
    });

    it('verify <Azure bundle> --ak hclakpub.pem: exit 0', async () => {
      const r = await cliJson(await args(hclAkPub(), 'hclakpub.pem'));
      expect(r.code).toBe(0);
      expect(r.json['ok']).toBe(true);
    });
  });
});
