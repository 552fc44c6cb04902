/**
 * Change review s12 (vTPM / batch) finding 2, and the serve fixer's note: under --skip-crl, the
 * second, CRLs-optional gathering took the TCB info and QE identity straight from the sources, past
 * the collateral service's rollback floors (X03). A PCCS that 404s a CRL and answers an older TCB
 * info than one a verification already used (the floor) got that older evaluation accepted: here
 * the newer document says OutOfDate and the older one UpToDate, so the rollback hides the
 * platform's real status. Now the second gathering goes through the same service
 * (CollateralService.forEvidenceCrlsOptional): its cache, bundles and floors apply, so the record
 * is judged with the newer document when the service holds it, and refused (X03, reason rollback)
 * when all it can get is the older one. verify --skip-crl also no longer gathers again after a
 * refusal by the service's guards (gathersAgainWithoutCrl), as batch and serve did not.
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
/** After both CRLs' nextUpdate (AT + 5 days), inside both TCB infos' windows (AT - 1 .. AT + 29 days). */
const LATER = new Date(AT.getTime() + 10 * DAY);

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
  seed: 'review s12c crl floors',
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
/** The same platform's TCB info at evaluation 17 (an earlier one, served with fresh dates), where it is UpToDate. */
const tcb17 = (() => {
  const doc = JSON.parse(JSON.stringify(p.tcbInfo)) as Record<string, unknown>;
  doc['tcbEvaluationDataNumber'] = 17;
  const top = (doc['tcbLevels'] as Record<string, unknown>[])[0]!;
  top['tcbStatus'] = 'UpToDate';
  delete top['advisoryIDs'];
  return signCollateralJson('tcbInfo', doc as never, p.pki.tcbSigning.key.privateKey);
})();
const evidence = Buffer.from(p.quote.bytes).toString('base64');

/**
 * A PCCS for the synthetic platform: `tcb` answers each TCB info request (in order, the last one
 * repeated), `crls` whether the CRLs are served (else 404).
 */
class Pccs {
  tcb: Uint8Array[] = [tcb18];
  crls = true;
  tcbHits = 0;
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
      if (path === '/tdx/certification/v4/tcb') {
        const body = this.tcb[Math.min(this.tcbHits++, this.tcb.length - 1)]!;
        return send(body, { 'content-type': 'application/json', 'TCB-Info-Issuer-Chain': chain(col.tcbInfo) });
      }
      if (path === '/tdx/certification/v4/qe/identity') return send(col.qeIdentity.body, { 'content-type': 'application/json', 'SGX-Enclave-Identity-Issuer-Chain': chain(col.qeIdentity) });
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
  pccs.tcb = [tcb18];
  pccs.crls = true;
  pccs.tcbHits = 0;
});

describe('serve --skip-crl (the attestation service): the second gathering keeps the rollback floors', () => {
  async function service(cache: CollateralCache | null, clock: { now: Date }) {
    const http = new HttpClient({ retries: 0 });
    const intel = new IntelPcsClient({ http, baseUrl: pccs.url });
    const amd = new AmdKdsClient({ http, baseUrl: pccs.url });
    const collateral = new CollateralService({ intel, amd, cache, trustRoots: p.trustRoots });
    const running = await startAttestationService({
      collateral,
      trustRoots: p.trustRoots,
      port: 0,
      now: () => clock.now,
      log: () => {},
      relaxations: { skipCrl: true },
    });
    return { running, close: async () => (await running.close(), await http.close()) };
  }

  // Without a cache, each gathering fetches again. A request whose CRLs are 404 asks for the TCB info
  // three times: the first try (verifyEvidence), verifyWithCollateral's normal path, and only then the
  // CRLs-optional second gathering (forEvidenceCrlsOptional). The PCCS answers 18 twice and 17 from
  // then on, so only the second gathering meets the older document (s12 change review --skip-crl #2:
  // with [18, 17], verifyWithCollateral's normal path already met 17 and was refused before the
  // second gathering, so the case passed on the code before 018d1b9).
  it('no cache: evaluation 18 verified, then the CRLs 404 and only the second gathering gets 17: refused (X03), never UpToDate', async () => {
    const clock = { now: AT };
    const s = await service(null, clock);
    try {
      const first = await post(s.running.url, '/v1/verify', { evidence });
      expect(first.status).toBe(200);
      expect(first.json.tcbStatus).toBe('OutOfDate');
      pccs.crls = false;
      pccs.tcb = [tcb18, tcb18, tcb17];
      pccs.tcbHits = 0;
      const second = await post(s.running.url, '/v1/verify', { evidence });
      expect(pccs.tcbHits).toBe(3); // the second gathering asked, and got 17
      expect(second.json?.tcbStatus).not.toBe('UpToDate');
      expect(second.status).toBe(503);
      expect(second.json.error).toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE' });
      expect(second.text).toMatch(/X03|rollback/);
    } finally {
      await s.close();
    }
  });

  it('control, no cache: the first try itself gets 17 after 18 was verified: refused (X03) before any second gathering', async () => {
    const clock = { now: AT };
    const s = await service(null, clock);
    try {
      const first = await post(s.running.url, '/v1/verify', { evidence });
      expect(first.json.tcbStatus).toBe('OutOfDate');
      pccs.crls = false;
      pccs.tcb = [tcb17];
      pccs.tcbHits = 0;
      const second = await post(s.running.url, '/v1/verify', { evidence });
      expect(pccs.tcbHits).toBe(1); // a rollback refusal is never gathered again (gathersAgainWithoutCrl)
      expect(second.status).toBe(503);
      expect(second.text).toMatch(/X03|rollback/);
    } finally {
      await s.close();
    }
  });

  it('in-memory cache: the CRLs expired and the PCCS 404s them and answers 17: judged with the cached 18 (OutOfDate, T13 / T14 warnings)', async () => {
    const clock = { now: AT };
    const s = await service(new CollateralCache({ directory: null }), clock);
    try {
      const first = await post(s.running.url, '/v1/verify', { evidence });
      expect(first.status).toBe(200);
      expect(first.json.tcbStatus).toBe('OutOfDate');
      pccs.crls = false;
      pccs.tcb = [tcb17];
      clock.now = LATER;
      const second = await post(s.running.url, '/v1/verify', { evidence });
      expect(second.status).toBe(200);
      expect(second.json.tcbStatus).toBe('OutOfDate');
      expect(second.json.warnings.some((w: string) => w.startsWith('T13'))).toBe(true);
      expect(second.json.warnings.some((w: string) => w.startsWith('T14'))).toBe(true);
    } finally {
      await s.close();
    }
  });
});

describe('batch --skip-crl: the second gathering keeps the rollback floors', () => {
  const saved = process.env['XDG_CACHE_HOME'];
  afterEach(() => {
    if (saved === undefined) delete process.env['XDG_CACHE_HOME'];
    else process.env['XDG_CACHE_HOME'] = saved;
  });

  it('a record verified with 18, then one whose CRLs the PCCS 404s while it answers 17: judged with 18 (OutOfDate), never UpToDate', async () => {
    const dir = tempDir('tee-verify-s12c-batch-');
    process.env['XDG_CACHE_HOME'] = join(dir, 'xdg');
    const roots = join(dir, 'roots.pem');
    writeFileSync(roots, p.pki.root.pem);
    const setup = { instant: { mode: 'collected' }, collateral: [], pcsUrl: pccs.url, trustRoot: roots, skipCrl: true, allowRecordPolicy: false } as VerifySetup;
    const ctx = await createContext(setup);
    const first = await verifyRecord({ id: 'a', evidence, collectedAt: AT.toISOString() }, ctx, { mode: 'collected' });
    expect(first).toMatchObject({ error: null, tcbStatus: 'OutOfDate' });
    pccs.crls = false;
    pccs.tcb = [tcb17];
    const second = await verifyRecord({ id: 'b', evidence, collectedAt: LATER.toISOString() }, ctx, { mode: 'collected' });
    expect(second.tcbStatus).not.toBe('UpToDate');
    expect(second).toMatchObject({ error: null, tcbStatus: 'OutOfDate' });
    expect(second.warnings.some((w) => w.startsWith('T13'))).toBe(true);
  });

  it('no TCB info newer than 17 at hand (18 expired): refused with the rollback (X03), not gathered again', async () => {
    const dir = tempDir('tee-verify-s12c-batch-');
    process.env['XDG_CACHE_HOME'] = join(dir, 'xdg');
    const roots = join(dir, 'roots.pem');
    writeFileSync(roots, p.pki.root.pem);
    const ctx = await createContext({ instant: { mode: 'collected' }, collateral: [], pcsUrl: pccs.url, trustRoot: roots, skipCrl: true, allowRecordPolicy: false } as VerifySetup);
    const first = await verifyRecord({ id: 'a', evidence, collectedAt: AT.toISOString() }, ctx, { mode: 'collected' });
    expect(first).toMatchObject({ error: null, tcbStatus: 'OutOfDate' });
    pccs.crls = false;
    // 17 with a window past 18's end.
    const doc = JSON.parse(Buffer.from(tcb17).toString('utf8')).tcbInfo;
    doc.nextUpdate = new Date(AT.getTime() + 60 * DAY).toISOString().replace('.000Z', 'Z');
    pccs.tcb = [signCollateralJson('tcbInfo', doc, p.pki.tcbSigning.key.privateKey)];
    const second = await verifyRecord({ id: 'b', evidence, collectedAt: new Date(AT.getTime() + 40 * DAY).toISOString() }, ctx, { mode: 'collected' });
    expect(second.tcbStatus).not.toBe('UpToDate');
    expect(second.error).toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', class: 'COLLATERAL_UNAVAILABLE' });
    expect(second.error?.message).toMatch(/rollback/);
  });
});

const TDX = 'phala-dcap-qvl/tdx_quote';

describe.skipIf(!HAVE_VECTORS)('verify --skip-crl: a rollback refusal is not gathered again (pinned roots, the disk cache\'s floor)', () => {
  it('the floor is above the PCCS\'s TCB info and the PCCS 404s the PCK CRL: exit 3, X03 rollback (was: verified with the older TCB info)', async () => {
    const e = entryOf(TDX);
    const server = await CollateralServer.start(intelRecords(e));
    try {
      server.faults.set('/sgx/certification/v4/pckcrl', { kind: 'status', status: 404 });
      const cacheDir = tempDir('tee-verify-s12c-verify-');
      // The TCB info the PCCS serves, to learn its key and evaluation number.
      const tcbRecord = server.records.find((r) => r.path.endsWith('/tcb'))!;
      const served = JSON.parse(Buffer.from(tcbRecord.body).toString('utf8')).tcbInfo as { fmspc: string; tcbEvaluationDataNumber: number; issueDate: string };
      const key = artifactKey.tcbInfo({ tee: 'tdx', fmspc: served.fmspc.toLowerCase(), update: 'standard' });
      // A verification already used evaluation N + 1 for this key (the floor, from before the instant).
      const cache = new CollateralCache({ directory: cacheDir });
      const newer = {
        kind: 'intel-tcb-info',
        key,
        body: new Uint8Array(0),
        sequence: String(served.tcbEvaluationDataNumber + 1),
        validity: { notBefore: new Date(Date.parse(served.issueDate) - DAY).toISOString(), notAfter: new Date(Date.parse(e.verification_time!) + DAY).toISOString() },
        source: { origin: 'network' },
      } as unknown as CollateralArtifact;
      expect(cache.raiseFloor(newer)).toBe(true);
      expect(cache.floorFiles(key)).toHaveLength(1);

      const r = await cliJson(['verify', vectorPath(e.file), '--at', e.verification_time!, '--pcs-url', server.url, '--kds-url', server.url, '--cache-dir', cacheDir, '--retries', '0', '--skip-crl']);
      expect(r.code).toBe(3);
      expect(r.json['error']).toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE' });
      expect(JSON.stringify(r.json['error'])).toMatch(/rollback/);
      expect(readFileSync(cache.floorFiles(key)[0]!, 'utf8')).toContain(String(served.tcbEvaluationDataNumber + 1));
    } finally {
      await server.close();
    }
  });
});
