/**
 * A real TDX quote (phala-dcap-qvl sample, shared vectors) through the
 * service at its manifest instant, collateral fetched from recorded Intel
 * PCS answers on 127.0.0.1 through the CollateralService and its cache: the
 * manifest's status, through both body shapes, and a warm second request
 * that fetches nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AttestationService } from '../../src/attestation-service/index.js';
import { CollateralCache, CollateralService, HttpClient, IntelPcsClient } from '../../src/index.js';
import { verifyEarJwt } from '../../src/policy/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';
import { intelRecords } from '../helpers/recorded-collateral.js';
import { HAVE_VECTORS, findEntry, readEvidenceBytes } from '../helpers/vectors.js';
import { openWebUiBody, post, startService } from './helpers.js';

describe.skipIf(!HAVE_VECTORS)('real TDX vector at its manifest instant', () => {
  const entry = HAVE_VECTORS ? findEntry('phala-dcap-qvl/tdx_quote')! : undefined;
  let server: CollateralServer;
  let http: HttpClient;
  let svc: AttestationService;
  let at: Date;

  beforeAll(async () => {
    at = new Date(entry!.verification_time!);
    server = await CollateralServer.start(intelRecords(entry!));
    http = new HttpClient({ retries: 0 });
    const collateral = new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: server.url }), cache: new CollateralCache({ directory: null }) });
    // Production trust roots (no trustRoots option): the real quote chains to Intel's root.
    svc = await startService({ collateral, trustRoots: undefined, now: () => at });
  });
  afterAll(async () => {
    await svc?.close();
    await http?.close();
    await server?.close();
  });

  it('plain body: the manifest status and advisories, production roots, then a warm request without any fetch', async () => {
    const evidence = Buffer.from(readEvidenceBytes(entry!)).toString('base64');
    const r = await post(svc.url, '/v1/verify', { evidence });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, tee: 'tdx', at: at.toISOString(), tcbStatus: entry!.expected.tcb_status, trustRoots: 'production' });
    expect(r.json.advisoryIds).toEqual(entry!.expected.advisory_ids);
    const hits = server.totalHits;
    expect(hits).toBeGreaterThan(0);
    const again = await post(svc.url, '/v1/verify', { evidence });
    expect(again.json.ok).toBe(true);
    expect(server.totalHits).toBe(hits);
  });

  it("open-webui's trustee body on /attestation: a JWT whose tcb-status names the real quote's claims", async () => {
    const r = await post(svc.url, '/attestation', openWebUiBody(readEvidenceBytes(entry!)));
    expect(r.status).toBe(200);
    const now = Math.floor(at.getTime() / 1000);
    const { claims } = verifyEarJwt(r.text, svc.publicKey, { now });
    expect(claims['tee']).toBe('tdx');
    expect(claims['iat']).toBe(now);
    const tcb = JSON.parse(claims['tcb-status'] as string) as Record<string, unknown>;
    expect(tcb['tdx.tcb_status']).toBe('UpToDate');
    expect(tcb['tdx.quote.body.mr_td']).toMatch(/^[0-9a-f]{96}$/);
    expect(claims.submods['cpu0']!['ear.status']).toBe('affirming');
  });
});
