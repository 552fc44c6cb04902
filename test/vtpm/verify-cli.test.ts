/**
 * `tee-verify verify <bundle>` and `tee-verify dev vtpm-evidence`: the
 * bundle is detected by content and verified with the same output and
 * exit-code contract as reports and quotes (docs/cli.md, docs/vtpm.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { serializeVtpmBundle, type VtpmBundle } from '../../src/vtpm/bundle.js';
import { TempDirs, VERIFY_KEYS, VectorServers, cli, cliJson } from '../cli/helpers.js';
import { Swtpm, missingSwtpmTools } from '../helpers/swtpm.js';
import { HAVE_VECTORS, VECTORS_DIR, loadManifest } from '../helpers/vectors.js';

const temps = new TempDirs();
const servers = new VectorServers();
afterAll(async () => {
  await servers.closeAll();
  temps.cleanup();
});

const read = (rel: string) => new Uint8Array(readFileSync(join(VECTORS_DIR, rel)));
const GENOA_ID = 'trustee/az_snp_vtpm_evidence_genoa';
const GENOA_NONCE = '0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f';
const GCE = 'go-tpm-tools/extracted/gce-cos-85-nonce9009';

function genoaBundleText(): string {
  const e = JSON.parse(readFileSync(join(VECTORS_DIR, 'trustee/deps/verifier/test_data/az-snp-vtpm/evidence-genoa.json'), 'utf8')) as {
    quote: { message: number[]; signature: number[]; pcrs: number[][] };
    report: number[];
    vcek: string;
  };
  const sig = Buffer.concat([Buffer.from([0x00, 0x14, 0x00, 0x0b, 0x01, 0x00]), Buffer.from(e.quote.signature)]);
  const bundle: VtpmBundle = {
    nonce: new Uint8Array(Buffer.from(GENOA_NONCE, 'hex')),
    hardware: { hclReport: new Uint8Array(e.report), certificatesPem: e.vcek },
    tpm: { quotes: [{ attest: new Uint8Array(e.quote.message), signature: new Uint8Array(sig) }], pcrs: { sha256: Object.fromEntries(e.quote.pcrs.map((v, i) => [String(i), new Uint8Array(v)])) } },
  };
  return serializeVtpmBundle(bundle);
}

function gceBundleText(mutate: (d: Record<string, unknown>) => void = () => {}): string {
  const pcrs: VtpmBundle['tpm']['pcrs'] = {};
  for (const bank of ['sha1', 'sha256', 'sha384'] as const) {
    const e = loadManifest().find((m) => m.id === `go-tpm-tools/gce-cos-85-nonce9009-quote-${bank}`)!;
    const values = e.expected.pcrs![bank]!;
    pcrs[bank] = Object.fromEntries(Object.entries(values).map(([i, h]) => [i, new Uint8Array(Buffer.from(h, 'hex'))]));
  }
  const text = serializeVtpmBundle({
    nonce: new Uint8Array([0x90, 0x09]),
    tpm: { ak: { public: read(`${GCE}/ak_pub.tpmt_public`) }, quotes: ['sha1', 'sha256', 'sha384'].map((b) => ({ attest: read(`${GCE}/quote_${b}.tpms_attest`), signature: read(`${GCE}/quote_${b}.tpmt_signature`) })), pcrs },
    eventLog: read(`${GCE}/event_log.bin`),
  });
  const doc = JSON.parse(text) as Record<string, unknown>;
  mutate(doc);
  return JSON.stringify(doc);
}

describe.skipIf(!HAVE_VECTORS)('tee-verify verify <vTPM bundle>', () => {
  const genoaArgs = async (extra: string[] = []) => {
    const server = await servers.for(GENOA_ID);
    const at = loadManifest().find((e) => e.id === GENOA_ID)!.verification_time!;
    return ['verify', temps.file('genoa-bundle.json', genoaBundleText()), '--at', at, '--kds-url', server.url, '--no-cache', '--retries', '0', ...extra];
  };

  it('exit 0: the Azure Genoa vTPM bundle, hardware through the local KDS (VCEK, chain, CRL), default SNP policy', async () => {
    const r = await cliJson(await genoaArgs(['--nonce', GENOA_NONCE]));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(Object.keys(r.json)).toEqual([...VERIFY_KEYS, 'vtpm']);
    expect(r.json).toMatchObject({ ok: true, tee: 'snp', error: null, violations: [], warnings: [expect.stringMatching(/^VT05 not checked/)] });
    expect(r.json['claims']).toMatchObject({ kind: 'snp', product: 'Genoa' });
    expect(r.json['vtpm']).toMatchObject({ platform: 'azure-snp', runtimeData: { akPub: { kid: 'HCLAkPub' } } });
    const ids = (r.json['checks'] as { id: string }[]).map((c) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['S12', 'VT02', 'VT03', 'VT04', 'VT07', 'VT10', 'VT11']));
  });

  it('the human report lists the vTPM checks and says TRUSTED', async () => {
    const r = await cli(await genoaArgs(['--nonce', GENOA_NONCE]));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/vTPM bundle: Azure SEV-SNP HCL report, 1 TPM quote \(sha256 PCRs\)/);
    expect(r.stdout).toMatch(/VT03 .*HCL runtime data/);
    expect(r.stdout).toMatch(/vTPM\s+azure-snp/);
    expect(r.stdout).toMatch(/Result: TRUSTED/);
  });

  it('exit 1: a nonce that is not the quote\'s (ERR_VTPM_NONCE, class FRESHNESS)', async () => {
    const r = await cliJson(await genoaArgs(['--nonce', '00'.repeat(48)]));
    expect(r.code).toBe(1);
    expect(r.json['error']).toMatchObject({ code: 'ERR_VTPM_NONCE', errorClass: 'FRESHNESS' });
    expect(r.json['ok']).toBe(false);
  });

  it('exit 0 with a warning when no --nonce is given (the bundle nonce is used)', async () => {
    const r = await cliJson(await genoaArgs());
    expect(r.code).toBe(0);
    expect(r.json['warnings']).toEqual([expect.stringContaining('freshness is not established'), expect.stringMatching(/^VT05 not checked/)]);
  });

  it('exit 2: --report-data does not apply to a bundle', async () => {
    const r = await cli(await genoaArgs(['--report-data', '00'.repeat(64)]));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--report-data does not apply to a vTPM bundle/);
  });

  it('exit 0: the GCE bundle (quotes + boot event log) with the AK pinned by --ak (TPMT_PUBLIC file); tee is null', async () => {
    const bundle = temps.file('gce.json', gceBundleText());
    const ak = temps.file('ak.pub', read(`${GCE}/ak_pub.tpmt_public`));
    const r = await cliJson(['verify', bundle, '--nonce', '9009', '--ak', ak, '--at', '2021-12-22T21:31:37Z', '--offline', '--no-cache']);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, tee: null, vtpm: { platform: 'tpm', replay: { eventLog: { format: 'crypto-agile' } } } });
  });

  it('--ak-name: the Name its source states establishes VT05 (no warning); another Name is ERR_VTPM_AK; a malformed one exit 2', async () => {
    const bundle = temps.file('gce.json', gceBundleText());
    const ak = temps.file('ak.pub', read(`${GCE}/ak_pub.tpmt_public`));
    const name = (loadManifest().find((m) => m.id === 'go-tpm-tools/gce-cos-85-nonce9009-quote-sha256')!.checks['ak_public'] as { name: string }).name;
    const base = ['verify', bundle, '--nonce', '9009', '--ak', ak, '--at', '2021-12-22T21:31:37Z', '--offline', '--no-cache'];
    const without = await cliJson(base);
    expect(without.json['warnings']).toContainEqual(expect.stringMatching(/^VT05 not checked/));
    const pinned = await cliJson([...base, '--ak-name', name]);
    expect(pinned.code).toBe(0);
    expect((pinned.json['warnings'] as string[]).filter((w) => w.startsWith('VT05'))).toEqual([]);
    const other = name.slice(0, -2) + (name.endsWith('00') ? '01' : '00');
    const wrong = await cliJson([...base, '--ak-name', other]);
    expect(wrong.code).toBe(1);
    expect(wrong.json['error']).toMatchObject({ code: 'ERR_VTPM_AK', check: 'VT05' });
    expect((await cli([...base, '--ak-name', 'abcd'])).code).toBe(2);
  });

  it('exit 1: the GCE bundle without --ak (ERR_VTPM_AK)', async () => {
    const r = await cliJson(['verify', temps.file('gce.json', gceBundleText()), '--nonce', '9009', '--offline', '--no-cache']);
    expect(r.code).toBe(1);
    expect(r.json['error']).toMatchObject({ code: 'ERR_VTPM_AK' });
  });

  it('exit 1: a bundle with an unknown field (ERR_VTPM_BUNDLE, class PARSE)', async () => {
    const r = await cliJson(['verify', temps.file('bad.json', gceBundleText((d) => (d['extra'] = true))), '--offline', '--no-cache']);
    expect(r.code).toBe(1);
    expect(r.json['error']).toMatchObject({ code: 'ERR_VTPM_BUNDLE', errorClass: 'PARSE' });
  });

  it('exit 2: an --ak file that is not a key', async () => {
    const r = await cli(['verify', temps.file('gce.json', gceBundleText()), '--ak', temps.file('junk', 'junk'), '--offline', '--no-cache']);
    expect(r.code).toBe(2);
  });
});

const missing = await missingSwtpmTools();
if (missing.length > 0) console.warn(`[tee-verify tests] dev vtpm-evidence suite SKIPPED: missing ${missing.join(', ')}`);

describe.skipIf(missing.length > 0)('tee-verify dev vtpm-evidence (swtpm) then verify', () => {
  it('acquires a bundle through tpm2-tools and verifies it with the pinned AK and the nonce', async () => {
    const tpm = await Swtpm.start();
    try {
      const ak = await tpm.createAk('rsa');
      const out = join(temps.make(), 'evidence.json');
      const nonce = 'a1'.repeat(32);
      const acquired = await cli(['dev', 'vtpm-evidence', '--out', out, '--tcti', tpm.tcti, '--ak', ak.context, '--nonce', nonce, '--no-event-log', '--no-ima', '--no-hcl']);
      expect(acquired.stderr).toBe('');
      expect(acquired.code).toBe(0);
      expect(acquired.stdout).toMatch(/wrote .*evidence\.json: 1 quote, sha256 PCRs/);
      const akFile = temps.file('ak.tpmt', ak.public);
      const offline = ['--offline', '--no-cache'];
      const ok = await cliJson(['verify', out, '--ak', akFile, '--nonce', nonce, ...offline]);
      expect(ok.code).toBe(0);
      expect(ok.json['vtpm']).toMatchObject({ platform: 'tpm' });
      const wrong = await cliJson(['verify', out, '--ak', akFile, '--nonce', 'b2'.repeat(32), ...offline]);
      expect(wrong.code).toBe(1);
      expect(wrong.json['error']).toMatchObject({ code: 'ERR_VTPM_NONCE' });
    } finally {
      await tpm.stop();
    }
  }, 60_000);
});
