/**
 * Synthetic Intel collateral and whole synthetic platforms (checklist §7,
 * harness item 2). TCB info (TDX and SGX shapes) and QE identity documents
 * are signed by the test PKI's TCB Signing key over the exact bytes of their
 * member's value, as Intel signs them (§2.2); the PCK CRL and the Root CA CRL
 * are signed by the test CAs. Every field can be overridden, so a test builds
 * one defect with valid signatures around it.
 *
 * createSyntheticIntelPlatform builds a consistent platform in one call: the
 * PKI, a quote whose QE report is signed by the PCK leaf, and collateral
 * whose defaults are derived from that PKI and quote (FMSPC, PCE-ID, PCK TCB,
 * TEE_TCB_SVN, QE MRSIGNER / ISVPRODID / ISVSVN), current at the given
 * instant. Deterministic from the seed except signature bytes. No clock is
 * read: the instant is a parameter. Never trusted in production: the
 * verifier pins Intel's real root, and every synthetic platform fails there
 * with CHAIN.
 */
import type { KeyObject } from 'node:crypto';
import { sign } from 'node:crypto';

import type { CollateralArtifact } from '../collateral/artifact.js';
import { artifactKey } from '../collateral/keys.js';
import { validateArtifact } from '../collateral/validate.js';
import type { TrustRoots } from '../verify/roots/index.js';
import type { TestCertificate } from './certificate.js';
import * as der from './der.js';
import type { SgxReportBodyFields, TdReportBodyFields } from './intel-bodies.js';
import { buildSgxQuote, buildTdxQuote, signP256, type BuiltSgxQuote, type BuiltTdxQuote, type IntelQuoteOptions } from './intel-quote-builder.js';
import { createIntelTestPki, type IntelTestPki, type IntelTestPkiOptions, type PckCaType } from './pki-intel.js';
import { deriveSerial } from './seed.js';
import { authorityKeyIdentifier, encodeExtension, encodeName, signatureAlgorithm, type CertExtension, type DistinguishedName } from './x509-builder.js';

export type JsonObject = Record<string, unknown>;

const DAY = 86_400_000;
const OID_CRL_NUMBER = '2.5.29.20';

/** ISO-8601 UTC without milliseconds, as Intel writes dates. */
export const intelDate = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const upperHex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

// ---- CRLs ----

export interface TestCrlOptions {
  thisUpdate: Date;
  /** null omits nextUpdate (a CRL that is never current, X02). */
  nextUpdate: Date | null;
  /** Revoked serials: unsigned big-endian bytes or hex. */
  revokedSerials?: readonly (Uint8Array | string)[];
  crlNumber?: number;
  omitCrlNumber?: boolean;
  omitAuthorityKeyId?: boolean;
  /** Issuer name written into the CRL; default the issuer certificate's subject. */
  issuerName?: DistinguishedName;
  /** Signs with this key instead of the issuer's. */
  signingKey?: KeyObject;
  corruptSignature?: boolean;
  /** More CRL extensions, after CRL Number and AKI (e.g. a critical one the verifier must refuse). */
  extraExtensions?: readonly CertExtension[];
  /** Extensions written on every revoked entry (crlEntryExtensions). */
  entryExtensions?: readonly CertExtension[];
}

function crlExtension(oid: string, value: Uint8Array): Uint8Array {
  return der.sequence(der.objectIdentifier(oid), der.octetString(value));
}

/** An X.509 v2 CRL (RFC 5280 §5) by a test CA: ECDSA P-256 / SHA-256, CRL Number and AKI as Intel's. */
export function buildTestCrl(issuer: TestCertificate, o: TestCrlOptions): Uint8Array {
  const revoked = (o.revokedSerials ?? []).map((s) => {
    const bytes = typeof s === 'string' ? new Uint8Array(Buffer.from(s.length % 2 ? `0${s}` : s, 'hex')) : s;
    const entry = [der.integer(bytes), der.time(o.thisUpdate)];
    if (o.entryExtensions?.length) entry.push(der.sequence(...o.entryExtensions.map(encodeExtension)));
    return der.sequence(...entry);
  });
  const extensions: Uint8Array[] = [];
  if (!o.omitCrlNumber) extensions.push(crlExtension(OID_CRL_NUMBER, der.integer(o.crlNumber ?? 1)));
  if (!o.omitAuthorityKeyId) {
    const aki = authorityKeyIdentifier(issuer.key.publicKey);
    extensions.push(crlExtension(aki.oid, aki.value));
  }
  for (const e of o.extraExtensions ?? []) extensions.push(encodeExtension(e));
  const fields = [der.integer(1), signatureAlgorithm('ecdsa-sha256'), encodeName(o.issuerName ?? issuer.subject), der.time(o.thisUpdate)];
  if (o.nextUpdate !== null) fields.push(der.time(o.nextUpdate));
  if (revoked.length > 0) fields.push(der.sequence(...revoked));
  if (extensions.length > 0) fields.push(der.explicit(0, der.sequence(...extensions)));
  const tbs = der.sequence(...fields);
  const signature = new Uint8Array(sign('sha256', tbs, { key: o.signingKey ?? issuer.key.privateKey, dsaEncoding: 'der' }));
  if (o.corruptSignature) signature[signature.length - 1] = (signature[signature.length - 1] ?? 0) ^ 0x01;
  return der.sequence(tbs, signatureAlgorithm('ecdsa-sha256'), der.bitString(signature));
}

// ---- Signed JSON ----

export type SignedJsonMember = 'tcbInfo' | 'enclaveIdentity';

/**
 * `{"<member>":<value>,"signature":"<128 hex>"}` with the signature over the
 * exact bytes of `value` (a document is serialised compactly; a string is
 * used byte for byte). `corrupt` flips a bit of s.
 */
export function signCollateralJson(member: SignedJsonMember, value: JsonObject | string, key: KeyObject, mode: 'sign' | 'corrupt' = 'sign'): Uint8Array {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const signature = signP256(key, new Uint8Array(Buffer.from(text, 'utf8')));
  if (mode === 'corrupt') signature[63] = (signature[63] ?? 0) ^ 0x01;
  return new Uint8Array(Buffer.from(`{"${member}":${text},"signature":"${Buffer.from(signature).toString('hex')}"}`, 'utf8'));
}

export interface TcbInfoValues {
  issueDate: Date;
  nextUpdate: Date;
  fmspc: Uint8Array;
  pceId: Uint8Array;
  /** The PCK TCB the top level matches exactly. */
  sgxComponents: readonly number[];
  pceSvn: number;
  /** TDX only: TEE_TCB_SVN of the quote; the top level matches it exactly. */
  teeTcbSvn?: Uint8Array;
  /** TDX only: MRSIGNERSEAM of the module. */
  moduleSigner?: Uint8Array;
  tcbEvaluationDataNumber?: number;
}

const LATEST_TCB_DATE = '2024-03-13T00:00:00Z';
const OLDER_TCB_DATE = '2023-08-09T00:00:00Z';
const lower = (svns: readonly number[], by: number): number[] => svns.map((s) => Math.max(0, s - by));
const svnList = (svns: readonly number[]): { svn: number }[] => svns.map((svn) => ({ svn }));

function moduleIdentities(tee: Uint8Array, signer: string): JsonObject[] {
  const major = tee[1] ?? 0;
  if (major === 0) return [];
  const isvsvn = tee[0] ?? 0;
  return [
    {
      id: `TDX_${major.toString(16).toUpperCase().padStart(2, '0')}`,
      mrsigner: signer,
      attributes: '0000000000000000',
      attributesMask: 'FFFFFFFFFFFFFFFF',
      tcbLevels: [
        { tcb: { isvsvn }, tcbDate: LATEST_TCB_DATE, tcbStatus: 'UpToDate' },
        { tcb: { isvsvn: Math.max(0, isvsvn - 2) }, tcbDate: OLDER_TCB_DATE, tcbStatus: 'OutOfDate', advisoryIDs: ['INTEL-SA-01036'] },
      ],
    },
  ];
}

/**
 * A TCB info v3 document (the "tcbInfo" value): TDX when `teeTcbSvn` is
 * given, SGX otherwise. Two levels, highest first: UpToDate exactly at the
 * given TCB, and OutOfDate below it with an advisory.
 */
export function defaultTcbInfo(v: TcbInfoValues): JsonObject {
  const tdx = v.teeTcbSvn !== undefined;
  const tee = v.teeTcbSvn ?? new Uint8Array(16);
  const level = (sgx: readonly number[], pcesvn: number, tdxSvns: readonly number[]): JsonObject =>
    tdx ? { sgxtcbcomponents: svnList(sgx), pcesvn, tdxtcbcomponents: svnList(tdxSvns) } : { sgxtcbcomponents: svnList(sgx), pcesvn };
  const signer = upperHex(v.moduleSigner ?? new Uint8Array(48));
  const doc: JsonObject = {
    id: tdx ? 'TDX' : 'SGX',
    version: 3,
    issueDate: intelDate(v.issueDate),
    nextUpdate: intelDate(v.nextUpdate),
    fmspc: upperHex(v.fmspc),
    pceId: upperHex(v.pceId),
    tcbType: 0,
    tcbEvaluationDataNumber: v.tcbEvaluationDataNumber ?? 17,
  };
  if (tdx) {
    doc['tdxModule'] = { mrsigner: signer, attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF' };
    doc['tdxModuleIdentities'] = moduleIdentities(tee, signer);
  }
  doc['tcbLevels'] = [
    { tcb: level(v.sgxComponents, v.pceSvn, [...tee]), tcbDate: LATEST_TCB_DATE, tcbStatus: 'UpToDate' },
    { tcb: level(lower(v.sgxComponents, 1), Math.max(0, v.pceSvn - 2), lower([...tee], 1)), tcbDate: OLDER_TCB_DATE, tcbStatus: 'OutOfDate', advisoryIDs: ['INTEL-SA-00837'] },
  ];
  return doc;
}

export interface QeIdentityValues {
  tee: 'tdx' | 'sgx';
  issueDate: Date;
  nextUpdate: Date;
  mrSigner: Uint8Array;
  isvProdId: number;
  /** The QE's ISVSVN: the UpToDate level. */
  isvSvn: number;
  tcbEvaluationDataNumber?: number;
}

/** A QE identity v2 document (the "enclaveIdentity" value) with Intel's production masks. */
export function defaultQeIdentity(v: QeIdentityValues): JsonObject {
  return {
    id: v.tee === 'tdx' ? 'TD_QE' : 'QE',
    version: 2,
    issueDate: intelDate(v.issueDate),
    nextUpdate: intelDate(v.nextUpdate),
    tcbEvaluationDataNumber: v.tcbEvaluationDataNumber ?? 17,
    miscselect: '00000000',
    miscselectMask: 'FFFFFFFF',
    attributes: '11000000000000000000000000000000',
    attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000',
    mrsigner: upperHex(v.mrSigner),
    isvprodid: v.isvProdId,
    tcbLevels: [
      { tcb: { isvsvn: v.isvSvn }, tcbDate: LATEST_TCB_DATE, tcbStatus: 'UpToDate' },
      { tcb: { isvsvn: Math.max(0, v.isvSvn - 2) }, tcbDate: OLDER_TCB_DATE, tcbStatus: 'OutOfDate', advisoryIDs: ['INTEL-SA-00615'] },
    ],
  };
}

// ---- Artifacts ----

export interface ArtifactOptions {
  /** Run the collateral layer's shape checks (validateArtifact); default true. Off for documents those checks would refuse. */
  validate?: boolean;
  /** Validity recorded when `validate` is false. */
  window?: { notBefore: Date; notAfter: Date };
}

/** A CollateralArtifact as the collateral layer would hand it over (origin "bundle"). */
export function intelArtifact(
  kind: 'intel-tcb-info' | 'intel-qe-identity' | 'intel-pck-crl' | 'intel-root-ca-crl',
  key: string,
  body: Uint8Array,
  issuerChainPem: string | undefined,
  options: ArtifactOptions = {},
): CollateralArtifact {
  const base = { kind, key, body, ...(issuerChainPem === undefined ? {} : { issuerChainPem }), source: { origin: 'bundle' as const } };
  if (options.validate !== false) return validateArtifact(base);
  const w = options.window;
  if (!w) throw new TypeError('intelArtifact: an unvalidated artifact needs its window');
  return { ...base, validity: { notBefore: w.notBefore.toISOString(), notAfter: w.notAfter.toISOString() } };
}

// ---- Synthetic platform ----

export interface SignedJsonOverrides extends ArtifactOptions {
  /** Shallow merge into the default document. */
  fields?: JsonObject;
  /** Changes the document in place after the merge. */
  mutate?: (doc: JsonObject) => void;
  /** Rewrites the serialised member value before signing (exact-bytes tests). */
  raw?: (json: string) => string;
  signature?: 'sign' | 'corrupt';
  /** Sign with another key instead of the TCB Signing key. */
  signingKey?: KeyObject;
  /** Issuer chain header; default TCB Signing ‖ root. */
  issuerChainPem?: string;
  /** Leave the artifact out of the collateral. */
  omit?: boolean;
}

export interface CrlOverrides extends Partial<TestCrlOptions>, ArtifactOptions {
  issuerChainPem?: string;
  omit?: boolean;
}

export interface SyntheticQuoteOverrides extends Partial<Omit<IntelQuoteOptions, 'pckChainPem'>> {
  pckChainPem?: string | Uint8Array;
  /** TDX: TD report fields. */
  tdBody?: Partial<TdReportBodyFields>;
  /** SGX: enclave report fields. */
  enclaveBody?: Partial<SgxReportBodyFields>;
}

export interface SyntheticIntelPlatformOptions {
  tee: 'tdx' | 'sgx';
  /** The verification instant: certificates and collateral are current around it. */
  at: Date;
  /** Default "tee-verify synthetic platform". */
  seed?: string;
  /** TDX only; default 4. */
  version?: 4 | 5;
  /** TDX v5 only; default 2. */
  bodyType?: 2 | 3;
  caType?: PckCaType;
  /** PKI options (validity default: one year before `at` to five years after). */
  pki?: Partial<Omit<IntelTestPkiOptions, 'seed' | 'caType'>>;
  quote?: SyntheticQuoteOverrides;
  tcbInfo?: SignedJsonOverrides;
  qeIdentity?: SignedJsonOverrides;
  pckCrl?: CrlOverrides;
  rootCaCrl?: CrlOverrides;
}

export interface SyntheticIntelPlatform {
  seed: string;
  at: Date;
  pki: IntelTestPki;
  quote: BuiltTdxQuote | BuiltSgxQuote;
  /** The documents as signed (after overrides). */
  tcbInfo: JsonObject;
  qeIdentity: JsonObject;
  collateral: { tcbInfo?: CollateralArtifact; qeIdentity?: CollateralArtifact; pckCrl?: CollateralArtifact; rootCaCrl?: CollateralArtifact };
  /** Trust roots pinning this PKI's root (label "test-pki"). */
  trustRoots: TrustRoots;
}

export const DEFAULT_PLATFORM_SEED = 'tee-verify synthetic platform';

function buildQuote(o: SyntheticIntelPlatformOptions, seed: string, pki: IntelTestPki): BuiltTdxQuote | BuiltSgxQuote {
  const { tdBody, enclaveBody, ...q } = o.quote ?? {};
  const common = { seed, pckKey: pki.pck.key.privateKey, pckChainPem: pki.pckChainPem, ...q };
  if (o.tee === 'sgx') return buildSgxQuote({ ...common, ...(enclaveBody ? { body: enclaveBody } : {}) });
  const version = o.version ?? 4;
  return buildTdxQuote({ ...common, version, ...(version === 5 ? { bodyType: o.bodyType ?? 2 } : {}), ...(tdBody ? { body: tdBody } : {}) });
}

function signedArtifact(
  member: SignedJsonMember,
  defaults: JsonObject,
  o: SignedJsonOverrides | undefined,
  pki: IntelTestPki,
  key: string,
  window: { notBefore: Date; notAfter: Date },
): { doc: JsonObject; artifact: CollateralArtifact | undefined } {
  const doc: JsonObject = { ...defaults, ...o?.fields };
  o?.mutate?.(doc);
  const text = o?.raw ? o.raw(JSON.stringify(doc)) : JSON.stringify(doc);
  const body = signCollateralJson(member, text, o?.signingKey ?? pki.tcbSigning.key.privateKey, o?.signature ?? 'sign');
  if (o?.omit) return { doc, artifact: undefined };
  const kind = member === 'tcbInfo' ? 'intel-tcb-info' : 'intel-qe-identity';
  const artifact = intelArtifact(kind, key, body, o?.issuerChainPem ?? pki.tcbSigningChainPem, { window, ...o });
  return { doc, artifact };
}

function crlArtifact(
  kind: 'intel-pck-crl' | 'intel-root-ca-crl',
  issuer: TestCertificate,
  defaults: TestCrlOptions,
  o: CrlOverrides | undefined,
  key: string,
  chain: string | undefined,
): CollateralArtifact | undefined {
  if (o?.omit) return undefined;
  const body = buildTestCrl(issuer, { ...defaults, ...o });
  const window = { notBefore: o?.thisUpdate ?? defaults.thisUpdate, notAfter: o?.nextUpdate ?? defaults.nextUpdate ?? defaults.thisUpdate };
  return intelArtifact(kind, key, body, o?.issuerChainPem ?? chain, { window, ...o });
}

/**
 * A whole consistent synthetic platform: PKI, quote and current collateral.
 * Verify it with `trustRoots: platform.trustRoots` and `at: platform.at`.
 */
export function createSyntheticIntelPlatform(o: SyntheticIntelPlatformOptions): SyntheticIntelPlatform {
  const seed = o.seed ?? DEFAULT_PLATFORM_SEED;
  const at = o.at;
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new TypeError('createSyntheticIntelPlatform: `at` must be a valid Date');
  const pki = createIntelTestPki({
    seed,
    validity: { notBefore: new Date(at.getTime() - 365 * DAY), notAfter: new Date(at.getTime() + 5 * 365 * DAY) },
    ...(o.caType ? { caType: o.caType } : {}),
    ...o.pki,
  });
  const quote = buildQuote(o, seed, pki);
  const window = { notBefore: new Date(at.getTime() - DAY), notAfter: new Date(at.getTime() + 29 * DAY) };
  const tcbDefaults = defaultTcbInfo({
    issueDate: window.notBefore,
    nextUpdate: window.notAfter,
    fmspc: pki.sgx.fmspc,
    pceId: pki.sgx.pceId,
    sgxComponents: pki.sgx.tcb.components,
    pceSvn: pki.sgx.tcb.pceSvn,
    ...(quote.version === 3 ? {} : { teeTcbSvn: quote.body.teeTcbSvn, moduleSigner: quote.body.mrSignerSeam }),
  });
  const fmspcHex = Buffer.from(pki.sgx.fmspc).toString('hex');
  const tcb = signedArtifact('tcbInfo', tcbDefaults, o.tcbInfo, pki, artifactKey.tcbInfo({ tee: o.tee, fmspc: fmspcHex }), window);
  const qeDefaults = defaultQeIdentity({ tee: o.tee, issueDate: window.notBefore, nextUpdate: window.notAfter, mrSigner: quote.qeReport.mrSigner, isvProdId: quote.qeReport.isvProdId, isvSvn: quote.qeReport.isvSvn });
  const qe = signedArtifact('enclaveIdentity', qeDefaults, o.qeIdentity, pki, artifactKey.qeIdentity({ tee: o.tee }), window);
  const crlDefaults = (label: string): TestCrlOptions => ({
    thisUpdate: window.notBefore,
    nextUpdate: window.notAfter,
    revokedSerials: [deriveSerial(seed, `${label}:revoked:1`), deriveSerial(seed, `${label}:revoked:2`)],
  });
  const collateral: SyntheticIntelPlatform['collateral'] = {};
  const pckCrl = crlArtifact('intel-pck-crl', pki.pckCa, crlDefaults('pck-crl'), o.pckCrl, artifactKey.pckCrl(pki.caType), pki.pckCa.pem + pki.root.pem);
  const rootCaCrl = crlArtifact('intel-root-ca-crl', pki.root, crlDefaults('root-ca-crl'), o.rootCaCrl, artifactKey.rootCaCrl(), undefined);
  if (tcb.artifact) collateral.tcbInfo = tcb.artifact;
  if (qe.artifact) collateral.qeIdentity = qe.artifact;
  if (pckCrl) collateral.pckCrl = pckCrl;
  if (rootCaCrl) collateral.rootCaCrl = rootCaCrl;
  const trustRoots: TrustRoots = { label: 'test-pki', intelRootCas: [pki.root.der], amd: {} };
  return { seed, at, pki, quote, tcbInfo: tcb.doc, qeIdentity: qe.doc, collateral, trustRoots };
}
