/**
 * Review session 6, #6 and #7. An artifact must be what its key asked for
 * (validateArtifactForKey: network answers, bundle entries, cache files; the
 * resolver for any source): one table row per mismatch, each with the
 * genuine pairing as its control. And a 404 for what the evidence names (its
 * FMSPC, its chip ID and TCB) is final for that evidence, not retryable.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import {
  AmdKdsClient,
  ArtifactResolver,
  CollateralCache,
  CollateralUnavailableError,
  HttpClient,
  IntelPcsClient,
  artifactKey,
  exportBundle,
  importBundle,
  type CollateralArtifact,
} from '../../src/collateral/index.js';
import { validateArtifactForKey } from '../../src/collateral/validate.js';
import { createAmdTestPki, createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';

const AT = new Date('2026-06-01T12:00:00Z');
const tdx = createSyntheticIntelPlatform({ tee: 'tdx', at: AT });
const sgx = createSyntheticIntelPlatform({ tee: 'sgx', at: AT });
const processor = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, caType: 'processor' });
const validity = { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2030-01-01T00:00:00Z') };
const milan = createAmdTestPki({ seed: 's6-binding', product: 'Milan', validity });
const genoa = createAmdTestPki({ seed: 's6-binding', product: 'Genoa', validity });

const fmspcOf = (a: CollateralArtifact) => (JSON.parse(Buffer.from(a.body).toString('utf8')) as { tcbInfo: { fmspc: string } }).tcbInfo.fmspc.toLowerCase();
const tdxFmspc = fmspcOf(tdx.collateral.tcbInfo!);

/** `a`'s bytes and issuer chain offered under `key` (as a source, bundle or cache file would). */
function under(a: CollateralArtifact, key: string, kind: CollateralArtifact['kind'] = a.kind) {
  return { kind, key, body: a.body, ...(a.issuerChainPem === undefined ? {} : { issuerChainPem: a.issuerChainPem }), source: { origin: 'network' as const, url: 'https://pccs.example/x' } };
}
const chain = (pem: string) => ({ kind: 'amd-cert-chain' as const, body: new Uint8Array(Buffer.from(pem)), source: { origin: 'network' as const } });

const rows: { name: string; offered: Parameters<typeof validateArtifactForKey>[0]; control: Parameters<typeof validateArtifactForKey>[0]; check?: string }[] = [
  {
    name: 'TCB info: an SGX document for a TDX request (T47)',
    offered: under(sgx.collateral.tcbInfo!, artifactKey.tcbInfo({ tee: 'tdx', fmspc: fmspcOf(sgx.collateral.tcbInfo!) })),
    control: under(sgx.collateral.tcbInfo!, artifactKey.tcbInfo({ tee: 'sgx', fmspc: fmspcOf(sgx.collateral.tcbInfo!) })),
    check: 'T47',
  },
  {
    name: 'TCB info: a TDX document for an SGX request (T47)',
    offered: under(tdx.collateral.tcbInfo!, artifactKey.tcbInfo({ tee: 'sgx', fmspc: tdxFmspc })),
    control: under(tdx.collateral.tcbInfo!, artifactKey.tcbInfo({ tee: 'tdx', fmspc: tdxFmspc })),
    check: 'T47',
  },
  {
    name: 'TCB info: another FMSPC (T19)',
    offered: under(tdx.collateral.tcbInfo!, artifactKey.tcbInfo({ tee: 'tdx', fmspc: '00906ed50000' })),
    control: under(tdx.collateral.tcbInfo!, artifactKey.tcbInfo({ tee: 'tdx', fmspc: tdxFmspc.toUpperCase() })),
    check: 'T19',
  },
  {
    name: 'TCB info: another evaluation data number than the one asked for',
    offered: under(tdx.collateral.tcbInfo!, artifactKey.tcbInfo({ tee: 'tdx', fmspc: tdxFmspc, tcbEvaluationDataNumber: 18 })),
    control: under(tdx.collateral.tcbInfo!, artifactKey.tcbInfo({ tee: 'tdx', fmspc: tdxFmspc, tcbEvaluationDataNumber: 17 })),
  },
  {
    name: "QE identity: SGX's QE for a TDX request (T21)",
    offered: under(sgx.collateral.qeIdentity!, artifactKey.qeIdentity({ tee: 'tdx' })),
    control: under(sgx.collateral.qeIdentity!, artifactKey.qeIdentity({ tee: 'sgx' })),
    check: 'T21',
  },
  {
    name: 'QE identity: another evaluation data number than the one asked for (T21)',
    offered: under(tdx.collateral.qeIdentity!, artifactKey.qeIdentity({ tee: 'tdx', tcbEvaluationDataNumber: 16 })),
    control: under(tdx.collateral.qeIdentity!, artifactKey.qeIdentity({ tee: 'tdx', tcbEvaluationDataNumber: 17 })),
    check: 'T21',
  },
  {
    name: "PCK CRL: the Platform CA's CRL for the processor CA (T14)",
    offered: under(tdx.collateral.pckCrl!, artifactKey.pckCrl('processor')),
    control: under(tdx.collateral.pckCrl!, artifactKey.pckCrl('platform')),
    check: 'T14',
  },
  {
    name: "PCK CRL: the Processor CA's CRL for the platform CA (T14)",
    offered: under(processor.collateral.pckCrl!, artifactKey.pckCrl('platform')),
    control: under(processor.collateral.pckCrl!, artifactKey.pckCrl('processor')),
    check: 'T14',
  },
  {
    name: "KDS chain: Milan's chain for Genoa (S08)",
    offered: { ...chain(milan.vcekCertChainPem), key: artifactKey.certChain('Genoa', 'vcek') },
    control: { ...chain(genoa.vcekCertChainPem), key: artifactKey.certChain('Genoa', 'vcek') },
    check: 'S08',
  },
  {
    name: 'KDS chain: the VCEK chain (ASK) for a VLEK request (S08)',
    offered: { ...chain(milan.vcekCertChainPem), key: artifactKey.certChain('Milan', 'vlek') },
    control: { ...chain(milan.vlekCertChainPem), key: artifactKey.certChain('Milan', 'vlek') },
    check: 'S08',
  },
  {
    name: 'kind: a Root CA CRL under a PCK CRL key',
    offered: under(tdx.collateral.rootCaCrl!, artifactKey.pckCrl('platform')),
    control: under(tdx.collateral.rootCaCrl!, artifactKey.rootCaCrl()),
  },
  {
    name: 'kind: a VCEK under an AMD CRL key',
    offered: { kind: 'amd-vcek', key: artifactKey.amdCrl('Milan', 'vcek'), body: milan.vcek.der, source: { origin: 'network' } },
    // The VCEK's own key: since review s11 changes-b a VCEK must be the one of the chip and TCB its key names.
    control: { kind: 'amd-vcek', key: artifactKey.vcek({ product: 'Milan', hwId: milan.chipId, bootloader: milan.tcb.bootloader, tee: milan.tcb.tee, snp: milan.tcb.snp, microcode: milan.tcb.microcode }), body: milan.vcek.der, source: { origin: 'network' } },
  },
];

describe('validateArtifactForKey: the document must be what the key asked for (review s6 #6)', () => {
  for (const row of rows) {
    it(row.name, () => {
      expect(() => validateArtifactForKey(row.control)).not.toThrow();
      let caught: unknown;
      try {
        validateArtifactForKey(row.offered);
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ code: 'ERR_COLLATERAL_FORMAT', errorClass: 'COLLATERAL_FORMAT', details: { artifact: row.offered.key, reason: 'not-the-requested-artifact' } });
      if (row.check) expect((caught as { check?: string }).check).toBe(row.check);
    });
  }
});

const servers: CollateralServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const http = () => new HttpClient({ retries: 0, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });

describe('every way in is bound to its key (review s6 #6)', () => {
  it('the network: a PCCS answering the SGX TCB info at the TDX path is ERR_COLLATERAL_FORMAT', async () => {
    const sgxTcb = sgx.collateral.tcbInfo!;
    const server = await CollateralServer.start([
      { path: '/tdx/certification/v4/tcb', body: sgxTcb.body, headers: { 'tcb-info-issuer-chain': encodeURIComponent(sgxTcb.issuerChainPem!) } },
    ]);
    servers.push(server);
    const pcs = new IntelPcsClient({ http: http(), baseUrl: server.url });
    await expect(pcs.tcbInfo({ tee: 'tdx', fmspc: fmspcOf(sgxTcb) })).rejects.toMatchObject({ code: 'ERR_COLLATERAL_FORMAT', check: 'T47' });
  });

  it('a bundle: an entry whose key names another FMSPC is refused on import', () => {
    const text = exportBundle([tdx.collateral.tcbInfo!]).replace(tdxFmspc, '00906ed50000');
    expect(() => importBundle(text)).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_FORMAT', check: 'T19' }));
  });

  it('a cache file: an entry for the key holding another platform\'s document is removed and fetched again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-verify-s6-binding-'));
    dirs.push(dir);
    const key = artifactKey.tcbInfo({ tee: 'tdx', fmspc: tdxFmspc });
    const cache = new CollateralCache({ directory: dir });
    const sgxTcb = sgx.collateral.tcbInfo!;
    const name = `${createHash('sha256').update(key).digest('hex')}-0000000000000000.json`;
    const entry = { format: 'tee-verify-collateral-cache-entry', version: 1, key, kind: 'intel-tcb-info', body: Buffer.from(sgxTcb.body).toString('base64'), issuerChainPem: sgxTcb.issuerChainPem, source: { origin: 'network' } };
    writeFileSync(join(dir, 'v1', name), JSON.stringify(entry), { mode: 0o600 });
    let fetches = 0;
    const r = await new ArtifactResolver({ cache }).resolve(key, async () => (fetches++, tdx.collateral.tcbInfo!), AT);
    expect(fetches).toBe(1);
    expect(r.artifact).toBe(tdx.collateral.tcbInfo);
    expect(existsSync(join(dir, 'v1', name))).toBe(false);
  });

  it('any source: the resolver refuses an answer for another key or of another kind, and caches nothing', async () => {
    const cache = new CollateralCache({ directory: null });
    const resolver = new ArtifactResolver({ cache });
    const asked = artifactKey.pckCrl('processor');
    await expect(resolver.resolve(asked, async () => tdx.collateral.pckCrl!, AT)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_FORMAT', details: { artifact: asked, answered: artifactKey.pckCrl('platform') } });
    const relabelled = { ...tdx.collateral.rootCaCrl!, key: asked };
    await expect(resolver.resolve(asked, async () => relabelled, AT)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_FORMAT' });
    expect(cache.keyCount).toBe(0);
  });
});

describe('a 404 for what the evidence names: final for a VCEK (review s6 #7), retryable for Intel TCB info (review s8 #1)', () => {
  async function emptyServer(): Promise<CollateralServer> {
    const s = await CollateralServer.start([]);
    servers.push(s);
    return s;
  }

  it('PCS: no TCB info for the quote\'s FMSPC is the retryable ERR_COLLATERAL_NOT_FOUND (platform-not-served), class COLLATERAL_UNAVAILABLE', async () => {
    const server = await emptyServer();
    const pcs = new IntelPcsClient({ http: http(), baseUrl: server.url });
    const err = await pcs.tcbInfo({ tee: 'tdx', fmspc: '00906ED50000' }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ERR_COLLATERAL_NOT_FOUND',
      errorClass: 'COLLATERAL_UNAVAILABLE',
      retryable: true,
      details: { status: 404, artifact: 'intel/tcb-info/tdx/00906ed50000/update=standard', reason: 'platform-not-served' },
    });
    // An outage, not a rejection: callers answer 503 for CollateralUnavailableError.
    expect(err).toBeInstanceOf(CollateralUnavailableError);
  });

  it('PCS: a 404 for a configured evaluation data number, or for a fixed artifact, stays ERR_COLLATERAL_NOT_FOUND (retryable)', async () => {
    const server = await emptyServer();
    const pcs = new IntelPcsClient({ http: http(), baseUrl: server.url });
    await expect(pcs.tcbInfo({ tee: 'tdx', fmspc: '00906ED50000', tcbEvaluationDataNumber: 3 })).rejects.toMatchObject({ code: 'ERR_COLLATERAL_NOT_FOUND', retryable: true });
    await expect(pcs.qeIdentity({ tee: 'tdx' })).rejects.toMatchObject({ code: 'ERR_COLLATERAL_NOT_FOUND', retryable: true });
    await expect(pcs.pckCrl('platform')).rejects.toMatchObject({ code: 'ERR_COLLATERAL_NOT_FOUND', retryable: true });
  });

  it('KDS: no VCEK for the chip ID and TCB is ERR_COLLATERAL_UNKNOWN_PLATFORM; a missing chain or CRL stays retryable', async () => {
    const server = await emptyServer();
    const kds = new AmdKdsClient({ http: http(), baseUrl: server.url });
    await expect(kds.vcek({ product: 'Milan', hwId: new Uint8Array(64).fill(1), bootloader: 1, tee: 0, snp: 1, microcode: 1 })).rejects.toMatchObject({
      code: 'ERR_COLLATERAL_UNKNOWN_PLATFORM',
      errorClass: 'COLLATERAL_MISMATCH',
      retryable: false,
    });
    await expect(kds.certChain('Milan', 'vcek')).rejects.toMatchObject({ code: 'ERR_COLLATERAL_NOT_FOUND', retryable: true });
    await expect(kds.crl('Milan', 'vcek')).rejects.toMatchObject({ code: 'ERR_COLLATERAL_NOT_FOUND', retryable: true });
  });
});

describe('unknown platform is a verdict only from a source that serves its fixed documents (review s6 #7)', () => {
  const records = (artifacts: readonly CollateralArtifact[], keep: (a: CollateralArtifact) => boolean) =>
    artifacts.filter(keep).map((a) => {
      const header: { [k: string]: string } = { 'intel-tcb-info': 'tcb-info-issuer-chain', 'intel-qe-identity': 'sgx-enclave-identity-issuer-chain', 'intel-pck-crl': 'sgx-pck-crl-issuer-chain' };
      const paths: { [k: string]: string } = {
        'intel-tcb-info': '/tdx/certification/v4/tcb',
        'intel-qe-identity': '/tdx/certification/v4/qe/identity',
        'intel-pck-crl': '/sgx/certification/v4/pckcrl',
        'intel-root-ca-crl': '/sgx/certification/v4/rootcacrl',
        'amd-cert-chain': `/vcek/v1/${a.key.split('/')[2]}/cert_chain`,
        'amd-crl': `/vcek/v1/${a.key.split('/')[2]}/crl`,
      };
      const name = header[a.kind];
      return { path: paths[a.kind]!, body: a.body, headers: name && a.issuerChainPem ? { [name]: encodeURIComponent(a.issuerChainPem) } : {} };
    });

  async function serving(artifacts: readonly CollateralArtifact[], keep: (a: CollateralArtifact) => boolean): Promise<CollateralServer> {
    const s = await CollateralServer.start(records(artifacts, keep));
    servers.push(s);
    return s;
  }

  it('Intel: QE identity and CRLs served, no TCB info for the FMSPC -> retryable ERR_COLLATERAL_NOT_FOUND (review s8 #1); nothing served -> the same', async () => {
    const { SimulatedTeeProvider } = await import('../../src/tee/index.js');
    const { parseEvidence } = await import('../../src/index.js');
    const { CollateralService } = await import('../../src/collateral/index.js');
    const tee = new SimulatedTeeProvider({ tee: 'tdx', at: AT });
    const quote = parseEvidence((await tee.getEvidence(new Uint8Array(64))).evidence) as Parameters<InstanceType<typeof CollateralService>['forQuote']>[0];
    const service = (server: CollateralServer) => new CollateralService({ intel: new IntelPcsClient({ http: http(), baseUrl: server.url }), cache: null });
    const withoutTcb = await serving([...tee.collateral], (a) => a.kind !== 'intel-tcb-info');
    for (let i = 0; i < 3; i++) {
      await expect(service(withoutTcb).forQuote(quote, AT)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_NOT_FOUND', retryable: true, details: { reason: 'platform-not-served' } });
    }
    const empty = await serving([], () => false);
    for (let i = 0; i < 3; i++) await expect(service(empty).forQuote(quote, AT)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_NOT_FOUND', errorClass: 'COLLATERAL_UNAVAILABLE', retryable: true });
  });

  it('AMD: chain and CRL served, no VCEK for the chip -> ERR_COLLATERAL_UNKNOWN_PLATFORM; nothing served -> retryable ERR_COLLATERAL_NOT_FOUND', async () => {
    const { SimulatedTeeProvider } = await import('../../src/tee/index.js');
    const { parseEvidence } = await import('../../src/index.js');
    const { CollateralService } = await import('../../src/collateral/index.js');
    const tee = new SimulatedTeeProvider({ tee: 'snp', at: AT });
    const report = parseEvidence((await tee.getEvidence(new Uint8Array(64))).evidence) as Parameters<InstanceType<typeof CollateralService>['forSnpReport']>[0];
    const service = (server: CollateralServer) => new CollateralService({ amd: new AmdKdsClient({ http: http(), baseUrl: server.url }), cache: null });
    const withoutVcek = await serving([...tee.collateral], (a) => a.kind === 'amd-cert-chain' || a.kind === 'amd-crl');
    await expect(service(withoutVcek).forSnpReport(report, AT)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_UNKNOWN_PLATFORM', retryable: false });
    const empty = await serving([], () => false);
    await expect(service(empty).forSnpReport(report, AT)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_NOT_FOUND', retryable: true });
  });
});
