/**
 * Cube agent drop-in, POST /attestation on TDX, against the real gateway over
 * TLS on 127.0.0.1 with the simulated TDX TEE. With `to_json` the answer is
 * go-tdx-guest's tdx.QuoteV4 in protojson form (Cube @7c766ce). The tests
 * decode it with the generated code, rebuild the raw quote from the fields
 * with their own offset table (go-tdx-guest's QuoteToAbiBytes order, not our
 * layouts), require it to equal the provider's quote byte for byte and verify
 * it against the simulated platform's collateral and test roots.
 */
import { createPrivateKey, randomBytes } from 'node:crypto';

import { fromJson } from '@bufbuild/protobuf';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cubeTdxAnswer, tdxQuoteV4Message } from '../../src/gateway/index.js';
import { QuoteV4Schema, type QuoteV4 } from '../../src/gateway/proto/proto/tdx_pb.js';
import { BundleSource, CollateralService, parseEvidence, UnsupportedEvidenceError, verifyEvidence, type TdxQuote } from '../../src/index.js';
import { type EvidenceProvider, type TeeEvidence } from '../../src/tee/index.js';
import { buildTdxQuote } from '../../src/testing/index.js';
import { simulated, startHarness, type Harness } from './helpers.js';

/** The simulated TDX platform, optionally appending bytes to its quotes or making v5 quotes with its PCK. */
class RecordingProvider implements EvidenceProvider {
  readonly name = 'recording';
  readonly tee = 'tdx' as const;
  readonly produced: TeeEvidence[] = [];
  constructor(readonly o: { append?: Uint8Array; version?: 4 | 5; marked?: boolean } = {}) {}
  async getEvidence(reportData: Uint8Array): Promise<TeeEvidence> {
    let ev = await simulated.getEvidence(reportData);
    if (this.o.version === 5 || this.o.marked) {
      const s = simulated.exportState();
      const common = { seed: s.seed, pckKey: createPrivateKey(s.signingKeyPem), pckChainPem: s.pckChainPem! };
      const quote = this.o.version === 5 ? buildTdxQuote({ version: 5, ...common, body: { reportData } }) : buildTdxQuote({ version: 4, ...common, ...MARKS, body: { reportData, ...MARKS.body } });
      ev = { ...ev, evidence: quote.bytes };
    }
    if (this.o.append) ev = { ...ev, evidence: new Uint8Array(Buffer.concat([ev.evidence, this.o.append])) };
    this.produced.push(ev);
    return ev;
  }
  get last(): TeeEvidence {
    const ev = this.produced.at(-1);
    if (!ev) throw new Error('no evidence produced yet');
    return ev;
  }
}

/**
 * Distinct non-zero bytes wherever go-tdx-guest's layout groups or renames
 * Intel's fields (header bytes 8..11, the QE report's reserved ranges with
 * isv_ext_prod_id, config_id, config_svn and isv_family_id, the u64 body
 * fields), so a field put in the wrong place cannot rebuild the same bytes.
 * The simulated platform's own quotes have zeros there.
 */
const fill = (n: number, from: number) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
const MARKS = {
  header: { qeSvn: 0x0a0b, pceSvn: 0x0c0d },
  qeReport: { isvExtProdId: fill(16, 0x20), configId: fill(64, 0x40), configSvn: 0x1e1f, isvFamilyId: fill(16, 0x90), miscSelect: 0x11223344 },
  body: { seamAttributes: 0x0102030405060708n, tdAttributes: 0x1112131415161718n, xfam: 0x2122232425262728n },
  mutate: (bytes: Uint8Array, layout: { qeReportOffset: number }) => {
    const qe = layout.qeReportOffset;
    bytes.set(fill(12, 0xa0), qe + 0x14);
    bytes.set(fill(32, 0xb0), qe + 0x60);
    bytes.set(fill(32, 0xd0), qe + 0xa0);
    bytes.set(fill(42, 0xf0), qe + 0x106);
  },
};

// ---- go-tdx-guest's QuoteToAbiBytes, written out as an ordered offset table (independent of src/evidence) ----

type Bytes = Uint8Array;
const HEADER_SIZE = 0x30;
const BODY_SIZE = 0x248;
const BODY_AT = 0x30;
const SIGNED_DATA_SIZE_AT = 0x278;

/** Appends little-endian fields; a bytes field must have its fixed size when one is given. */
class Writer {
  readonly parts: Buffer[] = [];
  u16(v: number) {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    this.parts.push(b);
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
  }
  bytes(v: Bytes | undefined, size: number | undefined, name: string) {
    expect(v, name).toBeDefined();
    if (size !== undefined) expect(v!.length, name).toBe(size);
    this.parts.push(Buffer.from(v!));
  }
  get out(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function rebuildQuote(q: QuoteV4): Buffer {
  const w = new Writer();
  const h = q.header!;
  w.u16(h.version);
  w.u16(h.attestationKeyType);
  w.u32(h.teeType);
  w.bytes(h.pceSvn, 2, 'pceSvn');
  w.bytes(h.qeSvn, 2, 'qeSvn');
  w.bytes(h.qeVendorId, 16, 'qeVendorId');
  w.bytes(h.userData, 20, 'userData');
  expect(w.out.length).toBe(HEADER_SIZE);

  const b = q.tdQuoteBody!;
  const fields48 = (v: Bytes, name: string) => w.bytes(v, 48, name);
  w.bytes(b.teeTcbSvn, 16, 'teeTcbSvn');
  fields48(b.mrSeam, 'mrSeam');
  fields48(b.mrSignerSeam, 'mrSignerSeam');
  w.bytes(b.seamAttributes, 8, 'seamAttributes');
  w.bytes(b.tdAttributes, 8, 'tdAttributes');
  w.bytes(b.xfam, 8, 'xfam');
  fields48(b.mrTd, 'mrTd');
  fields48(b.mrConfigId, 'mrConfigId');
  fields48(b.mrOwner, 'mrOwner');
  fields48(b.mrOwnerConfig, 'mrOwnerConfig');
  expect(b.rtmrs.length).toBe(4);
  b.rtmrs.forEach((r, i) => fields48(r, `rtmr${i}`));
  w.bytes(b.reportData, 64, 'reportData');
  expect(w.out.length).toBe(HEADER_SIZE + BODY_SIZE);

  w.u32(q.signedDataSize);
  const signedStart = w.out.length;
  const sd = q.signedData!;
  w.bytes(sd.signature, 64, 'signature');
  w.bytes(sd.ecdsaAttestationKey, 64, 'ecdsaAttestationKey');
  const cd = sd.certificationData!;
  w.u16(cd.certificateDataType);
  w.u32(cd.size);
  const certStart = w.out.length;
  const qc = cd.qeReportCertificationData!;
  const r = qc.qeReport!;
  w.bytes(r.cpuSvn, 16, 'cpuSvn');
  w.u32(r.miscSelect);
  w.bytes(r.reserved1, 28, 'reserved1');
  w.bytes(r.attributes, 16, 'attributes');
  w.bytes(r.mrEnclave, 32, 'mrEnclave');
  w.bytes(r.reserved2, 32, 'reserved2');
  w.bytes(r.mrSigner, 32, 'mrSigner');
  w.bytes(r.reserved3, 96, 'reserved3');
  w.u16(r.isvProdId);
  w.u16(r.isvSvn);
  w.bytes(r.reserved4, 60, 'reserved4');
  w.bytes(r.reportData, 64, 'qeReport.reportData');
  w.bytes(qc.qeReportSignature, 64, 'qeReportSignature');
  const auth = qc.qeAuthData!;
  w.u16(auth.parsedDataSize);
  w.bytes(auth.data, auth.parsedDataSize, 'qeAuthData.data');
  const pck = qc.pckCertificateChainData!;
  w.u16(pck.certificateDataType);
  w.u32(pck.size);
  w.bytes(pck.pckCertChain, pck.size, 'pckCertChain');
  // The declared sizes must match what the fields fill.
  expect(w.out.length - certStart, 'certificationData.size').toBe(cd.size);
  expect(w.out.length - signedStart, 'signedDataSize').toBe(q.signedDataSize);
  w.bytes(q.extraBytes, undefined, 'extraBytes');
  return w.out;
}

// ---- harness ----

const v4 = new RecordingProvider();
const padded = new RecordingProvider({ append: new Uint8Array(16) });
const v5 = new RecordingProvider({ version: 5 });
const junk = new RecordingProvider({ append: Uint8Array.of(0, 0, 7) });
const marked = new RecordingProvider({ marked: true });
const harnesses: Record<'v4' | 'padded' | 'v5' | 'junk' | 'marked', Harness> = {} as never;

beforeAll(async () => {
  harnesses.v4 = await startHarness({ provider: v4, cubeAttestation: true });
  harnesses.padded = await startHarness({ provider: padded, cubeAttestation: true });
  harnesses.v5 = await startHarness({ provider: v5, cubeAttestation: true });
  harnesses.junk = await startHarness({ provider: junk, cubeAttestation: true });
  harnesses.marked = await startHarness({ provider: marked, cubeAttestation: true });
});
afterAll(async () => {
  for (const h of Object.values(harnesses)) await h?.close();
});

async function cube(h: Harness, body: unknown): Promise<{ status: number; type: string; body: Buffer }> {
  const res = await request(`${h.gateway.url}/attestation`, {
    method: 'POST',
    dispatcher: h.insecure,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, type: String(res.headers['content-type']), body: Buffer.from(await res.body.arrayBuffer()) };
}

/** Verification against the simulated platform's collateral and test roots, at its instant. */
const verifyRebuilt = (quote: Buffer) =>
  verifyEvidence(new Uint8Array(quote), { collateral: new CollateralService({ intel: new BundleSource([...simulated.collateral]), cache: null }), trustRoots: simulated.trustRoots, at: simulated.at });

const b64 = (s: unknown): Buffer => {
  expect(typeof s).toBe('string');
  expect(s as string).toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
  return Buffer.from(s as string, 'base64');
};

describe('POST /attestation on TDX with to_json (Cube agent drop-in, go-tdx-guest QuoteV4)', () => {
  it('protojson QuoteV4: every field rebuilds the provider\'s exact quote, which verifies; report_data raw, zero-padded', async () => {
    const rd = randomBytes(40);
    const r = await cube(harnesses.v4, { report_data: rd.toString('base64'), nonce: randomBytes(32).toString('base64'), to_json: true });
    expect(r.status, r.body.toString('utf8')).toBe(200);
    expect(r.type).toBe('application/json');
    const text = r.body.toString('utf8');
    // protojson with Multiline and Indent "\t", fields in .proto order.
    expect(text).toMatch(/^\{\n\t"header": \{\n\t\t"version": 4,\n\t\t"attestationKeyType": 2,\n\t\t"teeType": 129,\n\t\t"qeSvn": "/);
    const doc = JSON.parse(text);
    expect(Object.keys(doc)).toEqual(['header', 'tdQuoteBody', 'signedDataSize', 'signedData']);
    expect(Object.keys(doc.tdQuoteBody)).toEqual(['teeTcbSvn', 'mrSeam', 'mrSignerSeam', 'seamAttributes', 'tdAttributes', 'xfam', 'mrTd', 'mrConfigId', 'mrOwner', 'mrOwnerConfig', 'rtmrs', 'reportData']);
    expect(Object.keys(doc.signedData.certificationData.qeReportCertificationData)).toEqual(['qeReport', 'qeReportSignature', 'qeAuthData', 'pckCertificateChainData']);
    expect(typeof doc.signedDataSize).toBe('number');
    expect(doc.signedData.certificationData.certificateDataType).toBe(6);
    expect(doc.signedData.certificationData.qeReportCertificationData.pckCertificateChainData.certificateDataType).toBe(5);
    expect(b64(doc.tdQuoteBody.reportData).equals(Buffer.concat([rd, Buffer.alloc(24)]))).toBe(true);
    // The PCK chain is the PEM text the platform put into the quote.
    expect(b64(doc.signedData.certificationData.qeReportCertificationData.pckCertificateChainData.pckCertChain).toString('latin1')).toBe(simulated.exportState().pckChainPem);

    const msg = fromJson(QuoteV4Schema, doc);
    const rebuilt = rebuildQuote(msg);
    const original = Buffer.from(v4.last.evidence);
    expect(rebuilt.length).toBe(original.length);
    expect(rebuilt.equals(original)).toBe(true);
    expect(Buffer.from(v4.last.reportData).equals(Buffer.concat([rd, Buffer.alloc(24)]))).toBe(true);
    // report_data sits at body offset 0x208 of the rebuilt quote, and signed_data_size at 0x278.
    expect(rebuilt.subarray(BODY_AT + 0x208, BODY_AT + 0x248).equals(Buffer.concat([rd, Buffer.alloc(24)]))).toBe(true);
    expect(rebuilt.readUInt32LE(SIGNED_DATA_SIZE_AT)).toBe(rebuilt.length - SIGNED_DATA_SIZE_AT - 4);

    const result = await verifyRebuilt(rebuilt);
    expect(result.tee).toBe('tdx');
    expect(result.claims.reportData).toBe(Buffer.concat([rd, Buffer.alloc(24)]).toString('hex'));
    const parsed = parseEvidence(original) as TdxQuote;
    expect((result.claims as { mrTd: string }).mrTd).toBe(Buffer.from(parsed.body.mrTd).toString('hex'));
  });

  it('a field moved in the rebuilt quote fails verification (the test can fail)', async () => {
    const r = await cube(harnesses.v4, { report_data: randomBytes(64).toString('base64'), to_json: true });
    const msg = fromJson(QuoteV4Schema, JSON.parse(r.body.toString('utf8')));
    const body = msg.tdQuoteBody!;
    [body.mrTd, body.mrConfigId] = [body.mrConfigId, body.mrTd];
    const swapped = rebuildQuote(msg);
    expect(swapped.equals(Buffer.from(v4.last.evidence))).toBe(false);
    // The signed TD report changed, so the attestation key's signature over it no longer verifies (T26).
    await expect(verifyRebuilt(swapped)).rejects.toMatchObject({ code: 'ERR_SIG_QUOTE', check: 'T26' });
  });

  it('zero padding after the signed data becomes extraBytes; signedDataSize excludes it', async () => {
    const r = await cube(harnesses.padded, { report_data: '', to_json: true });
    expect(r.status, r.body.toString('utf8')).toBe(200);
    const doc = JSON.parse(r.body.toString('utf8'));
    expect(Object.keys(doc)).toEqual(['header', 'tdQuoteBody', 'signedDataSize', 'signedData', 'extraBytes']);
    expect(b64(doc.extraBytes).equals(Buffer.alloc(16))).toBe(true);
    const rebuilt = rebuildQuote(fromJson(QuoteV4Schema, doc));
    const original = Buffer.from(padded.last.evidence);
    expect(rebuilt.equals(original)).toBe(true);
    expect(doc.signedDataSize).toBe(original.length - 16 - SIGNED_DATA_SIZE_AT - 4);
    expect(b64(doc.tdQuoteBody.reportData).equals(Buffer.alloc(64))).toBe(true);
    expect((await verifyRebuilt(rebuilt)).tee).toBe('tdx');
  });

  it('fields go-tdx-guest groups or renames land where it reads them (distinct non-zero bytes rebuild exactly)', async () => {
    const r = await cube(harnesses.marked, { report_data: randomBytes(64).toString('base64'), to_json: true });
    expect(r.status, r.body.toString('utf8')).toBe(200);
    const msg = fromJson(QuoteV4Schema, JSON.parse(r.body.toString('utf8')));
    const original = Buffer.from(marked.last.evidence);
    expect(rebuildQuote(msg).equals(original)).toBe(true);
    // go-tdx-guest calls header bytes 8..9 pce_svn and 10..11 qe_svn.
    expect(Buffer.from(msg.header!.pceSvn).equals(original.subarray(8, 10))).toBe(true);
    expect(Buffer.from(msg.header!.qeSvn).equals(original.subarray(10, 12))).toBe(true);
    expect(Buffer.from(msg.header!.pceSvn).readUInt16LE()).toBe(MARKS.header.qeSvn);
    const qe = msg.signedData!.certificationData!.qeReportCertificationData!.qeReport!;
    expect(qe.miscSelect).toBe(0x11223344);
    expect(Buffer.from(qe.reserved4.subarray(0, 2)).readUInt16LE()).toBe(0x1e1f);
    expect(Buffer.from(msg.tdQuoteBody!.xfam).readBigUInt64LE()).toBe(0x2122232425262728n);
  });

  it('without to_json the raw quote, application/octet-stream (unchanged)', async () => {
    const rd = randomBytes(10);
    const r = await cube(harnesses.v4, { report_data: rd.toString('base64'), to_json: false });
    expect(r.status).toBe(200);
    expect(r.type).toBe('application/octet-stream');
    expect(r.body.equals(Buffer.from(v4.last.evidence))).toBe(true);
    const q = parseEvidence(new Uint8Array(r.body)) as TdxQuote;
    expect(Buffer.from(q.body.reportData).equals(Buffer.concat([rd, Buffer.alloc(54)]))).toBe(true);
  });

  it('a v5 quote: to_json is 400 ERR_GATEWAY_BAD_REQUEST naming the version (go-tdx-guest reads v4 only); the raw quote still works', async () => {
    const r = await cube(harnesses.v5, { report_data: randomBytes(8).toString('base64'), to_json: true });
    expect(r.status, r.body.toString('utf8')).toBe(400);
    const err = JSON.parse(r.body.toString('utf8')); // Cube's error shape: {error: message, code}
    expect(err.code).toBe('ERR_GATEWAY_BAD_REQUEST');
    expect(err.error).toMatch(/version 5/);
    expect((parseEvidence(v5.last.evidence) as TdxQuote).version).toBe(5);

    const raw = await cube(harnesses.v5, { to_json: false });
    expect(raw.status).toBe(200);
    expect(raw.type).toBe('application/octet-stream');
    expect((parseEvidence(new Uint8Array(raw.body)) as TdxQuote).version).toBe(5);
  });

  it('non-zero bytes after the quote are a provider failure for to_json (503), not extraBytes', async () => {
    const r = await cube(harnesses.junk, { to_json: true });
    expect(r.status, r.body.toString('utf8')).toBe(503);
    expect(JSON.parse(r.body.toString('utf8')).code).toBe('ERR_GATEWAY_EVIDENCE_PROVIDER');
  });

  it('bad requests are 400 ERR_GATEWAY_BAD_REQUEST and ask the TEE for nothing', async () => {
    const before = v4.produced.length;
    const bad: unknown[] = [
      { report_data: randomBytes(65).toString('base64'), to_json: true },
      { report_data: 'not base64!', to_json: true },
      { report_data: randomBytes(30).toString('base64url') + '-_', to_json: true },
      { nonce: randomBytes(33).toString('base64'), to_json: true },
      { to_json: 'true' },
      { to_json: 1 },
      '{"to_json": true',
      '[true]',
    ];
    for (const body of bad) {
      const r = await cube(harnesses.v4, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(JSON.parse(r.body.toString('utf8')).code, JSON.stringify(body)).toBe('ERR_GATEWAY_BAD_REQUEST');
    }
    expect(v4.produced.length).toBe(before);
  });
});

describe('Cube TDX builders (library)', () => {
  it('tdxQuoteV4Message refuses a v5 quote with UnsupportedEvidenceError ERR_UNSUPPORTED_VERSION', async () => {
    const ev = await v5.getEvidence(new Uint8Array(64));
    const q = parseEvidence(ev.evidence) as TdxQuote;
    let thrown: unknown;
    try {
      tdxQuoteV4Message(q);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(UnsupportedEvidenceError);
    expect((thrown as UnsupportedEvidenceError).code).toBe('ERR_UNSUPPORTED_VERSION');
  });

  it('cubeTdxAnswer gives the same JSON as the gateway and the raw bytes without to_json', async () => {
    const ev = await simulated.getEvidence(new Uint8Array(64).fill(7));
    const json = cubeTdxAnswer(ev, true);
    expect(json.contentType).toBe('application/json');
    expect(rebuildQuote(fromJson(QuoteV4Schema, JSON.parse(json.body.toString('utf8')))).equals(Buffer.from(ev.evidence))).toBe(true);
    const raw = cubeTdxAnswer(ev, false);
    expect(raw.contentType).toBe('application/octet-stream');
    expect(raw.body.equals(Buffer.from(ev.evidence))).toBe(true);
  });
});
