/**
 * Evidence builders: TDX v4/v5 and SGX v3 quotes, SEV-SNP reports and the
 * extended-report certificate table, written with their own offsets from the
 * checklist (never the parser's layout tables), so they check the parser
 * independently.
 */
export {
  buildTdxQuote,
  buildSgxQuote,
  resignIntelQuote,
  intelQuoteLayout,
  qeReportDataBinding,
  signP256,
  INTEL_QE_VENDOR_ID,
  DEFAULT_BUILDER_SEED,
} from './intel-quote-builder.js';
export type {
  BuiltTdxQuote,
  BuiltSgxQuote,
  TdxQuoteOptions,
  SgxQuoteOptions,
  IntelQuoteOptions,
  IntelQuoteLayout,
  IntelHeaderFields,
  QuoteFraming,
  SignMode,
} from './intel-quote-builder.js';
export {
  defaultQeReport,
  defaultEnclaveReport,
  defaultTdReport,
  SGX_REPORT_BODY,
  TD_REPORT_BODY,
} from './intel-bodies.js';
export type { SgxReportBodyFields, TdReportBodyFields } from './intel-bodies.js';
export { buildSnpReport, resignSnpReport, snpSignatureFields, SNP_REPORT, SNP_PRODUCT_CPUID } from './snp-report-builder.js';
export type { BuiltSnpReport, SnpReportOptions, SnpReportFields, SnpTcbInput, SnpVersionFields } from './snp-report-builder.js';
export { buildSnpCertTable, encodeTableGuid, SNP_CERT_TABLE_GUIDS } from './snp-cert-table-builder.js';
export type { SnpCertTableEntryInput } from './snp-cert-table-builder.js';
