/**
 * Client side of the key broker transfer protocol (protocols.md §1.1, §4.2,
 * §5, §10.1): `POST /kbs/v1/keys/{id}/transfer`.
 *
 *   1. a fresh RSA-3072 key pair (e = 65537) per request;
 *   2. optionally a nonce: an empty-body POST answered with {val, iat, signature};
 *   3. user_data = the public key as DER SPKI (default; what the CNAP /
 *      confidential-ai-loader clients send) or, with userDataForm 'ita-raw', as
 *      Intel Trust Authority's KBS reads it (§4.3: u32-LE exponent ‖ big-endian
 *      modulus, the TDX order); REPORTDATA = SHA-512(nonce.val ‖ nonce.iat ‖
 *      user_data), or SHA-512(user_data) without a nonce;
 *   4. evidence from the provider for exactly those 64 bytes;
 *   5. POST {quote, user_data[, nonce][, cert_table]} with Attestation-Type (TDX / SEV-SNP);
 *      `cert_table`: the provider's SEV-SNP certificate table (configfs-tsm `auxblob`), this
 *      project's extension (sendsCertTable below);
 *   6. SWK = RSA-OAEP(SHA-256, MGF1-SHA-256, no label)⁻¹(wrapped_swk);
 *      key = container §1.3 opened with the SWK (wrapped_key).
 *
 * Unlike the upstream Python clients, TLS is verified (system store or `ca`),
 * and plain http:// brokers are refused unless `allowInsecureHttp` (then the
 * result carries a warning).
 */
import { constants, createHash, generateKeyPair, privateDecrypt, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { parseEvidence } from '../evidence/index.js';
import { openBuffer } from '../model/container.js';
import { KeyBrokerClientError, isModelError } from '../model/errors.js';
import type { EvidenceProvider, TeeEvidence } from '../tee/types.js';
import { leafOnlyInEvidence } from '../verify/snp/leaf-source.js';
import { keyInNonceSplit, type NonceSplit } from './nonce-split.js';
import { checkBrokerTransport, checkTimeoutMs, isDeadlineError, postJson, type HttpResponse, type PostOptions } from './http.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface BrokerNonce {
  val: string;
  iat: string;
  signature: string;
}

/**
 * How the public key travels in `user_data` (and so what REPORTDATA hashes): 'spki-der', the DER
 * SubjectPublicKeyInfo the Python clients send and our broker reads; 'ita-raw', the form a real
 * Intel Trust Authority KBS decodes (getPublicKey: exponent u32 little-endian, then the modulus,
 * big-endian for TDX). ITA reads DER as an exponent 0xA2018230 and answers 500.
 */
export type UserDataForm = 'spki-der' | 'ita-raw';
export const USER_DATA_FORMS: readonly UserDataForm[] = ['spki-der', 'ita-raw'];

export interface KeyTransferOptions {
  /** Broker base URL (https://host:port); the transfer path is appended. A URL already ending in /transfer is used verbatim. */
  url: string;
  /** Key id (a UUID for ITA-style brokers); needed unless `url` is the full transfer URL. */
  keyId?: string;
  provider: EvidenceProvider;
  /** "auto" (default): ask for a nonce and go on without one if the broker offers none; true: require one; false: never ask. */
  nonce?: 'auto' | boolean;
  /** PEM CA certificate(s) for the broker's TLS certificate. */
  ca?: string | Buffer;
  /** Deadline of each HTTP request, whole answer included (ms, > 0); default 10 s as upstream. */
  timeoutMs?: number;
  /**
   * Attempts (a whole number >= 1) on network errors (connection, reset, deadline) and 429/502/503/504;
   * a broker certificate that does not verify (ERR_KBS_HTTP, details.reason "tls-certificate") is final;
   * default 3 as upstream. Each attempt is a fresh key pair, nonce and evidence (a nonce refused as
   * nonce-splits-to-key is replaced within the attempt: NONCE_SPLIT_MAX_NONCES). Anything else —
   * a refusal, a bad answer, an evidence-provider error — ends the request at once, unchanged.
   */
  attempts?: number;
  /**
   * RSA modulus size: 2048 to 8192 bits in steps of 1024 (the raw form's whole key sizes); default 3072.
   * With these a DER SPKI is 38 bytes past a multiple of 128, so no genuine nonce of our broker (56
   * bytes) can make a raw-size key in front of it and be refused as nonce-splits-to-key.
   */
  rsaBits?: number;
  /** Accept an http:// broker URL (refused by default); reported in `warnings`. */
  allowInsecureHttp?: boolean;
  /** Encoding of the public key in `user_data`; default 'spki-der'. */
  userDataForm?: UserDataForm;
}

export interface KeyTransferResult {
  /** The released key material (for model keys: 32 bytes). */
  key: Buffer;
  transferUrl: string;
  attestationType: string;
  nonceUsed: boolean;
  userDataForm: UserDataForm;
  evidence: TeeEvidence;
  /**
   * The transfer that released the key carried the provider's SEV-SNP certificate table as
   * `cert_table`. False without a table, and when a broker that does not know the member refused it
   * and the report did not need it (the same body was sent again without it; sendsCertTable).
   */
  certTableSent: boolean;
  /** Relaxations that were in effect (plain HTTP). */
  warnings: string[];
}

/** A base path that already holds (part of) the key route: appending it again would double it. */
const PARTIAL_KEY_ROUTE = /\/kbs\/v1(?:\/keys(?:\/[^/]+)?)?\/*$/;

/**
 * The URL to POST to: `url` itself when it ends in `/transfer`, else
 * `<url>/kbs/v1/keys/<keyId>/transfer`. ERR_KBS_ARGUMENT: not a URL; a
 * fragment (never sent, so it would only confuse whoever copies the URL); no
 * key id, or "." / ".." (encodeURIComponent keeps them and the URL parser
 * would resolve them as dot segments, to `/kbs/v1/keys/transfer` and
 * `/kbs/v1/transfer`); a base that already ends in `/kbs/v1`, `/kbs/v1/keys`
 * or `/kbs/v1/keys/<id>` without `/transfer` (the path would be doubled);
 * user name or password in the URL (as brokerRefOf: Node would send them as
 * Basic auth to whoever answers, and they would show in errors and logs).
 */
export function transferUrlOf(url: string, keyId: string | undefined): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `not a URL: ${url}`, { cause });
  }
  if (u.username !== '' || u.password !== '') throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', 'a key broker URL must not carry credentials');
  // href keeps "#" even for an empty fragment, which `hash` reports as "".
  if (u.href.includes('#')) throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `a key broker URL must not carry a fragment: ${url}`);
  if (/\/transfer\/?$/.test(u.pathname)) return u;
  if (!keyId) throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', 'a key id is needed unless the URL is the full transfer URL');
  if (keyId === '.' || keyId === '..') throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `key id ${JSON.stringify(keyId)} is a path dot segment, not a key id`, { details: { keyId } });
  if (PARTIAL_KEY_ROUTE.test(u.pathname)) {
    throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `${url} already ends in part of the key route; give the broker's base URL or the full .../kbs/v1/keys/<id>/transfer URL`, { details: { url } });
  }
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/kbs/v1/keys/${encodeURIComponent(keyId)}/transfer`;
  return u;
}

/**
 * The RSA public key as user_data (protocols.md §4.3, §10.1): DER SPKI, or ITA's raw form
 * exponent (u32 LE) ‖ modulus (big-endian, no leading zero byte: ITA's TDX order; an SGX
 * enclave would send it little-endian, and we never attest SGX).
 */
export function userDataOf(publicKey: KeyObject, form: UserDataForm): Buffer {
  if (form === 'spki-der') return publicKey.export({ type: 'spki', format: 'der' });
  const jwk = publicKey.export({ format: 'jwk' });
  const modulus = Buffer.from(jwk.n ?? '', 'base64url');
  const e = Buffer.from(jwk.e ?? '', 'base64url');
  if (modulus.length === 0 || e.length === 0 || e.length > 4) throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `the ita-raw form needs an RSA key whose exponent fits 32 bits`);
  const exponent = Buffer.alloc(4);
  exponent.writeUInt32LE(e.readUIntBE(0, e.length), 0);
  return Buffer.concat([exponent, modulus]);
}

/** REPORTDATA binding (protocols.md §3, §5): SHA-512(nonce.val ‖ nonce.iat ‖ user_data). */
export function transferReportData(userData: Uint8Array, nonce?: { val: Uint8Array; iat: Uint8Array }): Buffer {
  const h = createHash('sha512');
  if (nonce) h.update(nonce.val).update(nonce.iat);
  return h.update(userData).digest();
}

export const attestationTypeOf = (tee: 'tdx' | 'snp'): string => (tee === 'snp' ? 'SEV-SNP' : 'TDX');

const JSON_HEADERS = { Accept: 'application/json', 'Content-Type': 'application/json' };

/** ERR_KBS_RESPONSE naming the broker: an answer that gives no usable key (review s7: the broker is in the message). */
function badAnswer(url: URL, what: string, problem: string, details: Record<string, unknown> = {}): KeyBrokerClientError {
  return new KeyBrokerClientError('ERR_KBS_RESPONSE', `${what}: the answer of the key broker ${url.origin} ${problem}`, { details: { url: url.origin, ...details } });
}

function parseJson(url: URL, res: HttpResponse, what: string): Record<string, unknown> {
  try {
    const doc = JSON.parse(res.body.toString('utf8')) as unknown;
    if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) return doc as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw badAnswer(url, what, 'is not a JSON object', { status: res.status });
}

/** One failed check of a broker's refusal (`checks` of its JSON error body), strings only, each bounded. */
export interface BrokerCheck {
  check?: string;
  code?: string;
  class?: string;
  path?: string;
  message?: string;
}

/** Bounds on what a refusal's body may put into an error (the broker is remote; its answer may be up to 1 MiB). */
export const MAX_BROKER_CHECKS = 8;
export const MAX_BROKER_TEXT = 240;

const boundBrokerText = (v: string): string => (v.length <= MAX_BROKER_TEXT ? v : `${v.slice(0, MAX_BROKER_TEXT)}… (${v.length} characters)`);

/** The refusal's `checks` (the broker's failed checks, e.g. T36 /mrTd) as at most MAX_BROKER_CHECKS bounded entries, and how many were left out. */
function brokerChecksOf(raw: unknown): { checks: BrokerCheck[]; omitted: number } | undefined {
  if (!Array.isArray(raw) || raw.length === 0) return undefined;
  // Usable entries first, then the bound: junk at the head of the list must not hide the real checks
  // while the "left out" count still looks normal. The scan itself is bounded by the 1 MiB body.
  const checks: BrokerCheck[] = [];
  let usable = 0;
  for (const entry of raw) {
    if (typeof entry !== 'object' || entry === null) continue;
    const c: BrokerCheck = {};
    for (const k of ['check', 'code', 'class', 'path', 'message'] as const) {
      const v = (entry as Record<string, unknown>)[k];
      if (typeof v === 'string' && v !== '') c[k] = boundBrokerText(v);
    }
    if (Object.keys(c).length === 0) continue;
    usable++;
    if (checks.length < MAX_BROKER_CHECKS) checks.push(c);
  }
  return { checks, omitted: usable - checks.length };
}

/**
 * ERR_KBS_HTTP for a non-2xx answer: `details.error` the broker's `error` text and, when its body lists
 * them, `details.checks` the failed checks (why a policy refused: `tee-model load` prints them), bounded.
 */
function httpError(res: HttpResponse, what: string): KeyBrokerClientError {
  let message = '';
  let found: ReturnType<typeof brokerChecksOf>;
  try {
    const doc = JSON.parse(res.body.toString('utf8')) as { error?: unknown; checks?: unknown } | null;
    if (typeof doc?.error === 'string') message = boundBrokerText(doc.error);
    found = brokerChecksOf(doc?.checks);
  } catch {
    // not JSON
  }
  const details: Record<string, unknown> = { status: res.status, error: message };
  if (found && found.checks.length > 0) details['checks'] = found.checks;
  if (found && found.omitted > 0) details['checksOmitted'] = found.omitted;
  return new KeyBrokerClientError('ERR_KBS_HTTP', `${what}: broker answered ${res.status}${message ? `: ${message}` : ''}`, { details });
}

const b64 = (url: URL, v: unknown, name: string): Buffer => {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw badAnswer(url, name === 'wrapped_swk' || name === 'wrapped_key' ? 'key transfer' : 'nonce request', `has no standard base64 "${name}"`);
  return Buffer.from(v, 'base64');
};

/**
 * A request that failed below HTTP (connection refused, reset, a TLS handshake that broke off, DNS):
 * the only failure retried besides 429/5xx. A certificate that does not verify is not one of them:
 * postJson reports it as a typed ERR_KBS_HTTP (reason tls-certificate), final.
 */
class NetworkFailure {
  constructor(readonly cause: unknown) {}
}

/** postJson with its untyped socket errors marked as network failures (typed errors pass unchanged). */
async function post(url: URL, body: Buffer, o: PostOptions): Promise<HttpResponse> {
  try {
    return await postJson(url, body, o);
  } catch (e) {
    throw isModelError(e) ? e : new NetworkFailure(e);
  }
}

/**
 * Nonces asked for per attempt when each is refused only because its bytes split into a key
 * (keyInNonceSplit). A random nonce of a genuine broker is refused about 1 time in 4 at worst (a
 * 64-byte raw val, an iat of 30 bytes or more and a DER user_data: the exponent's low bit and the
 * modulus's top bit), and each fresh nonce is a fresh draw; a hostile broker's crafted nonces keep
 * failing. No evidence is made for a refused nonce, so asking again gives a broker nothing
 * (docs/decisions.md, "Review s11 — key broker, second round"; review s11 changes-c #5).
 */
export const NONCE_SPLIT_MAX_NONCES = 8;

/**
 * The answers to the nonce request that mean "this broker has no nonce endpoint" under nonce 'auto'
 * (docs/model.md, Key release, step 3): 404 (no such route), 405 (the route takes no such request) and
 * 400 (the route reads the empty body as a malformed transfer: what an ITA-style broker without nonces,
 * decoding JSON, answers), besides a 200 without val / iat / signature. Nothing else is read as absence
 * (review s14 #1, second round): 401 / 403, another 4xx or a 3xx is final, 429 and 5xx transient. 415 and 422 are
 * what a nonce-less broker built on Flask or FastAPI answers to the empty nonce request, and 501 says the
 * endpoint is not implemented: absence too (its third round).
 */
const NO_NONCE_STATUS = new Set([400, 404, 405, 415, 422, 501]);

/**
 * Answers to the nonce request that are retried like a transient failure of the transfer (requestKey),
 * whatever their status: 429 and every 5xx on the nonce request. No evidence was made for them, so a
 * second request gives a broker nothing.
 */
const transientNonceAnswers = new WeakSet<KeyBrokerClientError>();

/**
 * One nonce request: the nonce, undefined when the broker offers none (nonce 'auto'), or the split that refuses it.
 * 429 and any 5xx are ERR_KBS_HTTP in every nonce mode, retried by requestKey (transientNonceAnswers) and in
 * the end reported as unavailable (exit 3): they say nothing about whether the broker offers nonces, and
 * reading one as "no nonce" made evidence for a nonce-less transfer that a broker requiring nonces refuses
 * for good (review s14 #1: 429 / 502 / 503 / 504; its second round: a 500, our broker's own
 * ERR_KBS_STORAGE / ERR_KBS_INTERNAL, or any other 5xx). Under 'auto' only NO_NONCE_STATUS (or a 200 without
 * the nonce's fields) means "no nonce"; any other answer is ERR_KBS_HTTP, final, as in the transfer.
 * Network failures and the deadline were already thrown (post).
 */
async function fetchNonce(url: URL, o: KeyTransferOptions, timeoutMs: number, userData: Buffer): Promise<{ nonce?: BrokerNonce; split?: NonceSplit }> {
  const res = await post(url, Buffer.alloc(0), { headers: { Accept: 'application/json' }, timeoutMs, allowInsecureHttp: o.allowInsecureHttp === true, ...(o.ca ? { ca: o.ca } : {}) });
  if (res.status !== 200) {
    if (o.nonce !== true && NO_NONCE_STATUS.has(res.status)) return {};
    const e = httpError(res, 'nonce request');
    if (res.status === 429 || (res.status >= 500 && res.status !== 501)) transientNonceAnswers.add(e);
    throw e;
  }
  const doc = parseJson(url, res, 'nonce request');
  const { val, iat, signature } = doc;
  if (typeof val !== 'string' || typeof iat !== 'string' || typeof signature !== 'string') {
    if (o.nonce === true) throw badAnswer(url, 'nonce request', 'lacks val, iat or signature');
    return {};
  }
  const valBytes = b64(url, val, 'nonce.val');
  const iatBytes = b64(url, iat, 'nonce.iat');
  checkNonceShape(url, valBytes, iatBytes); // a shape error is final: no fresh nonce mends a broker that writes them
  b64(url, signature, 'nonce.signature');
  const split = keyInNonceSplit(Buffer.concat([valBytes, iatBytes]), userData);
  return split === undefined ? { nonce: { val, iat, signature } } : { split };
}

/**
 * A nonce for this user_data: up to NONCE_SPLIT_MAX_NONCES requests while each nonce is refused only
 * because it splits into a key (keyInNonceSplit), then ERR_KBS_RESPONSE nonce-splits-to-key naming
 * how many were refused. Anything else a request meets ends it at once, as before.
 */
async function fetchUsableNonce(url: URL, o: KeyTransferOptions, timeoutMs: number, userData: Buffer): Promise<BrokerNonce | undefined> {
  let split: NonceSplit | undefined;
  for (let i = 0; i < NONCE_SPLIT_MAX_NONCES; i++) {
    const got = await fetchNonce(url, o, timeoutMs, userData);
    // A broker that offered a nonce and then offers none (nonce 'auto') must not turn a refused
    // nonce into a nonce-less transfer: the refusal stands (review s11 changes-e #5).
    if (got.split === undefined && got.nonce === undefined && split !== undefined) throw nonceSplitError(url, split, i);
    if (got.split === undefined) return got.nonce;
    split = got.split;
  }
  throw nonceSplitError(url, split!, NONCE_SPLIT_MAX_NONCES);
}

/** The random part of a broker nonce, in bytes (after base64): at least 128 bits, at most ITA's 64 bytes. */
export const NONCE_VAL_MIN_BYTES = 16;
export const NONCE_VAL_MAX_BYTES = 64;
/**
 * Intel Trust Authority's nonces since 2023 carry in `val` the base64 text (88 characters, padded) of
 * 64 random bytes, so the field is base64 twice; earlier ones carried the 64 bytes themselves. Only
 * the canonical text (Go's encoder writes nothing else): the last character before "==" carries 2
 * bits, its other 4 are zero, so it is one of A, Q, g, w.
 */
const ITA_TEXT_VAL = /^[A-Za-z0-9+/]{85}[AQgw]==$/;
export const ITA_TEXT_VAL_BYTES = 88;
/**
 * The longest iat NONCE_IAT accepts: Go's `YYYY-MM-DD hh:mm:ss.nnnnnnnnn +0000 UTC`. With ITA's
 * 88-byte text val a nonce has at most 127 bytes, under the 128 a raw-form key of a client's raw
 * user_data would need in front of it (review s11 #2; test/kbs-client/review-s11-nonce-split.test.ts).
 */
export const NONCE_IAT_MAX_BYTES = 39;
/**
 * The issue instant, as text: ISO 8601 in UTC as our broker writes it (`2026-01-02T03:04:05.678Z`),
 * or Go's time.String() of a UTC instant as ITA writes it (`2023-06-12 20:44:46 +0000 UTC`,
 * `2022-08-24 12:36:32.929722075 +0000 UTC`). Nothing else, and nothing after it.
 */
const NONCE_IAT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z| (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})? \+0000 UTC)$/;

/**
 * A nonce is hashed into REPORTDATA as val ‖ iat ‖ user_data with no lengths (ITA's rule, §5), so a
 * broker that stretched val or iat could end them with the first bytes of a key of its own and relay
 * our evidence to another broker, whose nonce and user_data split the same bytes elsewhere (review
 * s11 #1). Bounding val and holding iat to a timestamp leaves no room for a whole key after another
 * broker's nonce; a key that begins inside val and ends with our user_data is what keyInNonceSplit
 * finds (the second round of review s11). Either: ERR_KBS_RESPONSE.
 */
function checkNonceShape(url: URL, val: Buffer, iat: Buffer): void {
  const itaText = val.length === 88 && ITA_TEXT_VAL.test(val.toString('latin1'));
  const valBytes = itaText ? Buffer.from(val.toString('latin1'), 'base64').length : val.length;
  if (valBytes < NONCE_VAL_MIN_BYTES || valBytes > NONCE_VAL_MAX_BYTES) {
    throw badAnswer(url, 'nonce request', `has a nonce whose val holds ${val.length} bytes; ${NONCE_VAL_MIN_BYTES} to ${NONCE_VAL_MAX_BYTES} (or ITA's 88-character base64 text of 64 bytes) are accepted`, { reason: 'nonce-val', valBytes: val.length });
  }
  const text = iat.toString('latin1');
  const m = NONCE_IAT.exec(text);
  const parts = m === null ? [] : [m[1], m[2], m[3], m[4] ?? m[7], m[5] ?? m[8], m[6] ?? m[9]].map(Number);
  const [y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0] = parts;
  const day = new Date(Date.UTC(y, mo - 1, d));
  const calendar = m !== null && day.getUTCFullYear() === y && day.getUTCMonth() === mo - 1 && day.getUTCDate() === d && h < 24 && mi < 60 && s < 60;
  if (!calendar) {
    throw badAnswer(url, 'nonce request', `has a nonce whose iat is not an issue instant (ISO 8601 UTC, or "YYYY-MM-DD hh:mm:ss +0000 UTC"; ${iat.length} bytes)`, { reason: 'nonce-iat', iatBytes: iat.length });
  }
}

/**
 * The nonce must not let a broker read val ‖ iat ‖ user_data, from any offset inside val or iat, as a
 * requester key (nonce-split.ts; review s11 relay through a broker without nonces): ERR_KBS_RESPONSE,
 * once `refused` nonces in a row did (the last one's split in the details).
 */
function nonceSplitError(url: URL, split: NonceSplit, refused: number): KeyBrokerClientError {
  return badAnswer(
    url,
    'nonce request',
    `has a nonce that, hashed before our user_data, reads from byte ${split.offset} on as a ${split.bits}-bit RSA key (${split.form}) a broker would accept: evidence made for it could be relayed to another broker and released to that key (${refused} nonce(s) in a row refused so, none used)`,
    { reason: 'nonce-splits-to-key', offset: split.offset, form: split.form, noncesRefused: refused },
  );
}

function unwrap(url: URL, doc: Record<string, unknown>, privateKey: KeyObject): Buffer {
  const wrappedSwk = b64(url, doc['wrapped_swk'], 'wrapped_swk');
  const wrappedKey = b64(url, doc['wrapped_key'], 'wrapped_key');
  let swk: Buffer;
  try {
    swk = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrappedSwk);
  } catch (cause) {
    throw new KeyBrokerClientError('ERR_KBS_UNWRAP', `wrapped_swk from ${url.origin} does not decrypt with RSA-OAEP-SHA-256 under our key`, { cause, details: { url: url.origin } });
  }
  try {
    if (swk.length !== 32) throw new KeyBrokerClientError('ERR_KBS_UNWRAP', `the SWK from ${url.origin} is ${swk.length} bytes, expected 32`, { details: { url: url.origin } });
    try {
      return openBuffer(swk, wrappedKey);
    } catch (cause) {
      throw new KeyBrokerClientError('ERR_KBS_UNWRAP', `wrapped_key from ${url.origin} does not open with the SWK (${isModelError(cause) ? cause.code : 'error'})`, { cause, details: { url: url.origin } });
    }
  } finally {
    swk.fill(0); // the session key is needed only here (review s7)
  }
}

/**
 * The SEV-SNP certificate table to send as `cert_table` (this project's extension of ITA's request;
 * docs/kbs.md, Transfer): the provider's `auxblob` (configfs-tsm on SEV-SNP, the simulated SEV-SNP
 * TEE) whenever it gives one, for every SEV-SNP transfer. The broker then needs no KDS fetch for the
 * VCEK, and a report whose leaf only the evidence can carry (VLEK-signed, as on AWS; MASK_CHIP_KEY;
 * an all-zero CHIP_ID) is released at all. Never with TDX (our broker refuses it there, 400).
 */
function sendsCertTable(evidence: TeeEvidence): Buffer | undefined {
  return evidence.tee === 'snp' && evidence.auxblob !== undefined && evidence.auxblob.length > 0 ? Buffer.from(evidence.auxblob) : undefined;
}

/**
 * A broker that does not know `cert_table` refuses the whole request with 400: ours before session 15
 * (`unknown field(s): cert_table`, ERR_KBS_BAD_REQUEST), like ITA's JSON decoder (DisallowUnknownFields,
 * `json: unknown field "cert_table"`). Only such a refusal, naming the member, is read so; the start of
 * the error text only (the answer is the broker's, up to 1 MiB).
 */
function refusesCertTableMember(res: HttpResponse): boolean {
  if (res.status !== 400) return false;
  try {
    const doc = JSON.parse(res.body.toString('utf8')) as { error?: unknown } | null;
    const text = typeof doc?.error === 'string' ? doc.error.slice(0, 1024) : '';
    return /unknown field/i.test(text) && text.includes('cert_table');
  } catch {
    return false;
  }
}

/**
 * Whether a broker without `cert_table` could judge this report at all: false when its leaf can only
 * come with the evidence (leafOnlyInEvidence: VLEK-signed, MASK_CHIP_KEY, all-zero CHIP_ID; S05), or
 * when the bytes do not parse (then the broker's refusal of the member stands).
 */
function judgeableWithoutTable(report: Uint8Array): boolean {
  try {
    const parsed = parseEvidence(report, { encoding: 'binary' });
    return parsed.kind === 'snp' && leafOnlyInEvidence(parsed) === undefined;
  } catch {
    return false;
  }
}

async function attemptOnce(url: URL, o: KeyTransferOptions, timeoutMs: number): Promise<KeyTransferResult> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', { modulusLength: o.rsaBits ?? 3072, publicExponent: 0x10001 });
  const userDataForm = o.userDataForm ?? 'spki-der';
  // The bytes sent are the bytes hashed into REPORTDATA, whichever form (protocols.md §3, §5).
  const userData = userDataOf(publicKey, userDataForm);
  const nonce = o.nonce === false ? undefined : await fetchUsableNonce(url, o, timeoutMs, userData);
  const reportData = transferReportData(userData, nonce ? { val: Buffer.from(nonce.val, 'base64'), iat: Buffer.from(nonce.iat, 'base64') } : undefined);
  const evidence = await o.provider.getEvidence(reportData);
  const attestationType = attestationTypeOf(evidence.tee);
  const certTable = sendsCertTable(evidence);
  const fields = { quote: Buffer.from(evidence.evidence).toString('base64'), user_data: userData.toString('base64'), ...(nonce ? { nonce } : {}) };
  const send = (withTable: boolean): Promise<HttpResponse> =>
    post(url, Buffer.from(JSON.stringify({ ...fields, ...(withTable && certTable ? { cert_table: certTable.toString('base64') } : {}) })), {
      headers: { ...JSON_HEADERS, 'Attestation-Type': attestationType },
      timeoutMs,
      allowInsecureHttp: o.allowInsecureHttp === true,
      ...(o.ca ? { ca: o.ca } : {}),
    });
  let certTableSent = certTable !== undefined;
  let res = await send(certTableSent);
  // A broker from before cert_table (a mixed deployment, a model tool upgraded first): the same body once
  // more without it, when the broker can judge the report without its table (the VCEK fetched by chip id).
  // Our broker refuses the member before it reads the nonce, so the nonce is still unused; the evidence
  // goes to the broker it already went to. A report that needs its table keeps the refusal (400, naming it).
  if (certTable !== undefined && refusesCertTableMember(res) && judgeableWithoutTable(evidence.evidence)) {
    certTableSent = false;
    res = await send(false);
  }
  if (res.status !== 200) throw httpError(res, 'key transfer');
  const warnings = url.protocol === 'http:' ? [`the key broker ${url.origin} was reached over plain HTTP (allowInsecureHttp): anyone on the path could have answered as the broker`] : [];
  return { key: unwrap(url, parseJson(url, res, 'key transfer'), privateKey), transferUrl: url.toString(), attestationType, nonceUsed: nonce !== undefined, userDataForm, evidence, certTableSent, warnings };
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/**
 * Network failures, the deadline, 429/502/503/504, and 429 or any 5xx on the nonce request
 * (transientNonceAnswers): never the provider's errors, ours or a refusal.
 */
function retryable(e: unknown): boolean {
  if (e instanceof NetworkFailure || isDeadlineError(e)) return true;
  if (e instanceof KeyBrokerClientError && transientNonceAnswers.has(e)) return true;
  return e instanceof KeyBrokerClientError && e.code === 'ERR_KBS_HTTP' && RETRYABLE_STATUS.has(e.details['status'] as number);
}

/** Runs the transfer protocol and returns the released key. */
export async function requestKey(o: KeyTransferOptions): Promise<KeyTransferResult> {
  if (!o || !o.provider || typeof o.provider.getEvidence !== 'function') throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', 'requestKey needs an evidence provider');
  const url = transferUrlOf(o.url, o.keyId);
  checkBrokerTransport(url, o.allowInsecureHttp); // before any request or evidence
  const attempts = o.attempts ?? 3;
  const timeoutMs = o.timeoutMs ?? 10_000;
  if (!Number.isSafeInteger(attempts) || attempts < 1) throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', 'attempts must be a whole number >= 1', { details: { attempts: String(attempts) } });
  checkTimeoutMs(timeoutMs);
  if (o.userDataForm !== undefined && !USER_DATA_FORMS.includes(o.userDataForm)) {
    throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `userDataForm must be ${USER_DATA_FORMS.join(' or ')}`, { details: { userDataForm: String(o.userDataForm) } });
  }
  if (o.rsaBits !== undefined && !(Number.isSafeInteger(o.rsaBits) && o.rsaBits >= 2048 && o.rsaBits <= 8192 && o.rsaBits % 1024 === 0)) {
    throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', 'rsaBits must be 2048, 3072, 4096, … 8192 (a multiple of 1024)', { details: { rsaBits: String(o.rsaBits) } });
  }
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await attemptOnce(url, o, timeoutMs);
    } catch (e) {
      last = e;
      if (!retryable(e) || i === attempts - 1) break;
    }
  }
  if (!(last instanceof NetworkFailure)) throw last; // typed errors and the provider's own, unchanged
  const cause = last.cause;
  throw new KeyBrokerClientError('ERR_KBS_HTTP', `cannot reach the key broker at ${url.origin}: ${(cause as Error)?.message ?? String(cause)}`, { cause, details: { url: url.toString() } });
}

export { checkBrokerTransport } from './http.js';
export { brokerRefOf, type BrokerRef } from './broker-ref.js';
