/**
 * Review s13 #1: a 404 for the report's VCEK is the final ERR_COLLATERAL_UNKNOWN_PLATFORM only
 * from a KDS that serves now (review s6b #2). Only an answer that came from the network counts:
 * a source that falls back to an explicit bundle when the network fails (the CLI's `verify
 * --collateral` and `serve --collateral`) answered the liveness probe, and the chain and CRL
 * fetches, with the bundle's copies, so a KDS answering 404 to everything gave final verdicts.
 * And the liveness is per product: a mirror serving Milan's documents says nothing about Genoa's.
 * Both cases fail on the code before.
 */
import { afterEach, describe, expect, it } from 'vitest';

import {
  AmdKdsClient,
  BundleSource,
  CollateralCache,
  CollateralService,
  HttpClient,
  type AmdCollateralSource,
  type CollateralArtifact,
} from '../../src/collateral/index.js';
import { validateArtifactForKey } from '../../src/collateral/validate.js';
import { artifactKey, type AmdKeyKind, type AmdProduct, type VcekRequest } from '../../src/collateral/index.js';
import { parseEvidence, type SnpReport } from '../../src/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { buildEmptyAmdCrl } from '../../src/testing/amd-crl.js';
import { buildSnpReport, createAmdTestPki } from '../../src/testing/index.js';
import { CollateralServer, type Record } from '../helpers/collateral-server.js';

const AT = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;

const servers: CollateralServer[] = [];
const clients: HttpClient[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
  while (clients.length) await clients.pop()!.close();
});

async function serve(records: Record[]): Promise<CollateralServer> {
  const s = await CollateralServer.start(records);
  servers.push(s);
  return s;
}

function kds(url: string): AmdKdsClient {
  const http = new HttpClient({ retries: 0, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
  clients.push(http);
  return new AmdKdsClient({ http, baseUrl: url });
}

function outcome(p: Promise<unknown>): Promise<{ code?: string; retryable?: boolean; details?: { reason?: string } } | 'resolved'> {
  return p.then(
    () => 'resolved' as const,
    (e: { code?: string; retryable?: boolean; details?: { reason?: string } }) => e,
  );
}

/** The network, then the bundle when the network fails: what the CLI's RunSource and ServeSource do. */
class NetworkThenBundle implements AmdCollateralSource {
  constructor(
    readonly net: AmdKdsClient,
    readonly bundle: BundleSource,
  ) {}
  async #get(fromNet: () => Promise<CollateralArtifact>, fromBundle: () => Promise<CollateralArtifact>): Promise<CollateralArtifact> {
    try {
      return await fromNet();
    } catch (err) {
      return fromBundle().catch(() => Promise.reject(err));
    }
  }
  vcek(r: VcekRequest) {
    return this.#get(() => this.net.vcek(r), () => this.bundle.vcek(r));
  }
  certChain(product: AmdProduct, key: AmdKeyKind) {
    return this.#get(() => this.net.certChain(product, key), () => this.bundle.certChain(product, key));
  }
  crl(product: AmdProduct, key: AmdKeyKind) {
    return this.#get(() => this.net.crl(product, key), () => this.bundle.crl(product, key));
  }
}

const milan = new SimulatedTeeProvider({ tee: 'snp', at: AT, seed: 'review s13 liveness' });
const milanFixed = milan.collateral.filter((a) => a.kind !== 'amd-vcek'); // chain and CRL, no VCEK

/** `artifacts` (chain, CRL) at their KDS paths. */
function kdsRecords(product: AmdProduct, artifacts: readonly CollateralArtifact[]): Record[] {
  return artifacts.map((a) => ({ path: `/vcek/v1/${product}/${a.kind === 'amd-crl' ? 'crl' : 'cert_chain'}`, body: a.body }));
}

async function milanReport(): Promise<SnpReport> {
  return parseEvidence((await milan.getEvidence(new Uint8Array(64))).evidence) as SnpReport;
}

const notServing = { code: 'ERR_COLLATERAL_NOT_FOUND', retryable: true, details: { reason: 'source-not-serving' } };
const verdict = { code: 'ERR_COLLATERAL_UNKNOWN_PLATFORM', retryable: false };

describe('a source that falls back to a bundle is not a KDS that serves (review s13 #1)', () => {
  it('no cache: the chain and CRL answered by the bundle do not make a 404-for-everything KDS a serving one', async () => {
    const report = await milanReport();
    const server = await serve([]); // a wrong --kds-url, an emptied mirror: 404 to everything
    const source = new NetworkThenBundle(kds(server.url), new BundleSource(milanFixed));
    const service = new CollateralService({ amd: source, cache: null, clock: () => 0 });
    expect(await outcome(service.forSnpReport(report, AT))).toMatchObject(notServing);
    expect(await outcome(service.forEvidenceCrlsOptional(report, AT))).toMatchObject(notServing);
    expect(server.hits.get('/vcek/v1/Milan/crl')).toBeGreaterThanOrEqual(1);
  });

  it('warm cache: the probe answered by the bundle is a failed probe', async () => {
    const report = await milanReport();
    const server = await serve([]);
    const cache = new CollateralCache({ directory: null });
    for (const a of milanFixed) cache.put({ ...a, source: { origin: 'network' } });
    let clock = 0;
    const source = new NetworkThenBundle(kds(server.url), new BundleSource(milanFixed));
    const service = new CollateralService({ amd: source, cache, clock: () => clock });
    expect(await outcome(service.forSnpReport(report, AT))).toMatchObject(notServing);
    const probes = server.hits.get('/vcek/v1/Milan/crl');
    expect(probes).toBe(1);
    // Remembered for the window: no second probe.
    expect(await outcome(service.forSnpReport(report, AT))).toMatchObject(notServing);
    expect(server.hits.get('/vcek/v1/Milan/crl')).toBe(1);
    // The KDS is repaired: after the window, the probe reaches it and the 404 is the verdict.
    server.records.push(...kdsRecords('Milan', milanFixed));
    clock += 60_000;
    expect(await outcome(service.forSnpReport(report, AT))).toMatchObject(verdict);
  });

  it('control: a KDS that serves the chain and CRL (network answers) still gives the verdict', async () => {
    const report = await milanReport();
    const server = await serve(kdsRecords('Milan', milanFixed));
    const source = new NetworkThenBundle(kds(server.url), new BundleSource(milanFixed));
    const service = new CollateralService({ amd: source, cache: null, clock: () => 0 });
    expect(await outcome(service.forSnpReport(report, AT))).toMatchObject(verdict);
  });
});

describe('liveness is per product (review s13 #1, the unproven note)', () => {
  it('a mirror that serves Milan but lost Genoa: a Genoa 404 behind a warm cache is not a verdict', async () => {
    const validity = { notBefore: new Date(AT.getTime() - 365 * DAY), notAfter: new Date(AT.getTime() + 5 * 365 * DAY) };
    const genoaPki = createAmdTestPki({ seed: 'review s13 genoa', product: 'Genoa', validity });
    const genoa = parseEvidence(buildSnpReport({ version: 3, product: 'Genoa', signingKey: 'vcek', key: genoaPki.vcek.key.privateKey, seed: 'review s13 genoa' }).bytes) as SnpReport;
    expect(genoa.product).toBe('Genoa');
    const source = { origin: 'network' as const };
    const genoaFixed = [
      validateArtifactForKey({ kind: 'amd-cert-chain', key: artifactKey.certChain('Genoa', 'vcek'), body: new Uint8Array(Buffer.from(genoaPki.ask.pem + genoaPki.ark.pem)), source }),
      validateArtifactForKey({ kind: 'amd-crl', key: artifactKey.amdCrl('Genoa', 'vcek'), body: buildEmptyAmdCrl(genoaPki, { notBefore: new Date(AT.getTime() - DAY), notAfter: new Date(AT.getTime() + 29 * DAY) }), source }),
    ];
    const server = await serve(kdsRecords('Milan', milanFixed)); // Milan's chain and CRL; nothing of Genoa
    const cache = new CollateralCache({ directory: null });
    for (const a of genoaFixed) cache.put(a); // fetched while the mirror still had Genoa
    const service = new CollateralService({ amd: kds(server.url), cache, clock: () => 0 });
    // Milan: the chain and CRL come from the mirror now, so its 404 is the verdict.
    expect(await outcome(service.forSnpReport(await milanReport(), AT))).toMatchObject(verdict);
    // Genoa: the chain and CRL come from the cache; the mirror answers no Genoa document.
    expect(await outcome(service.forSnpReport(genoa, AT))).toMatchObject(notServing);
    expect(server.hits.get('/vcek/v1/Genoa/crl')).toBe(1); // the probe asked for Genoa's CRL
  });
});
