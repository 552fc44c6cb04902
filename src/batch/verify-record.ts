/**
 * One record through parse -> collateral -> verify -> policy, as a result
 * line. Every failure of a record becomes that record's result; nothing a
 * record holds can stop the run.
 *
 * JSONL record: {"id": string, "evidence": base64, "collectedAt"?: ISO-8601,
 * "reportData"?: 128 hex digits, "policy"?: object, "auxblob"?: base64 of the
 * SEV-SNP certificate table}. Unknown keys are ignored, except look-alikes of
 * "reportData" and "auxblob" (isBindingLookalike, the certTable check), which
 * are ERR_BAD_RECORD: a binding or table the record means to give is never
 * silently dropped.
 */
import { EvidenceParseError, TeeVerifyError, UnsupportedEvidenceError } from '../errors.js';
import { decodeStrictBase64 } from '../evidence/base64.js';
import { MAX_TEXT_INPUT } from '../evidence/decode.js';
import { parseEvidence, parseSnpCertificateTable, type ParseOptions, type SnpCertificateEntry } from '../evidence/index.js';
import type { Evidence } from '../evidence/types.js';
import { verifyEvidence } from '../verify/index.js';
import type { InstantSpec } from './config.js';
import type { RecordCollateral, VerifyContext } from './context.js';
import { retriesWithoutCrl, verifyWithoutCrl } from './skip-crl.js';
import { errorResult, type ResultError, type ResultRecord } from './result.js';

export interface RecordFields {
  id: string;
  evidence: string | Uint8Array;
  collectedAt?: string;
  reportData?: string;
  policy?: unknown;
  /**
   * Base64 of the SEV-SNP extended-report certificate table, as configfs-tsm's
   * auxblob and the gateway's answer carry it (review s13 SNP #2 follow-up): the
   * VLEK, or the VCEK of a masked / all-zero CHIP_ID, comes only from here (S05).
   */
  auxblob?: string;
}

/** A record that cannot be read as one: code ERR_BAD_RECORD (or ERR_RECORD_TOO_LARGE), class ARGUMENT. */
export const recordError = (code: 'ERR_BAD_RECORD' | 'ERR_RECORD_TOO_LARGE' | 'ERR_RECORD_UNREADABLE', message: string): ResultError => ({ code, class: 'ARGUMENT', message });

const MAX_ID_LENGTH = 1024;
/** The certificate table parser's cap (kMaxCertTableBlob, cpp/core/snp_report.h): the gateway's and the service's bound too. */
export const MAX_AUXBLOB_BYTES = 1 << 20;
const MAX_AUXBLOB_CHARS = Math.ceil(MAX_AUXBLOB_BYTES / 3) * 4;
const REPORT_DATA = /^[0-9a-fA-F]{128}$/;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** A key folded for the look-alike checks: lower case, letters and digits only. */
const fold = (key: string): string => key.toLowerCase().replace(/[^a-z0-9]/g, '');
/**
 * Parts of a folded key that name an expected binding under another name than "reportData": its
 * other spellings (report_data, "report data", reportDataHex, reportDataPreimage, ...), the
 * attestation service's "nonce" and trustee "runtime_data", "user_data", "init_data",
 * expectedNonce, challenge, binding; also one level down in an unknown key's object. Such a record was verified with no T41 / S29 check and came out ok (s16 CLI red team #1);
 * a list of exact names was bypassed by the next spelling (s16 change review), so any key that
 * contains one of these parts is refused.
 */
const BINDING_PARTS = ['reportdata', 'nonce', 'challenge', 'runtimedata', 'userdata', 'initdata', 'preimage', 'binding'];
/** The record's own fields: their values are not searched for nested look-alikes (a policy may pin reportData). */
const RECORD_FIELDS = new Set(['id', 'evidence', 'collectedAt', 'reportData', 'policy', 'auxblob']);
const isBindingLookalike = (key: string): boolean => {
  const f = fold(key);
  return BINDING_PARTS.some((part) => f.includes(part));
};

/** The id a record without a usable one is known by: its position in the input. */
export const positionalId = (index: number): string => `#${index}`;

/**
 * A line is UTF-8 or not a record (RFC 8259 §8.1): a lossy decoding would turn every invalid byte
 * into U+FFFD, so `host-\xff` and `host-\xfe` would be one id (s15 batch #3). The BOM is kept in
 * the text, so a BOM-prefixed line stays "not JSON" as before.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** A lone surrogate: a string that is not well-formed UTF-16 (String#isWellFormed, ES2024). */
const LONE_SURROGATE = /\p{Cs}/u;

/** Parses an ISO-8601 instant with an explicit zone; undefined when malformed or impossible. */
export function parseInstant(text: string): Date | undefined {
  if (!ISO_INSTANT.test(text)) return undefined;
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return undefined;
  // Reject calendar rollover (Feb 30, 24:00): the local date and time must survive the round trip.
  const zone = /([+-])(\d{2}):(\d{2})$/.exec(text);
  const offsetMinutes = zone ? (zone[1] === '-' ? -1 : 1) * (Number(zone[2]) * 60 + Number(zone[3])) : 0;
  const local = new Date(d.getTime() + offsetMinutes * 60_000).toISOString();
  return local.slice(0, 19) === text.slice(0, 19) ? d : undefined;
}

/** Reads a JSONL line into record fields, or the error result it is. */
export function parseRecordLine(line: Uint8Array, index: number): RecordFields | ResultRecord {
  let text: string;
  try {
    text = UTF8.decode(line);
  } catch {
    return errorResult(positionalId(index), recordError('ERR_BAD_RECORD', 'the line is not valid UTF-8'));
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return errorResult(positionalId(index), recordError('ERR_BAD_RECORD', 'the line is not JSON'));
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return errorResult(positionalId(index), recordError('ERR_BAD_RECORD', 'the line is not a JSON object'));
  const o = doc as Record<string, unknown>;
  const idOk = typeof o['id'] === 'string' && o['id'].length > 0 && o['id'].length <= MAX_ID_LENGTH && !LONE_SURROGATE.test(o['id']);
  const id = idOk ? (o['id'] as string) : positionalId(index);
  const bad = (message: string): ResultRecord => errorResult(id, recordError('ERR_BAD_RECORD', message));
  // An id with a lone surrogate (a "\ud800" escape) has no UTF-8 form: every consumer that reads the
  // results as UTF-8 would see U+FFFD, so two such ids would be one machine (s15 batch #3).
  if (!idOk) return bad(`"id" must be a non-empty string of at most ${MAX_ID_LENGTH} characters, without lone surrogates (\\ud800-\\udfff escapes that are not a pair)`);
  if (typeof o['evidence'] !== 'string' || o['evidence'].length === 0) return bad('"evidence" must be a non-empty base64 string');
  const fields: RecordFields = { id, evidence: o['evidence'] };
  if (o['collectedAt'] !== undefined) {
    if (typeof o['collectedAt'] !== 'string' || !parseInstant(o['collectedAt'])) return bad('"collectedAt" must be an ISO-8601 instant with a zone');
    fields.collectedAt = o['collectedAt'];
  }
  // Refused whatever its value (even beside a valid "reportData"): the record means a binding this
  // program would not check (s16 CLI red team #1; before, the key was ignored and the record ok).
  // Also one level down in an unknown key's object (`expected: {reportData}`; s16 change review r2a #1).
  const nested = (k: string): string | undefined => {
    const v = o[k];
    if (RECORD_FIELDS.has(k) || typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    const inner = Object.keys(v).find((n) => n === 'reportData' || isBindingLookalike(n));
    return inner === undefined ? undefined : `${k}.${inner}`;
  };
  const lookalike = Object.keys(o).find((k) => k !== 'reportData' && isBindingLookalike(k)) ?? Object.keys(o).map(nested).find((k) => k !== undefined);
  if (lookalike !== undefined) {
    return bad(`${JSON.stringify(lookalike.slice(0, 64))} is not a record field: the expected REPORT_DATA goes in "reportData" (128 hex digits, the 64 bytes the evidence must carry; a nonce or runtime data as the REPORT_DATA it binds to); the record is not verified without its binding`);
  }
  if (o['reportData'] !== undefined) {
    if (typeof o['reportData'] !== 'string' || !REPORT_DATA.test(o['reportData'])) return bad('"reportData" must be exactly 64 bytes as 128 hex digits');
    fields.reportData = o['reportData'].toLowerCase();
  }
  if (o['policy'] !== undefined) {
    if (typeof o['policy'] !== 'object' || o['policy'] === null || Array.isArray(o['policy'])) return bad('"policy" must be a JSON object');
    fields.policy = o['policy'];
  }
  // The attestation service's name for the same bytes: refused, never silently ignored (the record would be
  // verified without its table and rejected at S05 with no word about the field; s13 change review batch #2).
  const misnamed = Object.keys(o).find((k) => k !== 'auxblob' && ['certtable', 'auxblob'].includes(fold(k)));
  if (misnamed !== undefined) return bad(`${JSON.stringify(misnamed.slice(0, 64))} is not a record field: the SEV-SNP certificate table goes in "auxblob" (base64)`);
  if (o['auxblob'] !== undefined) {
    // Only its shape here (resume checks parse lines for their ids); decoded and parsed by verifyRecord.
    if (typeof o['auxblob'] !== 'string' || o['auxblob'].length === 0) return bad('"auxblob" must be a non-empty base64 string (the SEV-SNP certificate table)');
    fields.auxblob = o['auxblob'];
  }
  return fields;
}

function errorOf(err: unknown): ResultError {
  // The failed check's id too, as verify, serve and the gateway client report it (s13 parity review #4).
  if (err instanceof TeeVerifyError) return { code: err.code, class: err.errorClass, message: err.message, ...(err.check === undefined ? {} : { check: err.check }) };
  return { code: 'ERR_INTERNAL', class: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

function instantFor(fields: RecordFields, instant: InstantSpec): Date | ResultError {
  if (instant.mode === 'fixed') return new Date(instant.at);
  if (fields.collectedAt === undefined) return recordError('ERR_BAD_RECORD', '--at collected needs the record\'s "collectedAt"');
  return parseInstant(fields.collectedAt) as Date;
}

/**
 * Canonical padded base64 is decoded here, without the parser's character checks: the text is
 * taken only when it is exactly what Node writes for the decoded bytes (`toString('base64')`, or
 * `base64url` plus the same padding for the URL-safe alphabet), so it holds one alphabet, no
 * character outside it, no whitespace, and its last character's unused bits are zero. That is
 * what the parser's strict decoder (decodeStrictBase64) accepts for such text, so batch and
 * `tee-verify verify` / `serve` accept the same evidence (review s14 #3: Node's decoder alone took
 * non-zero unused bits and a mix of `+/` and `-_`, which verify refuses with ERR_BAD_ENCODING).
 * Anything else, and text over the parser's cap (MAX_TEXT_INPUT), goes to the parser, which
 * decodes it strictly or refuses it with its own code.
 */
function evidenceInput(evidence: string | Uint8Array): [string | Uint8Array, ParseOptions] {
  if (typeof evidence !== 'string') return [evidence, {}];
  const length = evidence.length;
  if (length > 0 && length % 4 === 0 && length <= MAX_TEXT_INPUT) {
    const bytes = Buffer.from(evidence, 'base64');
    if (bytes.toString('base64') === evidence) return [bytes, { encoding: 'binary' }];
    // URL-safe text, padded or not to a multiple of 4 characters (rare: a second encoding pass).
    const padding = evidence.endsWith('==') ? '==' : evidence.endsWith('=') ? '=' : '';
    if (bytes.toString('base64url') + padding === evidence) return [bytes, { encoding: 'binary' }];
  }
  return [evidence, { encoding: 'base64' }];
}

/**
 * The record's certificate table: strict base64 (the attestation service's decoder), at most the
 * parser's cap, parsed and bounds-checked by parseSnpCertificateTable (S05) as the gateway and the
 * attestation service parse theirs. Anything that is not such a table is the record's error
 * ERR_BAD_RECORD, naming the parser's code; a fault of this process (the addon) stays its own code.
 */
function certTableOf(auxblob: string): SnpCertificateEntry[] | ResultError {
  const bad = (message: string): ResultError => recordError('ERR_BAD_RECORD', message);
  const tooLarge = `"auxblob" is larger than the SEV-SNP certificate table cap of ${MAX_AUXBLOB_BYTES} bytes`;
  if (auxblob.length > MAX_AUXBLOB_CHARS) return bad(tooLarge);
  const decoded = decodeStrictBase64(auxblob);
  if (!decoded.ok) return bad(decoded.reason === 'non-canonical' ? '"auxblob" is not canonical base64' : '"auxblob" is not base64');
  if (decoded.bytes.length > MAX_AUXBLOB_BYTES) return bad(tooLarge);
  try {
    return parseSnpCertificateTable(decoded.bytes);
  } catch (err) {
    if (err instanceof EvidenceParseError || err instanceof UnsupportedEvidenceError) return bad(`"auxblob" is not a usable SEV-SNP certificate table: ${err.code}: ${err.message}`);
    return errorOf(err);
  }
}

/**
 * The record's collateral service and relaxations for its policy's grace: the run's when the grace is
 * the run policy's; from ctx.collateralFor otherwise (a hand-built context without it has only the run's).
 */
function recordCollateral(ctx: VerifyContext, graceSeconds: number | undefined): RecordCollateral {
  if (graceSeconds === ctx.relaxations.collateralGraceSeconds || !ctx.collateralFor) return ctx;
  return ctx.collateralFor(graceSeconds);
}

/** Verifies one record at its instant and judges it. */
export async function verifyRecord(fields: RecordFields, ctx: VerifyContext, instant: InstantSpec): Promise<ResultRecord> {
  const at = instantFor(fields, instant);
  if (!(at instanceof Date)) return errorResult(fields.id, at);
  const atIso = at.toISOString();
  let parsed: Evidence;
  try {
    parsed = parseEvidence(...evidenceInput(fields.evidence));
  } catch (err) {
    return errorResult(fields.id, errorOf(err), null, atIso);
  }
  let certTable: SnpCertificateEntry[] | undefined;
  if (fields.auxblob !== undefined) {
    // As the attestation service refuses a certTable with Intel evidence (review s12 #4): the verifier
    // would ignore it, so the collector's mistake would go unseen.
    if (parsed.kind !== 'snp') return errorResult(fields.id, recordError('ERR_BAD_RECORD', '"auxblob" is the SEV-SNP certificate table; this evidence is a TDX / SGX quote: leave it out'), parsed.kind, atIso);
    const table = certTableOf(fields.auxblob);
    if (!Array.isArray(table)) return errorResult(fields.id, table, parsed.kind, atIso);
    certTable = table;
  }
  try {
    // The grace of the policy the record is judged under, for the service and the verifier alike, as
    // verify gives its --policy's (review s13 CLI #2). An invalid record policy is the record's error here.
    const collateral = recordCollateral(ctx, ctx.judge.graceSeconds?.(fields.policy));
    let result;
    try {
      result = await verifyEvidence(parsed, { collateral: collateral.service, at, trustRoots: ctx.trustRoots, relaxations: collateral.relaxations, ...(certTable ? { certTable } : {}) });
    } catch (err) {
      // --skip-crl: collateral the service could not obtain is gathered again, CRLs optional (review s12 #2).
      if (!retriesWithoutCrl(ctx, err)) throw err;
      result = await verifyWithoutCrl(ctx, parsed, at, certTable ?? [], collateral);
    }
    const verdict = ctx.judge.judge(result, fields.policy, fields.reportData);
    return {
      id: fields.id,
      ok: verdict.ok,
      tee: result.tee,
      tcbStatus: result.tcbStatus ?? null,
      advisoryIds: result.advisoryIds,
      error: null,
      violations: verdict.violations,
      warnings: verdict.warnings.length === 0 ? result.warnings : [...result.warnings, ...verdict.warnings],
      at: result.at,
    };
  } catch (err) {
    return errorResult(fields.id, errorOf(err), parsed.kind, atIso);
  }
}
