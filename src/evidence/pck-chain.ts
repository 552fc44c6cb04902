/**
 * The DER certificates of a quote's PCK chain (certification data type 5),
 * for the quotes of the platforms seen recently. Every quote of a platform
 * carries the same chain bytes in a new buffer; the x509 split cache keys on
 * the full PEM as text, which is one ~4 KB string per quote. Here the few
 * recent chains are kept as private copies and a new chain is compared with
 * them byte for byte (memcmp, no allocation); only a chain that equals a
 * copy gets that copy's split, so the result is a pure function of content.
 * Failures are never cached (splitPemCertificates throws first).
 */
import { splitPemCertificates } from '../x509/index.js';

interface RecentChain {
  copy: Buffer;
  ders: readonly Uint8Array[];
}

/** A client talks to a few gateways; a broker serves many platforms and falls through to the x509 cache. */
const RECENT = 8;
const recent: RecentChain[] = [];

/**
 * The chain's certificates, in order, as the x509 layer splits them (the same
 * DER objects, so their parses are content-cached there too). The array is
 * shared: callers read it and never change it.
 */
export function pckChainCertificates(pem: Uint8Array): readonly Uint8Array[] {
  for (let i = 0; i < recent.length; i++) {
    const r = recent[i]!;
    if (r.copy.length === pem.length && r.copy.equals(pem)) return r.ders;
  }
  const ders = Object.freeze(splitPemCertificates(pem));
  if (recent.length >= RECENT) recent.pop();
  recent.unshift({ copy: Buffer.from(pem), ders });
  return ders;
}
