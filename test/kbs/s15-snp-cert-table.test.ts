/**
 * Session 15 (docs/kbs.md "Not done", first bullet before this change): `POST
 * /kbs/v1/keys/{id}/transfer` with `Attestation-Type: SEV-SNP` had no field for the SEV-SNP
 * certificate table, so a VLEK-signed report (AWS SEV-SNP: KDS serves no VLEK) was refused at S05
 * although `verify`, `batch`, `serve` and the gateway client accept it with its table. The broker
 * now reads `cert_table` (this project's extension; canonical standard base64 of configfs-tsm's
 * `auxblob`, at most 32 KiB, SEV-SNP only) and passes it to verifyEvidence; the release row keeps it
 * and `admin export-log` gives it to batch as the record's `auxblob`, so batch re-verification
 * judges the release again. A real HTTPS broker on 127.0.0.1, real SQLite, the AMD test PKI.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runBatchCli } from '../../src/cli/batch.js';
import { artifactKey } from '../../src/collateral/index.js';
import { validateArtifact } from '../../src/collateral/validate.js';
import { BundleSource, CollateralService, exportBundle, parseEvidence, type SnpReport } from '../../src/index.js';
import { runKbsCli } from '../../src/kbs/cli.js';
import { buildEmptyAmdCrl } from '../../src/testing/amd-crl.js';
import { buildSnpCertTable, buildSnpReport, createAmdTestPki, loadAmdRsaKeys, type AmdTestPki, type SnpReportFields } from '../../src/testing/index.js';
import { capture, readResults, requireBuilt } from '../batch/helpers.js';
import { makePlatform, newClient, registerKey, sha512, startHarness, transferBody, transferPath, unwrap, type Client, type Harness } from './helpers.js';

const DAY = 86_400_000;
const product = 'Milan';
const seed = 's15-kbs-cert-table';
const now = Date.now();
const validity = { notBefore: new Date(now - 365 * DAY), notAfter: new Date(now + 5 * 365 * DAY) };
const crlWindow = { notBefore: new Date(now - DAY), notAfter: new Date(now + 29 * DAY) };
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

describe('SEV-SNP cert_table in a key transfer (session 15)', () => {
  let pki: AmdTestPki;
  let foreign: AmdTestPki;
  let h: Harness;
  let client: Client;
  let vlekKeyId: string;
  let vcekKeyId: string;
  let tdxKeyId: string;
  let artifacts: ReturnType<typeof validateArtifact>[];
  const material = randomBytes(32);

  /** A report of `p` signed by its VLEK (or a masked-chip VCEK) for this client's key, and its table as configfs-tsm's auxblob. */
  function evidence(p: AmdTestPki, o: { signingKey?: 'vcek' | 'vlek'; maskChipKey?: boolean; fields?: Partial<SnpReportFields>; reportData?: Buffer } = {}): { report: Uint8Array; table: Uint8Array } {
    const signingKey = o.signingKey ?? 'vlek';
    const leaf = signingKey === 'vlek' ? p.vlek : p.vcek;
    const report = buildSnpReport({ version: 3, product, signingKey, key: leaf.key.privateKey, seed, reportData: o.reportData ?? sha512(client.spkiDer), ...(o.maskChipKey ? { maskChipKey: true } : {}), ...o.fields } as never).bytes;
    const table = buildSnpCertTable([
      { guid: signingKey, der: leaf.der },
      { guid: 'ask', der: (signingKey === 'vlek' ? p.asvk : p.ask).der },
      { guid: 'ark', der: p.ark.der },
    ]);
    return { report, table };
  }

  const transfer = (keyId: string, body: Record<string, unknown>, type = 'SEV-SNP') => h.call('POST', transferPath(keyId), { body, headers: { 'attestation-type': type }, token: null });
  const snpBody = (e: { report: Uint8Array; table?: Uint8Array }, table: unknown = e.table === undefined ? undefined : b64(e.table)) => ({
    quote: b64(e.report),
    user_data: client.userData,
    ...(table === undefined ? {} : { cert_table: table }),
  });

  beforeAll(async () => {
    requireBuilt();
    pki = createAmdTestPki({ seed, product, validity });
    // Another AMD-shaped PKI: its own ARK / ASVK keys (Genoa's test RSA keys), so nothing of it chains to the pinned ARK.
    foreign = createAmdTestPki({ seed: `${seed} foreign`, product, validity, chipId: pki.chipId, rsaKeys: loadAmdRsaKeys('Genoa') });
    // The broker's collateral: the CRLs only. No VLEK (KDS serves none), no VCEK, no chain: those come from the table.
    artifacts = (['vlek', 'vcek'] as const).map((k) => validateArtifact({ kind: 'amd-crl', key: artifactKey.amdCrl(product, k), body: buildEmptyAmdCrl(pki, crlWindow), source: { origin: 'bundle' } }));
    // The TDX platform's roots and collateral too (the TDX key below), and the AMD test PKI's.
    const platform = makePlatform();
    const trustRoots = { ...platform.trustRoots, amd: { [product]: { ark: pki.ark.der, ask: pki.ask.der, asvk: pki.asvk.der } } };
    const c = platform.collateral;
    const intel = [c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a) => a !== undefined);
    // Every refusal of this file from 127.0.0.1 gets its full row (the rows are what several cases read), none is rate limited.
    h = await startHarness(
      { collateral: new CollateralService({ intel: new BundleSource(intel), amd: new BundleSource(artifacts), cache: null }), trustRoots: trustRoots as never, rateLimit: { burst: 1000, perSecond: 1000 }, refusalLog: { perClient: 1000 } },
      platform,
    );
    client = newClient();
    const r = parseEvidence(evidence(pki).report) as SnpReport;
    const t = r.tcb!.reported;
    const base = { tee: 'snp', measurement: [Buffer.from(r.measurement).toString('hex')], hostData: 'any', products: [product], tcbMinimums: { [product]: { reported: { bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode } } } };
    vlekKeyId = await registerKey(h, material, { ...base, signingKeys: ['vlek'] });
    vcekKeyId = await registerKey(h, material, base);
    tdxKeyId = await registerKey(h, material);
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  it('a VLEK-signed report with its table is released; the row keeps the table; export-log gives it to batch as auxblob and batch trusts the record again', async () => {
    const e = evidence(pki);
    const r = await transfer(vlekKeyId, snpBody(e));
    expect(r.status, r.text).toBe(200);
    expect(unwrap(client, r.json).equals(material)).toBe(true);
    const s = await h.storage();
    const row = await s.get<{ evidence: string; cert_table: string | null }>("SELECT evidence, cert_table FROM attestation_log WHERE decision = 'released' AND key_id = ? ORDER BY seq DESC LIMIT 1", [vlekKeyId]);
    expect(row?.evidence).toBe(b64(e.report));
    expect(row?.cert_table).toBe(b64(e.table));

    // `tee-kbs admin export-log`'s records, and `tee-verify batch` on them (its worker runs dist/, so dist must be built).
    let exported = '';
    const x = await runKbsCli(['admin', 'export-log', '--db', h.db], { stdout: (t) => (exported += t), stderr: () => {}, env: {} });
    expect(x.code).toBe(0);
    const released = exported.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['auxblob'] !== undefined);
    expect(released).toHaveLength(1);
    expect(released[0]).toMatchObject({ evidence: b64(e.report), auxblob: b64(e.table) });
    const input = join(h.dir, 'log.jsonl');
    writeFileSync(input, `${JSON.stringify(released[0])}\n`);
    const bundle = join(h.dir, 'collateral.json');
    writeFileSync(bundle, exportBundle(artifacts));
    const roots = join(h.dir, 'roots.pem');
    writeFileSync(roots, pki.ark.pem + pki.ask.pem + pki.asvk.pem);
    const out = join(h.dir, 'results.jsonl');
    const c = capture();
    const code = await runBatchCli([input, '--out', out, '--collateral', bundle, '--trust-root', roots, '--allow-record-policy', '--workers', '1'], c.io);
    const results = readResults(out);
    expect(results.map((x) => [x.ok, x.error?.code ?? null]), c.stderr()).toEqual([[true, null]]);
    expect(code).toBe(0);
  }, 120_000);

  it('the same report without the table is refused at S05 (401 ERR_KBS_EVIDENCE, ERR_SNP_SIGNER), as before', async () => {
    const r = await transfer(vlekKeyId, snpBody({ report: evidence(pki).report }));
    expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check, cause: r.json?.checks?.[0]?.code }).toEqual({ status: 401, code: 'ERR_KBS_EVIDENCE', check: 'S05', cause: 'ERR_SNP_SIGNER' });
    expect(r.json).not.toHaveProperty('wrapped_key');
  });

  it('a masked-chip VCEK report: S05 without its table; with it, past S05 to S14, which a table does not relax (a key release never accepts a masked CHIP_ID)', async () => {
    const e = evidence(pki, { signingKey: 'vcek', maskChipKey: true });
    const without = await transfer(vcekKeyId, snpBody({ report: e.report }));
    expect({ status: without.status, check: without.json?.checks?.[0]?.check }).toEqual({ status: 401, check: 'S05' });
    const r = await transfer(vcekKeyId, snpBody(e));
    expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 401, code: 'ERR_KBS_EVIDENCE', check: 'S14' });
    expect(r.json).not.toHaveProperty('wrapped_key');
  });

  it('a table cannot relax anything: a VLEK (with its ASVK and ARK) of another PKI is refused, nothing released, the table summarised in the row', async () => {
    const e = evidence(foreign);
    const r = await transfer(vlekKeyId, snpBody(e));
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 401, code: 'ERR_KBS_EVIDENCE' });
    expect(r.json).not.toHaveProperty('wrapped_key');
    // The genuine report with the foreign VLEK in its table (and the genuine ASVK and ARK): the foreign VLEK does not chain to the pinned ARK, nor did it sign the report; refused.
    const mixed = buildSnpCertTable([
      { guid: 'vlek', der: foreign.vlek.der },
      { guid: 'ask', der: pki.asvk.der },
      { guid: 'ark', der: pki.ark.der },
    ]);
    const r2 = await transfer(vlekKeyId, snpBody({ report: evidence(pki).report }, b64(mixed)));
    expect({ status: r2.status, code: r2.json?.code }).toEqual({ status: 401, code: 'ERR_KBS_EVIDENCE' });
    expect(r2.json).not.toHaveProperty('wrapped_key');
    const s = await h.storage();
    const row = await s.get<{ evidence: string | null; cert_table: string | null; error: string }>("SELECT evidence, cert_table, error FROM attestation_log WHERE decision = 'refused' ORDER BY seq DESC LIMIT 1");
    expect(row?.evidence).toBeNull();
    expect(row?.cert_table).toBeNull();
    expect(JSON.parse(row!.error).evidence.certTable).toEqual({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), length: mixed.length });
  });

  // s15 change review #4: the table attacks the verifier refuses (attack.test.ts of the review), pinned for this endpoint.
  // Each is signed by a key of the pinned PKI and bound to this client, so only the table (or the report's claim about its signer) is wrong.
  const vcekTable = (p: AmdTestPki) => buildSnpCertTable([{ guid: 'vcek', der: p.vcek.der }, { guid: 'ask', der: p.ask.der }, { guid: 'ark', der: p.ark.der }]);
  it.each([
    [
      "a VCEK report naming another chip than the table's VCEK: S14",
      () => ({ keyId: vcekKeyId, report: evidence(pki, { signingKey: 'vcek', fields: { chipId: new Uint8Array(64).fill(0x5a) } }).report, table: vcekTable(pki) }),
      'S14',
    ],
    [
      'a VCEK whose TCB is not the report\'s REPORTED_TCB: S13',
      () => ({ keyId: vcekKeyId, report: evidence(pki, { signingKey: 'vcek', fields: { reportedTcb: { bootloader: 99, tee: 99, snp: 99, microcode: 250 } } as never }).report, table: vcekTable(pki) }),
      'S13',
    ],
    [
      'signer swap: a report claiming a VCEK, signed by the VLEK, the VLEK and ASVK under the VCEK and ASK GUIDs: S38',
      () => ({
        keyId: vlekKeyId,
        report: buildSnpReport({ version: 3, product, signingKey: 'vcek', key: pki.vlek.key.privateKey, seed, reportData: sha512(client.spkiDer) }).bytes,
        table: buildSnpCertTable([{ guid: 'vcek', der: pki.vlek.der }, { guid: 'ask', der: pki.asvk.der }, { guid: 'ark', der: pki.ark.der }]),
      }),
      'S38',
    ],
    [
      'signer swap: a report claiming a VLEK, signed by the VCEK, the VCEK and ASK under the VLEK and ASVK GUIDs: S38',
      () => ({
        keyId: vlekKeyId,
        report: buildSnpReport({ version: 3, product, signingKey: 'vlek', key: pki.vcek.key.privateKey, seed, reportData: sha512(client.spkiDer) }).bytes,
        table: buildSnpCertTable([{ guid: 'vlek', der: pki.vcek.der }, { guid: 'ask', der: pki.ask.der }, { guid: 'ark', der: pki.ark.der }]),
      }),
      'S38',
    ],
    [
      'a VLEK with the ASK in place of the ASVK: S38',
      () => ({ keyId: vlekKeyId, report: evidence(pki).report, table: buildSnpCertTable([{ guid: 'vlek', der: pki.vlek.der }, { guid: 'ask', der: pki.ask.der }, { guid: 'ark', der: pki.ark.der }]) }),
      'S38',
    ],
  ])('a table cannot relax anything: %s, 401 ERR_KBS_EVIDENCE, nothing released', async (_name, make, check) => {
    const { keyId, report, table } = make();
    const r = await transfer(keyId, snpBody({ report, table }));
    expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 401, code: 'ERR_KBS_EVIDENCE', check });
    expect(r.json).not.toHaveProperty('wrapped_key');
  });

  it('a refusal row never keeps the table (s15 change review #1): a public genuine report replayed with a 32 KiB table of junk keeps the report, and the table only as SHA-256 and length', async () => {
    // Someone else's genuine VLEK report (public: from an exported log, say), bound to that client's key, sent with this client's user_data.
    const victim = newClient();
    const e = evidence(pki, { reportData: sha512(victim.spkiDer) });
    const entries = [
      { guid: 'vlek', der: pki.vlek.der },
      { guid: 'ask', der: pki.asvk.der },
      { guid: 'ark', der: pki.ark.der },
    ];
    // The genuine entries plus an entry of an unknown GUID, never read by the verifier: 32 KiB in all.
    const junk = randomBytes(32 * 1024 - e.table.length - 24);
    const table = buildSnpCertTable([...entries, { guid: '11111111-2222-3333-4444-555555555555', der: junk }]);
    expect(table.length).toBe(32 * 1024);
    const r = await transfer(vlekKeyId, snpBody({ report: e.report, table }));
    // Verified (the table is genuine where the verifier reads it), refused by the binding.
    expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 401, code: 'ERR_KBS_BINDING', check: 'S29' });
    const s = await h.storage();
    const row = await s.get<{ id: string; evidence: string | null; cert_table: string | null; error: string }>("SELECT id, evidence, cert_table, error FROM attestation_log WHERE decision = 'refused' ORDER BY seq DESC LIMIT 1");
    expect(row?.evidence).toBe(b64(e.report));
    expect(row?.cert_table).toBeNull();
    const error = JSON.parse(row!.error) as Record<string, unknown>;
    expect(error['certTable']).toEqual({ sha256: createHash('sha256').update(table).digest('hex'), length: table.length });
    expect(error).not.toHaveProperty('evidence');
    expect(row!.error.length).toBeLessThan(4096);
    // Its batch record carries the report and no auxblob.
    let exported = '';
    expect((await runKbsCli(['admin', 'export-log', '--db', h.db], { stdout: (t) => (exported += t), stderr: () => {}, env: {} })).code).toBe(0);
    const rec = exported.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((x) => x['id'] === row!.id);
    expect(rec).toMatchObject({ evidence: b64(e.report) });
    expect(rec).not.toHaveProperty('auxblob');
    expect(JSON.stringify(rec).length).toBeLessThan(4096);
  });

  it('cert_table with TDX is 400 ERR_KBS_BAD_REQUEST naming SEV-SNP', async () => {
    const r = await transfer(tdxKeyId, { ...transferBody(h, client), cert_table: b64(evidence(pki).table) }, 'TDX');
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 400, code: 'ERR_KBS_BAD_REQUEST' });
    expect(r.json.error).toMatch(/"cert_table" is the SEV-SNP certificate table; with Attestation-Type TDX leave it out/);
    // The same request without it is released: the refusal was the member alone.
    const ok = await transfer(tdxKeyId, transferBody(h, client), 'TDX');
    expect(ok.status, ok.text).toBe(200);
  });

  it.each([
    ['not base64', 'not base64!', /"cert_table" must be non-empty standard base64/],
    ['base64url', b64(randomBytes(30)).replace(/\+/g, '-').replace(/\//g, '_') + '-_', /"cert_table" must be non-empty standard base64/],
    ['non-canonical', 'QR==', /"cert_table" must be canonical standard base64/],
    ['empty', '', /"cert_table" must be non-empty standard base64/],
    ['a number', 42, /"cert_table" must be non-empty standard base64/],
    ['over 32 KiB', b64(new Uint8Array(32 * 1024 + 1)), /"cert_table" holds 32769 bytes; at most 32768 are accepted/],
  ])('cert_table %s: 400 ERR_KBS_BAD_REQUEST', async (_name, table, message) => {
    const r = await transfer(vlekKeyId, snpBody({ report: evidence(pki).report }, table));
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 400, code: 'ERR_KBS_BAD_REQUEST' });
    expect(r.json.error).toMatch(message);
  });

  it('a table that is not a certificate table (truncated) is refused as evidence: 401 ERR_KBS_EVIDENCE, S05', async () => {
    const e = evidence(pki);
    const r = await transfer(vlekKeyId, snpBody({ report: e.report }, b64(e.table.subarray(0, 30))));
    expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 401, code: 'ERR_KBS_EVIDENCE', check: 'S05' });
  });

  it('null is absent, as for every optional byte field', async () => {
    const r = await transfer(vlekKeyId, snpBody({ report: evidence(pki).report }, null));
    expect({ status: r.status, check: r.json?.checks?.[0]?.check }).toEqual({ status: 401, check: 'S05' });
  });
});
