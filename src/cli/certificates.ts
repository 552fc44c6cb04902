/**
 * Certificates named on the command line: --trust-root (replaces the pinned
 * roots) and --certs (VCEK / VLEK / ASK / ASVK / ARK used instead of
 * fetching). Files hold PEM certificates (text around the blocks is ignored,
 * as openssl writes it) or one DER certificate. Certificates are sorted into
 * roles by their subject CN only; trust comes from the verifier's checks
 * against the roots, never from this sorting.
 */
import { parseCertificate, SNP_CERT_GUIDS, type CertificateInfo, type SnpCertificateEntry, type SnpProduct, type TrustRoots } from '../index.js';
import { PRODUCTS } from './args.js';
import { UsageError } from './errors.js';
import { INPUT_LIMITS, readInput } from './files.js';

export interface NamedCertificate {
  der: Uint8Array;
  info: CertificateInfo;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;

/** Every certificate of a PEM or DER file, parsed; a file with none is a usage error. */
export async function readCertificates(path: string, option: string): Promise<NamedCertificate[]> {
  return certificatesFrom(await readInput(path, option, INPUT_LIMITS.document), `${option} ${path}`);
}

/** Every certificate of PEM text or one DER certificate, parsed; `what` names the source in errors. */
export function certificatesFrom(bytes: Uint8Array, what: string): NamedCertificate[] {
  const text = Buffer.from(bytes).toString('latin1');
  // DER starts with a SEQUENCE tag; anything else must hold PEM blocks.
  const ders = bytes[0] === 0x30 ? [bytes] : [...text.matchAll(PEM_BLOCK)].map((m) => new Uint8Array(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64')));
  if (ders.length === 0) throw new UsageError(`${what}: no PEM certificate found`, 'ERR_INPUT');
  return ders.map((der, i) => {
    try {
      return { der, info: parseCertificate(der) };
    } catch {
      throw new UsageError(`${what}: certificate ${i + 1} is not a valid X.509 certificate`, 'ERR_INPUT');
    }
  });
}

type AmdRole = { role: 'ark' | 'ask' | 'asvk'; product: SnpProduct } | { role: 'vcek' | 'vlek' };

/** AMD roles by CN: ARK-<P>, SEV-<P> (ASK), SEV-VLEK-<P> (ASVK), SEV-VCEK, SEV-VLEK. */
export function amdRole(info: CertificateInfo): AmdRole | undefined {
  const cn = info.subjectAttributes.CN ?? '';
  if (cn === 'SEV-VCEK') return { role: 'vcek' };
  if (cn === 'SEV-VLEK') return { role: 'vlek' };
  for (const product of PRODUCTS) {
    if (cn === `ARK-${product}`) return { role: 'ark', product };
    if (cn === `SEV-${product}`) return { role: 'ask', product };
    if (cn === `SEV-VLEK-${product}`) return { role: 'asvk', product };
  }
  return undefined;
}

function selfIssued(info: CertificateInfo): boolean {
  return Buffer.compare(info.subjectDer, info.issuerDer) === 0;
}

/**
 * --trust-root: self-issued EC certificates become Intel root CAs; AMD
 * ARK / ASK / ASVK are grouped per product (each product needs its ARK; a
 * missing ASK or ASVK leaves that key kind without an anchor, so its reports
 * fail S08).
 */
export async function readTrustRoots(path: string): Promise<TrustRoots> {
  return trustRootsFrom(await readCertificates(path, '--trust-root'), `--trust-root ${path}`, `trust-root:${path}`);
}

/** Sorts certificates into trust anchors (see readTrustRoots); `what` names the source in errors. */
export function trustRootsFrom(certs: NamedCertificate[], what: string, label: string): TrustRoots {
  const intelRootCas: Uint8Array[] = [];
  const amd: Partial<Record<SnpProduct, { ark?: Uint8Array; ask?: Uint8Array; asvk?: Uint8Array }>> = {};
  for (const [i, { der, info }] of certs.entries()) {
    const role = amdRole(info);
    if (role && 'product' in role) {
      (amd[role.product] ??= {})[role.role] = der;
    } else if (info.publicKey.kind === 'ec' && selfIssued(info)) {
      intelRootCas.push(der);
    } else {
      throw new UsageError(`${what}: certificate ${i + 1} (${info.subject}) is neither a self-signed Intel-style root nor an AMD ARK / ASK / ASVK`);
    }
  }
  const anchors: TrustRoots['amd'] = {};
  for (const [product, a] of Object.entries(amd) as [SnpProduct, { ark?: Uint8Array; ask?: Uint8Array; asvk?: Uint8Array }][]) {
    if (!a.ark) throw new UsageError(`${what}: ${product} certificates without ARK-${product}`);
    (anchors as Record<string, unknown>)[product] = { ark: a.ark, ask: a.ask ?? new Uint8Array(0), asvk: a.asvk ?? new Uint8Array(0) };
  }
  return { label, intelRootCas, amd: anchors };
}

const GUID_OF = Object.fromEntries(Object.entries(SNP_CERT_GUIDS).map(([guid, kind]) => [kind, guid])) as Record<'vcek' | 'vlek' | 'ask' | 'ark', string>;

function entry(kind: 'vcek' | 'vlek' | 'ask' | 'ark', der: Uint8Array): SnpCertificateEntry {
  return { guid: GUID_OF[kind], kind, der, offset: 0 };
}

export interface ExtraCertificates {
  /** AMD certificates by role (ASK and ASVK per product). */
  amd: { vcek?: Uint8Array; vlek?: Uint8Array; ask: Map<SnpProduct, Uint8Array>; asvk: Map<SnpProduct, Uint8Array>; ark: Map<SnpProduct, Uint8Array> };
  /** Certificates that are not AMD's (e.g. a PCK chain): quotes carry their own chain, so these go unused. */
  other: number;
}

/** --certs, sorted by role. */
export async function readExtraCertificates(path: string): Promise<ExtraCertificates> {
  const out: ExtraCertificates = { amd: { ask: new Map(), asvk: new Map(), ark: new Map() }, other: 0 };
  for (const { der, info } of await readCertificates(path, '--certs')) {
    const role = amdRole(info);
    if (!role) out.other++;
    else if ('product' in role) out.amd[role.role].set(role.product, der);
    else out.amd[role.role] = der;
  }
  return out;
}

/**
 * The certificate-table entries for one report: its signing certificate and
 * the intermediate of its key kind (a VLEK table carries the ASVK under the
 * ASK GUID) and ARK of its product.
 */
export function certTableFor(extra: ExtraCertificates, product: SnpProduct | undefined, signingKey: 'vcek' | 'vlek'): SnpCertificateEntry[] {
  const entries: SnpCertificateEntry[] = [];
  const leaf = extra.amd[signingKey];
  if (leaf) entries.push(entry(signingKey, leaf));
  if (product) {
    const intermediate = (signingKey === 'vcek' ? extra.amd.ask : extra.amd.asvk).get(product);
    const ark = extra.amd.ark.get(product);
    if (intermediate && ark) entries.push(entry('ask', intermediate), entry('ark', ark));
  }
  return entries;
}
