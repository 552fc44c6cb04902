/**
 * Shape checks applied to every artifact before it is used or cached: an HTML
 * error page saved as a certificate must be impossible. This checks form and
 * reads the validity window; signatures and chains are the verifier's job.
 */
import { CollateralFormatError } from '../errors.js';
import { parseCertificate, parseCrl, splitPemCertificates } from '../x509/index.js';
import type { CollateralArtifact, ValidityWindow } from './artifact.js';
import { checkKeyBinding } from './binding.js';
import { printableUrl } from './source-url.js';
import { parseSignedJson } from './strict-json.js';

type Unvalidated = Omit<CollateralArtifact, 'validity' | 'sequence' | 'issued'>;

function formatError(a: Unvalidated, reason: string, cause?: unknown): CollateralFormatError {
  return new CollateralFormatError('ERR_COLLATERAL_FORMAT', `${a.kind} ${a.key}: ${reason}`, {
    // printableUrl: an artifact from a cache or bundle written before review s11 may name a URL with user:password.
    details: { artifact: a.key, ...(a.source.url ? { url: printableUrl(a.source.url) } : {}) },
    ...(cause === undefined ? {} : { cause }),
  });
}

function isoDate(a: Unvalidated, value: unknown, field: string): string {
  // X01: an unparsable or missing date rejects the artifact.
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value) || Number.isNaN(Date.parse(value))) {
    throw formatError(a, `${field} is not an ISO-8601 UTC date`);
  }
  const iso = new Date(Date.parse(value)).toISOString();
  // Date.parse rolls impossible dates over (Feb 30 -> Mar 2): the text must read back unchanged.
  if (iso.slice(0, 19) !== value.slice(0, 19)) throw formatError(a, `${field} is not a real calendar date`);
  return iso;
}

function intersect(windows: ValidityWindow[]): ValidityWindow {
  const from = Math.max(...windows.map((w) => Date.parse(w.notBefore)));
  const to = Math.min(...windows.map((w) => Date.parse(w.notAfter)));
  return { notBefore: new Date(from).toISOString(), notAfter: new Date(to).toISOString() };
}

function chainWindow(a: Unvalidated, pem: string | Uint8Array, expected: number | undefined): ValidityWindow {
  let certs: Uint8Array[];
  try {
    certs = splitPemCertificates(pem);
  } catch (err) {
    throw formatError(a, 'certificate chain is not PEM', err);
  }
  if (certs.length === 0 || (expected !== undefined && certs.length !== expected)) {
    throw formatError(a, `certificate chain has ${certs.length} certificates, expected ${expected ?? 'at least 1'}`);
  }
  return intersect(certs.map((der) => certificateWindow(a, der)));
}

function certificateWindow(a: Unvalidated, der: Uint8Array): ValidityWindow {
  try {
    const cert = parseCertificate(der);
    return { notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString() };
  } catch (err) {
    throw formatError(a, 'not a DER X.509 certificate', err);
  }
}

/** Accepts a CRL as DER, PEM or hex text of DER (PCCS answers vary); returns DER. */
function crlDer(body: Uint8Array): Uint8Array {
  const head = Buffer.from(body.subarray(0, 16)).toString('latin1');
  if (head.startsWith('-----BEGIN')) {
    const text = Buffer.from(body).toString('latin1');
    const m = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----/.exec(text);
    return m ? new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')) : body;
  }
  const text = Buffer.from(body).toString('latin1').trim();
  if (/^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0) return new Uint8Array(Buffer.from(text, 'hex'));
  return body;
}

function validateSignedJson(a: Unvalidated, member: 'tcbInfo' | 'enclaveIdentity'): CollateralArtifact {
  let value: Record<string, unknown>;
  try {
    value = parseSignedJson(a.body, member).value;
  } catch (err) {
    throw formatError(a, `not a signed ${member} document`, err);
  }
  if (!a.issuerChainPem) throw formatError(a, 'issuer chain header missing');
  const chain = chainWindow(a, a.issuerChainPem, undefined);
  const evalNumber = value['tcbEvaluationDataNumber'];
  if (!Number.isSafeInteger(evalNumber)) throw formatError(a, 'tcbEvaluationDataNumber is not an integer');
  const own = { notBefore: isoDate(a, value['issueDate'], 'issueDate'), notAfter: isoDate(a, value['nextUpdate'], 'nextUpdate') };
  return { ...a, validity: intersect([own, chain]), sequence: String(evalNumber), issued: own.notBefore };
}

function validateCrl(a: Unvalidated): CollateralArtifact {
  const der = crlDer(a.body);
  let crl: ReturnType<typeof parseCrl>;
  try {
    crl = parseCrl(der);
  } catch (err) {
    throw formatError(a, 'not a DER X.509 CRL', err);
  }
  if (!crl.nextUpdate) throw formatError(a, 'CRL has no nextUpdate');
  if ((a.kind === 'intel-pck-crl') && !a.issuerChainPem) throw formatError(a, 'issuer chain header missing');
  const windows = [{ notBefore: crl.thisUpdate.toISOString(), notAfter: crl.nextUpdate.toISOString() }];
  if (a.issuerChainPem) windows.push(chainWindow(a, a.issuerChainPem, undefined));
  const result: CollateralArtifact = { ...a, body: der, validity: intersect(windows), issued: crl.thisUpdate.toISOString() };
  if (crl.crlNumber !== undefined) result.sequence = crl.crlNumber.toString();
  return result;
}

/** Checks the shape of an artifact and fills in its validity window and sequence. */
export function validateArtifact(a: Unvalidated): CollateralArtifact {
  refuseAttachedChain(a);
  return nonEmptyWindow(a, shapeOf(a));
}

/** Kinds that come with an issuer chain (a response header); nothing else may carry one. */
const CHAINED_KINDS: ReadonlySet<CollateralArtifact['kind']> = new Set(['intel-tcb-info', 'intel-qe-identity', 'intel-pck-crl']);

/**
 * ERR_COLLATERAL_FORMAT for an issuer chain on a kind that never has one:
 * Intel's Root CA CRL and AMD's CRLs are signed by the pinned root / ARK
 * itself, AMD certificates and chains carry their issuers in the body. An
 * attached chain can only mislead (X03, review s8 #3), so it is refused
 * wherever artifacts enter: sources, bundles, cache files and `put`.
 */
export function refuseAttachedChain(a: Unvalidated): void {
  if (a.issuerChainPem !== undefined && !CHAINED_KINDS.has(a.kind)) {
    throw formatError(a, 'an issuer chain is attached to a kind that has none (it is checked against the pinned root only)');
  }
}

/**
 * An artifact whose window is empty (it starts after it ends: a TCB info with
 * an issuer chain that expired before its issueDate) can serve no instant; it
 * is refused, never cached (review s8 #2: a stale chain with the genuine body
 * sat in the cache with an empty window).
 */
function nonEmptyWindow(a: Unvalidated, artifact: CollateralArtifact): CollateralArtifact {
  const { notBefore, notAfter } = artifact.validity;
  if (Date.parse(notBefore) > Date.parse(notAfter)) throw formatError(a, `validity window is empty (${notBefore} .. ${notAfter}; an issuer chain outside the document's own window?)`);
  return artifact;
}

function shapeOf(a: Unvalidated): CollateralArtifact {
  switch (a.kind) {
    case 'intel-tcb-info':
      return validateSignedJson(a, 'tcbInfo');
    case 'intel-qe-identity':
      return validateSignedJson(a, 'enclaveIdentity');
    case 'intel-pck-crl':
    case 'intel-root-ca-crl':
    case 'amd-crl':
      return validateCrl(a);
    case 'amd-vcek':
    case 'amd-vlek': {
      const validity = certificateWindow(a, a.body);
      return { ...a, validity, issued: validity.notBefore };
    }
    case 'amd-cert-chain': {
      const validity = chainWindow(a, a.body, 2);
      return { ...a, validity, issued: validity.notBefore };
    }
    default:
      // A kind from a file (bundle, cache) is untyped input (review s13 #3).
      throw formatError(a, 'unknown artifact kind');
  }
}

/**
 * validateArtifact, then the document must be what its key asks for
 * (binding.ts): every artifact that enters from a source, a bundle or the
 * disk cache goes through this.
 */
export function validateArtifactForKey(a: Unvalidated): CollateralArtifact {
  const artifact = validateArtifact(a);
  checkKeyBinding(artifact);
  return artifact;
}
