/**
 * What a refused transfer may add to the append-only attestation log. Key ids
 * are not secret, so anyone can cause a refusal: a row must not grow with the
 * request (review session 3: 20 junk transfers added 23 MiB). Evidence is kept
 * in full only when it verified (a genuine quote or report, refused by the
 * binding, debug, VMPL or policy rule; needed for batch re-verification) and
 * is no larger than genuine evidence gets; otherwise its SHA-256, its length
 * and its first 2 KiB, which hold the header and signed body of every format
 * (TDX v5 body 648 bytes + 48 header, SNP report 1184). Released transfers
 * always keep their full evidence. A refusal row never keeps the SEV-SNP
 * certificate table (`cert_table`), only its SHA-256 and length: the verifier
 * reads the leaf, the ASK / ASVK and the ARK of it and never looks at other
 * entries, so even with verified evidence most of a table can be the sender's
 * own bytes (s15 change review #1: a public genuine report replayed with a
 * 32 KiB table made each refusal row ~28 times larger). Only a release, which
 * needs a genuine TEE bound to the requester, keeps the table.
 */
import { createHash } from 'node:crypto';

/** Verified evidence above this is summarised too (genuine quotes with their PCK chain are ~5-10 KiB). */
export const MAX_FULL_EVIDENCE_BYTES = 64 * 1024;
/** The first bytes of summarised evidence kept in the log. */
export const EVIDENCE_HEAD_BYTES = 2048;
/** Request-controlled text (messages, header values, field names) in a log row or answer. */
export const MAX_LOGGED_TEXT = 1024;
const MAX_LOGGED_CHECKS = 32;

export interface EvidenceSummary {
  sha256: string;
  length: number;
  /** base64 of the first EVIDENCE_HEAD_BYTES bytes. */
  head: string;
  /** The SEV-SNP certificate table sent with it (`cert_table`), summarised too (a refusal row never keeps it whole). */
  certTable?: CertTableSummary;
}

/** A SEV-SNP certificate table (`cert_table`) in a refusal row: its SHA-256 (hex) and length, never its bytes. */
export interface CertTableSummary {
  sha256: string;
  length: number;
}

/** The summary a refusal row keeps of a certificate table. */
export function certTableSummary(table: Buffer): CertTableSummary {
  return { sha256: createHash('sha256').update(table).digest('hex'), length: table.length };
}

/**
 * The part of verified evidence worth storing: the parsed evidence without the all-zero padding the
 * parser accepted after it (T05; review s7: a genuine quote padded to 64 KiB was kept whole in every
 * refusal row), and a note saying how much was dropped and the digest of what was sent.
 */
export function unpadded(bytes: Buffer, trailingZeroBytes: number | undefined): { bytes: Buffer; note?: string } {
  const n = trailingZeroBytes ?? 0;
  if (n <= 0 || n > bytes.length) return { bytes };
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return {
    bytes: bytes.subarray(0, bytes.length - n),
    note: `T05: ${n} trailing zero byte(s) after the evidence were not stored (sent: ${bytes.length} bytes, SHA-256 ${sha256})`,
  };
}

/**
 * `{evidence[, certTable]}` (evidence base64, in full) or `{summary}` for a refusal's log row. Verified evidence is
 * stored without its zero padding (`trailingZeroBytes`, from the parser), so batch re-verification can judge it
 * again. The SEV-SNP certificate table sent with it (`cert_table`) is never stored in a refusal row, verified
 * evidence or not: only its SHA-256 and length (`certTable` beside kept evidence, for the error body; inside the
 * summary otherwise). Releases keep the table (transfer.ts); see the header.
 */
export function refusedEvidence(
  bytes: Buffer,
  verified: boolean,
  trailingZeroBytes?: number,
  certTable?: Buffer,
): ({ evidence: string; certTable?: CertTableSummary } | { summary: EvidenceSummary }) & { note?: string } {
  const table = certTable === undefined ? {} : { certTable: certTableSummary(certTable) };
  if (verified) {
    const kept = unpadded(bytes, trailingZeroBytes);
    if (kept.bytes.length <= MAX_FULL_EVIDENCE_BYTES) {
      return { evidence: kept.bytes.toString('base64'), ...table, ...(kept.note ? { note: kept.note } : {}) };
    }
  }
  return {
    summary: {
      sha256: createHash('sha256').update(bytes).digest('hex'),
      length: bytes.length,
      head: bytes.subarray(0, EVIDENCE_HEAD_BYTES).toString('base64'),
      ...table,
    },
  };
}

/** At most `max` characters, marked when cut. */
export function boundText(text: string, max = MAX_LOGGED_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** An error body with every string bounded and at most 32 checks (the verifier's own texts are short; this is a backstop). */
export function boundedErrorBody<T extends { error: string; checks: { message: string }[] }>(body: T): T {
  const cut = (v: unknown): unknown => (typeof v === 'string' ? boundText(v) : v);
  return {
    ...body,
    error: boundText(body.error),
    checks: body.checks.slice(0, MAX_LOGGED_CHECKS).map((c) => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, cut(v)])) as typeof c),
  };
}

/**
 * How many refusals get a full attestation_log row. Each row is bounded (above) but their number
 * was not: anyone can cause a refusal at the rate limit (20/s per client). Within a fixed window,
 * a client key (the rate limiter's: IPv4 address or IPv6 /64) gets at most `perClient` full rows
 * and all clients together at most `total`; further refusals are answered exactly as before but
 * stored only as a count (refusal_aggregates: window, client key, key id, count, last error code).
 * Released transfers are never counted against these bounds.
 */
export interface RefusalLogBounds {
  /** Full refusal rows per client key per window; default 20. 0: none (every refusal is counted only). */
  perClient?: number;
  /** Full refusal rows of all clients together per window; default 1000. */
  total?: number;
  /** The window length; default 3600 s. */
  windowSeconds?: number;
}

export interface ResolvedRefusalBounds {
  perClient: number;
  total: number;
  windowMs: number;
}

export const DEFAULT_REFUSAL_BOUNDS: ResolvedRefusalBounds = Object.freeze({ perClient: 20, total: 1000, windowMs: 3_600_000 });

/** The bounds with defaults filled in; throws RangeError (the caller makes it a configuration error) when one is not usable. */
export function resolveRefusalBounds(o: RefusalLogBounds = {}): ResolvedRefusalBounds {
  const count = (name: string, v: number | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`refusalLog.${name} must be an integer >= 0`);
    return v;
  };
  const seconds = o.windowSeconds ?? DEFAULT_REFUSAL_BOUNDS.windowMs / 1000;
  if (!(seconds >= 1) || !Number.isFinite(seconds)) throw new RangeError('refusalLog.windowSeconds must be at least 1');
  return {
    perClient: count('perClient', o.perClient, DEFAULT_REFUSAL_BOUNDS.perClient),
    total: count('total', o.total, DEFAULT_REFUSAL_BOUNDS.total),
    windowMs: Math.round(seconds * 1000),
  };
}
