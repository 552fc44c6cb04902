/**
 * The two request bodies, parsed into one AppraisalRequest.
 *
 * Plain (POST /v1/verify):
 *   {"evidence": <base64 or hex, as parseEvidence accepts>,
 *    "policy"?: <policy document> | "<name of a configured policy>",
 *    "nonce"?: <base64, 16-64 bytes>      REPORTDATA must be SHA-512(nonce)
 *    "reportData"?: <64 bytes, 128 hex or base64>   REPORTDATA must equal it
 *    "certTable"?: <base64 SEV-SNP extended-report certificate table (auxblob); SEV-SNP evidence only>}
 *
 * Trustee restful AS (protocols.md §6.6; what open-webui's browser code posts):
 *   {"tee": "tdx"|"sgx", "evidence": base64url-nopad(JSON {"quote": <base64>, "cc_eventlog"?, "aa_eventlog"?}),
 *    "runtime_data"?: {"raw": base64url-nopad} | {"structured": <JSON>},
 *    "runtime_data_hash_algorithm"?: "sha256"|"sha384"|"sha512" (default sha384; only with runtime_data),
 *    "init_data_hash_algorithm"?: checked like it, only with init_data (which is refused, 422),
 *    "policy_ids"?: [] | ["<name>"]}
 *   or trustee's newer wrapper {"verification_requests": [<one such request, without "policy_ids">], "policy_ids": [...]}:
 *   trustee's IndividualAttestationRequest has no policy_ids, only the outer AttestationRequest has
 *   (an inner one was accepted and never read until review s12 #1; now 400).
 *   With runtime_data, REPORTDATA must equal hash(raw bytes, or the RFC 8785 form of
 *   structured) followed by zero bytes up to 64, as trustee computes it.
 *
 * A body holding "tee" or "verification_requests" is trustee-shaped, any
 * other is plain; each route accepts both.
 */
import { createHash } from 'node:crypto';

import { decodeEvidenceInput, detectKind, parseSnpCertificateTable, type SnpCertificateEntry } from '../index.js';
import { parseStrictJson } from '../collateral/strict-json.js';
import { jsonShapeRefusal, type JsonShapeBounds } from '../net/json-shape.js';
import { TeeVerifyError } from '../errors.js';
import type { PolicyTee } from '../policy/types.js';
import { CanonicalJsonTooLong, canonicalJson, decodeBase64, decodeBase64UrlNoPad, decodeReportData } from './encoding.js';
import { AttestationServiceError, badRequest, fromLibraryError } from './errors.js';

export const NONCE_MIN_BYTES = 16;
export const NONCE_MAX_BYTES = 64;

export type PolicyChoice = { kind: 'default' } | { kind: 'named'; name: string } | { kind: 'inline'; document: unknown };

/** What REPORTDATA must equal, and where that came from. */
export interface ExpectedBinding {
  reportData: Buffer;
  source: 'nonce' | 'reportData' | 'runtime_data';
  /** The nonce as base64url, for the EAR's eat_nonce. */
  nonce?: string;
}

export interface AppraisalRequest {
  shape: 'plain' | 'trustee';
  evidence: string | Uint8Array;
  /** The TEE the client declared (trustee bodies); the evidence must be of it. */
  tee?: PolicyTee;
  certTable?: SnpCertificateEntry[];
  policy: PolicyChoice;
  binding?: ExpectedBinding;
  /** Parts of the request that were accepted but not judged (event logs). */
  warnings: string[];
}

type Json = Record<string, unknown>;

function object(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest(`${what} must be a JSON object`);
  return value as Json;
}

function onlyKeys(o: Json, allowed: readonly string[], what: string): void {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length > 0) throw badRequest(`${what}: unknown field ${JSON.stringify(extra[0]!.slice(0, 64))} (allowed: ${allowed.join(', ')})`);
}

/**
 * The shape a body may have (s15 red team, service #3), checked by a linear pre-scan before the
 * strict parser, whose cost grows with the members, values and escapes rather than the bytes
 * (src/net/json-shape.ts). Depth: the body, the trustee wrapper and runtime_data, plus the
 * MAX_STRUCTURED_DEPTH levels runtime_data.structured may have; a policy document is about 6 deep.
 * Counts: far above a real body (evidence strings, a policy document of a few dozen members with
 * allow lists; configure bigger policies with --policy), far below what costs the event loop
 * (the parse of a body at every bound together takes a few milliseconds).
 */
export const BODY_SHAPE: Readonly<JsonShapeBounds> = Object.freeze({ maxDepth: 40, maxContainers: 4096, maxMembers: 2048, maxSeparators: 16_384, maxEscapes: 8192 });
/** The JSON inside a trustee `evidence` ({"quote", "cc_eventlog", "aa_eventlog"}: strings in one object). */
const EVIDENCE_JSON_SHAPE: Readonly<JsonShapeBounds> = Object.freeze({ ...BODY_SHAPE, maxDepth: 32 });
/** runtime_data.structured: at most this many levels of its own, and this many bytes in its RFC 8785 form. */
export const MAX_STRUCTURED_DEPTH = 32;
export const MAX_STRUCTURED_BYTES = 16 * 1024;

/**
 * Strict JSON (the collateral parser, X05): a duplicate key at any level, a lone surrogate, invalid
 * UTF-8 or a byte order mark is a 400 — JSON.parse would keep the last duplicate silently, so a
 * body could read one way here and another way to a proxy or logger in front (review s8). First the
 * shape pre-scan: nested too deep is 400 ERR_AS_BAD_REQUEST, too many members / values / escapes
 * 413 ERR_AS_TOO_LARGE, before the parser spends anything on it.
 */
function strictJson(bytes: Uint8Array, what: string, shape: Readonly<JsonShapeBounds>): unknown {
  const refusal = jsonShapeRefusal(bytes, shape);
  if (refusal?.kind === 'depth') throw badRequest(`${what}: ${refusal.message}`);
  if (refusal) throw new AttestationServiceError('ERR_AS_TOO_LARGE', 413, `${what} holds ${refusal.message} (a bound of this service)`);
  try {
    return parseStrictJson(bytes, { maxBytes: Math.max(bytes.length, 1), maxDepth: shape.maxDepth });
  } catch (err) {
    throw badRequest(`${what} is not strict JSON: ${(err as Error).message.slice(0, 200)}`);
  }
}

/** Parses the body: a JSON object or ERR_AS_BAD_REQUEST. */
export function parseJsonBody(body: Buffer): Json {
  return object(strictJson(body, 'the body', BODY_SHAPE), 'the body');
}

export function parseRequest(doc: Json): AppraisalRequest {
  return 'tee' in doc || 'verification_requests' in doc ? parseTrustee(doc) : parsePlain(doc);
}

// ---- plain -------------------------------------------------------------------

const PLAIN_KEYS = ['evidence', 'policy', 'nonce', 'reportData', 'certTable'];

function certTableOf(value: unknown): SnpCertificateEntry[] {
  try {
    return parseSnpCertificateTable(new Uint8Array(decodeBase64(value, 'certTable')));
  } catch (err) {
    if (err instanceof TeeVerifyError) throw fromLibraryError(err);
    throw err;
  }
}

/**
 * A certTable serves SEV-SNP evidence only; with a TDX / SGX quote verifyEvidence ignored it, so a
 * client's mistake went unseen (review s12 #4). The family is read as verifyEvidence reads it
 * (its decoding errors are the ones verification would answer), before any collateral is fetched.
 */
function requireSnpForCertTable(evidence: string): void {
  let family: 'intel' | 'snp';
  try {
    family = detectKind(decodeEvidenceInput(evidence).bytes);
  } catch (err) {
    if (err instanceof TeeVerifyError) throw fromLibraryError(err);
    throw err;
  }
  if (family !== 'snp') throw badRequest('"certTable" is the SEV-SNP certificate table; this evidence is a TDX / SGX quote: leave it out');
}

function policyChoice(value: unknown): PolicyChoice {
  if (value === undefined || value === null) return { kind: 'default' };
  if (typeof value === 'string') {
    if (value.length === 0) throw badRequest('"policy" must not be empty');
    return { kind: 'named', name: value };
  }
  if (typeof value === 'object' && !Array.isArray(value)) return { kind: 'inline', document: value };
  throw badRequest('"policy" must be a policy document (object) or the name of a configured policy');
}

function nonceBinding(value: unknown): ExpectedBinding {
  const nonce = decodeBase64(value, 'nonce');
  if (nonce.length < NONCE_MIN_BYTES || nonce.length > NONCE_MAX_BYTES) throw badRequest(`"nonce" must be ${NONCE_MIN_BYTES} to ${NONCE_MAX_BYTES} bytes`);
  return { reportData: createHash('sha512').update(nonce).digest(), source: 'nonce', nonce: nonce.toString('base64url') };
}

function parsePlain(doc: Json): AppraisalRequest {
  onlyKeys(doc, PLAIN_KEYS, 'the body');
  const evidence = doc['evidence'];
  if (typeof evidence !== 'string' || evidence.length === 0) throw badRequest('"evidence" must be the evidence as a base64 or hex string');
  if (doc['nonce'] !== undefined && doc['reportData'] !== undefined) throw badRequest('give "nonce" or "reportData", not both');
  const binding =
    doc['nonce'] !== undefined ? nonceBinding(doc['nonce']) : doc['reportData'] !== undefined ? { reportData: decodeReportData(doc['reportData'], 'reportData'), source: 'reportData' as const } : undefined;
  if (doc['certTable'] !== undefined) requireSnpForCertTable(evidence);
  const certTable = doc['certTable'] !== undefined ? certTableOf(doc['certTable']) : undefined;
  return {
    shape: 'plain',
    evidence,
    policy: policyChoice(doc['policy']),
    ...(binding ? { binding } : {}),
    ...(certTable ? { certTable } : {}),
    warnings: [],
  };
}

// ---- trustee -------------------------------------------------------------------

const REQUEST_KEYS = ['tee', 'evidence', 'runtime_data', 'init_data', 'runtime_data_hash_algorithm', 'init_data_hash_algorithm'];
/** The flat form (trustee v0.13): one request with its policy_ids. */
const TRUSTEE_KEYS = [...REQUEST_KEYS, 'policy_ids'];
// A Map, not an object literal: a client's name such as "constructor" or "__proto__" must not find Object.prototype's members.
const HASHES: ReadonlyMap<string, { name: string; length: number }> = new Map([
  ['sha256', { name: 'sha256', length: 32 }],
  ['sha384', { name: 'sha384', length: 48 }],
  ['sha512', { name: 'sha512', length: 64 }],
]);

function policyIds(value: unknown): PolicyChoice {
  if (value === undefined || value === null) return { kind: 'default' };
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length === 0)) throw badRequest('"policy_ids" must be a list of policy names');
  if (value.length > 1) throw badRequest('"policy_ids" names at most one policy here');
  return value.length === 0 ? { kind: 'default' } : { kind: 'named', name: value[0] as string };
}

const given = (value: unknown): boolean => value !== undefined && value !== null;

/** A hash algorithm field by name, case-insensitively: sha256, sha384 or sha512, nothing else. */
function hashNamed(value: unknown, field: string): { name: string; length: number } {
  const hash = typeof value === 'string' ? HASHES.get(value.toLowerCase()) : undefined;
  if (!hash) throw badRequest(`"${field}" must be sha256, sha384 or sha512`);
  return hash;
}

/**
 * A hash algorithm without the data it hashes did nothing: a client that sent
 * runtime_data_hash_algorithm and forgot runtime_data got an unbound ok (review s12 #4). Refused,
 * as an unknown or weak name is (init_data_hash_algorithm was never checked before).
 */
function checkHashAlgorithms(r: Json): void {
  for (const [field, data] of [['runtime_data_hash_algorithm', 'runtime_data'], ['init_data_hash_algorithm', 'init_data']] as const) {
    if (!given(r[field])) continue;
    hashNamed(r[field], field);
    if (!given(r[data])) throw badRequest(`"${field}" without "${data}": nothing would be hashed or bound; send "${data}" or leave "${field}" out`);
  }
}

/**
 * The RFC 8785 form of runtime_data.structured, bounded (s15 red team, service #3): at most
 * MAX_STRUCTURED_DEPTH levels (400) and MAX_STRUCTURED_BYTES bytes (413). trustee's attestation
 * agent binds a small JSON (a TEE public key, a nonce); open-webui sends no runtime data.
 */
function structuredBytes(value: unknown): Buffer {
  const tooLarge = () => new AttestationServiceError('ERR_AS_TOO_LARGE', 413, `"runtime_data.structured" exceeds ${MAX_STRUCTURED_BYTES} bytes in its RFC 8785 form (send a digest of larger data, or use runtime_data.raw)`);
  let text: string;
  try {
    // Stops once past the bound in characters (a UTF-8 byte count is never smaller), so a large value costs no more than the bound.
    text = canonicalJson(value, 0, MAX_STRUCTURED_DEPTH, { chars: MAX_STRUCTURED_BYTES });
  } catch (err) {
    if (err instanceof CanonicalJsonTooLong) throw tooLarge();
    throw err;
  }
  if (Buffer.byteLength(text) > MAX_STRUCTURED_BYTES) throw tooLarge();
  return Buffer.from(text, 'utf8');
}

/** trustee's regularize_data: the digest, then zero bytes up to 64; compared over all 64 bytes. */
function runtimeDataBinding(value: unknown, algorithm: unknown): ExpectedBinding {
  const rd = object(value, '"runtime_data"');
  const keys = Object.keys(rd);
  if (keys.length !== 1 || (keys[0] !== 'raw' && keys[0] !== 'structured')) throw badRequest('"runtime_data" must be {"raw": base64url} or {"structured": JSON}');
  const bytes = keys[0] === 'raw' ? decodeBase64UrlNoPad(rd['raw'], 'runtime_data.raw') : structuredBytes(rd['structured']);
  const hash = given(algorithm) ? hashNamed(algorithm, 'runtime_data_hash_algorithm') : HASHES.get('sha384')!;
  const reportData = Buffer.alloc(64);
  createHash(hash.name).update(bytes).digest().copy(reportData);
  return { reportData, source: 'runtime_data' };
}

function trusteeEvidence(tee: PolicyTee, encoded: unknown, warnings: string[]): Uint8Array {
  const parsed = strictJson(decodeBase64UrlNoPad(encoded, 'evidence'), '"evidence" (expected base64url of JSON {"quote": ...})', EVIDENCE_JSON_SHAPE);
  const ev = object(parsed, 'the decoded evidence');
  if (tee === 'snp') {
    throw new AttestationServiceError('ERR_AS_UNSUPPORTED', 422, "SEV-SNP evidence in trustee's serde form is not accepted; post the raw report to POST /v1/verify");
  }
  for (const log of ['cc_eventlog', 'aa_eventlog']) {
    if (ev[log] !== undefined && ev[log] !== null) warnings.push(`${log} was not replayed: RTMRs are judged as the quote reports them`);
  }
  return new Uint8Array(decodeBase64(ev['quote'], 'evidence.quote'));
}

function parseTrusteeRequest(r: Json, policy: PolicyChoice, keys: readonly string[]): AppraisalRequest {
  onlyKeys(r, keys, 'the verification request');
  const tee = r['tee'];
  if (tee !== 'tdx' && tee !== 'sgx' && tee !== 'snp') {
    throw new AttestationServiceError('ERR_AS_UNSUPPORTED', 422, `tee ${JSON.stringify(String(tee).slice(0, 32))} is not supported here (tdx, sgx)`);
  }
  checkHashAlgorithms(r);
  if (given(r['init_data'])) {
    throw new AttestationServiceError('ERR_AS_UNSUPPORTED', 422, '"init_data" is not checked by this service; pin mrConfigId / hostData in the policy instead');
  }
  const warnings: string[] = [];
  const evidence = trusteeEvidence(tee, r['evidence'], warnings);
  const hasRuntime = given(r['runtime_data']);
  return { shape: 'trustee', evidence, tee, policy, ...(hasRuntime ? { binding: runtimeDataBinding(r['runtime_data'], r['runtime_data_hash_algorithm']) } : {}), warnings };
}

function parseTrustee(doc: Json): AppraisalRequest {
  if (!('verification_requests' in doc)) return parseTrusteeRequest(doc, policyIds(doc['policy_ids']), TRUSTEE_KEYS);
  onlyKeys(doc, ['verification_requests', 'policy_ids'], 'the body');
  const list = doc['verification_requests'];
  if (!Array.isArray(list) || list.length !== 1) throw badRequest('"verification_requests" must hold exactly one request (composite evidence is not supported)');
  const inner = object(list[0], 'the verification request');
  // Never read, it would leave the client's policy unjudged (review s12 #1): refused, whatever it names.
  if ('policy_ids' in inner) throw badRequest('"policy_ids" belongs in the wrapper, next to "verification_requests", not inside a verification request');
  return parseTrusteeRequest(inner, policyIds(doc['policy_ids']), REQUEST_KEYS);
}
