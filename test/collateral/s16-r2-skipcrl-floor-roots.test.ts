/**
 * s16 change review of 232c9ce (env #2, medium): a bypass of the floor fix. the attestation service's skipCrl second gathering
 * (src/cli/gather.ts verifyWithCollateral -> access.service.markVerified(partial)) marks without the
 * verification's roots, so a library caller with a default CollateralService (pinned roots assumed, default
 * disk cache) and trustRoots = a test PKI still raises the real FMSPC's floor in the shared cache.
 */
import { mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { HAVE_VECTORS } from '../helpers/vectors.js';
import { startAttestationService } from '../../src/attestation-service/index.js';
import { AmdKdsClient, BundleSource, CollateralCache, CollateralService, HttpClient, IntelPcsClient, verifyEvidence, type CollateralArtifact } from '../../src/index.js';
import { importDcapQvlCollateral } from '../../src/collateral/bundle.js';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { readVectorFile } from '../helpers/vectors.js';
import { post } from '../attestation-service/helpers.js';

const AT = new Date('2025-07-19T10:00:34Z');
const FMSPC = 'b0c06f000000';
const dir = mkdtempSync(join(tmpdir(), 's16-cr-skipcrl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const p = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, pki: { sgx: { fmspc: Buffer.from(FMSPC, 'hex') } }, tcbInfo: { fields: { tcbEvaluationDataNumber: 99 } }, qeIdentity: { fields: { tcbEvaluationDataNumber: 99 } } });
const col = p.collateral as Required<typeof p.collateral>;

it.skipIf(!HAVE_VECTORS)('a test-PKI verification through the attestation service skipCrl path raises no floor in a pinned cache; genuine evidence then verifies', async () => {
  // A PCCS that serves TCB info and QE identity but 404s the CRLs (the case skipCrl exists for).
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const chain = (a: CollateralArtifact) => encodeURIComponent(a.issuerChainPem!);
    const send = (b: Uint8Array, h: Record<string, string>) => { res.writeHead(200, { 'content-length': String(b.length), ...h }); res.end(Buffer.from(b)); };
    if (path === '/tdx/certification/v4/tcb') return send(col.tcbInfo.body, { 'content-type': 'application/json', 'TCB-Info-Issuer-Chain': chain(col.tcbInfo) });
    if (path === '/tdx/certification/v4/qe/identity') return send(col.qeIdentity.body, { 'content-type': 'application/json', 'SGX-Enclave-Identity-Issuer-Chain': chain(col.qeIdentity) });
    res.writeHead(404); res.end('nf');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const http = new HttpClient({ retries: 0 });
  const cache = new CollateralCache({ directory: join(dir, 'tee-verify') }); // stands in for the default cache
  const collateral = new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: url }), amd: new AmdKdsClient({ http, baseUrl: url }), cache }); // pinned roots assumed
  const svc = await startAttestationService({ collateral, trustRoots: { ...p.trustRoots, label: 'test-pki' }, port: 0, now: () => AT, log: () => {}, relaxations: { skipCrl: true } });
  const r = await post(svc.url, '/v1/verify', { evidence: Buffer.from(p.quote.bytes).toString('base64') });
  await svc.close(); await http.close(); server.closeAllConnections(); server.close();
  expect(r.status, r.text).toBe(200);
  const v1 = join(dir, 'tee-verify', 'v1');
  const floors = existsSync(v1) ? readdirSync(v1).filter((n) => n.endsWith('-floor.json')) : [];
  // Then production: the genuine phala quote, genuine collateral, same cache.
  const real = importDcapQvlCollateral(readVectorFile('phala-dcap-qvl/sample/tdx_quote_collateral.json')).map((a) => ({ ...a, source: { origin: 'network' as const } }));
  const outcomes: string[] = [];
  for (let i = 0; i < 6; i++) {
    const prod = new CollateralService({ intel: new BundleSource(real), cache: new CollateralCache({ directory: join(dir, 'tee-verify') }) });
    try { outcomes.push((await verifyEvidence(readVectorFile('phala-dcap-qvl/sample/tdx_quote'), { collateral: prod, at: AT })).ok ? 'OK' : 'not ok'); }
    catch (e) { const err = e as { check?: string; details?: { reason?: string } }; outcomes.push(`${err.check} ${err.details?.reason ?? ''}`.trim()); }
  }
  expect(floors).toEqual([]); // what the fix promises
  expect(outcomes.at(-1)).toBe('OK');
});
