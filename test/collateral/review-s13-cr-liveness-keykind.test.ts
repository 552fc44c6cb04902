/**
 * Review s13 CR #1: the KDS liveness was kept per product but not per signing key kind. A mirror
 * that serves Milan's VLEK chain and CRL (/vlek/v1/Milan/...) and nothing under /vcek/ made, after
 * one VLEK-signed report, a Milan VCEK's 404 the final ERR_COLLATERAL_UNKNOWN_PLATFORM with no
 * probe under /vcek/. Liveness is now keyed by `<vcek|vlek>/<product>`, the KDS path prefix.
 * The second case fails on the code before.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { AmdKdsClient, CollateralCache, CollateralService, HttpClient, artifactKey } from '../../src/collateral/index.js';
import { validateArtifactForKey } from '../../src/collateral/validate.js';
import { parseEvidence, type SnpReport } from '../../src/index.js';
import { buildEmptyAmdCrl } from '../../src/testing/amd-crl.js';
import { buildSnpReport, createAmdTestPki } from '../../src/testing/index.js';
import { CollateralServer, type Record } from '../helpers/collateral-server.js';

const AT = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;
const SEED = 'review s13 cr vlek liveness';
const VLEK_GUID = 'a8074bc2-a25a-483e-aae6-39c045a0b8a1';

const servers: CollateralServer[] = [];
const clients: HttpClient[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
  while (clients.length) await clients.pop()!.close();
});

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved' }),
    (e: any) => ({ code: e.code, reason: e.details?.reason }),
  );

const validity = { notBefore: new Date(AT.getTime() - 365 * DAY), notAfter: new Date(AT.getTime() + 5 * 365 * DAY) };
const pki = createAmdTestPki({ seed: SEED, product: 'Milan', validity });
const crlBody = buildEmptyAmdCrl(pki, { notBefore: new Date(AT.getTime() - DAY), notAfter: new Date(AT.getTime() + 29 * DAY) });
const vcekReport = parseEvidence(
  buildSnpReport({ version: 3, product: 'Milan', signingKey: 'vcek', key: pki.vcek.key.privateKey, seed: SEED }).bytes,
) as SnpReport;
const vlekReport = parseEvidence(
  buildSnpReport({ version: 3, product: 'Milan', signingKey: 'vlek', key: pki.vlek.key.privateKey, seed: SEED }).bytes,
) as SnpReport;
const vlekTable = [{ guid: VLEK_GUID, kind: 'vlek' as const, der: pki.vlek.der, offset: 0 }];

/**
 * A mirror serving Milan's VLEK chain and CRL (plus `extra`), nothing for the chip's VCEK; the
 * Milan VCEK chain and CRL are warm in the cache. Runs a VLEK report first when `vlekFirst`, then
 * the VCEK report.
 */
async function run(vlekFirst: boolean, extra: Record[] = []) {
  const server = await CollateralServer.start([
    { path: '/vlek/v1/Milan/cert_chain', body: new Uint8Array(Buffer.from(pki.vlekCertChainPem)) },
    { path: '/vlek/v1/Milan/crl', body: crlBody },
    ...extra,
  ]);
  servers.push(server);
  const http = new HttpClient({ retries: 0, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
  clients.push(http);
  const cache = new CollateralCache({ directory: null });
  const source = { origin: 'network' as const };
  cache.put(validateArtifactForKey({ kind: 'amd-cert-chain', key: artifactKey.certChain('Milan', 'vcek'), body: new Uint8Array(Buffer.from(pki.vcekCertChainPem)), source }));
  cache.put(validateArtifactForKey({ kind: 'amd-crl', key: artifactKey.amdCrl('Milan', 'vcek'), body: crlBody, source }));
  const service = new CollateralService({ amd: new AmdKdsClient({ http, baseUrl: server.url }), cache, clock: () => 0 });
  let vlek: { code: string } | undefined;
  if (vlekFirst) vlek = await outcome(service.forSnpReport(vlekReport, AT, vlekTable as any));
  const vcek = await outcome(service.forSnpReport(vcekReport, AT));
  return { vlek, vcek, hits: server.hits };
}

describe('KDS liveness per signing key kind and product (review s13 CR #1)', () => {
  it('control: no VLEK traffic, nothing under /vcek/ -> the probe fails, source-not-serving', async () => {
    const r = await run(false);
    expect(r.vcek).toEqual({ code: 'ERR_COLLATERAL_NOT_FOUND', reason: 'source-not-serving' });
    expect(r.hits.get('/vcek/v1/Milan/crl')).toBe(1);
  });

  it('a recent VLEK chain and CRL from the network say nothing about /vcek/: still source-not-serving, after a VCEK probe', async () => {
    const r = await run(true);
    expect(r.vlek).toEqual({ code: 'resolved' });
    expect(r.hits.get('/vlek/v1/Milan/cert_chain')).toBe(1);
    expect(r.hits.get('/vlek/v1/Milan/crl')).toBe(1);
    expect(r.vcek).toEqual({ code: 'ERR_COLLATERAL_NOT_FOUND', reason: 'source-not-serving' });
    // The probe asked under /vcek/, not the VLEK answers.
    expect(r.hits.get('/vcek/v1/Milan/crl')).toBe(1);
  });

  it('a mirror that also serves /vcek/v1/Milan/crl: the VCEK probe answers, the VCEK 404 is the verdict', async () => {
    const r = await run(true, [{ path: '/vcek/v1/Milan/crl', body: crlBody }]);
    expect(r.vlek).toEqual({ code: 'resolved' });
    expect(r.vcek).toEqual({ code: 'ERR_COLLATERAL_UNKNOWN_PLATFORM', reason: undefined });
    expect(r.hits.get('/vcek/v1/Milan/crl')).toBe(1);
  });
});
