/**
 * The checks `demo` runs on one synthetic vector, each tagged with its
 * checklist id. Pure: bytes in, results out. Every check goes through the
 * library's own functions, so the demo exercises exactly what callers use.
 * A check whose prerequisite failed is reported as not passed.
 */
import {
  parseEvidence,
  parseSnpCertificateTable,
  verifyQeReportDataBinding,
  verifyQeReportSignature,
  verifyQuoteSignature,
  verifySnpReportSignature,
  TeeVerifyError,
  type Evidence,
  type SgxQuote,
  type SnpReport,
  type TdxQuote,
} from '../index.js';
import { parseAmdKdsExtensions, parseCertificate, splitPckCertChain, type EcCurveName } from '../x509/index.js';
import { compareVcekHwId, compareVcekTcb, type MatchResult } from '../verify/snp/vcek-match.js';

export interface CheckResult {
  id: string;
  title: string;
  passed: boolean;
  /** Why it failed (error code or mismatch), or what was found. */
  detail?: string;
}

/** x || y of a certificate's EC key on `curve`; anything else fails the check. */
function ecKeyOf(der: Uint8Array, curve: EcCurveName): Uint8Array {
  const key = parseCertificate(der).publicKey;
  if (key.kind !== 'ec' || key.curve !== curve) throw new Error(`certificate key is not EC ${curve}`);
  return key.xy;
}

function describeError(err: unknown): string {
  if (err instanceof TeeVerifyError) {
    const at = err.offset === undefined ? '' : ` at offset ${err.offset}`;
    return `${err.code}${at}${err.check ? ` (${err.check})` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Runs `fn`; false, a thrown error or a failed prerequisite means not passed. */
function check(id: string, title: string, ready: boolean, fn: () => boolean | string): CheckResult {
  if (!ready) return { id, title, passed: false, detail: 'not run: an earlier check failed' };
  try {
    const outcome = fn();
    if (typeof outcome === 'string') return { id, title, passed: true, detail: outcome };
    return outcome ? { id, title, passed: true } : { id, title, passed: false, detail: 'does not verify' };
  } catch (err) {
    return { id, title, passed: false, detail: describeError(err) };
  }
}

export function describeEvidence(e: Evidence): string {
  if (e.kind === 'tdx') return `Intel TDX quote v${e.version}, body type ${e.bodyType}`;
  if (e.kind === 'sgx') return 'Intel SGX quote v3';
  return `AMD SEV-SNP report v${e.version}${e.product ? `, ${e.product}` : ''}, signed by the ${e.signerInfo.signingKey.toUpperCase()}`;
}

function tryParse(bytes: Uint8Array): { evidence?: Evidence; error?: unknown } {
  try {
    return { evidence: parseEvidence(bytes) };
  } catch (error) {
    return { error };
  }
}

function parseCheck(id: string, bytes: Uint8Array, family: 'intel' | 'snp') {
  const { evidence, error } = tryParse(bytes);
  const wrongFamily = evidence && (family === 'snp') !== (evidence.kind === 'snp');
  const result: CheckResult = evidence && !wrongFamily
    ? { id, title: `parses: ${describeEvidence(evidence)}`, passed: true }
    : { id, title: 'parses', passed: false, detail: error ? describeError(error) : `unexpected ${evidence?.kind}` };
  return { evidence: result.passed ? evidence : undefined, result };
}

/** T02-T07, T08, T23, T22, T26 on one Intel quote. */
export function runIntelChecks(bytes: Uint8Array): CheckResult[] {
  const parsed = parseCheck('T02-T07', bytes, 'intel');
  const quote = parsed.evidence as TdxQuote | SgxQuote | undefined;
  let leaf: Uint8Array | undefined;
  return [
    parsed.result,
    check('T08', 'PCK chain PEM splits into 3 certificates (leaf, intermediate, root)', quote !== undefined, () => {
      [leaf] = splitPckCertChain((quote as TdxQuote | SgxQuote).signatureData.pckCertChainPem);
      return true;
    }),
    check('T23', 'QE report data = SHA-256(attestation key || QE auth data) || 32 zero bytes', quote !== undefined, () =>
      verifyQeReportDataBinding(quote as TdxQuote | SgxQuote),
    ),
    check('T22', 'QE report signed by the PCK leaf key of the embedded chain', leaf !== undefined, () =>
      verifyQeReportSignature(quote as TdxQuote | SgxQuote, ecKeyOf(leaf as Uint8Array, 'P-256')),
    ),
    check('T26', 'quote signed by the attestation key it carries', quote !== undefined, () =>
      verifyQuoteSignature(quote as TdxQuote | SgxQuote),
    ),
  ];
}

function mismatchText(r: MatchResult): string | boolean {
  if (r.ok) return true;
  throw new Error(r.mismatches.map((m) => `${m.field}: expected ${m.expected}, got ${m.actual}`).join('; '));
}

/** S02-S04 (+ S05 with a certificate table), S12, S13, S14 on one SNP report. */
export function runSnpChecks(bytes: Uint8Array, vcekDer: Uint8Array | undefined, certTable?: Uint8Array): CheckResult[] {
  const parsed = parseCheck('S02-S04', bytes, 'snp');
  const report = parsed.evidence as SnpReport | undefined;
  const results = [parsed.result];
  if (certTable) {
    results.push(
      check('S05', 'extended-report certificate table parses', true, () => {
        const kinds = parseSnpCertificateTable(certTable).map((e) => e.kind);
        return `entries: ${kinds.join(', ')}`;
      }),
    );
  }
  const haveVcek = report !== undefined && vcekDer !== undefined;
  const kds = () => parseAmdKdsExtensions(parseCertificate(vcekDer as Uint8Array));
  results.push(
    check('S12', 'report signed by the VCEK (P-384 over bytes [0, 0x2A0))', haveVcek, () =>
      verifySnpReportSignature(report as SnpReport, ecKeyOf(vcekDer as Uint8Array, 'P-384')),
    ),
    check('S13', `VCEK TCB extensions equal REPORTED_TCB${report?.product ? ` (${report.product} layout)` : ''}`, haveVcek, () =>
      mismatchText(compareVcekTcb(report as SnpReport, kds())),
    ),
    check('S14', 'VCEK hwID equals CHIP_ID', haveVcek, () => mismatchText(compareVcekHwId(report as SnpReport, kds()))),
  );
  return results;
}
