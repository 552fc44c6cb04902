/**
 * Bounded parsers of vTPM evidence (issue 9). The byte-level work happens in
 * the C++ core (cpp/core/{tpm,tcg_event_log,ima_list,hcl_report}.cc, through
 * the addon); these wrappers build the shapes of ./types.ts with views into
 * the caller's input. Failures are EvidenceParseError / UnsupportedEvidenceError
 * with the stable codes of docs/error-codes.md; docs/vtpm-formats.md has the layouts.
 */
export { parseTpmQuote, parseTpmSignature, parseTpmPublic } from './parse-tpm.js';
export { parseHclReport } from './parse-hcl.js';
export { parseTcgEventLog } from './parse-event-log.js';
export { parseImaBinaryList } from './parse-ima.js';
