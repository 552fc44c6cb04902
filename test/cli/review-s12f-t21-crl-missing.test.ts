/**
 * s12 change review x509c #1: the T21 case of review-s12e-t21-skipcrl.test.ts with the Root CA CRL not
 * served, the usual --skip-crl situation. The run then does go to the CRLs-optional second gathering,
 * which has no T21 recovery: a QE identity older than the TCB info was a rejection there (verify exit 1,
 * ERR_COLLATERAL_MISMATCH T21; serve 422). It is "retry later" (exit 3 / 503, ERR_QE_IDENTITY_LAGGING)
 * as without --skip-crl (src/cli/gather.ts, the Intel branch of the second gathering).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';
import type { CollateralArtifact } from '../../src/index.js';
import { cliJson } from './helpers.js';
import { startAttestationService } from '../../src/attestation-service/index.js';
import { CollateralService, HttpClient, IntelPcsClient, AmdKdsClient } from '../../src/index.js';
import { post } from '../attestation-service/helpers.js';

const DAY = 86_400_000;
const AT = new Date('2026-02-01T12:00:00Z');
const crlWindow = { thisUpdate: new Date(AT.getTime() - DAY), nextUpdate: new Date(AT.getTime() + 5 * DAY) };
const p = createSyntheticIntelPlatform({
  tee: 'tdx', at: AT, seed: 's12-cr-crl2 t21',
  tcbInfo: { fields: { tcbEvaluationDataNumber: 18 } },
  qeIdentity: { fields: { tcbEvaluationDataNumber: 17 } },
  pckCrl: crlWindow, rootCaCrl: crlWindow,
});
const col = p.collateral as Required<typeof p.collateral>;
const p18 = createSyntheticIntelPlatform({
  tee: 'tdx', at: AT, seed: 's12-cr-crl2 t21',
  tcbInfo: { fields: { tcbEvaluationDataNumber: 18 } },
  qeIdentity: { fields: { tcbEvaluationDataNumber: 18 } },
  pckCrl: crlWindow, rootCaCrl: crlWindow,
});
const col18 = p18.collateral as Required<typeof p18.collateral>;
let server: Server; let url = ''; const hits: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 's12-cr-crl2-'));
beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const u = new URL(req.url ?? '/', 'http://x');
    const send = (body: Uint8Array, headers: Record<string, string>) => { res.writeHead(200, { 'content-length': String(body.length), ...headers }); res.end(Buffer.from(body)); };
    const chain = (a: CollateralArtifact) => encodeURIComponent(a.issuerChainPem!);
    if (u.pathname === '/tdx/certification/v4/tcb') return send(col.tcbInfo.body, { 'content-type': 'application/json', 'TCB-Info-Issuer-Chain': chain(col.tcbInfo) });
    if (u.pathname === '/tdx/certification/v4/qe/identity' && !u.search.includes('tcbEvaluationDataNumber')) return send(col.qeIdentity.body, { 'content-type': 'application/json', 'SGX-Enclave-Identity-Issuer-Chain': chain(col.qeIdentity) });
    if (u.pathname === '/sgx/certification/v4/pckcrl') return send(col.pckCrl.body, { 'content-type': 'application/pkix-crl', 'SGX-PCK-CRL-Issuer-Chain': chain(col.pckCrl) });
    if (u.pathname === '/sgx/certification/v4/rootcacrl' && process.env.SERVE_ROOTCRL === '1') return send(col.rootCaCrl.body, { 'content-type': 'application/pkix-crl' });
    if (u.pathname === '/tdx/certification/v4/qe/identity' && u.search.includes('tcbEvaluationDataNumber=18') && process.env.RECOVER === '1') return send(col18.qeIdentity.body, { 'content-type': 'application/json', 'SGX-Enclave-Identity-Issuer-Chain': chain(col18.qeIdentity) });
    res.writeHead(404, { 'content-type': 'text/plain' }); res.end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  writeFileSync(join(dir, 'quote.bin'), p.quote.bytes);
  writeFileSync(join(dir, 'roots.pem'), p.pki.root.pem);
});
afterAll(async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); rmSync(dir, { recursive: true, force: true }); });

const run = (extra: string[]) => cliJson(['verify', join(dir, 'quote.bin'), '--at', AT.toISOString(), '--pcs-url', url, '--kds-url', url, '--trust-root', join(dir, 'roots.pem'), '--no-cache', '--retries', '0', ...extra]);

describe('T21 lag, Root CA CRL NOT served (the --skip-crl case)', () => {
  it('verify: exit 3 "retry later" with and without --skip-crl', async () => {
    const a = await run([]);
    const b = await run(['--skip-crl']);
    expect(a.code).toBe(3); // the missing Root CA CRL
    expect(b.code).toBe(3);
    expect((b.json['error'] as { code?: string }).code).toBe('ERR_QE_IDENTITY_LAGGING');
  });
  it('serve: 503 with and without skipCrl', async () => {
    const out: string[] = [];
    for (const relax of [undefined, { skipCrl: true }]) {
      const http = new HttpClient({ retries: 0 });
      const collateral = new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: url }), amd: new AmdKdsClient({ http, baseUrl: url }), cache: null, trustRoots: p.trustRoots });
      const running = await startAttestationService({ collateral, trustRoots: p.trustRoots, port: 0, now: () => AT, log: () => {}, ...(relax ? { relaxations: relax } : {}) });
      try {
        const r = await post(running.url, '/v1/verify', { evidence: Buffer.from(p.quote.bytes).toString('base64') });
        out.push(`${r.status} ${r.json?.error?.code}`);
      } finally { await running.close(); await http.close(); }
    }
    // Without skipCrl the missing Root CA CRL is the answer; with it, the lagging QE identity.
    expect(out).toEqual(['503 ERR_COLLATERAL_NOT_FOUND', '503 ERR_QE_IDENTITY_LAGGING']);
  });
});
