/**
 * Collateral as plain data: the exact bytes as served (signed JSON keeps its
 * bytes; CRLs and certificates are DER), the issuer chain that came with it,
 * its own validity window and where it came from. Everything a verification
 * needs travels in this one shape, whether fetched, cached or bundled.
 */

import { splitPemCertificates } from '../x509/index.js';

export type ArtifactKind =
  | 'intel-tcb-info'
  | 'intel-qe-identity'
  | 'intel-pck-crl'
  | 'intel-root-ca-crl'
  | 'amd-vcek'
  | 'amd-vlek'
  | 'amd-cert-chain'
  | 'amd-crl';

export type ArtifactOrigin = 'network' | 'cache' | 'bundle' | 'evidence';

export interface ValidityWindow {
  /** ISO-8601 instants; the artifact is usable when notBefore <= now <= notAfter. */
  notBefore: string;
  notAfter: string;
}

export interface CollateralArtifact {
  kind: ArtifactKind;
  /** Identity of the artifact, also its cache key (see keys.ts). */
  key: string;
  /** Exact bytes: the JSON response body, DER of a CRL / certificate, or a PEM chain. */
  body: Uint8Array;
  /** PEM issuer chain from the response header (Intel), when the artifact has one. */
  issuerChainPem?: string;
  validity: ValidityWindow;
  /**
   * Monotonic version used against rollback (X03): TCB info / QE identity
   * tcbEvaluationDataNumber, CRL number; compared before issue dates.
   */
  sequence?: string;
  /**
   * ISO-8601 instant the document itself says it was issued (CRL thisUpdate,
   * TCB info / QE identity issueDate, a certificate's notBefore): ranks
   * versions of equal sequence. Never the window narrowed by an issuer chain
   * from a response header, which a collateral server chooses freely (s15
   * red team: a stale PCK CRL with a made-up recent header certificate
   * outranked the genuine newer CRL, all Intel PCK CRLs having CRL number 1).
   */
  issued?: string;
  source: { origin: ArtifactOrigin; url?: string; fetchedAt?: string };
}

/**
 * Whether two artifacts are one version: same key, same body bytes and same
 * issuer chain (review s8 #2). The chain is part of a version: it narrows the
 * validity window and names the signer, so the genuine body with a stale or
 * foreign chain is another version, never a duplicate of the genuine one.
 * Chains are the same when their certificates' DER are (review s8 changes-b
 * #3): PEM line breaks and trailing whitespace vary between PCCS answers and
 * tools, and change nothing the verifier reads.
 */
export function sameVersion(a: CollateralArtifact, b: CollateralArtifact): boolean {
  return a === b || (a.key === b.key && sameChain(a.issuerChainPem, b.issuerChainPem) && Buffer.from(a.body).equals(Buffer.from(b.body)));
}

/** Two issuer chains with the same certificates (DER), in the same order; an unreadable chain equals only its own text. */
function sameChain(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  let x: Uint8Array[];
  let y: Uint8Array[];
  try {
    x = splitPemCertificates(a);
    y = splitPemCertificates(b);
  } catch {
    return false;
  }
  return x.length === y.length && x.every((der, i) => Buffer.from(der).equals(Buffer.from(y[i]!)));
}

const parsedWindows = new WeakMap<ValidityWindow, readonly [number, number]>();

/** The window as epoch milliseconds, parsed once per window object (hot path of warm lookups). */
function windowMs(window: ValidityWindow): readonly [number, number] {
  let ms = parsedWindows.get(window);
  if (!ms) {
    ms = [Date.parse(window.notBefore), Date.parse(window.notAfter)];
    parsedWindows.set(window, ms);
  }
  return ms;
}

/** True when `now` lies inside the window, optionally widened by a grace period after notAfter. */
export function isWithinWindow(window: ValidityWindow, now: Date, graceMs = 0): boolean {
  const t = now.getTime();
  const [from, to] = windowMs(window);
  // X01: an unparsable date never counts as valid (NaN comparisons are false).
  if (Number.isNaN(from) || Number.isNaN(to) || Number.isNaN(t)) return false;
  return from <= t && t <= to + graceMs;
}

/** Refresh once less than 10% of the window (at most one hour) is left (clarifications). */
export function needsRefresh(window: ValidityWindow, now: Date): boolean {
  const [from, to] = windowMs(window);
  const margin = Math.min((to - from) * 0.1, 60 * 60 * 1000);
  return to - now.getTime() < margin;
}
