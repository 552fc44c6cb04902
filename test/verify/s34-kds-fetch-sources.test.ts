/**
 * S34: collateral for a report is fetched only from the configured KDS base,
 * never from a URL the evidence carries (here every certificate's CRL
 * distribution point names another 127.0.0.1 server), with a bounded body and
 * over TLS (plain http only to loopback). The fetch layer reports these as
 * collateral error codes, not as a check id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AmdKdsClient, CollateralService, HttpClient } from '../../src/collateral/index.js';
import { catchError } from '../helpers/expect-error.js';
import { CollateralServer, type Record } from '../helpers/collateral-server.js';
import { AT, buildAmdCrl, setup, type Setup } from './snp/helpers/synthetic.js';

const http = () => new HttpClient({ retries: 0, headersTimeoutMs: 2000, bodyTimeoutMs: 2000 });

/** The KDS paths of one synthetic Milan setup (VCEK by hwID and TCB, chain, CRL). */
function kdsRecords(s: Setup): Record[] {
  const t = s.report.tcb!.reported;
  return [
    {
      path: `/vcek/v1/Milan/${Buffer.from(s.report.chipId).toString('hex')}`,
      query: { blSPL: String(t.bootloader), teeSPL: String(t.tee), snpSPL: String(t.snp), ucodeSPL: String(t.microcode) },
      body: s.pki.vcek.der,
    },
    { path: '/vcek/v1/Milan/cert_chain', body: new Uint8Array(Buffer.from(s.pki.vcekCertChainPem)) },
    { path: '/vcek/v1/Milan/crl', body: buildAmdCrl(s.pki) },
  ];
}

describe('S34: KDS fetches', () => {
  let evidenceHost: CollateralServer;
  let kds: CollateralServer;
  let s: Setup;

  beforeAll(async () => {
    evidenceHost = await CollateralServer.start();
    // Every certificate of this PKI points its CRL distribution point at evidenceHost.
    s = setup({ pki: { kdsBaseUrl: evidenceHost.url } });
    evidenceHost.records.push(...kdsRecords(s)); // it could answer, were it ever asked
    kds = await CollateralServer.start(kdsRecords(s));
  });
  afterAll(async () => {
    await evidenceHost.close();
    await kds.close();
  });

  it('S34: only the configured base is asked, whatever URLs the certificates carry', async () => {
    expect(Buffer.from(s.pki.ask.der).includes(`${evidenceHost.url}/vcek/v1/Milan/crl`)).toBe(true);
    const service = new CollateralService({ amd: new AmdKdsClient({ http: http(), baseUrl: kds.url }), cache: null });
    const c = await service.forSnpReport(s.report, AT);
    expect(Buffer.from(c.signingCertificate.body).equals(Buffer.from(s.pki.vcek.der))).toBe(true);
    expect(evidenceHost.totalHits).toBe(0);
    expect([...kds.hits.keys()].sort()).toEqual(['/vcek/v1/Milan/cert_chain', '/vcek/v1/Milan/crl', `/vcek/v1/Milan/${Buffer.from(s.report.chipId).toString('hex')}`].sort());
  });

  it('S34: a KDS answer larger than the body bound is ERR_COLLATERAL_TOO_LARGE, and nothing else is asked', async () => {
    const small = new HttpClient({ retries: 0, headersTimeoutMs: 2000, bodyTimeoutMs: 2000, maxBodyBytes: 64 });
    const service = new CollateralService({ amd: new AmdKdsClient({ http: small, baseUrl: kds.url }), cache: null });
    await expect(service.forSnpReport(s.report, AT)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_TOO_LARGE' });
    expect(evidenceHost.totalHits).toBe(0);
  });

  it('S34: a KDS base over plain http to a non-loopback host is refused (TLS verification stays on, X15)', () => {
    const err = catchError(() => new AmdKdsClient({ http: http(), baseUrl: 'http://kds.example' }));
    expect({ code: err.code, check: err.check }).toEqual({ code: 'ERR_INVALID_ARGUMENT', check: 'X15' });
  });
});
