/**
 * The client's judgement of one attestation answer, a pure function of the
 * answer, the nonce it sent, the certificate presented on the TLS connection
 * that carried the answer, the caller's policy, collateral and instant:
 *
 *   Step 1  the answer has the documented shape;
 *   Step 2  verifyEvidence passes (signatures, chain to the trust roots, collateral);
 *   Step 3  REPORTDATA = SHA-512(label ‖ our nonce ‖ SHA-256(SPKI of the presented certificate)):
 *           another nonce is a replay (T42 / S30), anything else a binding failure (T41 / S29);
 *   Step 4  evaluatePolicy passes (measurements, debug, TCB status, ...).
 *
 * On the vTPM path (the answer carries `vtpm`, vtpm-verify.ts) step 3 uses the
 * vTPM binding, which also commits to the bundle's attestation key, then the
 * bundle is verified with that key and the expected extraData (step 3b), and
 * step 4 also judges the policy's vtpm section with the caller's reference list.
 *
 * A refusal that judges the TEE (policy, debug, evidence, vTPM) is marked as a verdict on the TEE
 * that holds the presented key (judgesBoundTee) only when the evidence carries this connection's
 * binding: the client revokes an earlier trust in the key on those alone. A refusal caused by the
 * collateral (a bad signature, window, issuer chain or content of what a PCS / PCCS / KDS mirror
 * served: judgesCollateral) is never such a verdict.
 */
import { createPublicKey, hash, type KeyObject } from 'node:crypto';

import {
  CollateralUnavailableError,
  TeeVerifyError,
  evaluatePolicy,
  parseEvidence,
  parseSnpCertificateTable,
  verifyEvidence,
  type CollateralService,
  type Policy,
  type TrustRoots,
  type VerificationResult,
} from '../index.js';
import { isPinnedProductionRoots, replacedTrustRootsWarning } from '../attestation-service/appraise.js';
import { tdUnderDebug } from '../policy/td-debug.js';
import type { VtpmBundle } from '../vtpm/bundle.js';
import type { VtpmVerificationResult } from '../vtpm/verify.js';
import { checkLeafObtainable } from '../verify/snp/leaf-source.js';
import { bindingReportData, spkiSha256 } from './binding.js';
import { AttestationRefusedError } from './errors.js';
import { vtpmBindingReportData, vtpmQuoteExtraData } from './vtpm-binding.js';
import { isLocalFault } from './local-fault.js';
import { bundleOfAnswer, summariseVtpm, verifyVtpmPart, type VtpmClientOptions, type VtpmVerificationSummary } from './vtpm-verify.js';

export interface VerifyAnswerOptions {
  policy: Policy;
  collateral: CollateralService;
  /** Default: the production roots (Intel SGX Root CA, AMD ARK/ASK). */
  trustRoots?: TrustRoots;
  at: Date;
  /** The vTPM path's options: reference list, required bank. */
  vtpm?: VtpmClientOptions;
}

/** What the client established about the gateway. */
export interface GatewayVerification {
  tee: 'tdx' | 'sgx' | 'snp';
  tcbStatus: string | undefined;
  advisoryIds: string[];
  /** Measurement claims the policy judged (hex), e.g. mrTd, rtmr0..3 or measurement. */
  measurements: Record<string, string>;
  /** Debuggable: TDX DEBUG or any TUD bit (TDATTRIBUTES bits 7:0, policy/td-debug.ts), SGX DEBUG, SEV-SNP policy DEBUG. */
  debug: boolean;
  /** SHA-256 of the presented certificate's DER (its fingerprint), hex. */
  certificateSha256: string;
  /** SHA-256 of its SubjectPublicKeyInfo: the pinned key, hex. */
  spkiSha256: string;
  /** The instant of verification (ISO-8601) and the earliest collateral expiry. */
  at: string;
  validUntil: string;
  warnings: string[];
  /** Present when the gateway answered on the vTPM path and it verified. */
  vtpm?: VtpmVerificationSummary;
  /** Present when the evidence came in the certificate of the TLS handshake (AttestedClientOptions.handshakeEvidence). */
  evidenceIn?: 'handshake';
}

const MEASUREMENT_KEYS = ['mrTd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'mrConfigId', 'mrOwner', 'mrOwnerConfig', 'mrEnclave', 'mrSigner', 'measurement', 'hostData'];

function measurementsOf(claims: VerificationResult['claims']): Record<string, string> {
  const out: Record<string, string> = {};
  const c = claims as unknown as Record<string, unknown>;
  for (const k of MEASUREMENT_KEYS) if (typeof c[k] === 'string') out[k] = c[k] as string;
  for (const [i, v] of (Array.isArray(c['rtmrs']) ? (c['rtmrs'] as unknown[]) : []).entries()) if (typeof v === 'string') out[`rtmr${i}`] = v;
  return out;
}

/** A presented TLS certificate with the two digests the checks need, computed once per connection. */
export interface PresentedCertificate {
  der: Uint8Array;
  /** SHA-256 of the whole DER (the fingerprint), hex. */
  certificateSha256: string;
  /** SHA-256 of its SubjectPublicKeyInfo (the bound key). */
  spkiSha256: Buffer;
  /** The same, hex. */
  spkiSha256Hex: string;
}

/**
 * The presented certificate's digests. The SPKI hash is memoised by the
 * SHA-256 of the whole certificate DER (a collision-resistant key for a pure
 * function): exporting the key costs about as much as the quote's signature
 * checks, and a gateway presents the same certificate on every connection.
 * Bounded; the oldest entry goes first.
 *
 * `peer`: the certificate OpenSSL holds for the TLS peer
 * (`socket.getPeerX509Certificate()`); the SPKI hashed is then the key it
 * verified the handshake with, in that key's own encoding (read only on a
 * memo miss: building the KeyObject costs ~10 µs per connection). Without it (a caller that has only the DER), the
 * certificate's SPKI bytes as read strictly from the DER (binding.ts
 * spkiSha256: never a PEM-first parse, s17 finding).
 */
const SPKI_MEMO_MAX = 256;
const spkiMemo = new Map<string, { spki: Buffer; hex: string }>();
export function presentedCertificate(certificateDer: Uint8Array, peer?: { readonly publicKey: KeyObject }): PresentedCertificate {
  const certificateSha256 = hash('sha256', certificateDer, 'hex');
  const memoKey = `${peer ? 'k' : 'd'}${certificateSha256}`;
  let hit = spkiMemo.get(memoKey);
  if (!hit) {
    const spki = peer ? hash('sha256', peer.publicKey.export({ type: 'spki', format: 'der' }), 'buffer') : spkiSha256(certificateDer);
    hit = { spki, hex: spki.toString('hex') };
    if (spkiMemo.size >= SPKI_MEMO_MAX) spkiMemo.delete(spkiMemo.keys().next().value as string);
    spkiMemo.set(memoKey, hit);
  }
  return { der: certificateDer, certificateSha256, spkiSha256: hit.spki, spkiSha256Hex: hit.hex };
}

/**
 * Keys by the DER of their SubjectPublicKeyInfo, for certificates that change on every connection
 * while the key stays (evidence in the handshake): the decoded key, and the SHA-256 of the SPKI when
 * those bytes are the key's canonical encoding (what the gateway hashes: its OpenSSL export), else
 * null. Bounded; the oldest entry goes first.
 */
const SPAN_KEYS_MAX = 64;
const spanKeys = new Map<string, { key: KeyObject; spki: Buffer; hex: string } | null>();

/**
 * The digests of a presented certificate, its key taken from the SPKI span the strict DER reader
 * located (handshake-evidence.ts readPresentedCertificate), or undefined when that span cannot stand
 * for the handshake's key: it must be a canonical SPKI and decode to exactly `peerKey`, the key OpenSSL
 * verified the handshake with (KeyObject.equals, ~5 µs; exporting the peer key as SPKI costs ~110 µs
 * with OpenSSL 3, and the certificate is new on every connection, so no memo by certificate helps).
 */
export function presentedCertificateBySpan(certificateDer: Uint8Array, spkiSpan: Uint8Array, peerKey: KeyObject): PresentedCertificate | undefined {
  const span = Buffer.from(spkiSpan.buffer, spkiSpan.byteOffset, spkiSpan.length);
  const id = span.toString('base64');
  let entry = spanKeys.get(id);
  if (entry === undefined) {
    entry = null;
    try {
      // DER only (d2i_PUBKEY): never a parser that looks for PEM inside the bytes.
      const key = createPublicKey({ key: span, format: 'der', type: 'spki' });
      if (key.export({ type: 'spki', format: 'der' }).equals(span)) {
        const spki = hash('sha256', span, 'buffer');
        entry = { key, spki, hex: spki.toString('hex') };
      }
    } catch {
      entry = null;
    }
    if (spanKeys.size >= SPAN_KEYS_MAX) spanKeys.delete(spanKeys.keys().next().value as string);
    spanKeys.set(id, entry);
  }
  if (entry === null || !peerKey.equals(entry.key)) return undefined;
  return { der: certificateDer, certificateSha256: hash('sha256', certificateDer, 'hex'), spkiSha256: entry.spki, spkiSha256Hex: entry.hex };
}

/** spkiSha256 of a presented certificate (memoised, see presentedCertificate). */
export function presentedSpkiSha256(certificateDer: Uint8Array): Buffer {
  return presentedCertificate(certificateDer).spkiSha256;
}

const isPresented = (c: Uint8Array | PresentedCertificate): c is PresentedCertificate => !(c instanceof Uint8Array);

/**
 * Decodes base64 into bytes that own their memory: no copy after the decode
 * (a Buffer of this size is never carved from the shared pool, but if it were,
 * the bytes are copied out so no view on the pool reaches the verifier).
 */
function base64Bytes(text: string): Uint8Array {
  const b = Buffer.from(text, 'base64');
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) return new Uint8Array(b.buffer, 0, b.length);
  return new Uint8Array(b);
}

function field(o: Record<string, unknown>, name: string): string {
  const v = o[name];
  if (typeof v !== 'string' || v.length === 0) throw new AttestationRefusedError('ERR_ATTEST_EXCHANGE', `the attestation answer lacks "${name}"`);
  return v;
}

export { isLocalFault } from './local-fault.js';

async function verifyStep(evidence: Uint8Array, auxblob: Uint8Array | undefined, o: VerifyAnswerOptions): Promise<VerificationResult> {
  try {
    const certTable = auxblob && auxblob.length > 0 ? parseSnpCertificateTable(Buffer.isBuffer(auxblob) ? new Uint8Array(auxblob) : auxblob) : undefined;
    // Parsed once here: an SEV-SNP report whose leaf no source serves must carry it (S05, before any fetch).
    const parsed = parseEvidence(Buffer.isBuffer(evidence) ? new Uint8Array(evidence) : evidence);
    if (parsed.kind === 'snp') checkLeafObtainable(parsed, certTable);
    return await verifyEvidence(parsed, { collateral: o.collateral, at: o.at, ...(o.trustRoots ? { trustRoots: o.trustRoots } : {}), ...(certTable ? { certTable } : {}) });
  } catch (err) {
    // A fault of this client (the addon did not load, OpenSSL failed, a bad argument) judges nothing
    // about the gateway: passed through untouched, never ERR_ATTEST_EVIDENCE, never a verdict on the
    // TEE (VERDICTS_ON_A_TEE); chat exits 70 for it, as verify does (review s12 docs #2).
    if (isLocalFault(err)) throw err;
    if (err instanceof CollateralUnavailableError) throw new AttestationRefusedError('ERR_ATTEST_COLLATERAL_UNAVAILABLE', `collateral unavailable: ${err.message}`, { cause: err });
    if (err instanceof TeeVerifyError) throw new AttestationRefusedError('ERR_ATTEST_EVIDENCE', `evidence rejected (${err.code}): ${err.message}`, { ...(err.check ? { checks: [err.check] } : {}), cause: err });
    throw err;
  }
}

/** Refusal codes that judge a TEE (not the exchange, the binding or the collateral's availability). */
const VERDICTS_ON_A_TEE: ReadonlySet<string> = new Set(['ERR_ATTEST_POLICY', 'ERR_ATTEST_DEBUG', 'ERR_ATTEST_EVIDENCE', 'ERR_ATTEST_VTPM']);
const onBoundTee = new WeakSet<AttestationRefusedError>();

/**
 * `e` is a verdict on the TEE that holds the key presented on the connection: a refusal that judges
 * a TEE, about evidence that carries this connection's binding (our nonce, this key). Only the key's
 * holder can answer on that connection, so such a verdict ends the trust an earlier attestation gave
 * the key. Refusals before the binding is known (a malformed vTPM bundle) or about evidence bound to
 * something else are not.
 */
export function judgesBoundTee(e: unknown): boolean {
  return e instanceof AttestationRefusedError && onBoundTee.has(e);
}

function markBound(e: unknown): unknown {
  if (e instanceof AttestationRefusedError && VERDICTS_ON_A_TEE.has(e.code)) onBoundTee.add(e);
  return e;
}

/** Checks that judge a collateral document or its signer: Intel TCB info, QE identity and CRLs, the SEV-SNP CRL. */
const COLLATERAL_CHECKS: ReadonlySet<string> = new Set(['T13', 'T14', 'T16', 'T17', 'T18', 'T19', 'T20', 'T21', 'T45', 'T47', 'T48', 'S09']);
/** REVOKED by a genuine CRL at these is about the signer of TCB info / QE identity, not the platform. */
const COLLATERAL_SIGNER_REVOCATION: ReadonlySet<string> = new Set(['T16', 'T20']);

/**
 * Whether a refused verification judges the collateral rather than the TEE (review s11 client-coll
 * #3): a rogue or broken PCS / PCCS / KDS mirror can serve a document whose signature, window,
 * issuer chain or content fails, and it must not thereby revoke a good gateway's key. A genuine
 * CRL listing the platform's own certificate (T13, T14, S09 REVOKED) stays a verdict on the TEE.
 *
 * SEV-SNP certificates are judged one by one, by where each came from (review s11 changes-b #1):
 * the verifier names the item a failed certificate check judged and its origin
 * (details.collateralItem / collateralOrigin, verify/snp/attribution.ts). A VCEK / VLEK or ASK / ARK
 * the TEE sent in its certificate table (origin "evidence") that fails is a verdict; one fetched from
 * KDS, a mirror, a bundle or a cache, or the client's own pinned ARK / ASK (S07, S08), is not,
 * whatever else the answer carried. A fetched VCEK of another chip or TCB is refused where it enters
 * (ERR_COLLATERAL_MISMATCH, collateral/binding.ts); an S12 failure under a leaf whose SPLs or fetched
 * hwID bytes differ from the report's is attributed to that leaf (verify/snp/verify.ts), so any other
 * S12 failure means the report is not signed by the key of the chip and TCB it states: a verdict.
 * A report whose leaf no source can serve (VLEK-signed; a masked or all-zero CHIP_ID) and that
 * arrives without it in its table is an evidence defect (S05, verify/snp/leaf-source.ts): a verdict.
 * ERR_COLLATERAL_UNKNOWN_PLATFORM (KDS knows no such chip) is no verdict: a mirror can answer that
 * 404 for any chip, so a random CHIP_ID evades revocation (the documented trade-off,
 * docs/decisions.md "Review s11 — collateral URL, verifiers").
 */
function judgesCollateral(e: unknown): boolean {
  const err = e instanceof AttestationRefusedError ? e.cause : undefined;
  if (!(err instanceof TeeVerifyError)) return false;
  if (err.code.startsWith('ERR_COLLATERAL_') || err.errorClass.startsWith('COLLATERAL_')) return true;
  const check = err.check ?? '';
  if (err.errorClass === 'REVOKED') return COLLATERAL_SIGNER_REVOCATION.has(check);
  if (COLLATERAL_CHECKS.has(check)) return true;
  const item = err.details['collateralItem'];
  return typeof item === 'string' && err.details['collateralOrigin'] !== 'evidence';
}

/** REPORTDATA as the evidence states it (not authenticated: only to tell whose evidence a failed verification was about). */
function statedReportData(evidence: Uint8Array): Buffer | undefined {
  try {
    const e = parseEvidence(evidence);
    return Buffer.from(e.kind === 'snp' ? e.reportData : e.body.reportData);
  } catch {
    return undefined;
  }
}

/** The parts of an answer the checks need, whatever endpoint carried them. */
export interface BoundEvidence {
  evidence: Uint8Array;
  auxblob?: Uint8Array | undefined;
  /** The nonce the answer says it answers (base64), if it says so. */
  claimedNonce?: unknown;
  /** The vTPM path: the bundle and its attestation key. */
  vtpm?: ReturnType<typeof bundleOfAnswer>;
  /** How the TPM quote's extraData derives: SHA-256(REPORTDATA) on /v1/attestation, the nonce itself on /aTLS. */
  extraData?: 'report-data-sha256' | 'nonce';
}

/** `presented`: the certificate read from the TLS connection that carried the answer (DER, or presentedCertificate() of it). */
export async function verifyAttestationAnswer(answer: unknown, nonce: Buffer, presented: Uint8Array | PresentedCertificate, o: VerifyAnswerOptions): Promise<GatewayVerification> {
  // Step 1
  if (typeof answer !== 'object' || answer === null) throw new AttestationRefusedError('ERR_ATTEST_EXCHANGE', 'the attestation answer is not a JSON object');
  const a = answer as Record<string, unknown>;
  const evidence = base64Bytes(field(a, 'evidence'));
  const auxblob = typeof a['auxblob'] === 'string' ? base64Bytes(a['auxblob']) : undefined;
  const preimage = (typeof a['reportDataPreimage'] === 'object' && a['reportDataPreimage'] !== null ? a['reportDataPreimage'] : {}) as Record<string, unknown>;
  const vtpm = a['vtpm'] === undefined ? undefined : bundleOfAnswer(a['vtpm']);
  return verifyBoundEvidence({ evidence, auxblob, claimedNonce: preimage['nonce'], ...(vtpm ? { vtpm } : {}) }, nonce, presented, o);
}

/** Steps 2-4 (and 3b on the vTPM path) on evidence from any endpoint of this gateway. */
export async function verifyBoundEvidence(parts: BoundEvidence, nonce: Buffer, presentedCert: Uint8Array | PresentedCertificate, o: VerifyAnswerOptions): Promise<GatewayVerification> {
  const presented = isPresented(presentedCert) ? presentedCert : presentedCertificate(presentedCert);
  const { evidence, auxblob, vtpm } = parts;
  // The binding of THIS connection (step 3): against its certificate, never the one the answer names
  const spki = presented.spkiSha256;
  const expectedBytes = vtpm ? vtpmBindingReportData(nonce, spki, vtpm.akSha256) : bindingReportData(nonce, spki);
  const expected = expectedBytes.toString('hex');
  // Step 2. Refused evidence judges the key's TEE only when it states this binding: the answer came
  // over a connection only the key's holder can answer on, for our fresh nonce, so that holder
  // presented this failing evidence as its own (an authenticated REPORTDATA is not needed for that).
  let result: VerificationResult;
  try {
    result = await verifyStep(evidence, auxblob, o);
  } catch (e) {
    // Collateral that fails its own checks judges the collateral source, never the key's TEE.
    if (statedReportData(evidence)?.equals(expectedBytes) && !judgesCollateral(e)) markBound(e);
    throw e;
  }
  // Step 3
  const freshness = result.claims.kind === 'snp' ? 'S30' : 'T42';
  const binding = result.claims.kind === 'snp' ? 'S29' : 'T41';
  if (result.claims.reportData.toLowerCase() !== expected) {
    if (typeof parts.claimedNonce === 'string' && parts.claimedNonce !== nonce.toString('base64')) {
      throw new AttestationRefusedError('ERR_ATTEST_REPLAY', 'the evidence answers another nonce (replayed evidence)', { checks: [freshness] });
    }
    const what = vtpm ? 'the TLS certificate presented on this connection and the attestation key of the vTPM bundle' : 'the TLS certificate presented on this connection';
    throw new AttestationRefusedError('ERR_ATTEST_BINDING', `the evidence is not bound to ${what}`, { checks: [binding] });
  }
  try {
    return await judgeBound(result, parts, nonce, presented, expectedBytes, o);
  } catch (e) {
    throw markBound(e); // the binding passed: a verdict from here on is about the key's TEE
  }
}

/**
 * On every verification judged under other anchors than the pinned Intel / AMD production roots
 * (by the certificates' bytes, as `tee-verify serve` decides), in serve's words
 * (attestation-service/appraise.ts); `tee-verify chat` prints it with the verification (s13 parity #1).
 */
export { replacedTrustRootsWarning }; // the one text, from the attestation service (s13 parity #1)

/** Steps 3b and 4, once the hardware evidence verified and carries this connection's binding. */
async function judgeBound(result: VerificationResult, parts: BoundEvidence, nonce: Buffer, presented: PresentedCertificate, expectedBytes: Buffer, o: VerifyAnswerOptions): Promise<GatewayVerification> {
  const { vtpm } = parts;
  const expected = expectedBytes.toString('hex');
  // Step 3b: the TPM quote by the key the hardware just bound, with the extraData derived from the same binding
  let vtpmResult: VtpmVerificationResult | undefined;
  if (vtpm) {
    const extraData = parts.extraData === 'nonce' ? nonce : vtpmQuoteExtraData(expectedBytes);
    vtpmResult = await verifyVtpmPart(vtpm.bundle as VtpmBundle, vtpm.akPublic, extraData, { at: o.at, ...(o.vtpm ? { vtpm: o.vtpm } : {}) });
  }
  // Step 4
  const reference = o.vtpm?.reference;
  const appraisal = evaluatePolicy(result, o.policy, { reportData: expected, now: o.at, ...(vtpmResult ? { vtpm: { ...vtpmResult.appraisal, ...(reference ? { reference } : {}) } } : {}) });
  if (!appraisal.ok) {
    const checks = appraisal.violations.map((v) => v.check);
    const violations = appraisal.violations.map((v) => ({ check: v.check, path: v.path, expected: v.expected, actual: v.actual, message: v.message }));
    const debug = checks.includes('T34') || checks.includes('S21');
    throw new AttestationRefusedError(debug ? 'ERR_ATTEST_DEBUG' : 'ERR_ATTEST_POLICY', `the gateway does not meet the policy: ${appraisal.violations.map((v) => `${v.check} ${v.path}`).join(', ')}`, { checks, violations });
  }
  const c = result.claims;
  return {
    tee: result.tee,
    tcbStatus: result.tcbStatus,
    advisoryIds: result.advisoryIds,
    measurements: measurementsOf(result.claims),
    // td-debug.ts for TDX (DEBUG or a TUD bit, T34), as the policy check, the EAR and the key broker (s13 parity #3).
    debug: c.kind === 'tdx' ? tdUnderDebug(c) : c.kind === 'snp' ? c.policy.debug : c.debug,
    certificateSha256: presented.certificateSha256,
    spkiSha256: presented.spkiSha256Hex,
    at: result.at,
    validUntil: result.collateral.earliestExpiry,
    warnings: [...result.warnings, ...(isPinnedProductionRoots(o.trustRoots) ? [] : [replacedTrustRootsWarning(result.trustRoots)]), ...(vtpmResult?.warnings ?? []), ...appraisal.warnings],
    ...(vtpmResult && vtpm ? { vtpm: summariseVtpm(vtpmResult, vtpm.akSha256, reference) } : {}),
  };
}
