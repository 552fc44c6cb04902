/**
 * The GENXT-style aTLS drop-in (protocols.md §8.3, §10.4; docs/gateway.md "POST /aTLS"):
 *
 *   POST /aTLS {"nonce": "<standard base64 of 16-32 random bytes>"}
 *   → {"evidence": {"report", "quote": {"message", "signature", "pcr_banks"},
 *                   "cgpu_attestation", "module_load_order", "tee_verify"},
 *      "certificate": "<PEM>"}
 *
 * Only on a gateway with a vTPM provider. The hardware REPORTDATA is the vTPM
 * binding (nonce, TLS key, AK: vtpm-binding.ts); the TPM quote's extraData is
 * the raw nonce, as the GENXT client checks it. `tee_verify` carries what a
 * verifier needs beyond that shape (TEE, auxblob, AK public area, logs,
 * preimage). The GENXT client itself is a closed binary; `attestAtls` is this
 * project's client for the same shape and verifies it like /v1/attestation.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

import { TeeVerifyError } from '../errors.js';
import type { VtpmBundle } from '../vtpm/bundle.js';
import { parseImaBinaryList, parseTcgEventLog, parseTpmPublic, parseTpmQuote, parseTpmSignature } from '../vtpm/parse.js';
import { extractBootComponents } from '../vtpm/boot-components.js';
import { TpmAlg, type TpmHashName } from '../vtpm/types.js';
import { loadPolicy } from '../policy/index.js';
import type { AttestationContext } from './attestation.js';
import { GatewayError, AttestationRefusedError } from './errors.js';
import { exchangeOnSocket } from './inband.js';
import { answerExcerpt, jsonShapeRefusal } from './json-guard.js';
import { bundleOfAnswer, vtpmClientOptions, type VtpmCallerOptions } from './vtpm-verify.js';
import { vtpmEvidenceFor, vtpmProviderOf } from './vtpm-attestation.js';
import { VTPM_BINDING_LABEL } from './vtpm-binding.js';
import { presentedSpkiSha256, verifyBoundEvidence, type GatewayVerification, type VerifyAnswerOptions } from './verify.js';
import { spkiSha256 } from './binding.js';
import { certificatePem as pemOfDer, leafCertificatePem } from './tls.js';

export const ATLS_PATH = '/aTLS';
export const ATLS_FORMAT = 'tee-verify/atls@1';
/** The nonce is the TPM quote's extraData: at most 32 bytes fit TPM2B_DATA on every TPM with SHA-256. */
export const ATLS_NONCE_MIN_BYTES = 16;
export const ATLS_NONCE_MAX_BYTES = 32;

const STD_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Bank names as the GENXT client prints them (Rust enum variants). */
const ALGO_NAME: Record<string, string> = { sha1: 'Sha1', sha256: 'Sha256', sha384: 'Sha384', sha512: 'Sha512' };
const BANK_OF: Record<string, TpmHashName> = { Sha1: 'sha1', Sha256: 'sha256', Sha384: 'sha384', Sha512: 'sha512' };
const KERNEL_MODULE = /\.ko(\.(xz|zst|gz))?$/;

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

function parseAtlsNonce(body: Buffer): Buffer {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, 'the body is not JSON');
  }
  const v = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>)['nonce'] : undefined;
  // Canonical only (review s8 D4): nonzero pad bits would give one nonce several spellings.
  if (typeof v !== 'string' || !STD_B64.test(v) || Buffer.from(v, 'base64').toString('base64') !== v) throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, 'the body must be {"nonce": "<standard base64>"}');
  const nonce = Buffer.from(v, 'base64');
  if (nonce.length < ATLS_NONCE_MIN_BYTES || nonce.length > ATLS_NONCE_MAX_BYTES) {
    throw new GatewayError('ERR_GATEWAY_BAD_REQUEST', 400, `"nonce" must decode to ${ATLS_NONCE_MIN_BYTES} to ${ATLS_NONCE_MAX_BYTES} bytes`);
  }
  return nonce;
}

/** The raw signature inside a TPMT_SIGNATURE (RSA: the signature; ECDSA: r ‖ s, each at the curve size). */
function rawSignature(tpmtSignature: Uint8Array): Uint8Array {
  const sig = parseTpmSignature(tpmtSignature);
  if (sig.scheme !== 'ecdsa') return sig.rsaSignature ?? new Uint8Array(0);
  const r = sig.ecdsaR ?? new Uint8Array(0);
  const s = sig.ecdsaS ?? new Uint8Array(0);
  const size = Math.max(r.length, s.length) > 32 ? 48 : 32;
  const fixed = (v: Uint8Array): Uint8Array => {
    const digits = v.length > size ? v.subarray(v.length - size) : v;
    const out = new Uint8Array(size);
    out.set(digits, size - digits.length);
    return out;
  };
  return Buffer.concat([fixed(r), fixed(s)]);
}

/** The PCR values of each bank as the GENXT shape lists them: all 24, index = PCR. */
function pcrBanksOf(bundle: VtpmBundle): { algo: string; pcr_values: string[] }[] {
  return Object.entries(bundle.tpm.pcrs).map(([bank, values]) => {
    const list = Array.from({ length: 24 }, (_, i) => values?.[String(i)]);
    if (list.some((v) => v === undefined)) throw new GatewayError('ERR_GATEWAY_EVIDENCE_PROVIDER', 503, `the /aTLS shape lists PCRs 0-23; the vTPM quoted only some ${bank} PCRs`);
    return { algo: ALGO_NAME[bank] ?? bank, pcr_values: list.map((v) => hex(v!)) };
  });
}

/** Informational: the kernel GRUB booted and the kernel modules in IMA order (both covered only through the replayed logs). */
function moduleLoadOrder(bundle: VtpmBundle): { kernel: string | null; order: string[] } {
  let kernel: string | null = null;
  const order: string[] = [];
  try {
    if (bundle.eventLog) kernel = extractBootComponents(parseTcgEventLog(bundle.eventLog)).kernels?.[0]?.path ?? null;
    if (bundle.ima && 'binary' in bundle.ima) for (const e of parseImaBinaryList(bundle.ima.binary)) if (e.path && KERNEL_MODULE.test(e.path)) order.push(e.path);
  } catch {
    // Informational only: the verifier parses and replays the logs itself.
  }
  return { kernel, order };
}

/** POST /aTLS. */
export async function answerAtls(ctx: AttestationContext, body: Buffer, client?: string): Promise<Record<string, unknown>> {
  const provider = vtpmProviderOf(ctx);
  if (!provider) throw new GatewayError('ERR_GATEWAY_NOT_FOUND', 404, 'POST /aTLS needs a gateway with a vTPM (--vtpm or --simulated-vtpm)');
  const nonce = parseAtlsNonce(body);
  ctx.limiter.takeOrRefuse(client);
  const { evidence, akSha256 } = await vtpmEvidenceFor(ctx, provider, nonce, 'nonce');
  const { hardware, bundle } = evidence;
  const quote = bundle.tpm.quotes[0];
  const ak = bundle.tpm.ak;
  if (!quote || bundle.tpm.quotes.length !== 1 || !ak || !('public' in ak)) {
    throw new GatewayError('ERR_GATEWAY_EVIDENCE_PROVIDER', 503, 'the /aTLS shape carries exactly one TPM quote and the AK public area');
  }
  const ima = bundle.ima;
  return {
    evidence: {
      report: hex(hardware.evidence),
      quote: { message: hex(quote.attest), signature: hex(rawSignature(quote.signature)), pcr_banks: pcrBanksOf(bundle) },
      cgpu_attestation: null,
      module_load_order: moduleLoadOrder(bundle),
      tee_verify: {
        format: ATLS_FORMAT,
        tee: hardware.tee,
        ...(hardware.auxblob ? { auxblob: b64(hardware.auxblob) } : {}),
        ak_public: b64(ak.public),
        ...(bundle.eventLog ? { event_log: b64(bundle.eventLog) } : {}),
        ...(ima ? ('binary' in ima ? { ima: b64(ima.binary), ...(ima.templateDigest ? { ima_template_digest: ima.templateDigest } : {}) } : { ima_ascii: ima.ascii }) : {}),
        report_data_preimage: { label: b64(VTPM_BINDING_LABEL), nonce: nonce.toString('base64'), spki_sha256: ctx.spkiHash.toString('hex'), ak_sha256: akSha256.toString('hex') },
        extra_data: 'nonce',
      },
    },
    certificate: leafCertificatePem(ctx.certificatePem),
  };
}

// ---------------------------------------------------------------- client

function refuse(message: string, cause?: unknown): never {
  throw new AttestationRefusedError('ERR_ATTEST_EXCHANGE', `aTLS answer: ${message}`, cause === undefined ? {} : { cause });
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) refuse(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

function hexField(o: Record<string, unknown>, name: string): Buffer {
  const v = o[name];
  if (typeof v !== 'string' || v.length === 0 || v.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(v)) refuse(`"${name}" is not hex`);
  return Buffer.from(v, 'hex');
}

function b64Field(o: Record<string, unknown>, name: string, required: boolean): Buffer | undefined {
  const v = o[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || !STD_B64.test(v)) refuse(`"${name}" is not standard base64`);
  return Buffer.from(v, 'base64');
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

/** TPMT_SIGNATURE from the raw signature and the AK's scheme (the GENXT shape sends the raw signature). */
function tpmtSignature(raw: Buffer, akPublic: Uint8Array): Buffer {
  const pub = parseTpmPublic(akPublic);
  if (pub.schemeAlg === TpmAlg.NULL) refuse('the attestation key names no signing scheme, so the raw signature cannot be interpreted');
  const head = Buffer.concat([u16(pub.schemeAlg), u16(pub.schemeHashAlg)]);
  if (pub.schemeAlg === TpmAlg.ECDSA) {
    if (raw.length % 2 !== 0) refuse('the ECDSA signature is not r ‖ s');
    const half = raw.length / 2;
    return Buffer.concat([head, u16(half), raw.subarray(0, half), u16(half), raw.subarray(half)]);
  }
  return Buffer.concat([head, u16(raw.length), raw]);
}

/** The aTLS answer as the parts verifyBoundEvidence checks, and the certificate it names. */
export function atlsAnswerParts(answer: unknown): { parts: Parameters<typeof verifyBoundEvidence>[0]; certificatePem: string } {
  const a = obj(answer, 'the answer');
  const ev = obj(a['evidence'], '"evidence"');
  const q = obj(ev['quote'], '"evidence.quote"');
  const t = obj(ev['tee_verify'], '"evidence.tee_verify" (this gateway\'s extension)');
  if (t['format'] !== ATLS_FORMAT) refuse(`"tee_verify.format" is not ${ATLS_FORMAT}`);
  if (t['extra_data'] !== 'nonce') refuse('"tee_verify.extra_data" is not "nonce"');
  const certificatePem = a['certificate'];
  if (typeof certificatePem !== 'string' || !certificatePem.includes('-----BEGIN CERTIFICATE-----')) refuse('"certificate" is not a PEM certificate');
  const akPublic = b64Field(t, 'ak_public', true)!;
  const pcrs: Record<string, Record<string, string>> = {};
  const banks = q['pcr_banks'];
  if (!Array.isArray(banks) || banks.length === 0) refuse('"quote.pcr_banks" is not a non-empty list');
  for (const entry of banks) {
    const e = obj(entry, 'a "pcr_banks" entry');
    const bank = typeof e['algo'] === 'string' ? BANK_OF[e['algo']] : undefined;
    const values = e['pcr_values'];
    if (!bank || !Array.isArray(values) || values.length !== 24 || values.some((v) => typeof v !== 'string')) refuse('a "pcr_banks" entry is not {algo, pcr_values: 24 hex values}');
    pcrs[bank] = Object.fromEntries((values as string[]).map((v, i) => [String(i), v.toLowerCase()]));
  }
  const message = hexField(q, 'message');
  const signature = tpmtSignature(hexField(q, 'signature'), akPublic);
  const eventLog = b64Field(t, 'event_log', false);
  const ima = b64Field(t, 'ima', false);
  const preimage = typeof t['report_data_preimage'] === 'object' && t['report_data_preimage'] !== null ? (t['report_data_preimage'] as Record<string, unknown>) : {};
  let extraData: Uint8Array;
  try {
    extraData = parseTpmQuote(new Uint8Array(message)).extraData;
  } catch (err) {
    refuse(`"quote.message" is not a TPMS_ATTEST (${err instanceof TeeVerifyError ? err.code : String(err)})`, err);
  }
  // The bundle document verifyVtpmEvidence reads (strictly, again).
  const bundleDoc = {
    format: 'tee-verify/vtpm-bundle@1',
    nonce: Buffer.from(extraData).toString('base64'),
    tpm: { ak: { public: akPublic.toString('base64') }, quotes: [{ attest: message.toString('base64'), signature: signature.toString('base64') }], pcrs },
    ...(eventLog ? { eventLog: eventLog.toString('base64') } : {}),
    ...(ima ? { ima: { binary: ima.toString('base64'), ...(typeof t['ima_template_digest'] === 'string' ? { templateDigest: t['ima_template_digest'] } : {}) } } : {}),
  };
  const auxblob = b64Field(t, 'auxblob', false);
  return {
    parts: { evidence: hexField(ev, 'report'), ...(auxblob ? { auxblob } : {}), claimedNonce: preimage['nonce'], vtpm: bundleOfAnswer(bundleDoc), extraData: 'nonce' },
    certificatePem,
  };
}

/**
 * Verifies an aTLS answer: the certificate it names must carry the key of the
 * certificate presented on the connection that carried it, then the checks of
 * /v1/attestation with the vTPM binding (extraData = the nonce).
 */
export async function verifyAtlsAnswer(answer: unknown, nonce: Buffer, presentedCertDer: Uint8Array, o: VerifyAnswerOptions): Promise<GatewayVerification & { certificatePem: string }> {
  const { parts, certificatePem } = atlsAnswerParts(answer);
  let named: Buffer;
  try {
    named = spkiSha256(certificatePem);
  } catch (err) {
    refuse('"certificate" does not parse', err);
  }
  if (!named.equals(presentedSpkiSha256(presentedCertDer))) {
    throw new AttestationRefusedError('ERR_ATTEST_BINDING', 'the aTLS answer names a certificate whose key is not the one presented on this connection', { checks: ['T41'] });
  }
  const v = await verifyBoundEvidence(parts, nonce, presentedCertDer, o);
  // The certificate to pin is the one this connection presented and the attestation covers, alone:
  // the named PEM may hold more certificates (a chain file), and pinning those would trust them too.
  return { ...v, certificatePem: pemOfDer(presentedCertDer) };
}

export interface AtlsClientOptions extends Omit<VerifyAnswerOptions, 'at' | 'policy' | 'vtpm'>, VtpmCallerOptions {
  policy: VerifyAnswerOptions['policy'] | string | object;
  /** The instant of verification, or a clock read once per attestation (as AttestedClientOptions.at). */
  at?: Date | (() => Date);
  /** The TLS handshake's and the exchange's bound, each; default 30 s. */
  timeoutMs?: number;
  /** Default 64 MiB (the answer carries the logs). */
  maxAnswerBytes?: number;
  /** The nonce to send (default 32 random bytes); tests pass their own. */
  nonce?: Buffer;
}

/**
 * This project's aTLS client: POST /aTLS over TLS to the gateway, verify the
 * answer against the certificate presented on that connection, and return
 * the verified certificate to pin (as the GENXT client pins it).
 */
export async function attestAtls(gatewayUrl: string | URL, o: AtlsClientOptions): Promise<GatewayVerification & { certificatePem: string }> {
  const url = new URL(gatewayUrl);
  if (url.protocol !== 'https:') throw new RangeError('the gateway URL must be https:');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const nonce = o.nonce ?? Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(32)));
  const timeoutMs = o.timeoutMs ?? 30_000;
  // The caller's policy and vTPM options are checked before anything is sent (review s14): a bad
  // option is the caller's fault, found without costing the gateway an evidence request.
  const policy = loadPolicy(o.policy as object);
  const vtpm = vtpmClientOptions(policy, o);
  const socket = tlsConnect({ host, port: Number(url.port) || 443, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], ...(isIP(host) ? {} : { servername: host }) });
  try {
    await new Promise<void>((resolve, reject) => {
      // timeoutMs bounds the handshake too: a server that never answers the ClientHello must not hang the client.
      const handshake = setTimeout(() => socket.destroy(new Error(`TLS handshake not done within ${timeoutMs} ms`)), timeoutMs);
      socket.once('secureConnect', () => {
        clearTimeout(handshake);
        resolve();
      });
      socket.once('error', (e) => {
        clearTimeout(handshake);
        reject(new AttestationRefusedError('ERR_ATTEST_EXCHANGE', `TLS connection to ${url.host} failed: ${e.message}`, { cause: e }));
      });
    });
    const raw = socket.getPeerX509Certificate()?.raw;
    if (!raw) throw new AttestationRefusedError('ERR_ATTEST_PINNING', 'no peer certificate');
    const res = await exchangeOnSocket(socket, url.host, ATLS_PATH, JSON.stringify({ nonce: nonce.toString('base64') }), {
      maxHeaderBytes: 16 * 1024,
      maxBodyBytes: o.maxAnswerBytes ?? 64 << 20,
      timeoutMs,
    });
    res.release();
    // A non-200 body is not parsed, and only its start is decoded (for the message).
    if (res.status !== 200) throw new AttestationRefusedError('ERR_ATTEST_EXCHANGE', `the gateway answered ${res.status} to ${ATLS_PATH}: ${answerExcerpt(res.body)}`);
    // Before JSON.parse (s15 red team, gateway finding 1): a hostile answer's shape must not cost more than its size.
    const shape = jsonShapeRefusal(res.body);
    if (shape !== undefined) refuse(`refused before parsing: ${shape}`);
    let answer: unknown;
    try {
      answer = JSON.parse(res.body.toString('utf8'));
    } catch (e) {
      throw new AttestationRefusedError('ERR_ATTEST_EXCHANGE', 'the aTLS answer is not JSON', { cause: e });
    }
    const verify: VerifyAnswerOptions = { policy, collateral: o.collateral, at: typeof o.at === 'function' ? o.at() : (o.at ?? new Date()), vtpm, ...(o.trustRoots ? { trustRoots: o.trustRoots } : {}) };
    return await verifyAtlsAnswer(answer, nonce, new Uint8Array(raw), verify);
  } finally {
    socket.destroy();
  }
}

/** The pinned certificate's SHA-256 fingerprint (what a pinning client compares). */
export function certificateFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}
