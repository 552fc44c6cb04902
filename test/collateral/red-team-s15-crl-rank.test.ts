/**
 * Red team s15 (collateral) finding 1: a rogue PCCS rolled back the PCK CRL. All of Intel's PCK CRLs
 * carry CRL number 1, so the cache ranked two versions by the start of their validity window, and
 * that window is narrowed by the SGX-PCK-CRL-Issuer-Chain response header, which nothing vouches for
 * (the verifier checks the CRL against the PCK chain in the evidence, T14, and never reads it). A
 * PCCS that answered one fetch (at a past instant, as batch --at collected does) with Intel's older
 * CRL, from before the revocation, plus any certificate with a recent notBefore in the header, made
 * that old CRL outrank the genuine newer one: a revoked PCK verified as trusted afterwards, in the
 * same process and from the disk cache. Versions are now ranked by the document's own signed
 * thisUpdate / issueDate (CollateralArtifact.issued), X03.
 *
 * The PCCS is a real HTTP server on 127.0.0.1; the cache is a real directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AmdKdsClient, CollateralCache, CollateralService, HttpClient, IntelPcsClient, verifyEvidence, type CollateralArtifact } from '../../src/index.js';
import { isOlder } from '../../src/collateral/cache.js';
import { validateArtifact } from '../../src/collateral/validate.js';
import { buildTestCrl, createIntelTestPki, createSyntheticIntelPlatform } from '../../src/testing/index.js';

const DAY = 86_400_000;
const AT = new Date('2026-02-01T12:00:00Z');
const p = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed: 's15 red team crl rank' });
const c = { tcbInfo: p.collateral.tcbInfo!, qeIdentity: p.collateral.qeIdentity!, rootCaCrl: p.collateral.rootCaCrl! };
/** Intel's history: the newer CRL (issued AT - 1 day) lists the PCK, the older one (AT - 10 days) did not yet; both number 1. */
const crlNew = buildTestCrl(p.pki.pckCa, { thisUpdate: new Date(AT.getTime() - DAY), nextUpdate: new Date(AT.getTime() + 29 * DAY), revokedSerials: [p.pki.pck.serialHex], crlNumber: 1 });
const crlOld = buildTestCrl(p.pki.pckCa, { thisUpdate: new Date(AT.getTime() - 10 * DAY), nextUpdate: new Date(AT.getTime() + 20 * DAY), revokedSerials: [], crlNumber: 1 });
const genuineChain = p.pki.pckCa.pem + p.pki.root.pem;
/** Any certificate at all, valid from an hour before AT: only its notBefore matters to the attack. */
const madeUp = createIntelTestPki({ seed: 's15 attacker', validity: { notBefore: new Date(AT.getTime() - 3_600_000), notAfter: new Date(AT.getTime() + 365 * DAY) } }).root.pem;

/** What the PCCS answers for the PCK CRL: the genuine newer CRL, the older CRL under a made-up chain, or copies of the newer CRL under made-up chains. */
let mode: 'genuine' | 'old' | 'copies' | 'forged' = 'genuine';
let forged = 0;
let copies = 0;
const MIN = 60_000;
/** A made-up one-certificate "chain" valid for one minute, i minutes after the newer CRL's thisUpdate: it narrows the copy's window to that minute. */
const copyChain = (i: number): string => createIntelTestPki({ seed: `s15 attacker copy ${i}`, validity: { notBefore: new Date(AT.getTime() - DAY + i * MIN), notAfter: new Date(AT.getTime() - DAY + (i + 1) * MIN) } }).root.pem;
let server: Server;
let url = '';
const dirs: string[] = [];

beforeAll(async () => {
  const routes: Record<string, () => { body: Uint8Array; headers?: Record<string, string> }> = {
    '/tdx/certification/v4/tcb': () => ({ body: c.tcbInfo.body, headers: { 'TCB-Info-Issuer-Chain': encodeURIComponent(c.tcbInfo.issuerChainPem!) } }),
    '/tdx/certification/v4/qe/identity': () => ({ body: c.qeIdentity.body, headers: { 'SGX-Enclave-Identity-Issuer-Chain': encodeURIComponent(c.qeIdentity.issuerChainPem!) } }),
    '/sgx/certification/v4/rootcacrl': () => ({ body: c.rootCaCrl.body }),
    '/sgx/certification/v4/pckcrl': () =>
      mode === 'forged'
        ? // signed by another key than the PCK CA's, issued after the genuine CRL
          { body: buildTestCrl(createIntelTestPki({ seed: `s15 forger ${++forged}`, validity: { notBefore: new Date(AT.getTime() - 400 * DAY), notAfter: new Date(AT.getTime() + 400 * DAY) } }).pckCa, { thisUpdate: new Date(AT.getTime() + 2 * DAY + forged * MIN), nextUpdate: new Date(AT.getTime() + 3 * DAY), revokedSerials: [], crlNumber: 1 }), headers: { 'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(genuineChain) } }
        : mode === 'old'
        ? { body: crlOld, headers: { 'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(madeUp) } }
        : { body: crlNew, headers: { 'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(mode === 'copies' ? copyChain(++copies) : genuineChain) } },
  };
  server = createServer((req, res) => {
    const route = routes[new URL(req.url ?? '/', 'http://x').pathname];
    if (!route) return void res.writeHead(404).end('not found');
    const r = route();
    res.writeHead(200, { 'content-length': String(r.body.length), ...r.headers }).end(Buffer.from(r.body));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((ok) => server.close(ok));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const service = (directory: string): CollateralService => {
  const http = new HttpClient({ retries: 0 });
  return new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: url }), amd: new AmdKdsClient({ http, baseUrl: url }), cache: new CollateralCache({ directory }), trustRoots: p.trustRoots });
};
const verdict = async (svc: CollateralService, at: Date): Promise<{ code?: string; check?: string; ok?: boolean }> => {
  try {
    const r = await verifyEvidence(p.quote.bytes, { collateral: svc, at, trustRoots: p.trustRoots });
    return { ok: r.ok };
  } catch (e) {
    return { code: (e as { code?: string }).code, check: (e as { check?: string }).check };
  }
};

describe('PCK CRL rollback through a made-up issuer chain header (red team s15, collateral #1)', () => {
  it('an older CRL whose header chain starts later does not outrank the newer CRL: the revoked PCK stays revoked', async () => {
    mode = 'genuine';
    const directory = mkdtempSync(join(tmpdir(), 'tee-verify-s15-crl-'));
    dirs.push(directory);
    const svc = service(directory);
    expect(await verdict(svc, AT)).toEqual({ code: 'ERR_REVOKED', check: 'T14' });
    // The PCCS turns rogue; one verification at a past instant (a batch re-verification) makes it fetch the PCK CRL again.
    mode = 'old';
    await verdict(svc, new Date(AT.getTime() - 5 * DAY));
    // The genuine newer CRL still decides, in this process and in a new one on the same cache directory.
    expect(await verdict(svc, AT)).toEqual({ code: 'ERR_REVOKED', check: 'T14' });
    expect(await verdict(service(directory), AT)).toEqual({ code: 'ERR_REVOKED', check: 'T14' });
  });

  it('copies of the genuine CRL under made-up header chains do not evict it (s15 change review, finding 1): the older CRL served afterwards stays unused', async () => {
    mode = 'genuine';
    const directory = mkdtempSync(join(tmpdir(), 'tee-verify-s15-crl-flood-'));
    dirs.push(directory);
    const svc = service(directory);
    expect(await verdict(svc, AT)).toEqual({ code: 'ERR_REVOKED', check: 'T14' });
    // Eight verifications at a past instant (nothing valid then: each fetches) store eight copies, each
    // ranking newer than the genuine (a later window start) and each valid for one minute only; the
    // cache holds 8 versions per key, so the genuine, unmarked CRL was the one evicted.
    mode = 'copies';
    for (let i = 0; i < 8; i++) await verdict(svc, new Date(AT.getTime() - 5 * DAY));
    expect(copies).toBe(8);
    mode = 'old';
    expect(await verdict(svc, AT)).toEqual({ code: 'ERR_REVOKED', check: 'T14' });
    expect(await verdict(service(directory), AT)).toEqual({ code: 'ERR_REVOKED', check: 'T14' });
  });

  it.each(['copies', 'forged'] as const)('%s stored at future instants (after the genuine CRL has ended) do not evict it either (s15 change review round 2, finding 1)', async (shape) => {
    mode = 'genuine';
    const directory = mkdtempSync(join(tmpdir(), 'tee-verify-s15-crl-future-'));
    dirs.push(directory);
    const svc = service(directory);
    expect(await verdict(svc, AT)).toEqual({ code: 'ERR_REVOKED', check: 'T14' });
    // verify --at and batch --at take any instant: past the genuine CRL's nextUpdate (AT + 29 days) it
    // has "passed" at the storing lookup's instant, which eviction used to drop first.
    mode = shape;
    for (let i = 0; i < 8; i++) await verdict(svc, new Date(AT.getTime() + 40 * DAY + i * 10 * MIN));
    mode = 'old';
    expect(await verdict(svc, AT)).toEqual({ code: 'ERR_REVOKED', check: 'T14' });
    expect(await verdict(service(directory), AT)).toEqual({ code: 'ERR_REVOKED', check: 'T14' });
  });

  it('ranks versions of equal CRL number by the signed thisUpdate, not by the window a header chain narrows', () => {
    const key = 'intel/pck-crl/platform';
    const newer = validateArtifact({ kind: 'intel-pck-crl', key, body: crlNew, issuerChainPem: genuineChain, source: { origin: 'network' } });
    const older = validateArtifact({ kind: 'intel-pck-crl', key, body: crlOld, issuerChainPem: madeUp, source: { origin: 'network' } });
    // the made-up chain moves the older CRL's window start after the newer CRL's
    expect(Date.parse(older.validity.notBefore)).toBeGreaterThan(Date.parse(newer.validity.notBefore));
    expect(older.issued).toBe(new Date(AT.getTime() - 10 * DAY).toISOString());
    expect(isOlder(older, newer)).toBe(true);
    expect(isOlder(newer, older)).toBe(false);
  });
});

describe('eviction under roots that vouch for nothing (s15 change review round 3, finding 1)', () => {
  it('the version that verified last survives forged newcomers when no version chains to the roots', () => {
    const key = 'intel/root-ca-crl';
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const version = (sequence: number, body: number[]): CollateralArtifact => ({
      kind: 'intel-root-ca-crl',
      key,
      body: new Uint8Array(body),
      sequence: String(sequence),
      validity: { notBefore: new Date(t0 + DAY).toISOString(), notAfter: new Date(t0 + 31 * DAY).toISOString() },
      source: { origin: 'network' },
    });
    const cache = new CollateralCache({ directory: null, maxVersions: 3 });
    const now = new Date(t0 + 2 * DAY);
    const genuine = version(1, [1]);
    cache.put(genuine, [], { now, anchored: () => false });
    cache.markVerified(genuine);
    for (let n = 0; n < 10; n++) cache.put(version(1000 + n, [1, n]), [], { now, anchored: () => false });
    expect(cache.versions(key).map((a) => a.sequence)).toContain('1');
  });
});
