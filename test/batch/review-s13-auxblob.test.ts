/**
 * Review s13 (SNP) finding 2: since the S05 leaf-obtainability check, a VLEK-signed SEV-SNP report
 * without its certificate table is rejected ERR_SNP_SIGNER, and batch records had no field for the
 * table, so such stored evidence could never verify in batch. Records now carry it as `auxblob`
 * (base64, as configfs-tsm's auxblob and the gateway's answer carry it), parsed with the same
 * parser and cap as the gateway and the attestation service, refused with TDX / SGX evidence, and
 * given to verifyEvidence and to the --skip-crl second pass.
 *
 * Each record goes through parseRecordLine -> verifyRecord, the worker's path for a JSONL line.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';

import { parseRecordLine, verifyRecord, type RecordFields } from '../../src/batch/verify-record.js';
import type { VerifyContext } from '../../src/batch/context.js';
import type { ResultRecord } from '../../src/batch/result.js';
import { AmdKdsClient, CollateralCache, CollateralService, HttpClient } from '../../src/collateral/index.js';
import { PRODUCTION_TRUST_ROOTS } from '../../src/verify/roots/index.js';
import { buildSnpCertTable, buildSnpReport, buildTdxQuote, createAmdTestPki, createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';
import { HAVE_VECTORS, findEntry, vectorPath } from '../helpers/vectors.js';
import { AT, buildAmdCrl, testRoots, VALIDITY } from '../verify/snp/helpers/synthetic.js';

const product = 'Milan';
const seed = 'review-s13-batch-auxblob';
const pki = createAmdTestPki({ seed, product, validity: VALIDITY });
const roots = testRoots(pki);
const vlekReport = buildSnpReport({ version: 3, product, signingKey: 'vlek', key: pki.vlek.key.privateKey, seed }).bytes;
/** The table a VLEK-signed guest's configfs-tsm auxblob carries: VLEK, ASVK under the ASK GUID, ARK. */
const vlekTable = buildSnpCertTable([
  { guid: 'vlek', der: pki.vlek.der },
  { guid: 'ask', der: pki.asvk.der },
  { guid: 'ark', der: pki.ark.der },
]);
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const judge = { judge: () => ({ ok: true, violations: [], warnings: [] }) };
const fixed = { mode: 'fixed' as const, at: AT.toISOString() };

const servers: CollateralServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

/** A 127.0.0.1 KDS serving the ASVK chain and (unless `crl` is false) the CRL; it has no VLEK to serve. */
async function kds(crl = true): Promise<{ server: CollateralServer; ctx: (relaxations?: VerifyContext['relaxations']) => VerifyContext }> {
  const server = await CollateralServer.start([
    { path: `/vlek/v1/${product}/cert_chain`, body: new Uint8Array(Buffer.from(pki.asvk.pem + pki.ark.pem)) },
    ...(crl ? [{ path: `/vlek/v1/${product}/crl`, body: buildAmdCrl(pki) }] : []),
  ]);
  servers.push(server);
  const http = new HttpClient({ retries: 0, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
  const service = new CollateralService({ amd: new AmdKdsClient({ http, baseUrl: server.url }), cache: new CollateralCache({ directory: null }) });
  return { server, ctx: (relaxations = {}) => ({ service, trustRoots: roots, relaxations, judge }) as unknown as VerifyContext };
}

/** A JSONL line through the worker's path: parsed, then verified unless it is already a record error. */
async function line(doc: Record<string, unknown>, ctx: VerifyContext): Promise<ResultRecord> {
  const parsed = parseRecordLine(new Uint8Array(Buffer.from(JSON.stringify(doc))), 0);
  return 'ok' in parsed ? parsed : verifyRecord(parsed, ctx, fixed);
}

describe('review s13 SNP #2: the record field "auxblob"', () => {
  it('parseRecordLine keeps it, and refuses one that is not a non-empty string (ERR_BAD_RECORD)', () => {
    const ok = parseRecordLine(new Uint8Array(Buffer.from(JSON.stringify({ id: 'a', evidence: 'AAAA', auxblob: 'AAAA' }))), 0) as RecordFields;
    expect(ok.auxblob).toBe('AAAA');
    for (const auxblob of ['', 7, null, ['AAAA'], { a: 1 }]) {
      const r = parseRecordLine(new Uint8Array(Buffer.from(JSON.stringify({ id: 'a', evidence: 'AAAA', auxblob }))), 0) as ResultRecord;
      expect(r).toMatchObject({ id: 'a', ok: false, error: { code: 'ERR_BAD_RECORD', class: 'ARGUMENT' } });
      expect(r.error?.message).toContain('"auxblob"');
    }
  });

  it('a VLEK-signed record with its auxblob verifies: the VLEK and ASVK come from the table, only the CRL from KDS', async () => {
    const { server, ctx } = await kds();
    const r = await line({ id: 'vlek-1', evidence: b64(vlekReport), auxblob: b64(vlekTable) }, ctx());
    expect(r).toMatchObject({ id: 'vlek-1', ok: true, tee: 'snp', error: null });
    expect(server.hits.get(`/vlek/v1/${product}/crl`)).toBe(1);
    expect(server.hits.get(`/vlek/v1/${product}/cert_chain`) ?? 0).toBe(0);
  });

  it('the same record without it is rejected at S05 (ERR_SNP_SIGNER), before any KDS request', async () => {
    const { server, ctx } = await kds();
    const r = await line({ id: 'vlek-1', evidence: b64(vlekReport) }, ctx());
    expect(r).toMatchObject({ ok: false, tee: 'snp', error: { code: 'ERR_SNP_SIGNER', class: 'SNP_SIGNER' } });
    expect(r.error?.message).toMatch(/^S05/);
    expect(server.totalHits).toBe(0);
  });

  it('--skip-crl: the second gathering (CRL optional) takes the leaf from the auxblob too', async () => {
    const { ctx } = await kds(false);
    const r = await line({ id: 'vlek-1', evidence: b64(vlekReport), auxblob: b64(vlekTable) }, ctx({ skipCrl: true }));
    expect(r).toMatchObject({ ok: true, tee: 'snp', error: null });
    expect(r.warnings.some((w) => /CRL/.test(w))).toBe(true);
    const without = await line({ id: 'vlek-1', evidence: b64(vlekReport) }, ctx({ skipCrl: true }));
    expect(without.error).toMatchObject({ code: 'ERR_SNP_SIGNER' });
  });

  it('an auxblob whose table lacks the VLEK is the S05 verdict, as without one', async () => {
    const { ctx } = await kds();
    const chainOnly = buildSnpCertTable([
      { guid: 'ask', der: pki.asvk.der },
      { guid: 'ark', der: pki.ark.der },
    ]);
    const r = await line({ id: 'vlek-1', evidence: b64(vlekReport), auxblob: b64(chainOnly) }, ctx());
    expect(r.error).toMatchObject({ code: 'ERR_SNP_SIGNER' });
  });

  it('an auxblob with TDX evidence is a record error (ERR_BAD_RECORD), never verified', async () => {
    const { server, ctx } = await kds();
    const platform = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed });
    const quote = buildTdxQuote({ seed: platform.seed, version: 4, pckKey: platform.pki.pck.key.privateKey, pckChainPem: platform.pki.pckChainPem, body: { reportData: new Uint8Array(64) } }).bytes;
    const r = await line({ id: 'tdx-1', evidence: b64(quote), auxblob: b64(vlekTable) }, ctx());
    expect(r).toMatchObject({ id: 'tdx-1', ok: false, tee: 'tdx', error: { code: 'ERR_BAD_RECORD', class: 'ARGUMENT' } });
    expect(r.error?.message).toContain('TDX / SGX');
    expect(server.totalHits).toBe(0);
  });

  it('a malformed or oversized auxblob is a record error (ERR_BAD_RECORD), before any KDS request', async () => {
    const { server, ctx } = await kds();
    const overByTwo = b64(new Uint8Array((1 << 20) + 1)); // within the character bound, one byte over the cap decoded
    const huge = 'A'.repeat(2 << 20); // over the character bound: refused before decoding
    const truncated = vlekTable.subarray(0, 30); // the entry list is not terminated
    const cases: [string, RegExp][] = [
      ['not base64!', /not base64/],
      ['AB==', /not canonical base64/],
      ['AAAA AAAA', /not base64/],
      [b64(truncated), /not a usable SEV-SNP certificate table: ERR_/],
      [b64(new Uint8Array(10)), /not a usable SEV-SNP certificate table: ERR_/],
      [overByTwo, /larger than the SEV-SNP certificate table cap of 1048576 bytes/],
      [huge, /larger than the SEV-SNP certificate table cap of 1048576 bytes/],
    ];
    for (const [auxblob, message] of cases) {
      const r = await line({ id: 'vlek-1', evidence: b64(vlekReport), auxblob }, ctx());
      expect(r, auxblob.slice(0, 20)).toMatchObject({ ok: false, error: { code: 'ERR_BAD_RECORD', class: 'ARGUMENT' } });
      expect(r.error?.message).toMatch(message);
    }
    expect(server.totalHits).toBe(0);
  });
});

/** The trustee VLEK vector (a real AWS VLEK report), with its certificates as the guest's auxblob would carry them. */
describe.skipIf(!HAVE_VECTORS)('review s13 SNP #2: a real VLEK report with its auxblob (shared vectors)', () => {
  it('verifies offline with --skip-crl; without the auxblob it is the S05 verdict', async () => {
    const e = findEntry('trustee/snp_test_vlek_report')!;
    const report = readFileSync(vectorPath(e.file));
    const vlek = readFileSync(vectorPath(e.collateral!['vlek']!));
    const chain = readFileSync(vectorPath(e.collateral!['ask_ark_asvk_chain']!), 'latin1')
      .split(/(?=-----BEGIN CERTIFICATE-----)/)
      .filter((p) => p.includes('BEGIN CERTIFICATE'))
      .map((p) => new X509Certificate(p));
    const bySubject = (cn: string): Uint8Array => new Uint8Array(chain.find((c) => c.subject.includes(`CN=${cn}`))!.raw);
    const table = buildSnpCertTable([
      { guid: 'vlek', der: new Uint8Array(vlek) },
      { guid: 'ask', der: bySubject('SEV-VLEK-Milan') },
      { guid: 'ark', der: bySubject('ARK-Milan') },
    ]);
    // Offline: no collateral source at all, so the CRL is unavailable and --skip-crl's second pass runs.
    const ctx = { service: new CollateralService({ cache: new CollateralCache({ directory: null }) }), trustRoots: PRODUCTION_TRUST_ROOTS, relaxations: { skipCrl: true }, judge } as unknown as VerifyContext;
    const instant = { mode: 'fixed' as const, at: e.verification_time! };
    const ok = await verifyRecord({ id: 'aws-vlek', evidence: b64(report), auxblob: b64(table) }, ctx, instant);
    expect(ok).toMatchObject({ ok: true, tee: 'snp', error: null });
    const without = await verifyRecord({ id: 'aws-vlek', evidence: b64(report) }, ctx, instant);
    expect(without.error).toMatchObject({ code: 'ERR_SNP_SIGNER' });
  });
});
