/**
 * Real Intel vectors from the shared manifest, with collateral built from the
 * manifest's collateral files exactly as served: dcap-qvl bundles through
 * importDcapQvlCollateral, individual files through validateArtifact with
 * their issuer-chain PEM files. Files are read in place (test/helpers/vectors.ts).
 */
import type { CollateralArtifact } from '../../../../src/collateral/artifact.js';
import { importDcapQvlCollateral } from '../../../../src/collateral/bundle.js';
import { artifactKey } from '../../../../src/collateral/keys.js';
import { validateArtifact } from '../../../../src/collateral/validate.js';
import { parseEvidence, type SgxQuote, type TdxQuote } from '../../../../src/index.js';
import { verifyIntelQuote, type IntelCollateralInput } from '../../../../src/verify/intel/index.js';
import { PRODUCTION_TRUST_ROOTS, type TrustRoots } from '../../../../src/verify/roots/index.js';
import type { Relaxations, VerificationResult } from '../../../../src/verify/types.js';
import { parseCrl } from '../../../../src/x509/index.js';
import { findEntry, loadManifest, readEvidenceBytes, readVectorFile, type ManifestEntry } from '../../../helpers/vectors.js';

export const INTEL_KINDS = new Set(['tdx-quote-v4', 'tdx-quote-v5', 'sgx-quote-v3']);

export interface Variant {
  verification_time: string;
  collateral_override?: Record<string, string>;
  expected: { outcome: string; failure?: string; tcb_status?: string; advisory_ids?: string[] };
}

export type IntelEntry = ManifestEntry & {
  variants?: Variant[];
  notes?: string;
  fmspc?: string;
  expected: ManifestEntry['expected'] & { advisory_ids?: string[] };
};

/** Intel evidence entries that come with collateral (more than the root certificate). */
export function intelEntriesWithCollateral(): IntelEntry[] {
  return loadManifest().filter(
    (e) => INTEL_KINDS.has(e.kind) && Object.keys(e.collateral).some((role) => role !== 'intel_root_ca'),
  ) as IntelEntry[];
}

export function intelEntry(id: string): IntelEntry {
  const e = findEntry(id);
  if (!e) throw new Error(`no manifest entry ${id}`);
  return e as IntelEntry;
}

/**
 * Quotes with a non-zero trailer (go-tdx-guest appends a text line) fail the
 * default T05 rule; the manifest expects them verified, so they are parsed
 * with the documented dangerous option and the verifier reports it.
 */
export function parseIntelQuote(entry: IntelEntry): TdxQuote | SgxQuote {
  const bytes = readEvidenceBytes(entry);
  const lenient = entry.id === 'go-tdx-guest/tdx_prod_quote_SPR_E4';
  const q = parseEvidence(bytes, lenient ? { trailing: 'dangerouslyLenient' } : {});
  if (q.kind === 'snp') throw new Error(`${entry.id} is not an Intel quote`);
  return q;
}

/**
 * The TCB Signing chain Intel re-issued on 2025-05-06 with the same key. The
 * go-tdx-guest v5 source mocks an older chain (expired 2025-05-21, before its
 * 2026 TCB info was issued) and trustee ships no chain at all; both manifest
 * entries note this, and their signatures verify with the re-issued
 * certificate (same key), which is what PCS serves with such collateral.
 */
function reissuedTcbSigningChain(): string {
  const b = JSON.parse(readVectorFile('phala-dcap-qvl/sample/tdx_quote_collateral.json').toString('utf8')) as Record<string, string>;
  return b['tcb_info_issuer_chain']!;
}

const CHAIN_SUBSTITUTED = new Set(['go-tdx-guest/quote_v5_sample', 'trustee/tdx_quote_6']);

function text(rel: string): string {
  return readVectorFile(rel).toString('latin1');
}

function signedJsonArtifact(kind: 'intel-tcb-info' | 'intel-qe-identity', tee: 'tdx' | 'sgx', body: Uint8Array, chain: string): CollateralArtifact {
  const doc = JSON.parse(Buffer.from(body).toString('utf8')) as { tcbInfo?: { fmspc: string } };
  const key = kind === 'intel-tcb-info' ? artifactKey.tcbInfo({ tee, fmspc: doc.tcbInfo!.fmspc }) : artifactKey.qeIdentity({ tee });
  return validateArtifact({ kind, key, body, issuerChainPem: chain, source: { origin: 'bundle' } });
}

function fromFiles(entry: IntelEntry, roles: Record<string, string>, tee: 'tdx' | 'sgx'): IntelCollateralInput {
  const out: IntelCollateralInput = {};
  const substitute = CHAIN_SUBSTITUTED.has(entry.id) ? reissuedTcbSigningChain() : undefined;
  if (roles['tcb_info']) {
    const chain = substitute ?? text(roles['tcb_info_issuer_chain']!);
    out.tcbInfo = signedJsonArtifact('intel-tcb-info', tee, new Uint8Array(readVectorFile(roles['tcb_info'])), chain);
  }
  if (roles['qe_identity']) {
    const chain = substitute ?? text(roles['qe_identity_issuer_chain']!);
    out.qeIdentity = signedJsonArtifact('intel-qe-identity', tee, new Uint8Array(readVectorFile(roles['qe_identity'])), chain);
  }
  if (roles['pck_crl']) {
    const der = new Uint8Array(readVectorFile(roles['pck_crl']));
    const ca = parseCrl(der).issuerAttributes.CN === 'Intel SGX PCK Platform CA' ? 'platform' : 'processor';
    out.pckCrl = validateArtifact({ kind: 'intel-pck-crl', key: artifactKey.pckCrl(ca), body: der, issuerChainPem: text(roles['pck_crl_issuer_chain']!), source: { origin: 'bundle' } });
  }
  if (roles['root_ca_crl']) {
    out.rootCaCrl = validateArtifact({ kind: 'intel-root-ca-crl', key: artifactKey.rootCaCrl(), body: new Uint8Array(readVectorFile(roles['root_ca_crl'])), source: { origin: 'bundle' } });
  }
  return out;
}

function fromBundle(rel: string): IntelCollateralInput {
  const out: IntelCollateralInput = {};
  for (const a of importDcapQvlCollateral(readVectorFile(rel))) {
    if (a.kind === 'intel-tcb-info') out.tcbInfo = a;
    else if (a.kind === 'intel-qe-identity') out.qeIdentity = a;
    else if (a.kind === 'intel-pck-crl') out.pckCrl = a;
    else if (a.kind === 'intel-root-ca-crl') out.rootCaCrl = a;
  }
  return out;
}

export interface RealCollateral {
  collateral: IntelCollateralInput;
  /** The relaxations the entry needs (what its source did not ship), each asserted as a warning. */
  relaxations: Relaxations;
}

export function realCollateral(entry: IntelEntry, override: Record<string, string> = {}): RealCollateral {
  const roles = { ...entry.collateral, ...override };
  const tee = entry.kind === 'sgx-quote-v3' ? 'sgx' : 'tdx';
  const collateral = roles['collateral_bundle'] ? fromBundle(roles['collateral_bundle']) : fromFiles(entry, roles, tee);
  const relaxations: Relaxations = {};
  if (!collateral.pckCrl || !collateral.rootCaCrl) relaxations.skipCrl = true;
  if (!collateral.qeIdentity) relaxations.skipQeIdentity = true;
  return { collateral, relaxations };
}

// ---- Negative tests on genuine evidence ----

export interface RealSetup {
  entry: IntelEntry;
  bytes: Uint8Array;
  collateral: IntelCollateralInput;
  relaxations: Relaxations;
  at: Date;
}

export function realSetup(id: string): RealSetup {
  const entry = intelEntry(id);
  const { collateral, relaxations } = realCollateral(entry);
  return { entry, bytes: readEvidenceBytes(entry), collateral, relaxations, at: new Date(entry.verification_time!) };
}

export interface RealRun {
  bytes?: Uint8Array;
  collateral?: IntelCollateralInput;
  at?: Date;
  relaxations?: Relaxations;
  trustRoots?: TrustRoots;
  minTcbEvaluationDataNumber?: number;
}

/** Parses (default trailing rule) and verifies with production roots unless told otherwise. */
export function runReal(s: RealSetup, o: RealRun = {}): VerificationResult {
  const quote = parseEvidence(o.bytes ?? s.bytes);
  if (quote.kind === 'snp') throw new Error('not an Intel quote');
  return verifyIntelQuote(quote, o.collateral ?? s.collateral, {
    at: o.at ?? s.at,
    relaxations: o.relaxations ?? s.relaxations,
    trustRoots: o.trustRoots ?? PRODUCTION_TRUST_ROOTS,
    ...(o.minTcbEvaluationDataNumber === undefined ? {} : { minTcbEvaluationDataNumber: o.minTcbEvaluationDataNumber }),
  });
}

/** A copy of `bytes` changed by `f`. */
export function mutated(bytes: Uint8Array, f: (b: Uint8Array) => void): Uint8Array {
  const copy = Uint8Array.from(bytes);
  f(copy);
  return copy;
}

/**
 * Rewrites the `index`-th certificate (0 leaf, 1 intermediate, 2 root) of the
 * PEM chain inside a quote: decode, change the DER in place, re-encode with
 * the same line breaks. Same length, so every length field stays right; the
 * chain is signed by nothing in the quote (§2.2).
 */
export function replaceChainCertificate(bytes: Uint8Array, index: number, mutate: (der: Uint8Array) => void): Uint8Array {
  const out = Buffer.from(bytes);
  const begin = Buffer.from('-----BEGIN CERTIFICATE-----');
  const end = Buffer.from('-----END CERTIFICATE-----');
  let at = -1;
  for (let i = 0; i <= index; i++) at = out.indexOf(begin, at + 1);
  if (at < 0) throw new Error(`no certificate ${index}`);
  const bodyStart = at + begin.length;
  const bodyEnd = out.indexOf(end, bodyStart);
  const body = out.subarray(bodyStart, bodyEnd).toString('latin1');
  const der = new Uint8Array(Buffer.from(body.replace(/\s+/g, ''), 'base64'));
  mutate(der);
  const b64 = Buffer.from(der).toString('base64');
  let k = 0;
  const rebuilt = [...body].map((ch) => (/\s/.test(ch) ? ch : (b64[k++] as string))).join('');
  out.write(rebuilt, bodyStart, 'latin1');
  return new Uint8Array(out);
}

/** The artifact with its body text rewritten (validity kept: a tampered artifact as a cache would hand it over). */
export function withBodyText(a: CollateralArtifact, f: (text: string) => string): CollateralArtifact {
  return { ...a, body: new Uint8Array(Buffer.from(f(Buffer.from(a.body).toString('utf8')), 'utf8')) };
}

/** The artifact with one byte of its body changed. */
export function withBodyByte(a: CollateralArtifact, offsetFromEnd: number, xor = 0x01): CollateralArtifact {
  const body = Uint8Array.from(a.body);
  const i = body.length - offsetFromEnd;
  body[i] = (body[i] ?? 0) ^ xor;
  return { ...a, body };
}

/** Flips a hex digit of the "signature" member of a signed JSON artifact. */
export function withBrokenJsonSignature(a: CollateralArtifact): CollateralArtifact {
  return withBodyText(a, (t) => t.replace(/("signature":")([0-9a-fA-F])/, (_, p: string, c: string) => `${p}${c === '0' ? '1' : '0'}`));
}
