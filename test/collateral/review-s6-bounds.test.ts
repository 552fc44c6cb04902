/**
 * Review session 6, #1: lookups driven by unverified evidence must not grow
 * without bound. Keys are made from a quote's FMSPC or a report's CHIP_ID and
 * TCB, so a flood of made-up evidence must turn into a bounded number of
 * PCS / KDS requests (fetch budget), remembered 404s (negative cache) and a
 * bounded number of keys in memory (LRU; no entry for a miss).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { AmdKdsClient, ArtifactResolver, CollateralCache, HttpClient, IntelPcsClient, artifactKey, type CollateralArtifact } from '../../src/collateral/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const servers: CollateralServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function emptyServer(): Promise<CollateralServer> {
  const s = await CollateralServer.start([]); // every path answers 404
  servers.push(s);
  return s;
}
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s6-bounds-'));
  dirs.push(d);
  return d;
}
const http = () => new HttpClient({ retries: 0, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });

/** The outcome of a lookup as its error code, handled at once (no unhandled rejection while others run). */
function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (e: { code?: string }) => e.code ?? 'untyped',
  );
}

async function countCodes(outcomes: Promise<string>[]): Promise<{ [code: string]: number }> {
  const counts: { [code: string]: number } = {};
  for (const code of await Promise.all(outcomes)) counts[code] = (counts[code] ?? 0) + 1;
  return counts;
}

describe('fetch budget and no entries for misses', () => {
  it('1,000 made-up FMSPCs: the PCS sees at most the budget, memory and disk hold nothing', async () => {
    const server = await emptyServer();
    const cache = new CollateralCache({ directory: tempDir() });
    const resolver = new ArtifactResolver({ cache, fetchBudget: { keys: 50, windowMs: 60_000 }, clock: () => 1_000_000 });
    const pcs = new IntelPcsClient({ http: http(), baseUrl: server.url });
    const lookups: Promise<string>[] = [];
    for (let i = 0; i < 1000; i++) {
      const request = { tee: 'tdx' as const, fmspc: randomBytes(6).toString('hex') };
      lookups.push(codeOf(resolver.resolve(artifactKey.tcbInfo(request), () => pcs.tcbInfo(request), NOW)));
    }
    const codes = await countCodes(lookups);
    expect(server.totalHits).toBeLessThanOrEqual(50);
    expect(server.totalHits).toBe(50);
    expect(codes).toEqual({ ERR_COLLATERAL_NOT_FOUND: 50, ERR_COLLATERAL_UNAVAILABLE: 950 });
    expect(cache.keyCount).toBe(0);
    expect(readdirSync(join(cache.directory!, 'v1'))).toEqual([]);
  });

  it('1,000 made-up chip IDs: the KDS sees at most the budget; the refused ones are retryable and say why', async () => {
    const server = await emptyServer();
    const cache = new CollateralCache({ directory: null });
    const resolver = new ArtifactResolver({ cache, fetchBudget: { keys: 20, windowMs: 60_000 }, clock: () => 5 });
    const kds = new AmdKdsClient({ http: http(), baseUrl: server.url });
    const refused: unknown[] = [];
    for (let i = 0; i < 1000; i++) {
      const request = { product: 'Milan' as const, hwId: randomBytes(64), bootloader: 3, tee: 0, snp: 8, microcode: 115 };
      await resolver.resolve(artifactKey.vcek(request), () => kds.vcek(request), NOW).catch((e: unknown) => refused.push(e));
    }
    expect(refused).toHaveLength(1000);
    expect(server.totalHits).toBe(20);
    expect(refused[999]).toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', errorClass: 'COLLATERAL_UNAVAILABLE', retryable: true, details: { reason: 'fetch-budget' } });
    expect(cache.keyCount).toBe(0);
  });

  it('the budget opens again in the next window of the provider clock (not the verification instant)', async () => {
    const server = await emptyServer();
    let clock = 0;
    const resolver = new ArtifactResolver({ cache: null, fetchBudget: { keys: 2, windowMs: 1000 }, clock: () => clock });
    const pcs = new IntelPcsClient({ http: http(), baseUrl: server.url });
    const ask = (fmspc: string) => resolver.resolve(artifactKey.tcbInfo({ tee: 'tdx', fmspc }), () => pcs.tcbInfo({ tee: 'tdx', fmspc }), NOW).catch((e: { code: string }) => e.code);
    expect([await ask('000000000001'), await ask('000000000002'), await ask('000000000003')]).toEqual([
      'ERR_COLLATERAL_NOT_FOUND',
      'ERR_COLLATERAL_NOT_FOUND',
      'ERR_COLLATERAL_UNAVAILABLE',
    ]);
    clock = 1000;
    expect(await ask('000000000003')).toBe('ERR_COLLATERAL_NOT_FOUND');
    expect(server.totalHits).toBe(3);
  });
});

describe('negative cache for 404 answers', () => {
  it('the same missing key 10 times is fetched once; after the TTL of the provider clock, once more', async () => {
    const server = await emptyServer();
    let clock = 0;
    const resolver = new ArtifactResolver({ cache: new CollateralCache({ directory: null }), notFoundTtlMs: 300_000, clock: () => clock });
    const kds = new AmdKdsClient({ http: http(), baseUrl: server.url });
    const request = { product: 'Genoa' as const, hwId: new Uint8Array(64).fill(7), bootloader: 1, tee: 2, snp: 3, microcode: 4 };
    const key = artifactKey.vcek(request);
    for (let i = 0; i < 10; i++) {
      // The verification instant moves; the negative cache does not look at it.
      const at = new Date(NOW.getTime() + i * 3_600_000);
      await expect(resolver.resolve(key, () => kds.vcek(request), at)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_UNKNOWN_PLATFORM' });
    }
    expect(server.totalHits).toBe(1);
    clock = 300_000;
    await expect(resolver.resolve(key, () => kds.vcek(request), NOW)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_UNKNOWN_PLATFORM' });
    expect(server.totalHits).toBe(2);
  });

  it('a fixed artifact answering 404 (a CRL) is remembered too, and stays retryable', async () => {
    const server = await emptyServer();
    const resolver = new ArtifactResolver({ cache: null, clock: () => 0 });
    const kds = new AmdKdsClient({ http: http(), baseUrl: server.url });
    for (let i = 0; i < 10; i++) {
      await expect(resolver.resolve(artifactKey.amdCrl('Milan', 'vcek'), () => kds.crl('Milan', 'vcek'), NOW)).rejects.toMatchObject({ code: 'ERR_COLLATERAL_NOT_FOUND', retryable: true });
    }
    expect(server.totalHits).toBe(1);
  });

  it('other failures (5xx) are not remembered', async () => {
    const server = await emptyServer();
    server.faults.set('/vcek/v1/Milan/crl', { kind: 'status', status: 500 });
    const resolver = new ArtifactResolver({ cache: null, clock: () => 0 });
    const kds = new AmdKdsClient({ http: http(), baseUrl: server.url });
    for (let i = 0; i < 3; i++) await resolver.resolve(artifactKey.amdCrl('Milan', 'vcek'), () => kds.crl('Milan', 'vcek'), NOW).catch(() => {});
    expect(server.totalHits).toBe(3);
  });
});

/** A shape-free stand-in: put() and selection read only key, window and bytes. */
function fake(key: string, i: number): CollateralArtifact {
  return { kind: 'amd-crl', key, body: new Uint8Array([i & 0xff, i >> 8]), validity: { notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2027-01-01T00:00:00.000Z' }, source: { origin: 'network' } };
}

describe('memory holds a bounded number of keys', () => {
  it('the default bound is 4096 keys; 1,000 keys past a bound of 16 leave the 16 most recently used', () => {
    expect(new CollateralCache({ directory: null }).maxKeys).toBe(4096);
    const cache = new CollateralCache({ directory: null, maxKeys: 16 });
    const keys = Array.from({ length: 1000 }, (_, i) => `amd/crl/Milan/key-${i}`);
    keys.forEach((k, i) => cache.put(fake(k, i)));
    expect(cache.keyCount).toBe(16);
    expect(cache.get(keys[0]!)).toBeUndefined();
    expect(cache.get(keys[999]!)).toBeDefined();
    // A lookup makes a key recent: it survives the next insertions, the least recently used does not.
    expect(cache.select(keys[984]!, NOW)).toBeDefined();
    cache.put(fake('amd/crl/Milan/new', 5000));
    expect(cache.get(keys[984]!)).toBeDefined();
    expect(cache.get(keys[985]!)).toBeUndefined();
    expect(cache.keyCount).toBe(16);
  });

  it('through the resolver: 1,000 distinct keys fetched, memory stays at its bound', async () => {
    const cache = new CollateralCache({ directory: null, maxKeys: 32 });
    const resolver = new ArtifactResolver({ cache, fetchBudget: null });
    for (let i = 0; i < 1000; i++) {
      const key = `amd/crl/Milan/flood-${i}`;
      await resolver.resolve(key, async () => fake(key, i), NOW);
    }
    expect(cache.keyCount).toBe(32);
  });

  it('misses leave no entry: 2,000 lookups of absent keys, with and without a disk cache', () => {
    for (const directory of [null, tempDir()]) {
      const cache = new CollateralCache({ directory });
      for (let i = 0; i < 2000; i++) expect(cache.select(`intel/tcb-info/tdx/${i.toString(16).padStart(12, '0')}/update=standard`, NOW)).toBeUndefined();
      expect(cache.keyCount).toBe(0);
    }
  });
});
