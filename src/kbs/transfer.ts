/**
 * POST /kbs/v1/keys/{id}/transfer (protocols.md §4.2, §10.1).
 *
 * No Attestation-Type and no quote (an empty body, or a JSON object without
 * `quote`, as ITA ignores the body then): a nonce `{val, iat, signature}`
 * (standard base64 each; iat = the ISO-8601 issue instant as UTF-8 bytes;
 * signature = HMAC-SHA256 under a key derived from the master key), stored
 * single-use with a TTL.
 *
 * `{quote, user_data[, nonce][, event_log][, cert_table]}` with Attestation-Type (unknown fields refused,
 * inside `nonce` too; `event_log` shape-checked, never evaluated; `cert_table`, this project's
 * extension, the SEV-SNP certificate table, SEV-SNP only): the key leaves only when
 *   Step 1  the key and its policy exist, the header names the policy's TEE;
 *   Step 2  user_data is an RSA key of at least 2048 bits (X11);
 *   Step 3  a given nonce is ours, unexpired and unused (T42 / S30, early read);
 *   Step 4  verifyEvidence passes (collateral service, trust roots, one instant);
 *   Step 5  the TD / guest / enclave is not debug (TDX: any of TDATTRIBUTES bits 7:0), whatever
 *           the policy says (T34 / S21); an SNP report is from VMPL 0 unless the policy lists its VMPL (S24);
 *   Step 6  evaluatePolicy passes, with REPORTDATA bound to user_data (T41 / S29);
 *   Step 7  the key wrapped for the requester (outside the transaction: review s9 K4), then in
 *           one database transaction: still inside the X16 window, the nonce consumed (only
 *           now, after everything else passed), the key re-read (same policy and version) and
 *           the release logged.
 * Every refusal is answered with a KbsError body and recorded: as a bounded log row (log-bounds.ts:
 * evidence that did not verify is logged as SHA-256, length and first 2 KiB) while its client and
 * the whole broker are under the refusal-row bounds of the window, else only as a count.
 */
import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';

import { isPinnedProductionRoots, replacedTrustRootsWarning } from '../attestation-service/appraise.js';
import { collateralAnswer, redactUrlsIn } from '../attestation-service/collateral-messages.js';
import { decodeStrictBase64 } from '../evidence/base64.js';
import { parseSnpCertificateTable } from '../evidence/cert-table.js';
import { CollateralUnavailableError, TeeVerifyError, evaluatePolicy, parseEvidence, verifyEvidence, type Policy, type VerificationResult } from '../index.js';
import { tdUnderDebug } from '../policy/td-debug.js';
import { equalBytes, expectedReportData, nonceSignature, parseRequesterKey, releaseDigest, wrapForRequester } from './crypto.js';
import { KbsError } from './errors.js';
import { boundText, boundedErrorBody, refusedEvidence, unpadded } from './log-bounds.js';
import { attestationTypeOf, policyOfRow, teeOfAttestationType } from './policies.js';
import type { BrokerContext } from './context.js';

export interface TransferRequest {
  keyId: string;
  attestationType: string | undefined;
  body: Buffer;
  client: string;
}

export interface TransferAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ALLOWED_FIELDS = new Set(['quote', 'user_data', 'nonce', 'event_log', 'cert_table', 'attestation_token']);

function bad(message: string): KbsError {
  return new KbsError('ERR_KBS_BAD_REQUEST', 400, message);
}

function b64field(v: unknown, name: string, required: boolean): Buffer | undefined {
  if (v === undefined || v === null) {
    if (required) throw bad(`"${name}" is required (standard base64)`);
    return undefined;
  }
  if (typeof v !== 'string' || v.length === 0 || !STD_BASE64.test(v)) throw bad(`"${name}" must be non-empty standard base64`);
  // Canonical too (the unused bits of the last character zero): one text per value, as the gateway and service ask.
  const decoded = decodeStrictBase64(v);
  if (!decoded.ok) throw bad(`"${name}" must be canonical standard base64`);
  return Buffer.from(decoded.bytes.buffer, decoded.bytes.byteOffset, decoded.bytes.length);
}

interface ParsedBody {
  quote: Buffer;
  userData: Buffer;
  nonce?: { val: Buffer; iat: Buffer; signature: Buffer };
  /** Length of the event log sent, if any: read for its shape only, never evaluated (see EVENT_LOG_MAX_BYTES). */
  eventLogBytes?: number;
  /** The SEV-SNP certificate table sent (`cert_table`), at most CERT_TABLE_MAX_BYTES; parsed in step 4. */
  certTable?: Buffer;
}

/** The fields of ITA's verifier nonce object (protocols.md §4.2, §5), and no others. */
const NONCE_FIELDS = new Set(['val', 'iat', 'signature']);

/**
 * `event_log` is optional bytes in ITA's request (protocols.md §4.2, ITA forwards it to its
 * verifier). This broker does not replay it: RTMRs are judged as the signed quote states them. It is
 * still read as ITA's decoder would ([]byte: canonical standard base64, or null), under this bound,
 * so a client gets 400 for a malformed one instead of a silent release (review s9 K3).
 */
export const EVENT_LOG_MAX_BYTES = 256 * 1024;

/**
 * `cert_table` (this project's extension of ITA's request, which has no field for it; SEV-SNP only):
 * the SEV-SNP extended-report certificate table exactly as configfs-tsm's `auxblob` gives it (GHCB
 * layout, src/evidence/cert-table.ts), canonical standard base64 like every byte field. At most the
 * kernel's own bound on `auxblob` (include/linux/tsm.h TSM_OUTBLOB_MAX, 32 KiB; a genuine VCEK or
 * VLEK table with its ASK / ASVK and ARK is about 5 KiB), so the log row that keeps it stays bounded.
 */
export const CERT_TABLE_MAX_BYTES = 32 * 1024;

/** The body as a JSON object with known fields only, passport mode refused. */
function bodyObject(body: Buffer): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw bad('the body is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('the body must be a JSON object');
  const o = doc as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !ALLOWED_FIELDS.has(k));
  // Field names are the client's text: a few, each bounded, in the answer and the log.
  if (unknown.length > 0) throw bad(`unknown field(s): ${unknown.slice(0, 5).map((k) => boundText(k, 64)).join(', ')}${unknown.length > 5 ? ` (${unknown.length} in all)` : ''}`);
  if (o['attestation_token'] !== undefined) throw bad('passport mode (attestation_token) is not supported; send quote and user_data');
  return o;
}

/**
 * A nonce request: no Attestation-Type and no evidence. ITA does not read the body without that
 * header (protocols.md §4.2), so clients that send `{}` (or fields without a quote) expect a nonce;
 * the body must still be a JSON object of known fields, within the size bound, without a token.
 */
function isNonceRequest(attestationType: string | undefined, body: Buffer): boolean {
  if (attestationType !== undefined) return false;
  return body.length === 0 || bodyObject(body)['quote'] == null;
}

function parseBody(body: Buffer): ParsedBody {
  const o = bodyObject(body);
  const quote = b64field(o['quote'], 'quote', true) as Buffer;
  const userData = b64field(o['user_data'], 'user_data', true) as Buffer;
  const parsed: ParsedBody = { quote, userData };
  if (o['nonce'] !== undefined && o['nonce'] !== null) {
    const n = o['nonce'];
    if (typeof n !== 'object' || Array.isArray(n)) throw bad('"nonce" must be an object {val, iat, signature}');
    const r = n as Record<string, unknown>;
    // Like ITA's DisallowUnknownFields, inside the nonce object too (review s9 K3).
    const extra = Object.keys(r).filter((k) => !NONCE_FIELDS.has(k));
    if (extra.length > 0) throw bad(`unknown field(s) in "nonce": ${extra.slice(0, 5).map((k) => boundText(k, 64)).join(', ')}${extra.length > 5 ? ` (${extra.length} in all)` : ''}; only val, iat and signature`);
    parsed.nonce = { val: b64field(r['val'], 'nonce.val', true) as Buffer, iat: b64field(r['iat'], 'nonce.iat', true) as Buffer, signature: b64field(r['signature'], 'nonce.signature', true) as Buffer };
  }
  const eventLog = b64field(o['event_log'], 'event_log', false);
  if (eventLog !== undefined) {
    if (eventLog.length > EVENT_LOG_MAX_BYTES) throw bad(`"event_log" holds ${eventLog.length} bytes; at most ${EVENT_LOG_MAX_BYTES} are accepted`);
    parsed.eventLogBytes = eventLog.length;
  }
  const certTable = b64field(o['cert_table'], 'cert_table', false);
  if (certTable !== undefined) {
    if (certTable.length > CERT_TABLE_MAX_BYTES) throw bad(`"cert_table" holds ${certTable.length} bytes; at most ${CERT_TABLE_MAX_BYTES} are accepted (the kernel's bound on configfs-tsm's auxblob)`);
    parsed.certTable = certTable;
  }
  return parsed;
}

/** Empty-body request: a fresh single-use nonce for this key. */
export async function issueNonce(ctx: BrokerContext, keyId: string, tee: 'tdx' | 'sgx' | 'snp'): Promise<TransferAnswer> {
  const now = ctx.now();
  const val = randomBytes(32);
  const iat = Buffer.from(now.toISOString(), 'utf8');
  await ctx.store.addNonce(val.toString('hex'), keyId, now.toISOString(), now.getTime() + ctx.nonceTtlMs);
  if (Math.random() < 0.01) await ctx.store.pruneNonces(now.getTime());
  const signature = nonceSignature(ctx.masterKey, val, iat);
  return {
    status: 200,
    body: { val: val.toString('base64'), iat: iat.toString('base64'), signature: signature.toString('base64') },
    headers: { 'Attestation-Type': attestationTypeOf(tee) },
  };
}

/** Step 3 (T42 / S30), read-only: the final single-use consumption is in step 7. Returns the nonce's expiry. */
async function checkNonce(ctx: BrokerContext, keyId: string, n: NonNullable<ParsedBody['nonce']>, nowMs: number, check: 'T42' | 'S30'): Promise<number> {
  const refuse = (why: string): KbsError => new KbsError('ERR_KBS_NONCE', 401, `nonce refused: ${why}`, { check });
  if (!equalBytes(nonceSignature(ctx.masterKey, n.val, n.iat), n.signature)) throw refuse('not issued by this broker');
  const row = await ctx.store.getNonce(n.val.toString('hex'));
  if (!row || row.key_id !== keyId) throw refuse('unknown for this key');
  if (row.consumed_at !== null) throw refuse('already used');
  if (row.expires_at <= nowMs) throw refuse('expired');
  return row.expires_at;
}

/**
 * Step 4; the parser's count of zero padding after the evidence goes to `trace` (what the log keeps).
 * A certificate table (SEV-SNP) is parsed here, so a malformed one is a refusal of the evidence (401
 * ERR_KBS_EVIDENCE, S05), as the gateway client and `verify` judge it; the verifier applies the
 * checklist's rules to its entries (a VCEK / VLEK from it must still chain to the pinned ARK).
 */
async function verify(ctx: BrokerContext, quote: Buffer, certTable: Buffer | undefined, at: Date, trace: TransferTrace): Promise<VerificationResult> {
  try {
    // The field carries the evidence's bytes (ITA reads raw bytes only): a hex or base64 text inside
    // it would be a second spelling of one quote, each a first release to the K1 replay count (review s11 #2).
    const parsed = parseEvidence(new Uint8Array(quote.buffer, quote.byteOffset, quote.byteLength), { encoding: 'binary' });
    trace.trailingZeroBytes = parsed.trailing.length;
    const entries = certTable === undefined ? undefined : parseSnpCertificateTable(new Uint8Array(certTable.buffer, certTable.byteOffset, certTable.byteLength));
    return await verifyEvidence(parsed, { collateral: ctx.collateral, trustRoots: ctx.trustRoots, at, ...(entries === undefined ? {} : { certTable: entries }) });
  } catch (err) {
    if (err instanceof CollateralUnavailableError) {
      // The answer goes to unauthenticated clients: no collateral URL or source error text (review s7); those go to the log and the attestation row.
      const message = 'collateral for this evidence is unavailable right now; retry later';
      throw new KbsError('ERR_KBS_COLLATERAL_UNAVAILABLE', 503, message, { failedChecks: [{ code: err.code, class: err.errorClass, message }], cause: err, headers: { 'Retry-After': '30' }, detail: redactUrlsIn(err.message) });
    }
    const fixed = err instanceof TeeVerifyError ? collateralAnswer(err) : undefined;
    if (err instanceof TeeVerifyError && fixed !== undefined) {
      // The other collateral classes too (review s10 A1): ERR_COLLATERAL_UNKNOWN_PLATFORM wraps the KDS 404 with its full
      // URL, reachable with a made-up CHIP_ID. A fixed text per code answers; the library's goes to the log and the row.
      throw new KbsError('ERR_KBS_EVIDENCE', 401, `evidence rejected: ${fixed}`, {
        failedChecks: [{ ...(err.check ? { check: err.check } : {}), code: err.code, class: err.errorClass, message: fixed }],
        cause: err,
        detail: redactUrlsIn(err.message),
      });
    }
    if (err instanceof TeeVerifyError) {
      throw new KbsError('ERR_KBS_EVIDENCE', 401, `evidence rejected: ${err.message}`, {
        failedChecks: [{ ...(err.check ? { check: err.check } : {}), code: err.code, class: err.errorClass, message: err.message }],
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * Stored with every release without a nonce (only under allowNoNonce): such a release may be the
 * nonce-relay of review s11, evidence made for another broker's nonce and relayed here.
 */
export const NO_NONCE_RELEASE_WARNING =
  "T42: released without a nonce (allowNoNonce): REPORTDATA binds only user_data, so this may be another broker's relay of evidence made for its nonce (review s11 nonce relay)";

/**
 * Stored with every release judged under other anchors than the pinned Intel / AMD production roots
 * (decided by the certificates' bytes, as `tee-verify serve` decides, not by the object or its label),
 * in serve's words (attestation-service/appraise.ts): a release under a test PKI must not look like a
 * production release in the attestation log, the broker's audit record (s13 parity #1).
 */
export { replacedTrustRootsWarning }; // the one text, from the attestation service (s13 parity #1)

/**
 * Step 5, whatever the policy says: a debug TD (any TUD bit), guest or enclave (T34 / S21); an
 * SEV-SNP report from a VMPL other than 0 unless the policy lists that VMPL (S24: a less
 * privileged VMPL can have any REPORT_DATA signed).
 */
function refuseUnconditionally(c: VerificationResult['claims'], policy: Policy): void {
  const debug = c.kind === 'snp' ? c.policy.debug : c.kind === 'tdx' ? tdUnderDebug(c) : c.debug; // td-debug.ts: DEBUG or a TUD bit (T34), as the policy check and the EAR
  if (debug) {
    throw new KbsError('ERR_KBS_DEBUG', 401, 'the TEE is debuggable: a key is never released to a debug TD, guest or enclave', { check: c.kind === 'snp' ? 'S21' : 'T34' });
  }
  if (c.kind === 'snp' && c.vmpl !== 0) {
    const allowed = policy.tee === 'snp' && Array.isArray(policy.vmpl) ? (policy.vmpl as readonly number[]) : [];
    if (!allowed.includes(c.vmpl)) {
      throw new KbsError('ERR_KBS_VMPL', 401, `the report was requested at VMPL ${c.vmpl}; only VMPL 0 unless the key's policy lists others ("vmpl": [0, ${c.vmpl}])`, { check: 'S24' });
    }
  }
}

/** Steps 5 and 6; returns the appraisal's warnings (relaxations the release relies on). */
function judge(result: VerificationResult, policy: Policy, reportData: Buffer, now: Date): string[] {
  refuseUnconditionally(result.claims, policy);
  const appraisal = evaluatePolicy(result, policy, { reportData: reportData.toString('hex'), now });
  if (appraisal.ok) return appraisal.warnings;
  const failedChecks = appraisal.violations.map((v) => ({ check: v.check, class: v.errorClass, path: v.path, message: v.message }));
  const binding = appraisal.violations.find((v) => v.errorClass === 'BINDING');
  if (binding) throw new KbsError('ERR_KBS_BINDING', 401, 'REPORTDATA is not bound to the key in user_data (and the nonce, if any)', { check: binding.check, failedChecks });
  throw new KbsError('ERR_KBS_POLICY', 401, `the evidence does not meet the key-transfer policy (${appraisal.violations.length} violation(s))`, { failedChecks });
}

export interface TransferTrace {
  /** The header as sent, at most 64 characters. */
  attestationType?: string;
  /** The evidence bytes as sent (logged in full or summarised, log-bounds.ts). */
  evidence?: Buffer;
  /** The SEV-SNP certificate table as sent (`cert_table`): a refusal row keeps only its SHA-256 and length (log-bounds.ts). */
  certTable?: Buffer;
  /** Zero bytes after the parsed evidence (T05 padding): not stored. */
  trailingZeroBytes?: number;
  reportData?: string;
  policy?: Policy;
  claims?: unknown;
  /** The policy's own warnings (relaxations), once it was read. */
  warnings?: string[];
}

/** The evidence path (steps 1-7). `trace` collects what the attestation log records, refusal or not. */
export async function transferKey(ctx: BrokerContext, req: TransferRequest, trace: TransferTrace): Promise<TransferAnswer> {
  // Step 1
  const found = await ctx.store.getKeyWithPolicy(req.keyId);
  if (!found) throw new KbsError('ERR_KBS_NOT_FOUND', 404, 'no key with this id');
  const { key, policy: policyRow } = found;
  if (!policyRow) throw new KbsError('ERR_KBS_STORAGE', 500, 'the key has no policy');
  const { policy, warnings: policyWarnings } = policyOfRow(policyRow);
  trace.policy = policy;
  trace.warnings = policyWarnings;
  if (isNonceRequest(req.attestationType, req.body)) return issueNonce(ctx, key.id, policy.tee);
  const tee = teeOfAttestationType(req.attestationType);
  if (req.attestationType !== undefined) trace.attestationType = boundText(req.attestationType, 64);
  const body = parseBody(req.body);
  trace.evidence = body.quote;
  if (!tee) throw new KbsError('ERR_KBS_ATTESTATION_TYPE', 401, 'Attestation-Type must be TDX, SGX or SEV-SNP');
  // A table serves SEV-SNP evidence only: with a TDX / SGX quote the verifier would ignore it, so a client's mistake would go unseen (as serve's certTable).
  if (body.certTable !== undefined && tee !== 'snp') throw bad(`"cert_table" is the SEV-SNP certificate table; with Attestation-Type ${attestationTypeOf(tee)} leave it out`);
  if (body.certTable !== undefined) trace.certTable = body.certTable;
  if (tee !== policy.tee) throw new KbsError('ERR_KBS_ATTESTATION_TYPE', 401, `the key's policy is for ${attestationTypeOf(policy.tee)}, not ${attestationTypeOf(tee)}`, { check: 'X07' });
  // Step 2 (X11)
  const requester = parseRequesterKey(body.userData, tee);
  const reportData = expectedReportData(body.userData, body.nonce);
  trace.reportData = reportData.toString('hex');
  const now = ctx.now();
  // Step 3 (T42 / S30)
  const freshness = tee === 'snp' ? 'S30' : 'T42';
  if (!body.nonce && ctx.requireNonce) throw new KbsError('ERR_KBS_NONCE', 401, 'this broker requires a nonce: POST an empty body first, and hash its val and iat before user_data', { check: freshness });
  const nonceExpiry = body.nonce ? await checkNonce(ctx, key.id, body.nonce, now.getTime(), freshness) : Number.POSITIVE_INFINITY;
  // Step 4
  const result = await verify(ctx, body.quote, body.certTable, now, trace);
  trace.claims = result.claims;
  if (result.claims.kind !== tee) throw new KbsError('ERR_KBS_ATTESTATION_TYPE', 401, `Attestation-Type says ${attestationTypeOf(tee)}, the evidence is ${attestationTypeOf(result.claims.kind)}`, { check: 'X07' });
  // Steps 5, 6
  const warnings = [...policyWarnings, ...result.warnings, ...judge(result, policy, reportData, now)];
  if (!isPinnedProductionRoots(ctx.trustRoots)) warnings.push(replacedTrustRootsWarning(result.trustRoots));
  const evidence = unpadded(body.quote, trace.trailingZeroBytes);
  if (evidence.note) warnings.push(evidence.note);
  if (!body.nonce) warnings.push(NO_NONCE_RELEASE_WARNING);
  if (body.eventLogBytes !== undefined) warnings.push(`event_log: ${body.eventLogBytes} byte(s) sent and not evaluated (RTMRs are judged as the quote states them)`);
  // Step 7 (X16): usable until min(nonce expiry, earliest collateral expiry), released atomically with the nonce.
  const usableUntil = Math.min(nonceExpiry, Date.parse(result.collateral.earliestExpiry));
  // The wrap (RSA-OAEP under the requester's key) runs before the transaction, so its cost never
  // holds the database's write lock (review s9 K4); the transaction checks the key is still this version under this policy.
  const prepared = wrapMaterial(ctx.store.keyMaterial(key, policyRow), requester.key);
  // One transaction on the shared database: the nonce consumption, the key check and the log row commit together or not at all.
  const wrapped = await ctx.store.transaction(async (store) => {
    // The key's shared lock first (s16 change review #1; store.lockKey): a move, rotation or deletion already waiting
    // is served before this release, which then sees it below; then the clock, read after any such wait.
    await store.lockKey(key.id, 'release');
    const at = ctx.now().getTime();
    if (!(at < usableUntil)) throw new KbsError('ERR_KBS_WINDOW', 401, 'the verification result is no longer usable (nonce or collateral expired meanwhile)', { check: 'X16' });
    if (body.nonce && !(await store.consumeNonce(body.nonce.val.toString('hex'), key.id, at))) {
      throw new KbsError('ERR_KBS_NONCE', 401, 'nonce refused: already used or expired', { check: freshness });
    }
    // FOR SHARE (s16 F1): a move, rotation or deletion on another instance waits for this release to commit, so none is
    // acknowledged while an old-state release can still commit; one that committed first is seen here (404, or the new version).
    // (The key lock above already keeps changes out; the row lock stays for instances of the round-1 code during an upgrade.)
    const current = await store.getKey(key.id, { lock: 'share' });
    if (!current || current.policy_id !== key.policy_id) throw new KbsError('ERR_KBS_NOT_FOUND', 404, 'the key was deleted or moved to another policy meanwhile');
    // Rotated meanwhile (same policy): the current version is what is released, as before; a rare race, so its wrap may run here.
    const released = current.version === key.version ? prepared : wrapMaterial(store.keyMaterial(current, policyRow), requester.key);
    // A release keeps its full evidence: it was verified, and batch re-verification needs it.
    // Its warnings too: every relaxation (T33 OutOfDate accepted, X07 unpinned, …) this release relied on.
    // Without a nonce the same body can be replayed by anyone who saw it: a repeat is only counted (review s9 K1).
    // The certificate table is not in the digest: the same evidence with another table (extra entries, another
    // order) is a repeat too, or each variant would be a first release with a full row of up to 32 KiB more.
    const digest = body.nonce ? undefined : releaseDigest(key.id, current.version, current.policy_id, evidence.bytes, body.userData);
    await store.appendLog({
      id: randomUUID(), at: new Date(at).toISOString(), client: req.client, keyId: key.id, decision: 'released', policy, claims: result.claims, ...traceFields(trace),
      evidence: evidence.bytes.toString('base64'), ...(body.certTable === undefined ? {} : { certTable: body.certTable.toString('base64') }),
      warnings, ...(digest === undefined ? {} : { releaseDigest: digest }),
    });
    return released;
  });
  return { status: 200, body: { wrapped_key: wrapped.wrappedKey, wrapped_swk: wrapped.wrappedSwk }, headers: { 'Attestation-Type': attestationTypeOf(tee) } };
}

/** The key material wrapped for the requester; the unsealed material is zeroed whatever happens. */
function wrapMaterial(material: Buffer, requester: KeyObject): { wrappedKey: string; wrappedSwk: string } {
  try {
    return wrapForRequester(material, requester);
  } finally {
    material.fill(0);
  }
}

function traceFields(t: TransferTrace): { attestationType?: string; reportData?: string } {
  return {
    ...(t.attestationType === undefined ? {} : { attestationType: t.attestationType }),
    ...(t.reportData === undefined ? {} : { reportData: t.reportData }),
  };
}

/**
 * Appends a refusal to the attestation log (never key material). Evidence that verified is kept in
 * full (batch re-verification); anything else as `error.evidence` = {sha256, length, head}. A
 * `cert_table` only as {sha256, length}: `error.certTable` beside kept evidence, else
 * `error.evidence.certTable` (log-bounds.ts; s15 change review #1).
 */
export async function logRefusal(ctx: BrokerContext, req: TransferRequest, trace: TransferTrace, err: KbsError): Promise<void> {
  const kept = trace.evidence === undefined ? undefined : refusedEvidence(trace.evidence, trace.claims !== undefined, trace.trailingZeroBytes, trace.certTable);
  // The row keeps what the answer leaves out (err.detail), bounded like everything else.
  const error = { ...boundedErrorBody(err.toJSON()), ...(err.detail === undefined ? {} : { detail: boundText(err.detail) }) };
  const warnings = [...(trace.warnings ?? []), ...(kept?.note ? [kept.note] : [])];
  await ctx.store.appendLog({
    id: randomUUID(),
    at: ctx.now().toISOString(),
    client: req.client,
    keyId: req.keyId,
    decision: 'refused',
    errorCode: err.code,
    // The certificate table: its SHA-256 and length only, inside the evidence summary or beside kept evidence (log-bounds.ts).
    error: kept === undefined ? error : 'summary' in kept ? { ...error, evidence: kept.summary } : kept.certTable === undefined ? error : { ...error, certTable: kept.certTable },
    ...(trace.policy ? { policy: trace.policy } : {}),
    ...(trace.claims ? { claims: trace.claims } : {}),
    ...traceFields(trace),
    ...(kept && 'evidence' in kept ? { evidence: kept.evidence } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  });
}
