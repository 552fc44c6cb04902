/**
 * S35: a VCEK is known by (product, hwID, full TCB incl. FMC), never by its
 * serial (KDS issues every VCEK with serial 0). Two VCEKs of one chip at two
 * TCBs share the serial; a cache keyed by it would hand the first to a report
 * of the second TCB, which the verifier then refuses at S13.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AmdKdsClient, CollateralCache, CollateralService, HttpClient, artifactKey } from '../../src/collateral/index.js';
import { verifySnpReport } from '../../src/verify/snp/index.js';
import { expectError } from '../helpers/expect-error.js';
import { CollateralServer, type Record } from '../helpers/collateral-server.js';
import { AT, buildAmdCrl, setup, type Setup } from './snp/helpers/synthetic.js';

const TCB_A = { bootloader: 4, tee: 0, snp: 0x18, microcode: 0xdb }; // the Milan default
const TCB_B = { ...TCB_A, snp: 0x17 };

const atTcb = (tcb: typeof TCB_A): Setup =>
  setup({ pki: { tcb }, report: { reportedTcb: tcb, currentTcb: tcb, committedTcb: tcb, launchTcb: tcb } });

function vcekRecord(s: Setup): Record {
  const t = s.report.tcb!.reported;
  return {
    path: `/vcek/v1/Milan/${Buffer.from(s.report.chipId).toString('hex')}`,
    query: { blSPL: String(t.bootloader), teeSPL: String(t.tee), snpSPL: String(t.snp), ucodeSPL: String(t.microcode) },
    body: s.pki.vcek.der,
  };
}

describe('S35: VCEK identity', () => {
  const a = atTcb(TCB_A);
  const b = atTcb(TCB_B);
  let kds: CollateralServer;

  beforeAll(async () => {
    kds = await CollateralServer.start([
      vcekRecord(a),
      vcekRecord(b),
      { path: '/vcek/v1/Milan/cert_chain', body: new Uint8Array(Buffer.from(a.pki.vcekCertChainPem)) },
      { path: '/vcek/v1/Milan/crl', body: buildAmdCrl(a.pki) },
    ]);
  });
  afterAll(() => kds.close());

  it('the premise: one chip, one serial, two TCBs', () => {
    expect(Buffer.from(b.report.chipId).equals(Buffer.from(a.report.chipId))).toBe(true);
    expect(b.pki.vcek.serialHex).toBe(a.pki.vcek.serialHex);
    expect(Buffer.from(b.pki.vcek.der).equals(Buffer.from(a.pki.vcek.der))).toBe(false);
  });

  it('S35: the cached VCEK of one TCB is not served for a report of another; the other one is fetched and verifies', async () => {
    const service = new CollateralService({
      amd: new AmdKdsClient({ http: new HttpClient({ retries: 0, headersTimeoutMs: 2000, bodyTimeoutMs: 2000 }), baseUrl: kds.url }),
      cache: new CollateralCache({ directory: null }),
    });
    const first = await service.forSnpReport(a.report, AT);
    const second = await service.forSnpReport(b.report, AT);
    expect(Buffer.from(second.signingCertificate.body).equals(Buffer.from(b.pki.vcek.der))).toBe(true);
    expect(second.signingCertificate.key).not.toBe(first.signingCertificate.key);
    expect(kds.hits.get(vcekRecord(a).path)).toBe(2);
    const result = verifySnpReport(b.report, { signingCertificate: second.signingCertificate.body, crl: second.crl.body }, { ...b.options, trustRoots: a.roots });
    expect(result.checks.map((c) => c.id)).toContain('S13');
    // What a serial-keyed cache would have produced: the first TCB's VCEK for the second report.
    expectError(() => verifySnpReport(b.report, { signingCertificate: first.signingCertificate.body, crl: second.crl.body }, { ...b.options, trustRoots: a.roots }), {
      code: 'ERR_SNP_TCB',
      errorClass: 'SNP_TCB',
      check: 'S13',
    });
  });

  it('S35: the key names the full TCB, FMC included (Turin), and nothing that varies by serial', () => {
    const base = { product: 'Turin' as const, hwId: new Uint8Array(8).fill(7), bootloader: 1, tee: 1, snp: 3, microcode: 0x4f, fmc: 1 };
    const keys = [base, { ...base, fmc: 2 }, { ...base, bootloader: 2 }, { ...base, tee: 2 }, { ...base, snp: 4 }, { ...base, microcode: 0x50 }].map(artifactKey.vcek);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
