/**
 * Review s13 #2: no cache, an explicit bundle whose copy has expired at the instant, and a source
 * that serves valid collateral. After one successful fetch, every lookup of the key within
 * refreshIntervalMs was answered with the bundle's expired copy (ERR_COLLATERAL_EXPIRED, X02):
 * the resolver took "no refresh due" for "the last attempt answered the bundle's copy", and with
 * no cache nothing kept the fetched one. The bundle's copy now stands in only after an attempt
 * that answered it (a source falling back to the bundle); otherwise the source is asked again.
 * The first two tests fail on the code before.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { ArtifactResolver, BundleSource, CollateralService, HttpClient, IntelPcsClient, type CollateralArtifact } from '../../src/collateral/index.js';
import { verifyEvidence } from '../../src/index.js';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { CollateralServer, type Record } from '../helpers/collateral-server.js';

const AT = new Date('2026-06-01T12:00:00Z');
const DAY = 86_400_000;

const servers: CollateralServer[] = [];
const clients: HttpClient[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
  while (clients.length) await clients.pop()!.close();
});

/** The same platform (seed) two months earlier: its collateral has expired at AT. */
const old = createSyntheticIntelPlatform({ tee: 'tdx', at: new Date(AT.getTime() - 60 * DAY), seed: 'review s13 no-cache bundle' });
const cur = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed: 'review s13 no-cache bundle' });
const asBundle = (a: CollateralArtifact): CollateralArtifact => ({ ...a, source: { origin: 'bundle' } });
const oldBundle = () => new BundleSource((Object.values(old.collateral) as CollateralArtifact[]).map(asBundle));

/** cur's collateral at the PCS / PCCS paths, with the issuer chains in the headers as Intel sends them. */
function pcsRecords(): Record[] {
  const c = cur.collateral as Required<typeof cur.collateral>;
  const chain = (a: CollateralArtifact) => encodeURIComponent(a.issuerChainPem!);
  return [
    { path: '/tdx/certification/v4/tcb', body: c.tcbInfo.body, headers: { 'tcb-info-issuer-chain': chain(c.tcbInfo) } },
    { path: '/tdx/certification/v4/qe/identity', body: c.qeIdentity.body, headers: { 'sgx-enclave-identity-issuer-chain': chain(c.qeIdentity) } },
    { path: '/sgx/certification/v4/pckcrl', body: c.pckCrl.body, headers: { 'sgx-pck-crl-issuer-chain': chain(c.pckCrl) } },
    { path: '/sgx/certification/v4/rootcacrl', body: c.rootCaCrl.body },
  ];
}

describe('no cache + an expired bundle copy + a working source (review s13 #2)', () => {
  it('resolver: the lookup after a successful fetch gets the source\'s copy again, not the bundle\'s expired one', async () => {
    const held = asBundle(old.collateral.tcbInfo!);
    const fresh: CollateralArtifact = { ...cur.collateral.tcbInfo!, source: { origin: 'network' } };
    expect(held.key).toBe(fresh.key);
    const r = new ArtifactResolver({ cache: null, bundle: new BundleSource([held]), fetchBudget: null });
    let calls = 0;
    const fetch = async () => {
      calls++;
      return fresh;
    };
    expect((await r.resolve(fresh.key, fetch, AT)).artifact).toBe(fresh);
    const second = await r.resolve(fresh.key, fetch, new Date(AT.getTime() + 1000));
    expect(second.artifact).toBe(fresh);
    expect(second.warnings.join()).toContain('using the network copy');
    expect(calls).toBe(2);
  });

  it('CollateralService on a 127.0.0.1 PCCS, cache null: the second verification passes like the first (it threw X02 before)', async () => {
    const server = await CollateralServer.start(pcsRecords());
    servers.push(server);
    const http = new HttpClient({ retries: 0, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
    clients.push(http);
    const intel = new IntelPcsClient({ http, baseUrl: server.url });
    const service = new CollateralService({ intel, cache: null, bundle: oldBundle(), trustRoots: cur.trustRoots, fetchBudget: null });
    const v1 = await verifyEvidence(cur.quote.bytes, { collateral: service, trustRoots: cur.trustRoots, at: AT });
    expect(v1.ok).toBe(true);
    const v2 = await verifyEvidence(cur.quote.bytes, { collateral: service, trustRoots: cur.trustRoots, at: new Date(AT.getTime() + 60_000) });
    expect(v2.ok).toBe(true);
    expect(server.hits.get('/tdx/certification/v4/tcb')).toBe(2);
  });

  it('unchanged: after an attempt the source answered with the bundle\'s own copy (network down), the next lookup within the interval is not fetched', async () => {
    const held = asBundle(old.collateral.tcbInfo!);
    const r = new ArtifactResolver({ cache: null, bundle: new BundleSource([held]), fetchBudget: null });
    let calls = 0;
    const fallsBack = async () => {
      calls++;
      return held; // what the CLI's sources answer when the network fails
    };
    await expect(r.resolve(held.key, fallsBack, AT)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_EXPIRED' });
    await expect(r.resolve(held.key, fallsBack, new Date(AT.getTime() + 1000))).rejects.toMatchObject({ code: 'ERR_COLLATERAL_EXPIRED' });
    expect(calls).toBe(1);
    // Once a refresh is due, the source is asked again.
    await expect(r.resolve(held.key, fallsBack, new Date(AT.getTime() + 5 * 60_000))).rejects.toMatchObject({ code: 'ERR_COLLATERAL_EXPIRED' });
    expect(calls).toBe(2);
  });
});
