/**
 * Collateral end to end against a real local server serving the recorded real
 * collateral of the shared vectors at the real PCS / KDS paths: sources, shape
 * checks, the validity-driven cache (memory and disk), single-flight,
 * bundles and the dcap-qvl import.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import {
  AmdKdsClient,
  BundleSource,
  CollateralCache,
  CollateralService,
  HttpClient,
  IntelPcsClient,
  collateralArtifacts,
  exportBundle,
  importBundle,
  importDcapQvlCollateral,
} from '../../src/collateral/index.js';
import { parseEvidence, type SgxQuote, type SnpReport, type TdxQuote } from '../../src/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';
import { amdProductRecords, intelRecords, productOfEntry, vcekRecord } from '../helpers/recorded-collateral.js';
import { HAVE_VECTORS, evidenceEntries, findEntry, readEvidenceBytes, readVectorFile, type ManifestEntry } from '../helpers/vectors.js';

const servers: CollateralServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

async function serve(records: Parameters<typeof CollateralServer.start>[0]): Promise<CollateralServer> {
  const s = await CollateralServer.start(records);
  servers.push(s);
  return s;
}

const fastHttp = () => new HttpClient({ retries: 0, headersTimeoutMs: 2000, bodyTimeoutMs: 2000 });
const tempDir = () => mkdtempSync(join(tmpdir(), 'tee-verify-cache-'));

/** Intel vectors whose manifest ships the full PCS collateral set (TCB info, QE identity, both CRLs). */
function fullIntelEntries(): ManifestEntry[] {
  return evidenceEntries().filter((e) => e.collateral['collateral_bundle'] || (e.collateral['pck_crl'] && e.collateral['root_ca_crl']));
}

function quoteOf(entry: ManifestEntry): TdxQuote | SgxQuote {
  return parseEvidence(readEvidenceBytes(entry), { trailing: 'dangerouslyLenient' }) as TdxQuote | SgxQuote;
}

/** An instant in the middle of the vector's validity window (away from the refresh margin). */
function midWindow(entry: ManifestEntry): Date {
  const w = entry.validity_window!;
  return new Date((Date.parse(w.not_before) + Date.parse(w.not_after)) / 2);
}

function intelService(server: CollateralServer, cache: CollateralCache | null = null) {
  const http = fastHttp();
  return new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: server.url }), cache });
}

describe.skipIf(!HAVE_VECTORS)('Intel PCS / PCCS client against recorded collateral', () => {
  for (const entry of HAVE_VECTORS ? fullIntelEntries() : []) {
    it(`${entry.id}: every artifact is fetched, shape-checked and carries its window`, async () => {
      const server = await serve(intelRecords(entry));
      const quote = quoteOf(entry);
      const c = await intelService(server).forQuote(quote, new Date(entry.verification_time!));
      expect(c.fmspc).toBe((entry.checks['fmspc'] as string).toLowerCase());
      expect(c.tee).toBe(quote.kind);
      for (const a of collateralArtifacts(c)) {
        expect(a.source.origin).toBe('network');
        expect(a.source.url).toContain(server.url);
        expect(Date.parse(a.validity.notBefore)).toBeLessThanOrEqual(Date.parse(entry.verification_time!));
        expect(Date.parse(a.validity.notAfter)).toBeGreaterThanOrEqual(Date.parse(entry.verification_time!));
      }
      const tcb = JSON.parse(Buffer.from(c.tcbInfo.body).toString()).tcbInfo;
      expect(c.tcbInfo.sequence).toBe(String(tcb.tcbEvaluationDataNumber));
      expect(c.tcbInfo.issuerChainPem).toContain('BEGIN CERTIFICATE');
      expect(c.pckCrl.issuerChainPem).toContain('BEGIN CERTIFICATE');
      expect(c.rootCaCrl.body[0]).toBe(0x30);
      expect([...server.hits.values()].every((n) => n === 1)).toBe(true);
    });
  }

  it('builds PCS URLs with update / tcbEvaluationDataNumber and the root CA CRL per deployment', () => {
    const http = fastHttp();
    const pcs = new IntelPcsClient({ http });
    expect(pcs.tcbInfoUrl({ tee: 'tdx', fmspc: 'b0c06f000000', update: 'early' })).toBe('https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=B0C06F000000&update=early');
    expect(pcs.tcbInfoUrl({ tee: 'sgx', fmspc: '00a067110000', tcbEvaluationDataNumber: 17 })).toBe('https://api.trustedservices.intel.com/sgx/certification/v4/tcb?fmspc=00A067110000&tcbEvaluationDataNumber=17');
    expect(pcs.qeIdentityUrl({ tee: 'tdx' })).toBe('https://api.trustedservices.intel.com/tdx/certification/v4/qe/identity?update=standard');
    expect(pcs.pckCrlUrl('processor')).toBe('https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=processor&encoding=der');
    expect(pcs.rootCaCrlUrl).toBe('https://certificates.trustedservices.intel.com/IntelSGXRootCA.der');
    expect(new IntelPcsClient({ http, baseUrl: 'https://pccs.local:8081/' }).rootCaCrlUrl).toBe('https://pccs.local:8081/sgx/certification/v4/rootcacrl');
    expect(() => pcs.tcbInfoUrl({ tee: 'tdx', fmspc: 'zz' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('accepts a PCK CRL served as PEM (PCS without encoding=der) and stores it as DER', async () => {
    const entry = findEntry('phala-dcap-qvl/tdx_quote')!;
    const records = intelRecords(entry);
    const crl = records.find((r) => r.path === '/sgx/certification/v4/pckcrl')!;
    const der = crl.body;
    const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
    crl.body = new Uint8Array(Buffer.from(`-----BEGIN X509 CRL-----\n${b64}\n-----END X509 CRL-----\n`));
    const server = await serve(records);
    const pcs = new IntelPcsClient({ http: fastHttp(), baseUrl: server.url, pckCrlEncoding: 'pem' });
    expect(pcs.pckCrlUrl('platform')).toBe(`${server.url}/sgx/certification/v4/pckcrl?ca=platform`);
    const artifact = await pcs.pckCrl('platform');
    expect(Buffer.from(artifact.body).equals(Buffer.from(der))).toBe(true);
  });

  it('fetches the root CA CRL from a configured certificates host', async () => {
    const entry = findEntry('phala-dcap-qvl/tdx_quote')!;
    const server = await serve(intelRecords(entry));
    const pcs = new IntelPcsClient({ http: fastHttp(), baseUrl: `${server.url}/nowhere`, rootCaCrlUrl: `${server.url}/IntelSGXRootCA.der` });
    const crl = await pcs.rootCaCrl();
    expect(crl.kind).toBe('intel-root-ca-crl');
    expect(server.hits.get('/IntelSGXRootCA.der')).toBe(1);
  });
});

describe('Intel PCS client: the root CA CRL URL (review, session 3)', () => {
  it('X15 applies to rootCaCrlUrl too: plain http to a non-loopback host is refused', () => {
    const http = new HttpClient({ retries: 0 });
    const err = (() => {
      try {
        new IntelPcsClient({ http, rootCaCrlUrl: 'http://crl.example.com/IntelSGXRootCA.der' });
      } catch (e) {
        return e as { code?: string; check?: string };
      }
      return undefined;
    })();
    expect(err?.code).toBe('ERR_INVALID_ARGUMENT');
    expect(err?.check).toBe('X15');
    expect(new IntelPcsClient({ http, rootCaCrlUrl: 'https://crl.example.com/IntelSGXRootCA.der' }).rootCaCrlUrl).toBe('https://crl.example.com/IntelSGXRootCA.der');
  });

  it('the subscription key goes to the PCS at baseUrl only, never to the root CA CRL host', async () => {
    const { createServer } = await import('node:http');
    const seen: { host: string; key: string | undefined }[] = [];
    const start = (name: string) => new Promise<{ url: string; close(): void }>((ok) => {
      const server = createServer((req, res) => {
        seen.push({ host: name, key: req.headers['ocp-apim-subscription-key'] as string | undefined });
        res.writeHead(404).end();
      });
      server.listen(0, '127.0.0.1', () => ok({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, close: () => server.close() }));
    });
    const pcs = await start('pcs');
    const crlHost = await start('crl');
    try {
      const client = new IntelPcsClient({ http: fastHttp(), baseUrl: pcs.url, apiKey: 'SECRET-SUBSCRIPTION-KEY', rootCaCrlUrl: `${crlHost.url}/IntelSGXRootCA.der` });
      await client.rootCaCrl().catch(() => undefined);
      await client.pckCrl('platform').catch(() => undefined);
      expect(seen).toEqual([
        { host: 'crl', key: undefined },
        { host: 'pcs', key: 'SECRET-SUBSCRIPTION-KEY' },
      ]);
    } finally {
      pcs.close();
      crlHost.close();
    }
  });
});

/** Recorded SNP vectors whose VCEK, chain and CRL are never valid at one instant (so only the refusal is tested). */
const NO_COMMON_WINDOW = new Set([
  // VCEK notBefore 2026-02-05, recorded Genoa CRL nextUpdate 2025-11-03.
  'ms-tee-attestation-verification/genoa',
]);

describe.skipIf(!HAVE_VECTORS)('AMD KDS client against recorded collateral', () => {
  const snpWithVcek = HAVE_VECTORS ? evidenceEntries().filter((e) => e.kind === 'snp-report' && e.collateral['vcek']) : [];

  for (const entry of snpWithVcek) {
    it(`${entry.id}: VCEK at the KDS path of its chip ID and TCB, chain and CRL per product`, async () => {
      const server = await serve([...amdProductRecords(), vcekRecord(entry)!]);
      const product = productOfEntry(entry);
      const report = parseEvidence(readEvidenceBytes(entry), { snpProduct: product }) as SnpReport;
      const kds = new AmdKdsClient({ http: fastHttp(), baseUrl: server.url });
      const service = new CollateralService({ amd: kds, cache: null });
      if (product === 'Turin') {
        // No Turin CRL is in the shared vectors: the chain and VCEK resolve, the CRL is unavailable.
        await expect(service.forSnpReport(report, new Date(entry.verification_time!))).rejects.toMatchObject({ code: 'ERR_COLLATERAL_NOT_FOUND' });
        return;
      }
      // The recorded CRLs are from 2024-2025 and some VCEKs are newer: verify where all windows meet.
      const t = report.tcb!.reported;
      const vcek = await kds.vcek({ product, hwId: report.chipId, bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode });
      const crl = await kds.crl(product, 'vcek');
      const chain = await kds.certChain(product, 'vcek');
      const from = Math.max(...[vcek, crl, chain].map((a) => Date.parse(a.validity.notBefore)));
      const to = Math.min(...[vcek, crl, chain].map((a) => Date.parse(a.validity.notAfter)));
      const vectorTime = Date.parse(entry.verification_time!);
      if (vectorTime < from || vectorTime > to) {
        // Outside a window, the artifact is refused, never served stale.
        await expect(service.forSnpReport(report, new Date(vectorTime))).rejects.toMatchObject({ code: 'ERR_COLLATERAL_EXPIRED', errorClass: 'EXPIRED' });
      }
      // Only the vectors named in NO_COMMON_WINDOW lack an instant where all three files are valid; any other is a failure.
      expect({ id: entry.id, noCommonWindow: from > to }).toEqual({ id: entry.id, noCommonWindow: NO_COMMON_WINDOW.has(entry.id) });
      if (from > to) return; // the refusal above is this vector's whole test
      const c = await service.forSnpReport(report, new Date(from + 1000));
      expect(Buffer.from(c.signingCertificate.body).equals(Buffer.from(vcekRecord(entry)!.body))).toBe(true);
      expect(c.signingCertificate.key).toContain(`amd/vcek/${product}/`);
      expect(c.certChain.kind).toBe('amd-cert-chain');
      expect(Buffer.from(c.crl.body).equals(Buffer.from(crl.body))).toBe(true);
    });
  }

  it('builds Turin VCEK URLs with the 8-byte hwID and fmcSPL first (V34)', () => {
    const kds = new AmdKdsClient({ http: fastHttp() });
    const hwId = new Uint8Array(64).fill(0xab);
    expect(kds.vcekUrl({ product: 'Turin', hwId, fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 })).toBe(
      'https://kdsintf.amd.com/vcek/v1/Turin/abababababababab?fmcSPL=1&blSPL=2&teeSPL=3&snpSPL=4&ucodeSPL=5',
    );
    expect(kds.vcekUrl({ product: 'Milan', hwId, bootloader: 3, tee: 0, snp: 8, microcode: 115 })).toBe(
      `https://kdsintf.amd.com/vcek/v1/Milan/${'ab'.repeat(64)}?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115`,
    );
    expect(kds.certChainUrl('Genoa', 'vlek')).toBe('https://kdsintf.amd.com/vlek/v1/Genoa/cert_chain');
    expect(() => kds.vcekUrl({ product: 'Turin', hwId, bootloader: 1, tee: 1, snp: 1, microcode: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('an HTML error page served as a VCEK or CRL is a format error and is never cached', async () => {
    const entry = findEntry('virtee-sev/report_milan')!;
    const record = vcekRecord(entry)!;
    const server = await serve([...amdProductRecords(), record]);
    server.faults.set(record.path, { kind: 'html', times: 1 });
    const cache = new CollateralCache({ directory: tempDir() });
    const service = new CollateralService({ amd: new AmdKdsClient({ http: fastHttp(), baseUrl: server.url }), cache });
    const report = parseEvidence(readEvidenceBytes(entry), { snpProduct: 'Milan' }) as SnpReport;
    const now = new Date('2025-06-01T00:00:00Z'); // inside the recorded Milan CRL's and this VCEK's windows
    await expect(service.forSnpReport(report, now)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_FORMAT', errorClass: 'COLLATERAL_FORMAT' });
    expect(readdirSync(join(cache.directory!, 'v1')).filter((f) => f.endsWith('.json'))).toHaveLength(0);
    // The next attempt gets the real certificate.
    await expect(service.forSnpReport(report, now)).resolves.toMatchObject({ product: 'Milan' });
  });
});

describe.skipIf(!HAVE_VECTORS)('fault cases leave nothing bad in the cache', () => {
  const faults = [
    // A 404 for the quote's own FMSPC: the source has not cached that platform yet (retryable, review s8 #1).
    { name: '404', fault: { kind: 'status', status: 404 } as const, code: 'ERR_COLLATERAL_NOT_FOUND' },
    { name: '429 with Retry-After', fault: { kind: 'status', status: 429, retryAfter: '1' } as const, code: 'ERR_COLLATERAL_UNAVAILABLE' },
    { name: '500', fault: { kind: 'status', status: 500 } as const, code: 'ERR_COLLATERAL_UNAVAILABLE' },
    { name: 'a hung connection', fault: { kind: 'hang' } as const, code: 'ERR_COLLATERAL_UNAVAILABLE' },
    { name: 'a truncated body', fault: { kind: 'truncate' } as const, code: 'ERR_COLLATERAL_UNAVAILABLE' },
    { name: 'a body of the wrong type', fault: { kind: 'html' } as const, code: 'ERR_COLLATERAL_FORMAT' },
  ];
  for (const f of faults) {
    it(`${f.name} on the TCB info gives ${f.code} with the URL, and no cache entry`, async () => {
      const entry = findEntry('phala-dcap-qvl/tdx_quote')!;
      const server = await serve(intelRecords(entry));
      server.faults.set('/tdx/certification/v4/tcb', f.fault);
      const cache = new CollateralCache({ directory: tempDir() });
      const http = new HttpClient({ retries: 1, headersTimeoutMs: 300, bodyTimeoutMs: 300, sleep: async () => {} });
      const service = new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: server.url }), cache });
      const err = await service.forQuote(quoteOf(entry), midWindow(entry)).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: f.code });
      if (f.code !== 'ERR_COLLATERAL_FORMAT') expect((err as { details: { url: string } }).details.url).toContain('/tdx/certification/v4/tcb');
      const fresh = new CollateralCache({ directory: cache.directory });
      expect(fresh.get('intel/tcb-info/tdx/b0c06f000000/update=standard')).toBeUndefined();
    });
  }
});

describe.skipIf(!HAVE_VECTORS)('validity-driven cache', () => {
  const entry = () => findEntry('phala-dcap-qvl/tdx_quote')!;

  it('100 concurrent requests for the same quote cause exactly one fetch per artifact', async () => {
    const e = entry();
    const server = await serve(intelRecords(e));
    const service = intelService(server, new CollateralCache({ directory: null }));
    const quote = quoteOf(e);
    const now = midWindow(e);
    const results = await Promise.all(Array.from({ length: 100 }, () => service.forQuote(quote, now)));
    expect(results).toHaveLength(100);
    expect(Object.fromEntries(server.hits)).toEqual({
      '/tdx/certification/v4/tcb': 1,
      '/tdx/certification/v4/qe/identity': 1,
      '/sgx/certification/v4/pckcrl': 1,
      '/sgx/certification/v4/rootcacrl': 1,
    });
  });

  it('a second process with the same cache directory fetches nothing inside the window', async () => {
    const e = entry();
    const server = await serve(intelRecords(e));
    const dir = tempDir();
    await intelService(server, new CollateralCache({ directory: dir })).forQuote(quoteOf(e), midWindow(e));
    expect(server.totalHits).toBe(4);
    const second = await intelService(server, new CollateralCache({ directory: dir })).forQuote(quoteOf(e), midWindow(e));
    expect(server.totalHits).toBe(4);
    expect(collateralArtifacts(second).every((a) => a.source.origin === 'cache')).toBe(true);
  });

  it('moving the clock past nextUpdate causes exactly one refetch, and expired collateral is refused', async () => {
    const e = entry();
    const server = await serve(intelRecords(e));
    const service = intelService(server, new CollateralCache({ directory: tempDir() }));
    const quote = quoteOf(e);
    await service.forQuote(quote, midWindow(e));
    expect(server.hits.get('/tdx/certification/v4/tcb')).toBe(1);
    const late = new Date(Date.parse('2025-07-19T10:16:04Z')); // one second after the TCB info's nextUpdate
    await expect(service.forQuote(quote, late)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_EXPIRED', errorClass: 'EXPIRED' });
    expect(server.hits.get('/tdx/certification/v4/tcb')).toBe(2);
  });

  it('a corrupted or foreign cache file is discarded and fetched again', async () => {
    const e = entry();
    const server = await serve(intelRecords(e));
    const dir = tempDir();
    await intelService(server, new CollateralCache({ directory: dir })).forQuote(quoteOf(e), midWindow(e));
    const files = readdirSync(join(dir, 'v1'));
    writeFileSync(join(dir, 'v1', files[0]!), '{"format":"tee-verify-collateral-cache-entry","version":1,"key":"x","body":"PGh0bWw+"}');
    writeFileSync(join(dir, 'v1', files[1]!), 'torn{');
    await intelService(server, new CollateralCache({ directory: dir })).forQuote(quoteOf(e), midWindow(e));
    expect(server.totalHits).toBe(6);
  });

  it('never serves an older evaluation data number while a newer one is valid (X03)', async () => {
    const e = entry();
    const server = await serve(intelRecords(e));
    const cache = new CollateralCache({ directory: null });
    const now = midWindow(e);
    const c = await intelService(server, cache).forQuote(quoteOf(e), now);
    const older = { ...c.tcbInfo, body: Uint8Array.from([...c.tcbInfo.body, 0x20]), sequence: String(Number(c.tcbInfo.sequence) - 1) };
    expect(cache.put(older)).toBe(true);
    expect(cache.select(c.tcbInfo.key, now)!.sequence).toBe(c.tcbInfo.sequence);
    expect(cache.get(c.tcbInfo.key)!.sequence).toBe(c.tcbInfo.sequence);
  });

  it('keeps versions so verifications at different instants each get the one valid then', async () => {
    const cache = new CollateralCache({ directory: tempDir() });
    const a = findEntry('phala-dcap-qvl/tdx_quote')!;
    const b = findEntry('phala-dcap-qvl/tdx_quote_outdated')!;
    const qeA = importDcapQvlCollateral(readVectorFile(a.collateral['collateral_bundle']!))[1]!;
    const qeB = importDcapQvlCollateral(readVectorFile(b.collateral['collateral_bundle']!))[1]!;
    cache.put(qeB);
    cache.put(qeA);
    const reopened = new CollateralCache({ directory: cache.directory });
    expect(reopened.select(qeA.key, new Date(a.verification_time!))!.validity).toEqual(qeA.validity);
    expect(reopened.select(qeA.key, new Date(b.verification_time!))!.validity).toEqual(qeB.validity);
    expect(reopened.get(qeA.key)!.validity).toEqual(qeB.validity); // the newest
  });
});

describe.skipIf(!HAVE_VECTORS)('bundles and offline verification', () => {
  it('exports a bundle, then resolves the same collateral offline with no server at all', async () => {
    const e = findEntry('phala-dcap-qvl/tdx_quote')!;
    const server = await serve(intelRecords(e));
    const online = await intelService(server).forQuote(quoteOf(e), midWindow(e));
    const text = exportBundle(collateralArtifacts(online));
    await server.close();
    servers.pop();
    const offline = await new CollateralService({ intel: new BundleSource(importBundle(text)), cache: null }).forQuote(quoteOf(e), midWindow(e));
    for (const [a, b] of collateralArtifacts(online).map((x, i) => [x, collateralArtifacts(offline)[i]!] as const)) {
      expect(Buffer.from(b.body).equals(Buffer.from(a.body))).toBe(true);
      expect(b.source.origin).toBe('bundle');
    }
  });

  it('a bundle verifies stored evidence at a past instant, and refuses instants outside its windows', async () => {
    const e = findEntry('phala-dcap-qvl/tdx_quote')!;
    const artifacts = importDcapQvlCollateral(readVectorFile(e.collateral['collateral_bundle']!));
    const service = new CollateralService({ intel: new BundleSource(artifacts), cache: null });
    const c = await service.forQuote(quoteOf(e), new Date(e.verification_time!));
    expect(c.tcbInfo.source.origin).toBe('bundle');
    await expect(service.forQuote(quoteOf(e), new Date('2026-11-29T00:00:00Z'))).rejects.toMatchObject({ code: 'ERR_COLLATERAL_EXPIRED' });
  });

  for (const id of ['phala-dcap-qvl/tdx_quote', 'phala-dcap-qvl/sgx_quote', 'phala-dcap-qvl/tdx_quote_outdated', 'phala-dcap-qvl/near_gas_test_quote']) {
    it(`imports dcap-qvl collateral JSON: ${id}`, async () => {
      const e = findEntry(id)!;
      const artifacts = importDcapQvlCollateral(readVectorFile(e.collateral['collateral_bundle']!));
      expect(artifacts.map((a) => a.kind)).toEqual(['intel-tcb-info', 'intel-qe-identity', 'intel-pck-crl', 'intel-root-ca-crl']);
      const c = await new CollateralService({ intel: new BundleSource(artifacts), cache: null }).forQuote(quoteOf(e), new Date(e.verification_time!));
      expect(e.fmspc).toMatch(/^[0-9a-f]{12}$/); // an entry without one would compare undefined to undefined
      expect(c.fmspc).toBe(e.fmspc);
    });
  }

  it('a missing artifact in a bundle is ERR_COLLATERAL_MISSING, class COLLATERAL_UNAVAILABLE', async () => {
    const e = findEntry('phala-dcap-qvl/tdx_quote')!;
    const artifacts = importDcapQvlCollateral(readVectorFile(e.collateral['collateral_bundle']!)).filter((a) => a.kind !== 'intel-pck-crl');
    await expect(new CollateralService({ intel: new BundleSource(artifacts), cache: null }).forQuote(quoteOf(e), new Date(e.verification_time!))).rejects.toMatchObject({
      code: 'ERR_COLLATERAL_MISSING',
      errorClass: 'COLLATERAL_UNAVAILABLE',
    });
  });

  it('rejects a bundle of another format and an artifact that fails its shape check', () => {
    expect(() => importBundle('{"format":"x","version":1,"artifacts":[]}')).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_FORMAT' }));
    const bad = JSON.stringify({ format: 'tee-verify-collateral-bundle', version: 1, artifacts: [{ kind: 'amd-vcek', key: 'amd/vcek/Milan/00/x', body: Buffer.from('<html>').toString('base64') }] });
    expect(() => importBundle(bad)).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_FORMAT' }));
  });
});

describe.skipIf(!HAVE_VECTORS)('dates in collateral (X01)', () => {
  it('an impossible calendar date in a TCB info is a format error, not rolled over', () => {
    const e = findEntry('phala-dcap-qvl/tdx_quote')!;
    const [tcbInfo] = importDcapQvlCollateral(readVectorFile(e.collateral['collateral_bundle']!));
    const text = Buffer.from(tcbInfo!.body).toString('utf8').replace(/"nextUpdate":"\d{4}-\d{2}-\d{2}/, '"nextUpdate":"2025-02-30');
    const bundle = JSON.stringify({ format: 'tee-verify-collateral-bundle', version: 1, artifacts: [{ kind: tcbInfo!.kind, key: tcbInfo!.key, body: Buffer.from(text).toString('base64'), issuerChainPem: tcbInfo!.issuerChainPem }] });
    expect(() => importBundle(bundle)).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_FORMAT' }));
  });
});

describe.skipIf(!HAVE_VECTORS)('every shared vector with collateral: fetch, cache, export, offline', () => {
  const intelWithAny = HAVE_VECTORS ? evidenceEntries().filter((e) => e.kind !== 'snp-report' && intelRecords(e).length > 0) : [];
  for (const entry of intelWithAny) {
    it(`${entry.id}: each recorded artifact round-trips through the client, the disk cache and a bundle`, async () => {
      const records = intelRecords(entry);
      const server = await serve(records);
      const pcs = new IntelPcsClient({ http: fastHttp(), baseUrl: server.url });
      const quote = quoteOf(entry);
      // A recorded TCB info whose issuer chain expired before its issueDate (go-tdx-guest v5 mocks an old
      // chain; the manifest says non_empty: false) can serve no instant: refused (review s8 #2).
      const emptyWindow = (entry as { validity_window?: { non_empty?: boolean } }).validity_window?.non_empty === false;
      const fetched = [];
      for (const r of records) {
        if (r.path.endsWith('/tcb') && emptyWindow) {
          await expect(pcs.tcbInfo({ tee: quote.kind, fmspc: r.query!['fmspc']! })).rejects.toMatchObject({ code: 'ERR_COLLATERAL_FORMAT', message: expect.stringContaining('validity window is empty') });
        } else if (r.path.endsWith('/tcb')) fetched.push(await pcs.tcbInfo({ tee: quote.kind, fmspc: r.query!['fmspc']! }));
        else if (r.path.endsWith('/qe/identity')) fetched.push(await pcs.qeIdentity({ tee: quote.kind }));
        else if (r.path.endsWith('/pckcrl')) fetched.push(await pcs.pckCrl(r.query!['ca'] as 'platform' | 'processor'));
        else if (r.path.endsWith('/rootcacrl')) fetched.push(await pcs.rootCaCrl());
      }
      if (!emptyWindow) expect(fetched.length).toBeGreaterThan(0);
      const cache = new CollateralCache({ directory: tempDir() });
      for (const a of fetched) cache.put(a);
      const reopened = new CollateralCache({ directory: cache.directory });
      for (const a of fetched) expect(Buffer.from(reopened.get(a.key)!.body).equals(Buffer.from(a.body))).toBe(true);
      const offline = new BundleSource(importBundle(exportBundle(fetched)));
      for (const a of fetched) expect(offline.artifacts.find((b) => b.key === a.key)!.validity).toEqual(a.validity);
    });
  }
});
