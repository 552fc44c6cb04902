/**
 * Every evidence file of the shared manifest gives either a parsed result or
 * exactly the typed error the clarifications predict; parsed fields equal
 * values read independently at the documented offsets and the manifest's own
 * checks; signatures verify through the addon and node:crypto alike.
 */
import { verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import {
  evidenceToJSON,
  parseEvidence,
  snpSignatureToRS,
  TeeVerifyError,
  verifyQeReportDataBinding,
  verifyQeReportSignature,
  verifyQuoteSignature,
  verifySnpReportSignature,
  type Evidence,
  type SgxQuote,
  type SnpProduct,
  type SnpReport,
  type TdxQuote,
} from '../../src/index.js';
import {
  HAVE_VECTORS,
  certificatesFromPem,
  ecKeyFromRaw,
  evidenceEntries,
  rawEcPoint,
  readEvidenceBytes,
  snpSigningCertificate,
  type ManifestEntry,
} from '../helpers/vectors.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const u16 = (b: Uint8Array, o: number) => Buffer.from(b).readUInt16LE(o);
const u32 = (b: Uint8Array, o: number) => Buffer.from(b).readUInt32LE(o);
const u64 = (b: Uint8Array, o: number) => Buffer.from(b).readBigUInt64LE(o);

/** Vectors whose parse must fail, with the error the clarifications name. */
const EXPECTED_FAILURES: Record<string, { code: string; errorClass: string; check: string }> = {
  // Certification data type 3 (encrypted PPID, no PCK chain): UNSUPPORTED.
  'oasis-core/quote_v3_ecdsa_p256_eppid': { code: 'ERR_UNSUPPORTED_CERT_DATA_TYPE', errorClass: 'UNSUPPORTED', check: 'T07' },
  // Sample quote with an ASCII trailer: PARSE by default, parses when lenient.
  'go-tdx-guest/tdx_prod_quote_SPR_E4': { code: 'ERR_TRAILING_DATA', errorClass: 'PARSE', check: 'T05' },
};
const LENIENT_ONLY = new Set(['go-tdx-guest/tdx_prod_quote_SPR_E4']);

function productOf(entry: ManifestEntry): SnpProduct | undefined {
  const cpu = entry.cpu ?? '';
  return (['Milan', 'Genoa', 'Turin'] as const).find((p) => cpu.startsWith(p));
}

function parseEntry(entry: ManifestEntry): Evidence {
  const bytes = readEvidenceBytes(entry);
  const lenient = LENIENT_ONLY.has(entry.id);
  const product = entry.kind === 'snp-report' && entry.report_version === 2 ? productOf(entry) : undefined;
  return parseEvidence(bytes, { trailing: lenient ? 'dangerouslyLenient' : 'default', ...(product ? { snpProduct: product } : {}) });
}

/** Absolute offsets of the TD report body and QE report (checklist §2.1). */
function intelOffsets(bytes: Uint8Array): { body: number; qe: number } {
  const version = u16(bytes, 0);
  if (version === 3) return { body: 0x30, qe: 0x234 };
  if (version === 4) return { body: 0x30, qe: 0x302 };
  return u16(bytes, 0x30) === 3 ? { body: 0x36, qe: 0x348 } : { body: 0x36, qe: 0x308 };
}

function checkTdxFields(entry: ManifestEntry, q: TdxQuote, bytes: Uint8Array): void {
  const { body, qe } = intelOffsets(bytes);
  const c = entry.checks;
  expect(q.version).toBe(c['header_version']);
  expect(q.header.teeType).toBe(0x81);
  expect(q.bodyType).toBe(c['body_type']);
  expect(hex(q.header.qeVendorId)).toBe(c['qe_vendor_id']);
  expect(hex(q.body.mrTd)).toBe(hex(bytes.subarray(body + 0x88, body + 0xb8)));
  if (c['mr_td']) expect(hex(q.body.mrTd)).toBe(c['mr_td']);
  if (c['tee_tcb_svn']) expect(hex(q.body.teeTcbSvn)).toBe(c['tee_tcb_svn']);
  expect(q.body.tdAttributes).toBe(u64(bytes, body + 0x78));
  expect(q.body.xfam).toBe(u64(bytes, body + 0x80));
  expect(hex(q.body.rtmr3)).toBe(hex(bytes.subarray(body + 0x1d8, body + 0x208)));
  expect(hex(q.body.reportData)).toBe(hex(bytes.subarray(body + 0x208, body + 0x248)));
  if (q.bodyType === 3) expect(hex(q.body.mrServiceTd!)).toBe(hex(bytes.subarray(body + 0x258, body + 0x288)));
  else expect(q.body.mrServiceTd).toBeUndefined();
  expect(q.signedRange).toEqual({ offset: 0, length: body + (q.bodyType === 3 ? 648 : 584) });
  expect(q.signatureData.qeReport.isvSvn).toBe(u16(bytes, qe + 0x102));
  if (c['qe_report_isvsvn'] !== undefined) expect(q.signatureData.qeReport.isvSvn).toBe(c['qe_report_isvsvn']);
}

function checkSgxFields(entry: ManifestEntry, q: SgxQuote, bytes: Uint8Array): void {
  expect(q.version).toBe(3);
  expect(q.header.qeSvn).toBe(u16(bytes, 0x08));
  expect(q.header.pceSvn).toBe(u16(bytes, 0x0a));
  expect(hex(q.body.mrEnclave)).toBe(hex(bytes.subarray(0x70, 0x90)));
  expect(hex(q.body.mrSigner)).toBe(hex(bytes.subarray(0xb0, 0xd0)));
  expect(q.body.isvProdId).toBe(u16(bytes, 0x130));
  expect(q.body.isvSvn).toBe(u16(bytes, 0x132));
  expect(hex(q.body.reportData)).toBe(hex(bytes.subarray(0x170, 0x1b0)));
  expect(q.signedRange).toEqual({ offset: 0, length: 0x1b0 });
  expect(hex(q.signatureData.qeReportBytes)).toBe(hex(bytes.subarray(0x234, 0x234 + 384)));
  if (entry.checks['qe_report_isvsvn'] !== undefined) expect(q.signatureData.qeReport.isvSvn).toBe(entry.checks['qe_report_isvsvn']);
}

function checkSnpFields(entry: ManifestEntry, r: SnpReport, bytes: Uint8Array): void {
  const c = entry.checks;
  expect(r.version).toBe(c['report_version']);
  expect(r.version).toBe(u32(bytes, 0));
  expect(`0x${r.policy.raw.toString(16)}`).toBe(c['policy']);
  expect(r.policy.raw).toBe(u64(bytes, 0x08));
  expect(r.vmpl).toBe(c['vmpl']);
  expect(r.signatureAlgo).toBe(c['sig_algo']);
  expect(r.signerInfo.signingKey.toUpperCase()).toBe(c['signing_key_field']);
  expect(hex(r.reportedTcbBytes)).toBe(c['reported_tcb_raw']);
  expect(hex(r.measurement)).toBe(hex(bytes.subarray(0x90, 0xc0)));
  expect(hex(r.chipId)).toBe(hex(bytes.subarray(0x1a0, 0x1e0)));
  const v = r.currentVersion;
  expect(`${v.major}.${v.minor}.${v.build}`).toBe(c['current_fw']);
  if (r.version >= 3) {
    expect(r.cpuid).toEqual({ family: bytes[0x188], model: bytes[0x189], stepping: bytes[0x18a] });
    expect(r.productSource).toBe('cpuid');
  } else {
    expect(r.cpuid).toBeUndefined(); // S43: v2 CPUID bytes are reserved, never read
    expect(r.productSource).toBe('caller');
  }
  expect(r.product).toBe(productOf(entry));
  const decoded = c['reported_tcb_decoded'] as Record<string, number>;
  const t = r.tcb!.reported;
  expect({ bl: t.bootloader, tee: t.tee, snp: t.snp, ucode: t.microcode, ...(t.fmc === undefined ? {} : { fmc: t.fmc }) }).toEqual(decoded);
  if (r.version === 5) {
    expect(r.launchMitVector).toBe(u64(bytes, 0x1f8));
    expect(r.currentMitVector).toBe(u64(bytes, 0x200));
  } else {
    expect(r.launchMitVector).toBeUndefined();
  }
}

function checkIntelSignatures(entry: ManifestEntry, q: TdxQuote | SgxQuote): void {
  const c = entry.checks;
  const sd = q.signatureData;
  const signed = q.bytes.subarray(0, q.signedRange.length);
  const attestKey = ecKeyFromRaw('P-256', sd.attestationKey);
  const viaNode = nodeVerify('sha256', signed, { key: attestKey, dsaEncoding: 'ieee-p1363' }, sd.quoteSignature);
  expect(verifyQuoteSignature(q)).toBe(viaNode);
  expect(verifyQuoteSignature(q)).toBe(c['quote_signature_valid(attest_key over header+body)']);

  const chain = certificatesFromPem(sd.pckCertChainPem);
  expect(chain).toHaveLength(3);
  expect(chain[0]!.subject).toContain('Intel SGX PCK Certificate');
  const pck = chain[0]!.publicKey;
  const pckRaw = rawEcPoint(pck);
  const qeViaNode = nodeVerify('sha256', sd.qeReportBytes, { key: pck, dsaEncoding: 'ieee-p1363' }, sd.qeReportSignature);
  expect(verifyQeReportSignature(q, pckRaw)).toBe(qeViaNode);
  expect(verifyQeReportSignature(q, pckRaw)).toBe(c['qe_report_signature_valid(PCK key)']);
  expect(verifyQeReportDataBinding(q)).toBe(c['qe_report_data==sha256(attest_key||qe_auth_data)'] ?? true);
}

function checkSnpSignature(entry: ManifestEntry, r: SnpReport): void {
  const cert = snpSigningCertificate(entry);
  expect(cert, 'the manifest names a VCEK/VLEK for every SNP report').toBeDefined();
  const key = cert!.publicKey;
  const viaNode = nodeVerify('sha384', r.bytes.subarray(0, 0x2a0), { key, dsaEncoding: 'ieee-p1363' }, snpSignatureToRS(r));
  const viaAddon = verifySnpReportSignature(r, rawEcPoint(key));
  expect(viaAddon).toBe(viaNode);
  const stated = Object.entries(entry.checks).find(([k]) => k.startsWith('report_signature_valid'))?.[1];
  expect(viaAddon).toBe(stated);
}

describe.skipIf(!HAVE_VECTORS)('shared vectors: parse outcome for every evidence file', () => {
  const entries = evidenceEntries();

  it('the manifest lists evidence of every supported kind', () => {
    const kinds = new Set(entries.map((e) => e.kind));
    expect([...kinds].sort()).toEqual(['sgx-quote-v3', 'snp-report', 'tdx-quote-v4', 'tdx-quote-v5']);
  });

  for (const entry of entries) {
    it(`${entry.id}`, () => {
      const bytes = readEvidenceBytes(entry);
      const failure = EXPECTED_FAILURES[entry.id];
      if (failure) {
        let caught: unknown;
        try {
          parseEvidence(bytes);
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(TeeVerifyError);
        const e = caught as TeeVerifyError;
        expect({ code: e.code, errorClass: e.errorClass, check: e.check }).toEqual(failure);
        if (!LENIENT_ONLY.has(entry.id)) return;
      }
      const ev = parseEntry(entry);
      expect(JSON.parse(JSON.stringify(evidenceToJSON(ev)))).toMatchObject({ kind: ev.kind });
      if (ev.kind === 'tdx') {
        checkTdxFields(entry, ev, bytes);
        checkIntelSignatures(entry, ev);
      } else if (ev.kind === 'sgx') {
        checkSgxFields(entry, ev, bytes);
        checkIntelSignatures(entry, ev);
      } else {
        checkSnpFields(entry, ev, bytes);
        checkSnpSignature(entry, ev);
      }
      const trailing = entry.checks['trailing_bytes_after_signature_data'];
      if (typeof trailing === 'number') expect(ev.trailing.length).toBe(trailing);
      if (LENIENT_ONLY.has(entry.id)) {
        expect(ev.trailing.allZero).toBe(false);
        expect(ev.warnings.join()).toMatch(/dangerouslyLenient/);
      }
    });
  }
});

describe.skipIf(!HAVE_VECTORS)('shared vectors: trailing bytes (T05)', () => {
  const padded = evidenceEntries().filter(
    (e) => typeof e.checks['trailing_bytes_after_signature_data'] === 'number' &&
      (e.checks['trailing_bytes_after_signature_data'] as number) > 0 && !EXPECTED_FAILURES[e.id],
  );

  it('has zero-padded quotes to test with', () => {
    expect(padded.length).toBeGreaterThan(3);
  });

  for (const entry of padded) {
    it(`${entry.id}: zero padding is reported by default and rejected by strict`, () => {
      const bytes = readEvidenceBytes(entry);
      const ev = parseEvidence(bytes);
      expect(ev.trailing).toEqual({ length: entry.checks['trailing_bytes_after_signature_data'], allZero: true });
      expect(ev.warnings).toEqual([]);
      expect(() => parseEvidence(bytes, { trailing: 'strict' })).toThrow(expect.objectContaining({ code: 'ERR_TRAILING_DATA', check: 'T05' }));
      // The strict parser accepts the same quote without its padding.
      const trimmed = bytes.subarray(0, bytes.length - ev.trailing.length);
      expect(parseEvidence(trimmed, { trailing: 'strict' }).trailing.length).toBe(0);
    });
  }

  it('the oasis-core trailing quote follows its source test: strict rejects, lenient and trimmed parse', () => {
    const entry = evidenceEntries().find((e) => e.id === 'oasis-core/quote_v4_tdx_ecdsa_p256_trailing')!;
    const bytes = readEvidenceBytes(entry);
    expect(() => parseEvidence(bytes, { trailing: 'strict' })).toThrow(expect.objectContaining({ code: 'ERR_TRAILING_DATA' }));
    expect(parseEvidence(bytes, { trailing: 'dangerouslyLenient' }).kind).toBe('tdx');
  });
});
