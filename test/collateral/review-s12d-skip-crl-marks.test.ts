/**
 * Change review s12 (--skip-crl / rollback floors), finding 1: the rollback floors (X03)
 * rise only when a verification that passed marks its collateral as verified
 * (CollateralService.markVerified, as verifyEvidence does when given the service).
 *
 * 1. A verification that passed through --skip-crl's CRLs-optional second gathering
 *    (src/cli/gather.ts verifyWithCollateral: forEvidenceCrlsOptional, then the verifier) marked
 *    nothing. With a PCCS that never serves the CRLs (the case --skip-crl exists for) every
 *    verification goes that way, no floor ever rose, and a later answer with an older TCB info
 *    (evaluation 17 after 18 was used; 17 says UpToDate where 18 says OutOfDate) was accepted:
 *    serve without a cache at once, serve's in-memory cache and batch's disk cache once the
 *    cached 18 had expired. Now it is refused (ERR_COLLATERAL_UNAVAILABLE, reason rollback).
 *    `verify --skip-crl` the same: a run through the second gathering wrote no floor to its
 *    --cache-dir. (Finding 3, the normal `verify` path: review-s12d-verify-floor.test.ts.)
 *
 * The sources are real HTTP servers on 127.0.0.1 at the PCS / PCCS paths.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { startAttestationService } from '../../src/attestation-service/index.js';
import { createContext } from '../../src/batch/context.js';
import type { VerifySetup } from '../../src/batch/config.js';
import { verifyRecord } from '../../src/batch/verify-record.js';
import { AmdKdsClient, CollateralCache, CollateralService, HttpClient, IntelPcsClient, type CollateralArtifact } from '../../src/index.js';
import { artifactKey } from '../../src/collateral/index.js';
import { createSyntheticIntelPlatform, signCollateralJson } from '../../src/testing/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';
import { intelRecords } from '../helpers/recorded-collateral.js';
import { HAVE_VECTORS, vectorPath } from '../helpers/vectors.js';
import { cliJson, entryOf } from '../cli/helpers.js';
import { post } from '../attestation-service/helpers.js';

const DAY = 86_400_000;
const AT = new Date('2026-02-01T12:00:00Z');
/** Past the end of 18's window (AT + 29 days), inside the long 17's and QE identity's (AT + 60 days). */
const MUCH_LATER = new Date(AT.getTime() + 40 * DAY);

const dirs: string[] = [];
const tempDir = (prefix: string): string => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const crlWindow = { thisUpdate: new Date(AT.getTime() - DAY), nextUpdate: new Date(AT.getTime() + 5 * DAY) };
/** Evaluation 18 says the platform is OutOfDate; QE identity at 18 too (T21). */
const p = createSyntheticIntelPlatform({
  tee: 'tdx',
  at: AT,
  seed: 'review s12d skip-crl marks',
  tcbInfo: {
    fields: { tcbEvaluationDataNumber: 18 },
    mutate: (doc) => {
      const top = (doc['tcbLevels'] as Record<string, unknown>[])[0]!;
      top['tcbStatus'] = 'OutOfDate';
      top['advisoryIDs'] = ['INTEL-SA-01234'];
    },
  },
  qeIdentity: { fields: { tcbEvaluationDataNumber: 18 } },
  pckCrl: crlWindow,
  rootCaCrl: crlWindow,
});
const col = p.collateral as Required<typeof p.collateral>;
const tcb18 = col.tcbInfo.body;
const longNextUpdate = new Date(AT.getTime() + 60 * DAY).toISOString().replace('.000Z', 'Z');
/** The same platform's TCB info at evaluation 17, where it is UpToDate; `long`: valid past 18's end. */
function tcb17(long: boolean): Uint8Array {
  const doc = JSON.parse(JSON.stringify(p.tcbInfo)) as Record<string, unknown>;
  doc['tcbEvaluationDataNumber'] = 17;
  if (long) doc['nextUpdate'] = longNextUpdate;
  const top = (doc['tcbLevels'] as Record<string, unknown>[])[0]!;
  top['tcbStatus'] = 'UpToDate';
  delete top['advisoryIDs'];
  return signCollateralJson('tcbInfo', doc as never, p.pki.tcbSigning.key.privateKey);
}
/** The QE identity (evaluation 18) valid past 18's TCB info end, so only the TCB info decides. */
const qeLong = (() => {
  const doc = JSON.parse(JSON.stringify(p.qeIdentity)) as Record<string, unknown>;
  doc['nextUpdate'] = longNextUpdate;
  return signCollateralJson('enclaveIdentity', doc as never, p.pki.tcbSigning.key.privateKey);
})();
const evidence = Buffer.from(p.quote.bytes).toString('base64');

/** A PCCS for the synthetic platform; `crls: false` 404s both CRLs. */
class Pccs {
  tcb: Uint8Array = tcb18;
  qe: Uint8Array = col.qeIdentity.body;
  crls = true;
  url = '';
  readonly #server: Server;
  constructor() {
    this.#server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const send = (body: Uint8Array, headers: Record<string, string>) => {
        res.writeHead(200, { 'content-length': String(body.length), ...headers });
        res.end(Buffer.from(body));
      };
      const chain = (a: CollateralArtifact) => encodeURIComponent(a.issuerChainPem!);
      if (path === '/tdx/certification/v4/tcb') return send(this.tcb, { 'content-type': 'application/json', 'TCB-Info-Issuer-Chain': chain(col.tcbInfo) });
      if (path === '/tdx/certification/v4/qe/identity') return send(this.qe, { 'content-type': 'application/json', 'SGX-Enclave-Identity-Issuer-Chain': chain(col.qeIdentity) });
      if (this.crls && path === '/sgx/certification/v4/pckcrl') return send(col.pckCrl.body, { 'content-type': 'application/pkix-crl', 'SGX-PCK-CRL-Issuer-Chain': chain(col.pckCrl) });
      if (this.crls && path === '/sgx/certification/v4/rootcacrl') return send(col.rootCaCrl.body, { 'content-type': 'application/pkix-crl' });
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    });
  }
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }
  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

let pccs: Pccs;
beforeAll(async () => {
  pccs = await new Pccs().start();
});
afterAll(() => pccs.close());
afterEach(() => {
  pccs.tcb = tcb18;
  pccs.qe = col.qeIdentity.body;
  pccs.crls = true;
});

async function serve(cache: CollateralCache | null, clock: { now: Date }) {
  const http = new HttpClient({ retries: 0 });
  const intel = new IntelPcsClient({ http, baseUrl: pccs.url });
  const amd = new AmdKdsClient({ http, baseUrl: pccs.url });
  const collateral = new CollateralService({ intel, amd, cache, trustRoots: p.trustRoots });
  const running = await startAttestationService({ collateral, trustRoots: p.trustRoots, port: 0, now: () => clock.now, log: () => {}, relaxations: { skipCrl: true } });
  return { running, close: async () => (await running.close(), await http.close()) };
}

const refusedAsRollback = (r: { status: number; json: Record<string, any>; text: string }) => {
  expect(r.json?.['tcbStatus']).not.toBe('UpToDate');
  expect(r.status).toBe(503);
  expect(r.json['error']).toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE' });
  expect(r.text).toMatch(/X03|rollback/); // serve names the check, not the reason
};

describe('serve --skip-crl, a PCCS that never serves the CRLs: a verification through the second gathering raises the floors', () => {
  it('no cache: 18 verified (OutOfDate, T13 / T14 warnings), then the PCCS answers 17: refused as a rollback, never UpToDate', async () => {
    const clock = { now: AT };
    pccs.crls = false;
    const s = await serve(null, clock);
    try {
      const first = await post(s.running.url, '/v1/verify', { evidence });
      expect(first.status).toBe(200);
      expect(first.json.tcbStatus).toBe('OutOfDate');
      expect(first.json.warnings.some((w: string) => w.startsWith('T14'))).toBe(true);
      pccs.tcb = tcb17(false);
      refusedAsRollback(await post(s.running.url, '/v1/verify', { evidence }));
    } finally {
      await s.close();
    }
  });

  it('in-memory cache: 18 verified, then at AT + 40 days (18 expired) the PCCS answers 17: refused as a rollback, never UpToDate', async () => {
    const clock = { now: AT };
    pccs.crls = false;
    const s = await serve(new CollateralCache({ directory: null }), clock);
    try {
      const first = await post(s.running.url, '/v1/verify', { evidence });
      expect(first.status).toBe(200);
      expect(first.json.tcbStatus).toBe('OutOfDate');
      pccs.tcb = tcb17(true);
      pccs.qe = qeLong;
      clock.now = MUCH_LATER;
      refusedAsRollback(await post(s.running.url, '/v1/verify', { evidence }));
    } finally {
      await s.close();
    }
  });
});

describe('batch --skip-crl (disk cache), a PCCS that never serves the CRLs', () => {
  const saved = process.env['XDG_CACHE_HOME'];
  afterEach(() => {
    if (saved === undefined) delete process.env['XDG_CACHE_HOME'];
    else process.env['XDG_CACHE_HOME'] = saved;
  });

  it('record a verified with 18 (OutOfDate), record b at AT + 40 days (18 expired) gets 17: refused as a rollback, never UpToDate', async () => {
    const dir = tempDir('tee-verify-s12d-batch-');
    process.env['XDG_CACHE_HOME'] = join(dir, 'xdg');
    const roots = join(dir, 'roots.pem');
    writeFileSync(roots, p.pki.root.pem);
    pccs.crls = false;
    const ctx = await createContext({ instant: { mode: 'collected' }, collateral: [], pcsUrl: pccs.url, trustRoot: roots, skipCrl: true, allowRecordPolicy: false } as VerifySetup);
    const first = await verifyRecord({ id: 'a', evidence, collectedAt: AT.toISOString() }, ctx, { mode: 'collected' });
    expect(first).toMatchObject({ error: null, tcbStatus: 'OutOfDate' });
    expect(first.warnings.some((w) => w.startsWith('T14'))).toBe(true);
    pccs.tcb = tcb17(true);
    pccs.qe = qeLong;
    const second = await verifyRecord({ id: 'b', evidence, collectedAt: MUCH_LATER.toISOString() }, ctx, { mode: 'collected' });
    expect(second.tcbStatus).not.toBe('UpToDate');
    expect(second.error).toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', class: 'COLLATERAL_UNAVAILABLE' });
    expect(second.error?.message).toMatch(/rollback/);
  });
});

const TDX = 'phala-dcap-qvl/tdx_quote';

describe.skipIf(!HAVE_VECTORS)('tee-verify verify --skip-crl --cache-dir, the PCK CRL 404 (pinned roots)', () => {
  it('a run that passes through the second gathering writes the floor of the TCB info it used', async () => {
    const e = entryOf(TDX);
    const server = await CollateralServer.start(intelRecords(e));
    try {
      server.faults.set('/sgx/certification/v4/pckcrl', { kind: 'status', status: 404 });
      const tcbRecord = server.records.find((r) => r.path.endsWith('/tcb'))!;
      const served = JSON.parse(Buffer.from(tcbRecord.body).toString('utf8')).tcbInfo as { fmspc: string; tcbEvaluationDataNumber: number };
      const key = artifactKey.tcbInfo({ tee: 'tdx', fmspc: served.fmspc.toLowerCase(), update: 'standard' });
      const cacheDir = tempDir('tee-verify-s12d-verify-');
      const r = await cliJson(['verify', vectorPath(e.file), '--at', e.verification_time!, '--pcs-url', server.url, '--kds-url', server.url, '--cache-dir', cacheDir, '--retries', '0', '--skip-crl']);
      expect(r.code).toBe(0);
      expect(JSON.stringify(r.json)).toMatch(/--skip-crl: the PCK CRL unavailable/);
      // A new cache over the same directory reads what the run left on disk.
      const files = new CollateralCache({ directory: cacheDir }).floorFiles(key);
      expect(files.length).toBeGreaterThan(0);
      expect(readFileSync(files[0]!, 'utf8')).toContain(String(served.tcbEvaluationDataNumber));
    } finally {
      await server.close();
    }
  });
});
