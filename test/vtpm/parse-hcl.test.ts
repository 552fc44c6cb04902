/**
 * Azure HCL reports through the bounded native parser: the three SEV-SNP
 * reports and the TDX report of the shared vectors parse, their hardware
 * reports are byte-for-byte the extracted reports the manifest names, the
 * hardware report_data commits to the runtime data (SHA-256), the runtime
 * data's HCLAkPub verifies the vTPM quote shipped with the Genoa evidence,
 * and malformed reports give the exact typed code.
 */
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { parseHclReport, parseTpmQuote } from '../../src/vtpm/parse.js';
import { catchError, expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, findEntry, readVectorFile } from '../helpers/vectors.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const file = (rel: string) => new Uint8Array(readVectorFile(rel));

const TRUSTEE_MILAN = 'trustee/deps/verifier/test_data/az-snp-vtpm/hcl-report.bin';
const OPENPCC_GENOA = 'openpcc/extracted/azure_hcl_report.bin';
const TRUSTEE_GENOA_JSON = 'trustee/deps/verifier/test_data/az-snp-vtpm/evidence-genoa.json';
const OPENPCC_TDX_TXTAR = 'openpcc/attestation/attest/testdata/azure_tdx_report.txt';

/** The PEM block `label` of a txtar archive member, base64-decoded. */
function pemBlock(rel: string, label: string): Uint8Array {
  const text = readVectorFile(rel).toString('latin1');
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`).exec(text);
  if (!m) throw new Error(`no ${label} block in ${rel}`);
  return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

function genoaEvidence(): { report: Uint8Array; message: Uint8Array; signature: Uint8Array; pcrs: number[][] } {
  const j = JSON.parse(readVectorFile(TRUSTEE_GENOA_JSON).toString('utf8')) as {
    report: number[];
    quote: { message: number[]; signature: number[]; pcrs: number[][] };
  };
  return { report: Uint8Array.from(j.report), message: Uint8Array.from(j.quote.message), signature: Uint8Array.from(j.quote.signature), pcrs: j.quote.pcrs };
}

interface Jwk {
  kid: string;
  kty: string;
  n: string;
  e: string;
}
function akPub(runtimeData: Uint8Array): Jwk {
  const json = JSON.parse(Buffer.from(runtimeData).toString('utf8')) as { keys: Jwk[] };
  const key = json.keys.find((k) => k.kid === 'HCLAkPub');
  if (!key) throw new Error('no HCLAkPub');
  return key;
}

/** SNP report_data at 0x50; TDREPORT REPORTMACSTRUCT.reportdata at 128. */
const snpReportData = (r: Uint8Array) => r.subarray(0x50, 0x90);
const tdReportData = (r: Uint8Array) => r.subarray(128, 192);

describe.skipIf(!HAVE_VECTORS)('shared HCL reports', () => {
  const snpCases = [
    { name: 'trustee Milan (hcl-report.bin)', bytes: () => file(TRUSTEE_MILAN), report: 'trustee/extracted/az-snp-vtpm/snp-report-milan.bin', version: 1, snpVersion: 2 },
    { name: 'openpcc Genoa (azure_hcl_report.bin)', bytes: () => file(OPENPCC_GENOA), report: 'openpcc/extracted/azure_snp_report_genoa.bin', version: 2, snpVersion: 3 },
    { name: 'trustee Genoa (evidence-genoa.json)', bytes: () => genoaEvidence().report, report: 'trustee/extracted/az-snp-vtpm/snp-report-genoa.bin', version: 2, snpVersion: 3 },
  ];

  it('the manifest names the extracted reports as bytes [32, 1216) of these HCL reports', () => {
    expect(findEntry('trustee/az_snp_vtpm_hcl_report_milan')?.collateral['original_container_hcl_report']).toBe(TRUSTEE_MILAN);
    expect(findEntry('trustee/az_snp_vtpm_evidence_genoa')?.collateral['original_container_evidence_json']).toBe(TRUSTEE_GENOA_JSON);
  });

  for (const c of snpCases) {
    it(`${c.name}: SEV-SNP report, runtime data committed in report_data, 2600-byte NV padding`, () => {
      const input = c.bytes();
      const h = parseHclReport(input);
      expect(h.bytes).toEqual(input);
      expect(h.bytes).not.toBe(input); // a private copy (review s8, finding 2)
      expect(h.version).toBe(c.version);
      expect(h.reportType).toBe('snp');
      expect(h.hardwareReport.byteOffset - h.bytes.byteOffset).toBe(32);
      expect(hex(h.hardwareReport)).toBe(hex(file(c.report)));
      expect(Buffer.from(h.hardwareReport).readUInt32LE(0)).toBe(c.snpVersion);
      expect(h.reportDataHashType).toBe(1);
      expect(h.runtimeData.byteOffset - h.bytes.byteOffset).toBe(1236);
      // Trustee's rule: SHA-256(runtime data) == report_data[0..32].
      expect(hex(snpReportData(h.hardwareReport).subarray(0, 32))).toBe(sha256(h.runtimeData));
      expect(akPub(h.runtimeData).kty).toBe('RSA');
      expect(input.length).toBe(2600);
      expect(h.trailingZeroBytes).toBe(2600 - 1236 - h.runtimeData.length);
    });
  }

  it('trustee Genoa: the HCLAkPub of the runtime data verifies the vTPM quote, whose PCR digest covers the shipped PCRs', () => {
    const ev = genoaEvidence();
    const h = parseHclReport(ev.report);
    const jwk = akPub(h.runtimeData);
    const key = createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' });
    const q = parseTpmQuote(ev.message);
    expect(nodeVerify('sha256', q.signed, key, ev.signature)).toBe(true);
    expect(q.pcrSelections.map((s) => s.hash)).toEqual(['sha256']);
    const selected = q.pcrSelections[0]!.pcrs.map((i) => Buffer.from(ev.pcrs[i]!));
    expect(hex(q.pcrDigest)).toBe(createHash('sha256').update(Buffer.concat(selected)).digest('hex'));
  });

  it('openpcc Azure TDX (DCesv6) report: TDREPORT, runtime data committed in its reportdata, equal to the TD quote\'s report_data', () => {
    const input = pemBlock(OPENPCC_TDX_TXTAR, 'REPORT');
    const h = parseHclReport(input);
    expect(h.reportType).toBe('tdx');
    expect(h.version).toBe(2);
    expect(h.hardwareReport.length).toBe(1024);
    expect(h.hardwareReport[0]).toBe(0x81); // REPORTTYPE.type = TDX
    expect(hex(tdReportData(h.hardwareReport).subarray(0, 32))).toBe(sha256(h.runtimeData));
    expect(akPub(h.runtimeData).kty).toBe('RSA');
    // The TD quote made from this TDREPORT carries the same report_data (v4 body offset 520).
    const quote = file('openpcc/extracted/azure_tdx_quote.bin');
    expect(hex(quote.subarray(48 + 520, 48 + 584))).toBe(hex(tdReportData(h.hardwareReport)));
    expect(h.trailingZeroBytes).toBe(input.length - 1236 - h.runtimeData.length);
  });

  it('every proper prefix of a real report is ERR_HCL_TRUNCATED', () => {
    const full = file(TRUSTEE_MILAN);
    const end = 1236 + Buffer.from(full).readUInt32LE(1232);
    for (let cut = 0; cut < end; cut++) {
      const err = catchError(() => parseHclReport(full.subarray(0, cut)));
      expect({ cut, code: err.code }).toEqual({ cut, code: 'ERR_HCL_TRUNCATED' });
    }
    // Cut inside the zero padding: still a complete report.
    expect(parseHclReport(full.subarray(0, end)).trailingZeroBytes).toBe(0);
    expect(parseHclReport(full.subarray(0, end + 7)).trailingZeroBytes).toBe(7);
  });
});

/** A synthetic HCL report laid out as in cpp/core/hcl_report.h. */
function hcl(o: { runtime?: string; reportType?: number; version?: number; hashType?: number; padding?: number } = {}): Buffer {
  const runtime = Buffer.from(o.runtime ?? '{"keys":[]}');
  const b = Buffer.alloc(1236 + runtime.length + (o.padding ?? 64));
  b.write('HCLA', 0, 'latin1');
  b.writeUInt32LE(o.version ?? 2, 4);
  b.writeUInt32LE(1236 + runtime.length, 8);
  b.writeUInt32LE(2, 12);
  b.fill(0x5a, 32, 32 + ((o.reportType ?? 2) === 4 ? 1024 : 1184));
  b.writeUInt32LE(20 + runtime.length, 1216);
  b.writeUInt32LE(1, 1220);
  b.writeUInt32LE(o.reportType ?? 2, 1224);
  b.writeUInt32LE(o.hashType ?? 1, 1228);
  b.writeUInt32LE(runtime.length, 1232);
  runtime.copy(b, 1236);
  return b;
}
const u8 = (b: Buffer) => new Uint8Array(b);

describe('HCL report (synthetic)', () => {
  it('a generated SNP and TDX report parse', () => {
    const snp = parseHclReport(u8(hcl()));
    expect([snp.reportType, snp.hardwareReport.length, Buffer.from(snp.runtimeData).toString(), snp.trailingZeroBytes]).toEqual(['snp', 1184, '{"keys":[]}', 64]);
    const tdx = parseHclReport(u8(hcl({ reportType: 4 })));
    expect([tdx.reportType, tdx.hardwareReport.length, tdx.reportDataHashType]).toEqual(['tdx', 1024, 1]);
  });

  it('not "HCLA": ERR_HCL_BAD_HEADER at 0, whatever the length', () => {
    for (const len of [4, 100, 2600]) {
      const b = hcl();
      b.write('HCLB', 0, 'latin1');
      expectError(() => parseHclReport(u8(b.subarray(0, len))), { code: 'ERR_HCL_BAD_HEADER', errorClass: 'PARSE', offset: 0 });
    }
  });

  it('a reserved header word set: ERR_HCL_BAD_HEADER at its byte', () => {
    const b = hcl();
    b[29] = 1;
    expectError(() => parseHclReport(u8(b)), { code: 'ERR_HCL_BAD_HEADER', offset: 29 });
  });

  it('versions: header 0 or 3, request data 2: ERR_HCL_UNSUPPORTED_VERSION (UNSUPPORTED)', () => {
    expectError(() => parseHclReport(u8(hcl({ version: 0 }))), { code: 'ERR_HCL_UNSUPPORTED_VERSION', errorClass: 'UNSUPPORTED', offset: 4 });
    expectError(() => parseHclReport(u8(hcl({ version: 3 }))), { code: 'ERR_HCL_UNSUPPORTED_VERSION', offset: 4 });
    const b = hcl();
    b.writeUInt32LE(2, 1220);
    expectError(() => parseHclReport(u8(b)), { code: 'ERR_HCL_UNSUPPORTED_VERSION', offset: 1220 });
  });

  it('report type other than SNP (2) / TDX (4), hash type other than 1 (SHA-256): UNSUPPORTED codes', () => {
    for (const reportType of [0, 1, 3, 5]) {
      expectError(() => parseHclReport(u8(hcl({ reportType }))), { code: 'ERR_HCL_UNSUPPORTED_REPORT_TYPE', errorClass: 'UNSUPPORTED', offset: 1224 });
    }
    for (const hashType of [0, 2, 3, 4]) {
      expectError(() => parseHclReport(u8(hcl({ hashType }))), { code: 'ERR_HCL_UNSUPPORTED_HASH_TYPE', errorClass: 'UNSUPPORTED', check: 'VT03', offset: 1228 });
    }
  });

  it('sizes: variable data past the end is truncation; report_size / data_size that disagree are ERR_HCL_BAD_SIZE', () => {
    const long = hcl({ padding: 0 });
    long.writeUInt32LE(long.readUInt32LE(1232) + 1, 1232);
    expectError(() => parseHclReport(u8(long)), { code: 'ERR_HCL_TRUNCATED', offset: 1236 });
    const huge = hcl();
    huge.writeUInt32LE(0xffffffff, 1232);
    expectError(() => parseHclReport(u8(huge)), { code: 'ERR_HCL_TRUNCATED', offset: 1236 });
    const dataSize = hcl();
    dataSize.writeUInt32LE(dataSize.readUInt32LE(1216) + 1, 1216);
    expectError(() => parseHclReport(u8(dataSize)), { code: 'ERR_HCL_BAD_SIZE', offset: 1216 });
    const reportSize = hcl();
    reportSize.writeUInt32LE(2600, 8);
    expectError(() => parseHclReport(u8(reportSize)), { code: 'ERR_HCL_BAD_SIZE', offset: 8 });
  });

  it('TDX: a non-zero byte after the 1024-byte TDREPORT is ERR_HCL_RESERVED_NONZERO', () => {
    const b = hcl({ reportType: 4 });
    b[32 + 1024 + 10] = 1;
    expectError(() => parseHclReport(u8(b)), { code: 'ERR_HCL_RESERVED_NONZERO', offset: 32 + 1024 + 10 });
  });

  it('a non-zero byte in the padding is ERR_HCL_TRAILING_DATA at that byte', () => {
    const b = hcl({ padding: 20 });
    b[b.length - 3] = 0xff;
    expectError(() => parseHclReport(u8(b)), { code: 'ERR_HCL_TRAILING_DATA', offset: b.length - 3 });
  });

  it('above 64 KiB: ERR_INPUT_TOO_LARGE', () => {
    expectError(() => parseHclReport(u8(hcl({ padding: 65536 }))), { code: 'ERR_INPUT_TOO_LARGE', offset: 65536 });
  });
});
