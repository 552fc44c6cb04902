/**
 * SEV-SNP through the CLI with certificates given on the command line
 * (--certs, as an extended-report certificate table would carry them):
 * report v2 with --product, and a VLEK-signed report whose ASVK travels
 * under the ASK slot.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { HAVE_VECTORS, vectorPath } from '../helpers/vectors.js';
import { TempDirs, cli, cliJson, entryOf } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

/** PEM text of a certificate file that may be DER. */
function pemOf(rel: string): string {
  const raw = readFileSync(vectorPath(rel));
  if (raw.subarray(0, 10).toString('latin1').startsWith('-----')) return raw.toString('latin1');
  return `-----BEGIN CERTIFICATE-----\n${raw.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
}

function airGapped(id: string, roles: string[], extra: string[] = []): string[] {
  const e = entryOf(id);
  const certs = temps.file('certs.pem', roles.map((r) => pemOf(e.collateral[r]!)).join('\n'));
  return ['verify', vectorPath(e.file), '--at', e.verification_time!, '--offline', '--no-cache', '--certs', certs, '--skip-crl', ...extra];
}

describe.skipIf(!HAVE_VECTORS)('tee-verify verify: SEV-SNP with --certs', () => {
  const V2 = 'trustee/snp_test_report_vcek';

  it('a v2 report is refused without --product, and verifies with it (versions 2-5 allowed, warned)', async () => {
    const without = await cliJson(airGapped(V2, ['vcek', 'ask_ark_asvk_chain']));
    expect(without.code).toBe(1);
    expect(without.json['tee']).toBe('snp');
    const r = await cliJson(airGapped(V2, ['vcek', 'ask_ark_asvk_chain'], ['--product', 'Milan']));
    expect(r.json['error']).toBeNull();
    expect(r.json).toMatchObject({ tee: 'snp', claims: { reportVersion: 2, product: 'Milan', productSource: 'caller' } });
    expect((r.json['warnings'] as string[]).some((w) => w.startsWith('--product Milan'))).toBe(true);
    // Verified; the real report runs provisional firmware, which the default policy refuses (S15).
    expect((r.json['violations'] as { path: string; check: string }[]).map((v) => [v.path, v.check])).toEqual([['/allowProvisionalFirmware', 'S15']]);
    expect(r.code).toBe(1);
  });

  it('--product contradicting the signed CPUID of a v3 report is a rejection (1), a bad name is usage (2)', async () => {
    const id = 'ms-tee-attestation-verification/genoa';
    const r = await cliJson(airGapped(id, ['vcek', 'ask', 'ark'], ['--product', 'Milan']));
    expect(r.code).toBe(1);
    expect(r.json['error']).toMatchObject({ errorClass: 'PRODUCT' });
    expect((await cli(airGapped(id, ['vcek'], ['--product', 'Rome']))).code).toBe(2);
  });

  it('a VLEK report verifies with the ASVK from --certs; the default policy (VCEK only, no provisional firmware) rejects it', async () => {
    const id = 'trustee/snp_test_vlek_report';
    const r = await cliJson(airGapped(id, ['vlek', 'ask_ark_asvk_chain']));
    expect(r.json['error']).toBeNull();
    expect(r.json['claims']).toMatchObject({ signingKey: 'vlek' });
    expect(r.code).toBe(1);
    const violations = r.json['violations'] as { path: string; actual: unknown }[];
    expect(violations.some((v) => v.path === '/signingKeys' && v.actual === 'vlek')).toBe(true);
    const policy = JSON.parse((await cli(['policy', 'default', 'snp'])).stdout) as Record<string, unknown>;
    expect(violations.some((v) => v.path === '/vmpl' && v.actual === 1)).toBe(true); // requested at VMPL 1
    const file = temps.file('vlek.json', JSON.stringify({ ...policy, signingKeys: ['vcek', 'vlek'], allowProvisionalFirmware: true, vmpl: [1] }));
    const allowed = await cliJson(airGapped(id, ['vlek', 'ask_ark_asvk_chain'], ['--policy', file]));
    expect(allowed.json['violations']).toEqual([]);
    expect(allowed.code).toBe(0);
  });

  it('exit 1: a VLEK report without its certificate is the S05 verdict, not "retry" (KDS serves no VLEK; review s13 SNP #2)', async () => {
    const id = 'trustee/snp_test_vlek_report';
    const r = await cliJson(airGapped(id, ['ask_ark_asvk_chain']));
    expect(r.code).toBe(1);
    expect(r.json['error']).toMatchObject({ code: 'ERR_SNP_SIGNER', errorClass: 'SNP_SIGNER', check: 'S05' });
  });
});
