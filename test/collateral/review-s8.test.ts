/**
 * Review session 8 (collateral), findings 1-5.
 *
 * 1. A PCCS in REQ / OFFLINE caching mode answers 404 "No cache data for this
 *    platform" for TCB info it has not cached; the FMSPC comes from a PCK chain
 *    verified to the pinned root, so that is a retryable gap of the source,
 *    not a final verdict on the quote, and it is remembered for 30 s at most.
 * 2. The issuer chain is part of a cached version: one rogue answer with the
 *    genuine body and a stale chain (empty validity window) used to be cached,
 *    the genuine answer was then refused as a duplicate and the rogue copy got
 *    the verified mark. An empty window is now a format error.
 * 3. X03 ranking (chainsToRoots) checked a Root CA CRL or AMD CRL by any chain
 *    attached to it: now by the pinned root / ARK only, and an attached chain
 *    on those kinds is refused at import and at cache entry.
 * 4. Bundles held the last of two entries under one key, and answered a
 *    channel lookup with the first entry of another selector: import refuses
 *    two versions under one key, BundleSource and exportBundle keep the newest
 *    (isOlder), and the re-keying picks the newest.
 * 5. Error bodies were read in full (a 5 MiB 503 page became the final
 *    ERR_COLLATERAL_TOO_LARGE), and Retry-After "-1" or "1.5" parsed as a date
 *    in the past (a retry at once): the status alone classifies an error
 *    answer, and Retry-After is delta-seconds or an IMF-fixdate, else backoff.
 * Optional: once a verification used evaluation N of a TCB info, an older
 *    evaluation served after N's document expired is a rollback (X03).
 */
import { afterEach, describe, expect, it } from 'vitest';

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BundleSource, CollateralCache, CollateralService, HttpClient, IntelPcsClient, exportBundle, importBundle, verifyEvidence, type CollateralArtifact } from '../../src/index.js';
import { ArtifactResolver, artifactKey, chainsToRoots } from '../../src/collateral/index.js';
import { validateArtifactForKey } from '../../src/collateral/validate.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { createSyntheticIntelPlatform, intelArtifact, signCollateralJson } from '../../src/testing/index.js';
import { parseRetryAfter } from '../../src/collateral/http.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CollateralServer, type Record } from '../helpers/collateral-server.js';

const AT = new Date('2026-06-01T12:00:00Z');
const TCB_PATH = '/tdx/certification/v4/tcb';

const YEAR = 365 * 86_400_000;

const servers: CollateralServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s8-'));
  dirs.push(d);
  return d;
}

/** A TCB signing chain valid from AT - 8 years to AT - 2 years (the test PKI spans at - 1 y .. at + 5 y). */
const staleChain = () => createSyntheticIntelPlatform({ tee: 'tdx', at: new Date(AT.getTime() - 7 * YEAR), seed: 'review s8 stale chain' }).pki.tcbSigningChainPem;

/** Intel collateral at the PCCS paths, issuer chains URL-encoded in their headers. */
function pccsRecords(artifacts: readonly CollateralArtifact[]): Record[] {
  const where: { [kind: string]: [string, string | undefined] } = {
    'intel-tcb-info': [TCB_PATH, 'tcb-info-issuer-chain'],
    'intel-qe-identity': ['/tdx/certification/v4/qe/identity', 'sgx-enclave-identity-issuer-chain'],
    'intel-pck-crl': ['/sgx/certification/v4/pckcrl', 'sgx-pck-crl-issuer-chain'],
    'intel-root-ca-crl': ['/sgx/certification/v4/rootcacrl', undefined],
  };
  return artifacts.map((a) => {
    const [path, header] = where[a.kind]!;
    return { path, body: a.body, headers: header && a.issuerChainPem ? { [header]: encodeURIComponent(a.issuerChainPem) } : {} };
  });
}

function outcome(p: Promise<unknown>): Promise<{ code?: string; errorClass?: string; retryable?: boolean; details?: { reason?: string } } | 'ok'> {
  return p.then(
    () => 'ok' as const,
    (e: { code?: string; errorClass?: string; retryable?: boolean; details?: { reason?: string } }) => e,
  );
}

describe('#1 a PCCS that has not cached the platform\'s TCB info', () => {
  it('is the retryable ERR_COLLATERAL_NOT_FOUND, remembered 30 s at most, and verifies once the PCCS is filled', async () => {
    const tdx = new SimulatedTeeProvider({ tee: 'tdx', at: AT });
    const { evidence } = await tdx.getEvidence(new Uint8Array(64));
    const records = pccsRecords(tdx.collateral);
    const tcbRecord = records.find((r) => r.path === TCB_PATH)!;
    // REQ / OFFLINE mode: everything but this FMSPC's TCB info (the PCCS answers 404 for it without asking Intel).
    const server = await CollateralServer.start(records.filter((r) => r !== tcbRecord));
    servers.push(server);
    let clock = 1_000_000;
    const http = new HttpClient({ retries: 0 });
    // notFoundTtlMs stays at its default (5 min): the TCB info's own cap applies.
    const service = new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: server.url }), cache: new CollateralCache({ directory: null }), clock: () => clock });
    const verify = () => outcome(verifyEvidence(evidence, { collateral: service, trustRoots: tdx.trustRoots, at: AT }));
    try {
      const expected = { code: 'ERR_COLLATERAL_NOT_FOUND', errorClass: 'COLLATERAL_UNAVAILABLE', retryable: true, details: { reason: 'platform-not-served' } };
      expect(await verify()).toMatchObject(expected);
      expect(await verify()).toMatchObject(expected);
      expect(server.hits.get(TCB_PATH)).toBe(1); // the second answer came from the negative cache

      server.records.push(tcbRecord); // the platform registers; the PCCS now holds its TCB info
      clock += 29_999;
      expect(await verify()).toMatchObject(expected);
      expect(server.hits.get(TCB_PATH)).toBe(1);
      clock += 1;
      expect(await verify()).toBe('ok');
      expect(server.hits.get(TCB_PATH)).toBe(2);
    } finally {
      await http.close();
    }
  });
});

describe('#2 the issuer chain is part of a cached version', () => {
  it('an empty validity window (a chain that expired before the document was issued) is ERR_COLLATERAL_FORMAT', async () => {
    const tcb = new SimulatedTeeProvider({ tee: 'tdx', at: AT }).collateral.find((a) => a.kind === 'intel-tcb-info')!;
    expect(() => validateArtifactForKey({ kind: tcb.kind, key: tcb.key, body: tcb.body, issuerChainPem: staleChain(), source: { origin: 'network' } })).toThrow(
      expect.objectContaining({ code: 'ERR_COLLATERAL_FORMAT', message: expect.stringContaining('validity window is empty') }),
    );
  });

  it('r1: one rogue answer with a stale chain is refused, the genuine one is cached and fetching stops', async () => {
    const tdx = new SimulatedTeeProvider({ tee: 'tdx', at: AT });
    const { evidence } = await tdx.getEvidence(new Uint8Array(64));
    const records = pccsRecords(tdx.collateral);
    const genuine = records.find((r) => r.path === TCB_PATH)!;
    const rogue = { ...genuine, headers: { 'tcb-info-issuer-chain': encodeURIComponent(staleChain()) } };
    const server = await CollateralServer.start(records.map((r) => (r === genuine ? rogue : r)));
    servers.push(server);
    const http = new HttpClient({ retries: 0 });
    const cache = new CollateralCache({ directory: tempDir() });
    const service = new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: server.url }), cache });
    const verify = () => outcome(verifyEvidence(evidence, { collateral: service, trustRoots: tdx.trustRoots, at: AT }));
    try {
      expect(await verify()).toMatchObject({ code: 'ERR_COLLATERAL_FORMAT' });
      server.records.splice(server.records.indexOf(rogue), 1, genuine);
      for (let i = 0; i < 4; i++) expect(await verify()).toBe('ok');
      expect(server.hits.get(TCB_PATH)).toBe(2);
      const tcbKey = tdx.collateral.find((a) => a.kind === 'intel-tcb-info')!.key;
      const fresh = new CollateralCache({ directory: cache.directory });
      const stored = fresh.versions(tcbKey);
      expect(stored).toHaveLength(1);
      expect(stored[0]!.issuerChainPem).toBe(tdx.collateral.find((a) => a.kind === 'intel-tcb-info')!.issuerChainPem);
      // s16 env #2: these verifications ran under the test PKI, on a service built with the pinned roots: nothing is marked.
      expect(fresh.isVerified(stored[0]!)).toBe(false);
    } finally {
      await http.close();
    }
  });

  it('the genuine body with another chain is another version: stored, marked and discarded on its own, on disk too', () => {
    const tcb = new SimulatedTeeProvider({ tee: 'tdx', at: AT }).collateral.find((a) => a.kind === 'intel-tcb-info')!;
    const foreignChain = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed: 'review s8 foreign chain' }).pki.tcbSigningChainPem;
    const rogue = validateArtifactForKey({ kind: tcb.kind, key: tcb.key, body: tcb.body, issuerChainPem: foreignChain, source: { origin: 'network' } });
    const genuine: CollateralArtifact = { ...tcb, source: { origin: 'network' } };
    const directory = tempDir();
    const cache = new CollateralCache({ directory });
    expect(cache.put(rogue)).toBe(true);
    expect(cache.put(genuine)).toBe(true); // was refused as "the same bytes"
    expect(cache.put({ ...genuine })).toBe(false); // the same version again
    expect(cache.versions(tcb.key)).toHaveLength(2);
    expect(cache.markVerified(genuine)).toBe(true);
    expect(cache.isVerified(rogue)).toBe(false);
    expect(cache.discard(rogue)).toBe(true);
    expect(cache.versions(tcb.key).map((a) => a.issuerChainPem)).toEqual([tcb.issuerChainPem]);
    const fresh = new CollateralCache({ directory });
    const [loaded, ...rest] = fresh.versions(tcb.key);
    expect(rest).toEqual([]);
    expect(loaded!.issuerChainPem).toBe(tcb.issuerChainPem);
    expect(fresh.isVerified(loaded!)).toBe(true);
  });
});

const pemOf = (ders: readonly Uint8Array[]) =>
  ders.map((der) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`).join('');

describe('#3 root-signed CRLs chain to the pinned root only', () => {
  const A = new SimulatedTeeProvider({ tee: 'tdx', at: AT }); // the verification's PKI
  const B = new SimulatedTeeProvider({ tee: 'tdx', at: new Date(AT.getTime() + 3_600_000), seed: 'review s8 attacker' });
  const bRootCrl = B.collateral.find((a) => a.kind === 'intel-root-ca-crl')!;
  /** B's Root CA CRL with B's root attached as its "issuer chain" (validation bypassed, as a custom source or a bug could). */
  const planted: CollateralArtifact = { ...bRootCrl, issuerChainPem: pemOf(B.trustRoots.intelRootCas), source: { origin: 'network' } };

  it('r2: an attached chain does not anchor a Root CA CRL or an AMD CRL under other roots', () => {
    expect(chainsToRoots(bRootCrl, A.trustRoots)).toBe(false);
    expect(chainsToRoots(planted, A.trustRoots)).toBe(false);
    expect(chainsToRoots(A.collateral.find((a) => a.kind === 'intel-root-ca-crl')!, A.trustRoots)).toBe(true);
    expect(chainsToRoots({ ...A.collateral.find((a) => a.kind === 'intel-root-ca-crl')!, issuerChainPem: pemOf(B.trustRoots.intelRootCas) }, A.trustRoots)).toBe(true); // ignored, not used

    // AMD: the simulated SEV-SNP platforms share one ARK key per process, so the forged CRL is one signed by B's Intel root.
    const snp = new SimulatedTeeProvider({ tee: 'snp', at: AT });
    const amdCrl = snp.collateral.find((a) => a.kind === 'amd-crl')!;
    const forged: CollateralArtifact = { ...amdCrl, body: bRootCrl.body };
    expect(chainsToRoots(amdCrl, snp.trustRoots)).toBe(true);
    expect(chainsToRoots(forged, snp.trustRoots)).toBe(false);
    expect(chainsToRoots({ ...forged, issuerChainPem: pemOf(B.trustRoots.intelRootCas) }, snp.trustRoots)).toBe(false);
  });

  it('an issuer chain on a Root CA CRL or AMD CRL is refused at import, by sources and by the cache', async () => {
    const fields = { kind: planted.kind, key: planted.key, body: planted.body, issuerChainPem: planted.issuerChainPem, source: { origin: 'network' as const } };
    const refused = expect.objectContaining({ code: 'ERR_COLLATERAL_FORMAT', message: expect.stringContaining('issuer chain is attached') });
    expect(() => validateArtifactForKey(fields)).toThrow(refused);
    expect(() => importBundle(exportBundle([planted]))).toThrow(refused);
    const cache = new CollateralCache({ directory: tempDir() });
    expect(() => cache.put(planted)).toThrow(refused);
    expect(cache.keyCount).toBe(0);
    const resolver = new ArtifactResolver({ cache });
    await expect(resolver.resolve(planted.key, async () => planted, AT)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_FORMAT' });
    expect(cache.has(planted.key)).toBe(false);
    const amdCrl = new SimulatedTeeProvider({ tee: 'snp', at: AT }).collateral.find((a) => a.kind === 'amd-crl')!;
    expect(() => cache.put({ ...amdCrl, issuerChainPem: pemOf(B.trustRoots.intelRootCas) })).toThrow(refused);
  });

  it('r2 end to end: the bundle of the run\'s PKI verifies; a planted CRL with a chain never overrules it', async () => {
    const cache = new CollateralCache({ directory: null });
    expect(() => cache.put(planted)).toThrow();
    const service = new CollateralService({ intel: new BundleSource([]), cache, bundle: new BundleSource([...A.collateral]), trustRoots: A.trustRoots });
    const { evidence } = await A.getEvidence(new Uint8Array(64));
    const at = new Date(AT.getTime() + 2 * 3_600_000);
    for (let i = 0; i < 2; i++) {
      const r = await verifyEvidence(evidence, { collateral: service, trustRoots: A.trustRoots, at });
      expect(r.warnings.filter((w) => w.includes('X03'))).toEqual([]);
    }
  });
});

describe('#4 one version per key in a bundle', () => {
  // Same keys, one day apart: the same TCB info key with a later issueDate.
  const older = new SimulatedTeeProvider({ tee: 'tdx', at: AT, keySeed: 'review s8 bundle' });
  const newer = new SimulatedTeeProvider({ tee: 'tdx', at: new Date(AT.getTime() + 86_400_000), keySeed: 'review s8 bundle' });
  const tcb = (p: SimulatedTeeProvider) => p.collateral.find((a) => a.kind === 'intel-tcb-info')!;
  const entriesOf = (text: string) => (JSON.parse(text) as { artifacts: unknown[] }).artifacts;
  const bundleText = (entries: unknown[]) => JSON.stringify({ format: 'tee-verify-collateral-bundle', version: 1, artifacts: entries });

  it('r4: two ranked versions under one key are both kept at import (archives for batch), the same version twice once; two documents of the same rank are refused', () => {
    expect(tcb(older).key).toBe(tcb(newer).key);
    expect(Date.parse(tcb(older).validity.notBefore)).toBeLessThan(Date.parse(tcb(newer).validity.notBefore));
    const a = entriesOf(exportBundle([tcb(newer)]))[0] as { [k: string]: unknown };
    const b = entriesOf(exportBundle([tcb(older)]))[0] as { [k: string]: unknown };
    for (const pair of [[a, b], [b, a]]) {
      expect(importBundle(bundleText(pair)).map((x) => x.validity.notBefore).sort()).toEqual([tcb(older).validity.notBefore, tcb(newer).validity.notBefore]);
    }
    expect(importBundle(bundleText([a, a]))).toHaveLength(1);
    // The same TCB info under another issuer chain (a different version, cache.ts sameVersion) with
    // the same sequence and start: neither ranks older, so which was meant cannot be told.
    const sameRank = { ...a, issuerChainPem: b['issuerChainPem'] === a['issuerChainPem'] ? `${String(a['issuerChainPem'])}\n` : b['issuerChainPem'] };
    expect(() => importBundle(bundleText([a, sameRank]))).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_FORMAT', details: expect.objectContaining({ reason: 'duplicate-key' }) }));
  });

  it('BundleSource and exportBundle keep the newest of two under one key, whatever the order', () => {
    for (const list of [[tcb(newer), tcb(older)], [tcb(older), tcb(newer)]]) {
      expect(new BundleSource(list).lookup(tcb(older).key)).toBe(tcb(newer));
      const exported = importBundle(exportBundle(list));
      expect(exported.map((x) => x.validity.notBefore)).toEqual([tcb(newer).validity.notBefore]);
    }
  });

  it('a channel lookup answered from other selectors takes the newest of them, not the first in file order', () => {
    const key = tcb(older).key; // .../update=standard
    const early = key.replace('update=standard', 'update=early');
    const fmspc = key.split('/')[3]!;
    const evalKey = artifactKey.tcbInfo({ tee: 'tdx', fmspc, tcbEvaluationDataNumber: 99 });
    const source = new BundleSource([{ ...tcb(older), key: early }, { ...tcb(newer), key: evalKey }]);
    const answered = source.lookup(key)!;
    expect(answered.key).toBe(key);
    expect(answered.validity.notBefore).toBe(tcb(newer).validity.notBefore);
    const reversed = new BundleSource([{ ...tcb(newer), key: evalKey }, { ...tcb(older), key: early }]);
    expect(reversed.lookup(key)!.validity.notBefore).toBe(tcb(newer).validity.notBefore);
  });
});

describe('#5 error answers are classified by status; Retry-After is strict', () => {
  /** A 127.0.0.1 server answering `status` with a body of `bytes` zero bytes (and `retryAfter`, if given). */
  async function errorServer(status: number, bytes: number, retryAfter?: string): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.writeHead(status, { 'content-length': String(bytes), ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }) });
      res.end(Buffer.alloc(bytes));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`,
      hits: () => hits,
      close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
    };
  }
  const FIVE_MIB = 5 * 1024 * 1024;

  for (const [status, code, attempts] of [[503, 'ERR_COLLATERAL_UNAVAILABLE', 3], [500, 'ERR_COLLATERAL_UNAVAILABLE', 3], [404, 'ERR_COLLATERAL_NOT_FOUND', 1], [403, 'ERR_COLLATERAL_HTTP_STATUS', 1]] as const) {
    it(`a ${status} with a 5 MiB body is ${code} after ${attempts} attempt(s), not ERR_COLLATERAL_TOO_LARGE`, async () => {
      const server = await errorServer(status, FIVE_MIB, status === 503 ? '1' : undefined);
      const sleeps: number[] = [];
      const http = new HttpClient({ retries: 2, sleep: async (ms) => void sleeps.push(ms) });
      try {
        const err = await http.get(server.url).catch((e: unknown) => e);
        expect(err).toMatchObject({ code, errorClass: 'COLLATERAL_UNAVAILABLE', details: { status, attempts } });
        expect(server.hits()).toBe(attempts);
        if (status === 503) expect(sleeps).toEqual([1000, 1000]);
      } finally {
        await http.close();
        await server.close();
      }
    });
  }

  it('a 2xx body over the cap is still ERR_COLLATERAL_TOO_LARGE', async () => {
    const server = await errorServer(200, FIVE_MIB);
    const http = new HttpClient({ retries: 2, sleep: async () => {} });
    try {
      await expect(http.get(server.url)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_TOO_LARGE' });
    } finally {
      await http.close();
      await server.close();
    }
  });

  it('parseRetryAfter: digits or an IMF-fixdate only', () => {
    expect(parseRetryAfter('0', 0)).toBe(0);
    expect(parseRetryAfter(' 120 ', 0)).toBe(120_000);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', Date.parse('1994-11-06T08:49:00Z'))).toBe(37_000);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', Date.parse('1994-11-07T00:00:00Z'))).toBe(0); // a date passed: now
    for (const garbage of [
      '-1',
      '1.5',
      '+5',
      '1e3',
      '0x10',
      '',
      'soon',
      '2026-06-01T00:00:00Z', // ISO 8601: Date.parse takes it, HTTP does not
      '2026-06-01',
      'Sunday, 06-Nov-94 08:49:37 GMT', // obsolete RFC 850 form
      'Sun Nov  6 08:49:37 1994', // obsolete asctime form
      'Mon, 06 Nov 1994 08:49:37 GMT', // wrong weekday
      'Tue, 31 Jun 2026 00:00:00 GMT', // no 31 June (Date.parse rolls over)
      'Sun, 06 Nov 1994 08:49:37 UTC',
    ]) {
      expect(parseRetryAfter(garbage, 1_000_000), JSON.stringify(garbage)).toBeUndefined();
    }
  });

  it('a 503 with a malformed Retry-After backs off with jitter instead of retrying at once', async () => {
    const server = await errorServer(503, 0, '-1');
    const sleeps: number[] = [];
    const http = new HttpClient({ retries: 2, baseDelayMs: 100, random: () => 0.5, sleep: async (ms) => void sleeps.push(ms) });
    try {
      await expect(http.get(server.url)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', details: { status: 503, attempts: 3 } });
      expect(sleeps).toEqual([50, 100]);
    } finally {
      await http.close();
      await server.close();
    }
  });
});

describe('rollback floor: an older evaluation after the newer one expired (X03)', () => {
  const DAY = 86_400_000;
  const p = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed: 'review s8 rollback' });
  const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
  /** The platform's TCB info at `evaluation`, valid `from` .. `to` days after AT, as a source answers it. */
  const tcbAt = (evaluation: number, from: number, to: number): CollateralArtifact => {
    const doc = { ...p.tcbInfo, tcbEvaluationDataNumber: evaluation, issueDate: iso(AT.getTime() + from * DAY), nextUpdate: iso(AT.getTime() + to * DAY) };
    const body = signCollateralJson('tcbInfo', doc as never, p.pki.tcbSigning.key.privateKey);
    return { ...intelArtifact('intel-tcb-info', p.collateral.tcbInfo!.key, body, p.pki.tcbSigningChainPem), source: { origin: 'network' } };
  };
  const v18 = tcbAt(18, -1, 29);
  const v17 = tcbAt(17, -5, 55); // Intel serves earlier evaluations with fresh dates
  const v19 = tcbAt(19, 28, 58);
  const at = (days: number) => new Date(AT.getTime() + days * DAY);

  it('is refused once a verification used the newer evaluation; past instants and a newer answer are not affected', async () => {
    const cache = new CollateralCache({ directory: null });
    const resolver = new ArtifactResolver({ cache, refreshIntervalMs: 0 });
    let answer = v18;
    const fetch = async () => answer;
    const key = v18.key;
    expect((await resolver.resolve(key, fetch, AT)).artifact.sequence).toBe('18');
    resolver.markVerified(v18);
    answer = v17; // the source rolls back (a rogue or lagging PCCS)
    expect((await resolver.resolve(key, fetch, at(10))).artifact.sequence).toBe('18'); // the cached 18 still wins while valid
    await expect(resolver.resolve(key, fetch, at(30))).rejects.toMatchObject({
      code: 'ERR_COLLATERAL_UNAVAILABLE',
      errorClass: 'COLLATERAL_UNAVAILABLE',
      retryable: true,
      check: 'X03',
      details: { reason: 'rollback', sequence: '17', floor: '18' },
    });
    expect(resolver.cached(key, at(30))).toBeUndefined(); // the warm path does not serve it either
    // Before evaluation 18 existed, 17 is what a verification then used (batch re-verification).
    expect((await resolver.resolve(key, fetch, at(-2))).artifact.sequence).toBe('17');
    answer = v19;
    expect((await resolver.resolve(key, fetch, at(30))).artifact.sequence).toBe('19');
  });

  it('survives a restart: the floor is seeded from the verified marks on disk', async () => {
    const directory = tempDir();
    const first = new ArtifactResolver({ cache: new CollateralCache({ directory }), refreshIntervalMs: 0 });
    await first.resolve(v18.key, async () => v18, AT);
    first.markVerified(v18);
    new CollateralCache({ directory }).put(v17); // the older evaluation reached the disk too
    const restarted = new ArtifactResolver({ cache: new CollateralCache({ directory }), refreshIntervalMs: 0 });
    await expect(restarted.resolve(v18.key, async () => v17, at(30))).rejects.toMatchObject({ details: { reason: 'rollback', floor: '18' } });
  });

  it('sets no floor without a passing verification, nor from a bundle\'s artifact', async () => {
    const fetch17 = async () => v17;
    const unverified = new ArtifactResolver({ cache: new CollateralCache({ directory: null }), refreshIntervalMs: 0 });
    await unverified.resolve(v18.key, async () => v18, AT);
    expect((await unverified.resolve(v18.key, fetch17, at(30))).artifact.sequence).toBe('17');

    const fromBundle = new ArtifactResolver({ cache: new CollateralCache({ directory: null }), refreshIntervalMs: 0 });
    const bundled = { ...v18, source: { origin: 'bundle' as const } };
    await fromBundle.resolve(v18.key, async () => bundled, AT);
    fromBundle.markVerified(bundled);
    expect((await fromBundle.resolve(v18.key, fetch17, at(30))).artifact.sequence).toBe('17');
  });
});
