/**
 * Offline collateral bundles: one JSON file holding every artifact a
 * verification needs, with its exact bytes. A bundle is also a source, so the
 * same verification code runs online, offline, or at a past instant over
 * archived collateral. Phala dcap-qvl's collateral JSON is accepted too.
 */
import { CollateralFormatError } from '../errors.js';
import { parseCrl } from '../x509/index.js';
import { sameVersion, type CollateralArtifact } from './artifact.js';
import { isOlder } from './cache.js';
import { CollateralUnavailableError } from './errors.js';
import { artifactKey, kindOfKey, type AmdKeyKind, type AmdProduct, type PckCa, type QeIdentityRequest, type TcbInfoRequest, type VcekRequest } from './keys.js';
import type { AmdCollateralSource, IntelCollateralSource } from './source.js';
import { printableUrl } from './source-url.js';
import { parseStrictJson } from './strict-json.js';
import { validateArtifactForKey } from './validate.js';

export const BUNDLE_FORMAT = 'tee-verify-collateral-bundle';
export const BUNDLE_VERSION = 1;

interface BundleArtifactJson {
  kind: CollateralArtifact['kind'];
  key: string;
  /** base64 of the exact bytes. */
  body: string;
  issuerChainPem?: string;
  source?: CollateralArtifact['source'];
}

export interface CollateralBundleJson {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  artifacts: BundleArtifactJson[];
}

function bundleError(message: string, cause?: unknown): CollateralFormatError {
  return new CollateralFormatError('ERR_COLLATERAL_FORMAT', `collateral bundle: ${message}`, cause === undefined ? {} : { cause });
}

/** A JSON object: not null, not an array, not a scalar. */
function isJsonObject(value: unknown): value is { [k: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a JSON value is, for a message: null, array or its type (never the value, which may be long). */
function jsonType(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

/**
 * `value` when it is a JSON object, else ERR_COLLATERAL_FORMAT naming `what`
 * (review s13 CR #2: a document or field that was `null` was read as an object,
 * an untyped TypeError).
 */
function jsonObject(value: unknown, what: string): { [k: string]: unknown } {
  if (!isJsonObject(value)) throw bundleError(`${what} is not a JSON object (found ${jsonType(value)})`);
  return value;
}

/**
 * One artifact per key: of two under one key the newer by isOlder (sequence,
 * then issue date, then start of validity; the cache's X03 ranking), whatever the order they
 * come in (review s8 #4: the last one used to win).
 */
function newestPerKey(artifacts: Iterable<CollateralArtifact>): Map<string, CollateralArtifact> {
  const byKey = new Map<string, CollateralArtifact>();
  for (const a of artifacts) {
    const held = byKey.get(a.key);
    if (held === undefined || isOlder(held, a)) byKey.set(a.key, a);
  }
  return byKey;
}

/**
 * Which versions a bundle export writes. `newest` (default): one per key,
 * the newest (newestPerKey), what a verification at one instant uses
 * (`collateral fetch` / `export`). `all`: every distinct version (sameVersion),
 * as importBundle keeps them: an archive bundle holds one per collection
 * window, and `collateral import` must not drop them (review s8 changes-b #2).
 */
export type BundleVersions = 'newest' | 'all';

export interface ExportBundleOptions {
  versions?: BundleVersions;
}

/** Rank order under one key (isOlder): older first, so a file reads like the key's history. */
function byRank(a: CollateralArtifact, b: CollateralArtifact): number {
  return isOlder(a, b) ? -1 : isOlder(b, a) ? 1 : 0;
}

/** The artifacts an export writes (see BundleVersions), in file order: by key, then older first. */
export function bundleVersions(artifacts: Iterable<CollateralArtifact>, versions: BundleVersions = 'newest'): CollateralArtifact[] {
  let list: CollateralArtifact[];
  if (versions === 'newest') {
    list = [...newestPerKey(artifacts).values()];
  } else {
    list = [];
    for (const a of artifacts) if (!list.some((held) => sameVersion(held, a))) list.push(a);
  }
  return list.sort((a, b) => a.key.localeCompare(b.key) || byRank(a, b));
}

/** Provenance as written to or read from a file: a URL never carries userinfo (an older cache or bundle may hold one). */
function printableSource<T extends { url?: string }>(source: T): T {
  return typeof source.url !== 'string' ? source : { ...source, url: printableUrl(source.url) };
}

/** Serialises artifacts (bundleVersions: by default one per key, the newest) into bundle JSON text. */
export function exportBundle(artifacts: Iterable<CollateralArtifact>, options: ExportBundleOptions = {}): string {
  const out: CollateralBundleJson = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    artifacts: bundleVersions(artifacts, options.versions).map((a) => ({
      kind: a.kind,
      key: a.key,
      body: Buffer.from(a.body).toString('base64'),
      ...(a.issuerChainPem === undefined ? {} : { issuerChainPem: a.issuerChainPem }),
      source: printableSource(a.source),
    })),
  };
  return `${JSON.stringify(out, null, 2)}\n`;
}

/**
 * Reads bundle JSON; every artifact passes the same shape checks as a network
 * response. Several versions under one key are kept: an archive for batch
 * re-verification holds the window current at each collection time, and the
 * cache judges between them by instant. The same version twice is kept once.
 * Two different artifacts that neither ranks older (isOlder: same sequence,
 * issue date and start of validity) are ERR_COLLATERAL_FORMAT (review s8 #4): which of
 * them the file meant is not ours to guess, so neither is taken.
 */
export function importBundle(text: string | Uint8Array): CollateralArtifact[] {
  const bytes = typeof text === 'string' ? new Uint8Array(Buffer.from(text, 'utf8')) : text;
  const doc = jsonObject(parseStrictJson(bytes), 'the document') as Partial<CollateralBundleJson>;
  if (doc.format !== BUNDLE_FORMAT || doc.version !== BUNDLE_VERSION || !Array.isArray(doc.artifacts)) {
    throw bundleError(`not a ${BUNDLE_FORMAT} v${BUNDLE_VERSION} document`);
  }
  const byKey = new Map<string, CollateralArtifact[]>();
  const out: CollateralArtifact[] = [];
  doc.artifacts.forEach((a, i) => {
    const artifact = importArtifact(a, i);
    const held = byKey.get(artifact.key) ?? [];
    if (held.some((h) => sameVersion(h, artifact))) return;
    if (held.some((h) => !isOlder(h, artifact) && !isOlder(artifact, h))) {
      throw new CollateralFormatError('ERR_COLLATERAL_FORMAT', `collateral bundle: artifact ${i} is a different document with the same rank (sequence, issue date and start of validity) as another under ${artifact.key}`, {
        details: { artifact: artifact.key, reason: 'duplicate-key' },
      });
    }
    byKey.set(artifact.key, [...held, artifact]);
    out.push(artifact);
  });
  return out;
}

function importArtifact(a: BundleArtifactJson, i: number): CollateralArtifact {
  jsonObject(a, `artifact ${i}`);
  if (typeof a.key !== 'string' || kindOfKey(a.key) === undefined || typeof a.body !== 'string') throw bundleError(`artifact ${i} is malformed`);
  // The kind must be the one its key names (review s13 #3: an unknown or missing kind reached validateArtifact untyped).
  if (a.kind !== kindOfKey(a.key)) {
    throw new CollateralFormatError('ERR_COLLATERAL_FORMAT', `collateral bundle: artifact ${i} has kind ${typeof a.kind === 'string' ? JSON.stringify((a.kind as string).slice(0, 40)) : `of type ${a.kind === null ? 'null' : typeof a.kind}`}, but its key ${a.key} names ${kindOfKey(a.key)}`, {
      details: { artifact: a.key, reason: 'kind-not-of-key' },
    });
  }
  if (a.issuerChainPem !== undefined && typeof a.issuerChainPem !== 'string') throw bundleError(`artifact ${i} (${a.key}) has an issuerChainPem that is not a string (found ${jsonType(a.issuerChainPem)})`);
  // Provenance, when present, is an object whose url and fetchedAt are strings (origin is set here).
  if (a.source !== undefined) {
    const source = jsonObject(a.source, `artifact ${i} (${a.key}) source`);
    for (const field of ['url', 'fetchedAt'] as const) {
      if (source[field] !== undefined && typeof source[field] !== 'string') throw bundleError(`artifact ${i} (${a.key}) source.${field} is not a string (found ${jsonType(source[field])})`);
    }
  }
  return validateArtifactForKey({
    kind: a.kind,
    key: a.key,
    body: new Uint8Array(Buffer.from(a.body, 'base64')),
    ...(a.issuerChainPem === undefined ? {} : { issuerChainPem: a.issuerChainPem }),
    source: { ...printableSource(a.source ?? {}), origin: 'bundle' },
  });
}

/** Converts Phala dcap-qvl QuoteCollateralV3 JSON into artifacts. */
export function importDcapQvlCollateral(text: string | Uint8Array): CollateralArtifact[] {
  const bytes = typeof text === 'string' ? new Uint8Array(Buffer.from(text, 'utf8')) : text;
  const c = jsonObject(parseStrictJson(bytes), 'the dcap-qvl document');
  const str = (k: string): string => {
    const v = c[k];
    if (typeof v !== 'string' || v.length === 0) throw bundleError(`dcap-qvl collateral lacks "${k}"`);
    return v;
  };
  const tcbInfoText = str('tcb_info');
  const tcbInfo = jsonObject(parseStrictJson(new Uint8Array(Buffer.from(tcbInfoText, 'utf8'))), 'dcap-qvl tcb_info');
  const tee = tcbInfo.id === 'TDX' ? 'tdx' : tcbInfo.id === 'SGX' ? 'sgx' : undefined;
  if (!tee || typeof tcbInfo.fmspc !== 'string') throw bundleError('dcap-qvl tcb_info has no TDX/SGX id or fmspc');
  const source = { origin: 'bundle' as const };
  // The signed bytes are the tcb_info / qe_identity strings exactly; wrapping them
  // in the PCS response shape leaves those bytes untouched.
  const tcbBody = `{"tcbInfo":${tcbInfoText},"signature":"${str('tcb_info_signature')}"}`;
  const qeIdentityText = str('qe_identity');
  jsonObject(parseStrictJson(new Uint8Array(Buffer.from(qeIdentityText, 'utf8'))), 'dcap-qvl qe_identity');
  const qeBody = `{"enclaveIdentity":${qeIdentityText},"signature":"${str('qe_identity_signature')}"}`;
  const pckCrl = new Uint8Array(Buffer.from(str('pck_crl'), 'hex'));
  let issuer: string | undefined;
  try {
    issuer = parseCrl(pckCrl).issuerAttributes.CN;
  } catch (err) {
    // Malformed like any other bundle field (review s13 #3), not the evidence parser's ERR_BAD_DER.
    throw bundleError('dcap-qvl pck_crl is not hex of a DER X.509 CRL', err);
  }
  const ca: PckCa = issuer === 'Intel SGX PCK Platform CA' ? 'platform' : 'processor';
  return [
    validateArtifactForKey({ kind: 'intel-tcb-info', key: artifactKey.tcbInfo({ tee, fmspc: tcbInfo.fmspc }), body: new Uint8Array(Buffer.from(tcbBody)), issuerChainPem: str('tcb_info_issuer_chain'), source }),
    validateArtifactForKey({ kind: 'intel-qe-identity', key: artifactKey.qeIdentity({ tee }), body: new Uint8Array(Buffer.from(qeBody)), issuerChainPem: str('qe_identity_issuer_chain'), source }),
    validateArtifactForKey({ kind: 'intel-pck-crl', key: artifactKey.pckCrl(ca), body: pckCrl, issuerChainPem: str('pck_crl_issuer_chain'), source }),
    validateArtifactForKey({ kind: 'intel-root-ca-crl', key: artifactKey.rootCaCrl(), body: new Uint8Array(Buffer.from(str('root_ca_crl'), 'hex')), source }),
  ];
}

/**
 * The key prefix under which a channel lookup (`.../update=standard`) may be
 * answered by what a bundle holds for the same TEE (and FMSPC): a bundle made
 * by other tooling may not record the update channel. Undefined for keys that
 * name exactly one document (an evaluation number, a CRL, a VCEK, a chain).
 */
function channelPrefix(key: string): string | undefined {
  if (!key.startsWith('intel/tcb-info/') && !key.startsWith('intel/qe-identity/')) return undefined;
  const slash = key.lastIndexOf('/');
  return key.startsWith('update=', slash + 1) ? key.slice(0, slash + 1) : undefined;
}

/** An offline source answering from a set of artifacts; a missing one is ERR_COLLATERAL_MISSING. */
export class BundleSource implements IntelCollateralSource, AmdCollateralSource {
  readonly #byKey: Map<string, CollateralArtifact>;
  /** Channel lookups answered by an entry recorded under another selector, built once per key asked. */
  readonly #rekeyed = new Map<string, CollateralArtifact>();

  /** Of two artifacts under one key the newer is kept (newestPerKey), whatever their order. */
  constructor(artifacts: Iterable<CollateralArtifact>) {
    this.#byKey = newestPerKey(artifacts);
  }

  get artifacts(): CollateralArtifact[] {
    return [...this.#byKey.values()];
  }

  /** The artifact under exactly `key`, without a promise (see AmdCollateralSource.stored). */
  stored(key: string): CollateralArtifact | undefined {
    return this.#byKey.get(key);
  }

  /**
   * What the matching request resolves to, synchronously: the artifact under
   * `key`, else for a channel key an entry of the same TEE (and FMSPC)
   * recorded under another selector, the newest of them by isOlder (review s8
   * #4; not the first in file order), served under the key asked for (same
   * bytes, same window; the provider checks the binding). The same object on
   * every call.
   */
  lookup(key: string): CollateralArtifact | undefined {
    const exact = this.#byKey.get(key);
    if (exact) return exact;
    const prefix = channelPrefix(key);
    if (prefix === undefined) return undefined;
    let found = this.#rekeyed.get(key);
    if (!found) {
      let other: CollateralArtifact | undefined;
      for (const a of this.#byKey.values()) if (a.key.startsWith(prefix) && (other === undefined || isOlder(other, a))) other = a;
      // Keys asked for come from evidence (an FMSPC): remember only what a bundle holds.
      if (other) this.#rekeyed.set(key, (found = { ...other, key }));
    }
    return found;
  }

  #get(key: string): Promise<CollateralArtifact> {
    const found = this.lookup(key);
    if (found) return Promise.resolve(found);
    return Promise.reject(new CollateralUnavailableError('ERR_COLLATERAL_MISSING', `the bundle has no ${key}`, { artifact: key }));
  }

  tcbInfo(r: TcbInfoRequest): Promise<CollateralArtifact> {
    return this.#get(artifactKey.tcbInfo(r));
  }
  qeIdentity(r: QeIdentityRequest): Promise<CollateralArtifact> {
    return this.#get(artifactKey.qeIdentity(r));
  }
  pckCrl(ca: PckCa): Promise<CollateralArtifact> {
    return this.#get(artifactKey.pckCrl(ca));
  }
  rootCaCrl(): Promise<CollateralArtifact> {
    return this.#get(artifactKey.rootCaCrl());
  }
  vcek(r: VcekRequest): Promise<CollateralArtifact> {
    return this.#get(artifactKey.vcek(r));
  }
  certChain(product: AmdProduct, key: AmdKeyKind): Promise<CollateralArtifact> {
    return this.#get(artifactKey.certChain(product, key));
  }
  crl(product: AmdProduct, key: AmdKeyKind): Promise<CollateralArtifact> {
    return this.#get(artifactKey.amdCrl(product, key));
  }
}
