/**
 * Cube agent drop-in, POST /attestation, against the real gateway over TLS on
 * 127.0.0.1 with the simulated SEV-SNP TEE: the protobuf answer
 * (go-sev-guest sevsnp.Attestation) and its proto3 JSON mapping carry every
 * report field and the certificate chain. The tests rebuild the raw report
 * from the decoded message with their own offset table (go-sev-guest's
 * ReportToAbiBytes, not our layouts), require it to equal the evidence the
 * provider produced, and verify it with the chain from the answer.
 */
import { randomBytes } from 'node:crypto';

import { fromBinary, fromJson } from '@bufbuild/protobuf';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fmsToCpuid1Eax } from '../../src/gateway/cube.js';
import { AttestationSchema, SevProduct_SevProductName, type Attestation } from '../../src/gateway/proto/proto/sevsnp_pb.js';
import { BundleSource, CollateralService, parseEvidence, parseSnpCertificateTable, verifyEvidence, type SnpReport, type TdxQuote } from '../../src/index.js';
import { SimulatedTeeProvider, type EvidenceProvider, type TeeEvidence } from '../../src/tee/index.js';
import { buildSnpCertTable } from '../../src/testing/index.js';
import { startHarness, type Harness } from './helpers.js';

/** Delegates to a provider and keeps what it produced, so a test can compare the answer with it. */
class RecordingProvider implements EvidenceProvider {
  readonly name = 'recording';
  readonly produced: TeeEvidence[] = [];
  constructor(readonly inner: SimulatedTeeProvider, readonly extraCerts: { guid: string; der: Uint8Array }[] = []) {}
  get tee(): 'tdx' | 'snp' {
    return this.inner.tee;
  }
  async getEvidence(reportData: Uint8Array): Promise<TeeEvidence> {
    const ev = await this.inner.getEvidence(reportData);
    const withExtras = ev.auxblob && this.extraCerts.length > 0 ? { ...ev, auxblob: appendEntries(ev.auxblob, this.extraCerts) } : ev;
    this.produced.push(withExtras);
    return withExtras;
  }
  get last(): TeeEvidence {
    const ev = this.produced.at(-1);
    if (!ev) throw new Error('no evidence produced yet');
    return ev;
  }
}

function appendEntries(auxblob: Uint8Array, extra: { guid: string; der: Uint8Array }[]): Uint8Array {
  const entries = parseSnpCertificateTable(auxblob).map((e) => ({ guid: e.guid, der: e.der }));
  return buildSnpCertTable([...entries, ...extra]);
}

// ---- go-sev-guest's ReportToAbiBytes, written out as offsets (independent of src/evidence) ----

const REPORT_SIZE = 0x4a0;
type Field = [offset: number, size: number];
const BYTES: Record<string, Field> = {
  familyId: [0x10, 16], imageId: [0x20, 16], reportData: [0x50, 64], measurement: [0x90, 48], hostData: [0xc0, 32],
  idKeyDigest: [0xe0, 48], authorKeyDigest: [0x110, 48], reportId: [0x140, 32], reportIdMa: [0x160, 32], chipId: [0x1a0, 64],
  signature: [0x2a0, 512],
};
const U32: Record<string, number> = { version: 0x00, guestSvn: 0x04, vmpl: 0x30, signatureAlgo: 0x34, signerInfo: 0x48 };
const U64: Record<string, number> = {
  policy: 0x08, currentTcb: 0x38, platformInfo: 0x40, reportedTcb: 0x180, committedTcb: 0x1e0, launchTcb: 0x1f0,
  launchMitVector: 0x1f8, currentMitVector: 0x200,
};
const U8: Record<string, number> = { currentBuild: 0x1e8, currentMinor: 0x1e9, currentMajor: 0x1ea, committedBuild: 0x1ec, committedMinor: 0x1ed, committedMajor: 0x1ee };

/** Field values as the decoded message (or its JSON) gives them. */
type Fields = Record<string, Uint8Array | number | bigint>;

function rebuildReport(f: Fields): Buffer {
  const out = Buffer.alloc(REPORT_SIZE);
  for (const [name, [at, size]] of Object.entries(BYTES)) {
    const v = f[name] as Uint8Array;
    expect(v.length, name).toBe(size);
    out.set(v, at);
  }
  for (const [name, at] of Object.entries(U32)) out.writeUInt32LE(Number(f[name]), at);
  for (const [name, at] of Object.entries(U64)) out.writeBigUInt64LE(BigInt(f[name] as bigint), at);
  for (const [name, at] of Object.entries(U8)) out.writeUInt8(Number(f[name]), at);
  // CPUID(1).EAX back to family / model / stepping (go-sev-guest FmsFromCpuid1Eax), v3 and later.
  if (Number(f['version']) >= 3) {
    const eax = Number(f['cpuid1eaxFms']);
    out[0x188] = ((eax >> 20) & 0xff) + ((eax >> 8) & 0xf);
    out[0x189] = (((eax >> 16) & 0xf) << 4) | ((eax >> 4) & 0xf);
    out[0x18a] = eax & 0xf;
  }
  return out;
}

const ALL_FIELDS = [...Object.keys(BYTES), ...Object.keys(U32), ...Object.keys(U64), ...Object.keys(U8), 'cpuid1eaxFms'];

function fieldsOfMessage(a: Attestation): Fields {
  const r = a.report as unknown as Fields;
  expect(r).toBeDefined();
  return Object.fromEntries(ALL_FIELDS.map((k) => [k, r[k] as Uint8Array | number | bigint]));
}

/** From protojson: bytes are standard padded base64, 64-bit integers decimal strings, zero values absent. */
function fieldsOfJson(report: Record<string, unknown>): Fields {
  const out: Fields = {};
  for (const k of Object.keys(BYTES)) {
    const v = report[k];
    expect(typeof v, k).toBe('string');
    expect(v as string, k).toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
    out[k] = new Uint8Array(Buffer.from(v as string, 'base64'));
  }
  for (const k of Object.keys(U64)) {
    const v = report[k];
    if (v !== undefined) expect(typeof v, `${k} is a uint64: a JSON string`).toBe('string');
    out[k] = BigInt((v as string | undefined) ?? '0');
  }
  for (const k of [...Object.keys(U32), ...Object.keys(U8), 'cpuid1eaxFms']) {
    const v = report[k];
    if (v !== undefined) expect(typeof v, k).toBe('number');
    out[k] = (v as number | undefined) ?? 0;
  }
  return out;
}

// ---- harness ----

const snp = new SimulatedTeeProvider({ tee: 'snp' });
// A host-injected certificate under a GUID go-sev-guest does not name (any DER certificate will do: the ASVK).
const extraGuid = '0b2c5f1e-7a41-4d6a-9c3e-8f6d2a1b4c5d';
const extraDer = snp.trustRoots.amd.Milan!.asvk;
const provider = new RecordingProvider(snp, [{ guid: extraGuid, der: extraDer }]);
let h: Harness;
let hTdx: Harness;

beforeAll(async () => {
  h = await startHarness({ provider, cubeAttestation: true });
  hTdx = await startHarness({ cubeAttestation: true });
});
afterAll(async () => {
  await h?.close();
  await hTdx?.close();
});

async function cube(harness: Harness, body: unknown): Promise<{ status: number; type: string; body: Buffer }> {
  const res = await request(`${harness.gateway.url}/attestation`, {
    method: 'POST',
    dispatcher: harness.insecure,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, type: String(res.headers['content-type']), body: Buffer.from(await res.body.arrayBuffer()) };
}

/** The answer's chain, verified: only the CRL comes from the collateral source, so VCEK, ASK and ARK must come from the answer. */
async function verifyRebuilt(report: Buffer, chain: { vcek: Uint8Array; ask: Uint8Array; ark: Uint8Array }) {
  const crlOnly = new BundleSource(snp.collateral.filter((a) => a.kind === 'amd-crl'));
  const certTable = parseSnpCertificateTable(buildSnpCertTable([{ guid: 'vcek', der: chain.vcek }, { guid: 'ask', der: chain.ask }, { guid: 'ark', der: chain.ark }]));
  return verifyEvidence(new Uint8Array(report), { collateral: new CollateralService({ amd: crlOnly, cache: null }), trustRoots: snp.trustRoots, certTable });
}

const providerChain = () => Object.fromEntries(parseSnpCertificateTable(provider.last.auxblob!).map((e) => [e.kind === 'unknown' ? e.guid : e.kind, Buffer.from(e.der)]));

describe('POST /attestation on SEV-SNP (Cube agent drop-in)', () => {
  it('protobuf sevsnp.Attestation: every report field rebuilds the provider\'s exact report; the chain verifies; report_data raw, zero-padded', async () => {
    const rd = randomBytes(24);
    const r = await cube(h, { report_data: rd.toString('base64'), nonce: randomBytes(32).toString('base64'), to_json: false });
    expect(r.status, r.body.toString('utf8')).toBe(200);
    expect(r.type).toBe('application/octet-stream');
    const msg = fromBinary(AttestationSchema, new Uint8Array(r.body));
    expect(msg.$unknown).toBeUndefined();

    const rebuilt = rebuildReport(fieldsOfMessage(msg));
    expect(rebuilt.equals(Buffer.from(provider.last.evidence))).toBe(true);
    expect(Buffer.from(msg.report!.reportData).equals(Buffer.concat([rd, Buffer.alloc(40)]))).toBe(true);
    expect(Buffer.from(provider.last.reportData).equals(Buffer.concat([rd, Buffer.alloc(40)]))).toBe(true);

    const chain = msg.certificateChain!;
    const fromProvider = providerChain();
    expect(Buffer.from(chain.vcekCert).equals(fromProvider['vcek']!)).toBe(true);
    expect(Buffer.from(chain.askCert).equals(fromProvider['ask']!)).toBe(true);
    expect(Buffer.from(chain.arkCert).equals(fromProvider['ark']!)).toBe(true);
    expect(chain.vlekCert.length).toBe(0);
    // A GUID go-sev-guest does not name goes to `extras`, keyed by its text form.
    expect(Object.keys(chain.extras)).toEqual([extraGuid]);
    expect(Buffer.from(chain.extras[extraGuid]!).equals(Buffer.from(extraDer))).toBe(true);

    // The report's signed CPUID names Milan; the simulated platform is Milan.
    const parsed = parseEvidence(rebuilt) as SnpReport;
    expect(msg.product?.name).toBe(SevProduct_SevProductName.SEV_PRODUCT_MILAN);
    expect(msg.product?.machineStepping).toBe(parsed.cpuid!.stepping);

    const result = await verifyRebuilt(rebuilt, { vcek: chain.vcekCert, ask: chain.askCert, ark: chain.arkCert });
    expect(result.tee).toBe('snp');
    expect(result.claims.reportData).toBe(Buffer.concat([rd, Buffer.alloc(40)]).toString('hex'));
    // The VCEK and the ASK/ARK pair came from the answer (the source had neither); the pair is then pinned to the roots (S37).
    const used = Object.fromEntries(result.collateral.artifacts.map((a) => [a.kind, a]));
    expect(used['amd-vcek']?.origin).toBe('evidence');
    expect(used['amd-cert-chain']?.key).toMatch(/\/evidence$/);
  });

  it('a report field moved or changed in the rebuilt report fails verification (the test can fail)', async () => {
    const r = await cube(h, { report_data: randomBytes(64).toString('base64') });
    const msg = fromBinary(AttestationSchema, new Uint8Array(r.body));
    const f = fieldsOfMessage(msg);
    const swapped = { ...f, measurement: f['idKeyDigest']!, idKeyDigest: f['measurement']! };
    const chain = msg.certificateChain!;
    // The signed bytes changed, so the VCEK signature over the report no longer verifies (S12).
    await expect(verifyRebuilt(rebuildReport(swapped), { vcek: chain.vcekCert, ask: chain.askCert, ark: chain.arkCert })).rejects.toMatchObject({ code: 'ERR_SIG_REPORT', check: 'S12' });
  });

  it('to_json: protojson field names and encodings, Content-Type application/json, the same report and chain', async () => {
    const rd = randomBytes(64);
    const r = await cube(h, { report_data: rd.toString('base64'), nonce: '', to_json: true });
    expect(r.status, r.body.toString('utf8')).toBe(200);
    expect(r.type).toBe('application/json');
    expect(r.body.toString('utf8')).toMatch(/^\{\n\t"report": \{\n\t\t"/);
    const doc = JSON.parse(r.body.toString('utf8'));
    expect(Object.keys(doc).sort()).toEqual(['certificateChain', 'product', 'report']);
    expect(Object.keys(doc.certificateChain).sort()).toEqual(['arkCert', 'askCert', 'extras', 'vcekCert']);
    expect(doc.product).toEqual({ name: 'SEV_PRODUCT_MILAN', machineStepping: expect.any(Number) });
    // Zero values are absent, as in protojson (the simulated report has no author key, v3 has no mitigation vectors).
    expect(doc.report.launchMitVector).toBeUndefined();
    expect(doc.report).toHaveProperty('cpuid1eaxFms');
    expect(typeof doc.report.policy).toBe('string');

    const rebuilt = rebuildReport(fieldsOfJson(doc.report));
    expect(rebuilt.equals(Buffer.from(provider.last.evidence))).toBe(true);
    expect(doc.report.reportData).toBe(rd.toString('base64'));
    const fromProvider = providerChain();
    const der = (k: string) => Buffer.from(doc.certificateChain[k], 'base64');
    expect(der('vcekCert').equals(fromProvider['vcek']!)).toBe(true);
    expect(der('askCert').equals(fromProvider['ask']!)).toBe(true);
    expect(der('arkCert').equals(fromProvider['ark']!)).toBe(true);
    expect(Buffer.from(doc.certificateChain.extras[extraGuid], 'base64').equals(Buffer.from(extraDer))).toBe(true);

    // The generated code reads it back as the same message a protobuf answer gives.
    const msg = fromJson(AttestationSchema, doc);
    expect(rebuildReport(fieldsOfMessage(msg)).equals(rebuilt)).toBe(true);
    const result = await verifyRebuilt(rebuilt, { vcek: der('vcekCert'), ask: der('askCert'), ark: der('arkCert') });
    expect(result.claims.reportData).toBe(rd.toString('hex'));
  });

  it('bad requests are 400 ERR_GATEWAY_BAD_REQUEST and ask the TEE for nothing', async () => {
    const before = provider.produced.length;
    const bad: unknown[] = [
      { report_data: randomBytes(65).toString('base64') },
      { report_data: 'not base64!' },
      { report_data: randomBytes(30).toString('base64url') + '-_' },
      { report_data: 'AAA' },
      { report_data: 42 },
      { nonce: randomBytes(33).toString('base64') },
      { nonce: '*' },
      { to_json: 'yes' },
      '[1]',
      'not json',
    ];
    for (const body of bad) {
      const r = await cube(h, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(JSON.parse(r.body.toString('utf8')).code, JSON.stringify(body)).toBe('ERR_GATEWAY_BAD_REQUEST');
    }
    expect(provider.produced.length).toBe(before);
  });

  it('an empty body object asks for all-zero report_data (Cube\'s defaults)', async () => {
    const r = await cube(h, {});
    expect(r.status, r.body.toString('utf8')).toBe(200);
    const msg = fromBinary(AttestationSchema, new Uint8Array(r.body));
    expect(Buffer.from(msg.report!.reportData).equals(Buffer.alloc(64))).toBe(true);
  });
});

describe('POST /attestation on TDX', () => {
  it('still answers the raw quote as application/octet-stream, report_data raw and zero-padded', async () => {
    const rd = randomBytes(10);
    const r = await cube(hTdx, { report_data: rd.toString('base64') });
    expect(r.status, r.body.toString('utf8')).toBe(200);
    expect(r.type).toBe('application/octet-stream');
    const quote = parseEvidence(new Uint8Array(r.body)) as TdxQuote;
    expect(quote.kind).toBe('tdx');
    expect(Buffer.from(quote.body.reportData as Uint8Array).equals(Buffer.concat([rd, Buffer.alloc(54)]))).toBe(true);
  });

});

describe('CPUID(1).EAX encoding (go-sev-guest FmsToCpuid1Eax)', () => {
  it('gives the published signatures of Milan B1, Genoa B1 and Turin', () => {
    expect(fmsToCpuid1Eax(0x19, 0x01, 1).toString(16)).toBe('a00f11');
    expect(fmsToCpuid1Eax(0x19, 0x11, 1).toString(16)).toBe('a10f11');
    expect(fmsToCpuid1Eax(0x1a, 0x02, 0).toString(16)).toBe('b00f20');
    expect(fmsToCpuid1Eax(0x06, 0x8f, 8).toString(16)).toBe('806f8');
  });
});
