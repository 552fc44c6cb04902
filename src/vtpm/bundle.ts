/**
 * The vTPM evidence bundle (docs/vtpm.md): one strict JSON document with the
 * hardware evidence (Azure HCL report, TD quote, certificates), the TPM
 * attestation key, quotes and PCR values, the boot event log, the IMA list
 * and the nonce. Unknown fields, wrong types, non-canonical base64 / hex and
 * sizes above the bounds are ERR_VTPM_BUNDLE with `details.path` (a JSON
 * pointer). Binary members are base64 (RFC 4648 §4, padded, no whitespace).
 */
import { parseStrictJson } from '../collateral/strict-json.js';
import { TeeVerifyError } from '../errors.js';
import { splitPemCertificates } from '../x509/index.js';
import { vtpmFail } from './errors.js';
import type { TpmHashName } from './types.js';

export const VTPM_BUNDLE_FORMAT = 'tee-verify/vtpm-bundle@1';

/** Bounds (decoded sizes). The whole document is capped first. */
export const VTPM_BUNDLE_LIMITS = {
  document: 96 * 1024 * 1024,
  nonce: 64,
  hclReport: 8 * 1024,
  tdQuote: 64 * 1024,
  certificates: 64 * 1024,
  akPublic: 1024,
  akPem: 8 * 1024,
  quotes: 8,
  attest: 1024,
  signature: 1024,
  eventLog: 16 * 1024 * 1024,
  ima: 64 * 1024 * 1024,
} as const;

const PCR_BANKS: Record<string, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };
const MAX_PCR_INDEX = 23;

export type BundleAk = { public: Uint8Array } | { pem: string };

export interface VtpmBundle {
  nonce?: Uint8Array;
  hardware?: {
    /** Azure HCL report (vTPM NV index 0x01400001). */
    hclReport: Uint8Array;
    /** Azure TDX: the TD quote of the HCL's TD report. */
    tdQuote?: Uint8Array;
    /** SEV-SNP: VCEK / VLEK (and ASK, ARK) DER, from the PEM text in the bundle. */
    certificates?: Uint8Array[];
    /** The PEM text as given (kept for re-serialisation). */
    certificatesPem?: string;
  };
  tpm: {
    ak?: BundleAk;
    quotes: { attest: Uint8Array; signature: Uint8Array }[];
    pcrs: Partial<Record<TpmHashName, Record<string, Uint8Array>>>;
  };
  eventLog?: Uint8Array;
  /** Binary list: `templateDigest` is the template hash of the list (default sha1, binary_runtime_measurements; sha256 for the kernel's per-bank _sha256 list). */
  ima?: { binary: Uint8Array; templateDigest?: 'sha1' | 'sha256' | 'sha384' | 'sha512' } | { ascii: string };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function bad(path: string, message: string): never {
  return vtpmFail('ERR_VTPM_BUNDLE', `bundle ${path || '/'}: ${message}`, { path });
}

type Obj = Record<string, unknown>;

function object(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'must be an object');
  return v as Obj;
}

function onlyKeys(o: Obj, path: string, allowed: readonly string[], required: readonly string[] = []): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) bad(`${path}/${k}`, 'unknown field');
  for (const k of required) if (!(k in o)) bad(`${path}/${k}`, 'missing');
}

function text(v: unknown, path: string, max: number): string {
  if (typeof v !== 'string') bad(path, 'must be a string');
  if (v.length > max) bad(path, `longer than ${max} characters`);
  return v;
}

function base64(v: unknown, path: string, maxBytes: number, minBytes = 1): Uint8Array {
  const s = text(v, path, Math.ceil(maxBytes / 3) * 4);
  if (!BASE64.test(s)) bad(path, 'not canonical base64 (RFC 4648 §4, padded, no whitespace)');
  const bytes = new Uint8Array(Buffer.from(s, 'base64'));
  // A non-zero pad bit decodes the same as a zero one: only the canonical text is accepted.
  if (Buffer.from(bytes).toString('base64') !== s) bad(path, 'not canonical base64 (non-zero padding bits)');
  if (bytes.length < minBytes) bad(path, `shorter than ${minBytes} byte${minBytes === 1 ? '' : 's'}`);
  if (bytes.length > maxBytes) bad(path, `longer than ${maxBytes} bytes`);
  return bytes;
}

function parseAk(v: unknown, path: string): BundleAk {
  const o = object(v, path);
  const keys = Object.keys(o);
  if (keys.length !== 1 || (keys[0] !== 'public' && keys[0] !== 'pem')) bad(path, 'must be {"public": base64 TPMT_PUBLIC} or {"pem": SPKI PEM}');
  if (keys[0] === 'public') return { public: base64(o['public'], `${path}/public`, VTPM_BUNDLE_LIMITS.akPublic) };
  return { pem: text(o['pem'], `${path}/pem`, VTPM_BUNDLE_LIMITS.akPem) };
}

function parseQuotes(v: unknown, path: string): VtpmBundle['tpm']['quotes'] {
  if (!Array.isArray(v)) bad(path, 'must be an array');
  if (v.length === 0 || v.length > VTPM_BUNDLE_LIMITS.quotes) bad(path, `must hold 1 to ${VTPM_BUNDLE_LIMITS.quotes} quotes`);
  return v.map((q, i) => {
    const o = object(q, `${path}/${i}`);
    onlyKeys(o, `${path}/${i}`, ['attest', 'signature'], ['attest', 'signature']);
    return { attest: base64(o['attest'], `${path}/${i}/attest`, VTPM_BUNDLE_LIMITS.attest), signature: base64(o['signature'], `${path}/${i}/signature`, VTPM_BUNDLE_LIMITS.signature) };
  });
}

function parsePcrs(v: unknown, path: string): VtpmBundle['tpm']['pcrs'] {
  const o = object(v, path);
  const out: VtpmBundle['tpm']['pcrs'] = {};
  for (const [bank, values] of Object.entries(o)) {
    const size = PCR_BANKS[bank];
    if (size === undefined) bad(`${path}/${bank}`, 'unknown bank (sha1, sha256, sha384, sha512)');
    const m: Record<string, Uint8Array> = {};
    for (const [index, value] of Object.entries(object(values, `${path}/${bank}`))) {
      const p = `${path}/${bank}/${index}`;
      if (!/^(?:0|[1-9][0-9]?)$/.test(index) || Number(index) > MAX_PCR_INDEX) bad(p, `PCR index must be 0 to ${MAX_PCR_INDEX} in decimal`);
      const hex = text(value, p, 2 * size);
      if (hex.length !== 2 * size || !/^[0-9a-f]+$/.test(hex)) bad(p, `must be ${2 * size} lowercase hex digits`);
      m[index] = new Uint8Array(Buffer.from(hex, 'hex'));
    }
    out[bank as TpmHashName] = m;
  }
  return out;
}

function parseHardware(v: unknown, path: string): NonNullable<VtpmBundle['hardware']> {
  const o = object(v, path);
  onlyKeys(o, path, ['hclReport', 'tdQuote', 'certificates'], ['hclReport']);
  const out: NonNullable<VtpmBundle['hardware']> = { hclReport: base64(o['hclReport'], `${path}/hclReport`, VTPM_BUNDLE_LIMITS.hclReport) };
  if (o['tdQuote'] !== undefined) out.tdQuote = base64(o['tdQuote'], `${path}/tdQuote`, VTPM_BUNDLE_LIMITS.tdQuote);
  if (o['certificates'] !== undefined) {
    const pem = text(o['certificates'], `${path}/certificates`, VTPM_BUNDLE_LIMITS.certificates);
    try {
      out.certificates = splitPemCertificates(new TextEncoder().encode(pem));
    } catch (err) {
      bad(`${path}/certificates`, `not PEM certificates (${err instanceof Error ? err.message : String(err)})`);
    }
    if (out.certificates.length === 0 || out.certificates.length > 8) bad(`${path}/certificates`, 'must hold 1 to 8 PEM certificates');
    out.certificatesPem = pem;
  }
  return out;
}

function parseIma(v: unknown, path: string): NonNullable<VtpmBundle['ima']> {
  const o = object(v, path);
  if ('ascii' in o) {
    onlyKeys(o, path, ['ascii']);
    return { ascii: text(o['ascii'], `${path}/ascii`, VTPM_BUNDLE_LIMITS.ima) };
  }
  if (!('binary' in o)) bad(path, 'must be {"binary": base64[, "templateDigest": bank]} or {"ascii": text}');
  onlyKeys(o, path, ['binary', 'templateDigest']);
  const out: NonNullable<VtpmBundle['ima']> = { binary: base64(o['binary'], `${path}/binary`, VTPM_BUNDLE_LIMITS.ima) };
  if (o['templateDigest'] !== undefined) {
    const t = o['templateDigest'];
    if (t !== 'sha1' && t !== 'sha256' && t !== 'sha384' && t !== 'sha512') bad(`${path}/templateDigest`, 'must be sha1, sha256, sha384 or sha512');
    out.templateDigest = t;
  }
  return out;
}

/** True when the input is a JSON document that names this bundle format (cheap: only the start is looked at). */
export function looksLikeVtpmBundle(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  if (bytes[i] !== 0x7b) return false;
  const head = Buffer.from(bytes.subarray(i, i + 4096)).toString('latin1');
  return /"format"\s*:\s*"tee-verify\/vtpm-bundle@/.test(head);
}

/** Strict parse of a bundle (bytes or text). */
export function parseVtpmBundle(input: Uint8Array | string): VtpmBundle {
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  if (bytes.length > VTPM_BUNDLE_LIMITS.document) bad('', `document of ${bytes.length} bytes is above ${VTPM_BUNDLE_LIMITS.document}`);
  let doc: unknown;
  try {
    doc = parseStrictJson(bytes, { maxBytes: VTPM_BUNDLE_LIMITS.document, maxDepth: 8 });
  } catch (err) {
    bad('', `not strict JSON (${err instanceof TeeVerifyError ? err.message : String(err)})`);
  }
  const o = object(doc, '');
  onlyKeys(o, '', ['format', 'nonce', 'hardware', 'tpm', 'eventLog', 'ima'], ['format', 'tpm']);
  if (o['format'] !== VTPM_BUNDLE_FORMAT) bad('/format', `must be "${VTPM_BUNDLE_FORMAT}"`);
  const tpm = object(o['tpm'], '/tpm');
  onlyKeys(tpm, '/tpm', ['ak', 'quotes', 'pcrs'], ['quotes', 'pcrs']);
  const bundle: VtpmBundle = { tpm: { quotes: parseQuotes(tpm['quotes'], '/tpm/quotes'), pcrs: parsePcrs(tpm['pcrs'], '/tpm/pcrs') } };
  if (tpm['ak'] !== undefined) bundle.tpm.ak = parseAk(tpm['ak'], '/tpm/ak');
  // An empty nonce is what a quote without qualifying data carries (go-attestation's Windows vector).
  if (o['nonce'] !== undefined) bundle.nonce = o['nonce'] === '' ? new Uint8Array(0) : base64(o['nonce'], '/nonce', VTPM_BUNDLE_LIMITS.nonce);
  if (o['hardware'] !== undefined) bundle.hardware = parseHardware(o['hardware'], '/hardware');
  if (o['eventLog'] !== undefined) bundle.eventLog = base64(o['eventLog'], '/eventLog', VTPM_BUNDLE_LIMITS.eventLog);
  if (o['ima'] !== undefined) bundle.ima = parseIma(o['ima'], '/ima');
  if (!bundle.hardware && !bundle.tpm.ak) bad('/tpm/ak', 'required when there is no hardware evidence to take the attestation key from');
  return bundle;
}

function bytes(v: unknown, path: string, maxBytes: number, minBytes = 1): void {
  if (!(v instanceof Uint8Array)) bad(path, 'must be a Uint8Array');
  if (v.length < minBytes) bad(path, `shorter than ${minBytes} byte${minBytes === 1 ? '' : 's'}`);
  if (v.length > maxBytes) bad(path, `longer than ${maxBytes} bytes`);
}

/**
 * The checks parseVtpmBundle makes, on a VtpmBundle object handed in as such
 * (a caller that built or kept one): the same members, types and bounds, no
 * unknown member (a misspelt `eventLog` would otherwise skip its replay),
 * and an attestation key or hardware evidence. Only shapes are checked here;
 * the contents are parsed where they are used, as for a parsed bundle.
 */
export function checkVtpmBundle(bundle: VtpmBundle): void {
  const o = object(bundle, '');
  onlyKeys(o, '', ['nonce', 'hardware', 'tpm', 'eventLog', 'ima'], ['tpm']);
  const tpm = object(o['tpm'], '/tpm');
  onlyKeys(tpm, '/tpm', ['ak', 'quotes', 'pcrs'], ['quotes', 'pcrs']);
  const quotes = tpm['quotes'];
  if (!Array.isArray(quotes)) bad('/tpm/quotes', 'must be an array');
  if (quotes.length === 0 || quotes.length > VTPM_BUNDLE_LIMITS.quotes) bad('/tpm/quotes', `must hold 1 to ${VTPM_BUNDLE_LIMITS.quotes} quotes`);
  quotes.forEach((q, i) => {
    const qo = object(q, `/tpm/quotes/${i}`);
    onlyKeys(qo, `/tpm/quotes/${i}`, ['attest', 'signature'], ['attest', 'signature']);
    bytes(qo['attest'], `/tpm/quotes/${i}/attest`, VTPM_BUNDLE_LIMITS.attest);
    bytes(qo['signature'], `/tpm/quotes/${i}/signature`, VTPM_BUNDLE_LIMITS.signature);
  });
  for (const [bank, values] of Object.entries(object(tpm['pcrs'], '/tpm/pcrs'))) {
    const size = PCR_BANKS[bank];
    if (size === undefined) bad(`/tpm/pcrs/${bank}`, 'unknown bank (sha1, sha256, sha384, sha512)');
    for (const [index, value] of Object.entries(object(values, `/tpm/pcrs/${bank}`))) {
      const p = `/tpm/pcrs/${bank}/${index}`;
      if (!/^(?:0|[1-9][0-9]?)$/.test(index) || Number(index) > MAX_PCR_INDEX) bad(p, `PCR index must be 0 to ${MAX_PCR_INDEX} in decimal`);
      bytes(value, p, size, size);
    }
  }
  if (tpm['ak'] !== undefined) {
    const ak = object(tpm['ak'], '/tpm/ak');
    const keys = Object.keys(ak);
    if (keys.length !== 1 || (keys[0] !== 'public' && keys[0] !== 'pem')) bad('/tpm/ak', 'must be {public: TPMT_PUBLIC bytes} or {pem: SPKI PEM}');
    if (keys[0] === 'public') bytes(ak['public'], '/tpm/ak/public', VTPM_BUNDLE_LIMITS.akPublic);
    else text(ak['pem'], '/tpm/ak/pem', VTPM_BUNDLE_LIMITS.akPem);
  }
  if (o['nonce'] !== undefined) bytes(o['nonce'], '/nonce', VTPM_BUNDLE_LIMITS.nonce, 0);
  if (o['hardware'] !== undefined) {
    const h = object(o['hardware'], '/hardware');
    onlyKeys(h, '/hardware', ['hclReport', 'tdQuote', 'certificates', 'certificatesPem'], ['hclReport']);
    bytes(h['hclReport'], '/hardware/hclReport', VTPM_BUNDLE_LIMITS.hclReport);
    if (h['tdQuote'] !== undefined) bytes(h['tdQuote'], '/hardware/tdQuote', VTPM_BUNDLE_LIMITS.tdQuote);
    if (h['certificates'] !== undefined) {
      const certs = h['certificates'];
      if (!Array.isArray(certs) || certs.length === 0 || certs.length > 8) bad('/hardware/certificates', 'must hold 1 to 8 DER certificates');
      certs.forEach((c, i) => bytes(c, `/hardware/certificates/${i}`, VTPM_BUNDLE_LIMITS.certificates));
    }
    if (h['certificatesPem'] !== undefined) text(h['certificatesPem'], '/hardware/certificatesPem', VTPM_BUNDLE_LIMITS.certificates);
  }
  if (o['eventLog'] !== undefined) bytes(o['eventLog'], '/eventLog', VTPM_BUNDLE_LIMITS.eventLog);
  if (o['ima'] !== undefined) {
    const ima = object(o['ima'], '/ima');
    if ('ascii' in ima) {
      onlyKeys(ima, '/ima', ['ascii']);
      text(ima['ascii'], '/ima/ascii', VTPM_BUNDLE_LIMITS.ima);
    } else {
      onlyKeys(ima, '/ima', ['binary', 'templateDigest'], ['binary']);
      bytes(ima['binary'], '/ima/binary', VTPM_BUNDLE_LIMITS.ima);
      const t = ima['templateDigest'];
      if (t !== undefined && t !== 'sha1' && t !== 'sha256' && t !== 'sha384' && t !== 'sha512') bad('/ima/templateDigest', 'must be sha1, sha256, sha384 or sha512');
    }
  }
  if (o['hardware'] === undefined && tpm['ak'] === undefined) bad('/tpm/ak', 'required when there is no hardware evidence to take the attestation key from');
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

/** The bundle as JSON text (the inverse of parseVtpmBundle). */
export function serializeVtpmBundle(bundle: VtpmBundle): string {
  const doc: Record<string, unknown> = { format: VTPM_BUNDLE_FORMAT };
  if (bundle.nonce) doc['nonce'] = b64(bundle.nonce);
  if (bundle.hardware) {
    const h = bundle.hardware;
    const pem = h.certificatesPem ?? h.certificates?.map((der) => `-----BEGIN CERTIFICATE-----\n${b64(der).replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`).join('');
    doc['hardware'] = { hclReport: b64(h.hclReport), ...(h.tdQuote ? { tdQuote: b64(h.tdQuote) } : {}), ...(pem ? { certificates: pem } : {}) };
  }
  const pcrs: Record<string, Record<string, string>> = {};
  for (const [bank, values] of Object.entries(bundle.tpm.pcrs)) {
    pcrs[bank] = Object.fromEntries(Object.entries(values ?? {}).map(([i, v]) => [i, Buffer.from(v).toString('hex')]));
  }
  const ak = bundle.tpm.ak;
  doc['tpm'] = {
    ...(ak ? { ak: 'public' in ak ? { public: b64(ak.public) } : { pem: ak.pem } } : {}),
    quotes: bundle.tpm.quotes.map((q) => ({ attest: b64(q.attest), signature: b64(q.signature) })),
    pcrs,
  };
  if (bundle.eventLog) doc['eventLog'] = b64(bundle.eventLog);
  if (bundle.ima) {
    doc['ima'] = 'binary' in bundle.ima ? { binary: b64(bundle.ima.binary), ...(bundle.ima.templateDigest ? { templateDigest: bundle.ima.templateDigest } : {}) } : { ascii: bundle.ima.ascii };
  }
  return `${JSON.stringify(doc, null, 2)}\n`;
}
