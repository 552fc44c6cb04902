/**
 * Where collateral comes from for one CLI run: an offline bundle (tee-verify
 * bundle or dcap-qvl collateral JSON), the disk cache, and the network (Intel
 * PCS / PCCS, AMD KDS) unless --offline. Each artifact is requested from the
 * network at most once per run (--skip-crl's second gathering, which goes
 * through the same collateral service, reuses the first try's answer).
 */
import {
  AmdKdsClient,
  BundleSource,
  CollateralCache,
  CollateralService,
  CollateralUnavailableError,
  HttpClient,
  IntelPcsClient,
  TeeVerifyError,
  defaultCacheDirectory,
  importBundle,
  importDcapQvlCollateral,
  type AmdCollateralSource,
  type CollateralArtifact,
  type IntelCollateralSource,
  type TrustRoots,
} from '../index.js';
import { artifactKey, type AmdKeyKind, type AmdProduct, type PckCa, type QeIdentityRequest, type TcbInfoRequest, type VcekRequest } from '../collateral/index.js';
import { printableUrl } from '../collateral/source-url.js';
import { describeError, UsageError } from './errors.js';
import { INPUT_LIMITS, readInput } from './files.js';
import type { CliIo } from './io.js';

export interface CollateralOptions {
  pcsUrl?: string;
  kdsUrl?: string;
  cacheDir?: string;
  noCache: boolean;
  offline: boolean;
  /** --collateral: a tee-verify bundle or dcap-qvl collateral JSON. */
  bundle?: string;
  retries?: number;
  /** The policy's collateral grace (seconds): the cache may serve an artifact that far past its end. */
  graceSeconds?: number;
  /** --trust-root: the roots a cached version must chain to before it may overrule the bundle (X03). */
  trustRoots?: TrustRoots;
}

export type BundleFormat = 'tee-verify bundle' | 'dcap-qvl collateral';

/** Detects and imports a bundle file; anything unusable is a usage error naming the file. */
export async function readBundle(path: string, option = '--collateral'): Promise<{ format: BundleFormat; artifacts: CollateralArtifact[] }> {
  const bytes = await readInput(path, option, INPUT_LIMITS.document);
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new UsageError(`${option} ${path} is not JSON (expected a tee-verify bundle or dcap-qvl collateral)`, 'ERR_INPUT');
  }
  const record = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>) : {};
  const format: BundleFormat | undefined = record['format'] === 'tee-verify-collateral-bundle' ? 'tee-verify bundle' : 'tcb_info' in record ? 'dcap-qvl collateral' : undefined;
  if (!format) throw new UsageError(`${option} ${path} is neither a tee-verify bundle nor dcap-qvl collateral JSON`, 'ERR_INPUT');
  try {
    return { format, artifacts: format === 'tee-verify bundle' ? importBundle(bytes) : importDcapQvlCollateral(bytes) };
  } catch (err) {
    throw new UsageError(`${option} ${path}: ${err instanceof TeeVerifyError ? describeError(err) : String(err)}`, 'ERR_INPUT');
  }
}

/**
 * The sources of one run behind the collateral service; each network request
 * once per run (the memo). The network, then the bundle: the service already
 * served the bundle first while its artifact was valid at the instant (see
 * ArtifactResolver), so the bundle's artifact reached this way is outside its
 * window and is only the last answer (offline, or the network failed).
 */
class RunSource implements IntelCollateralSource, AmdCollateralSource {
  constructor(
    readonly bundle: BundleSource | undefined,
    readonly intelNet: IntelPcsClient | undefined,
    readonly amdNet: AmdKdsClient | undefined,
  ) {}

  /** Each network answer of the run, a failure included, by artifact key. */
  readonly #memo = new Map<string, Promise<CollateralArtifact>>();

  #net(key: string, fromNet: () => Promise<CollateralArtifact>): Promise<CollateralArtifact> {
    let p = this.#memo.get(key);
    if (!p) this.#memo.set(key, (p = fromNet()));
    return p;
  }

  async #get(key: string, fromNet: (() => Promise<CollateralArtifact>) | undefined): Promise<CollateralArtifact> {
    const held = this.bundle?.lookup(key);
    if (held && !fromNet) return held;
    if (!fromNet) throw new CollateralUnavailableError('ERR_COLLATERAL_MISSING', `${key} is not in the bundle or the cache, and --offline forbids fetching it`, { artifact: key });
    try {
      return await this.#net(key, fromNet);
    } catch (err) {
      if (held) return held;
      throw err;
    }
  }

  tcbInfo(r: TcbInfoRequest) {
    const net = this.intelNet;
    return this.#get(artifactKey.tcbInfo(r), net && (() => net.tcbInfo(r)));
  }
  qeIdentity(r: QeIdentityRequest) {
    const net = this.intelNet;
    return this.#get(artifactKey.qeIdentity(r), net && (() => net.qeIdentity(r)));
  }
  pckCrl(ca: PckCa) {
    const net = this.intelNet;
    return this.#get(artifactKey.pckCrl(ca), net && (() => net.pckCrl(ca)));
  }
  rootCaCrl() {
    const net = this.intelNet;
    return this.#get(artifactKey.rootCaCrl(), net && (() => net.rootCaCrl()));
  }
  vcek(r: VcekRequest) {
    const net = this.amdNet;
    return this.#get(artifactKey.vcek(r), net && (() => net.vcek(r)));
  }
  certChain(product: AmdProduct, key: AmdKeyKind) {
    const net = this.amdNet;
    return this.#get(artifactKey.certChain(product, key), net && (() => net.certChain(product, key)));
  }
  crl(product: AmdProduct, key: AmdKeyKind) {
    const net = this.amdNet;
    return this.#get(artifactKey.amdCrl(product, key), net && (() => net.crl(product, key)));
  }
}

export interface CollateralSetup {
  service: CollateralService;
  /** "network (https://...)", "bundle <file>", ... for the report. */
  description: string;
  bundleFormat?: BundleFormat;
  close(): Promise<void>;
}

function openCache(o: CollateralOptions, io: CliIo): CollateralCache | null {
  if (o.noCache) return null;
  const directory = o.cacheDir ?? defaultCacheDirectory((io.env ?? {}) as NodeJS.ProcessEnv);
  try {
    return new CollateralCache({ directory });
  } catch (err) {
    throw new UsageError(`cannot use the cache directory ${directory}: ${(err as Error).message} (pass --cache-dir <dir> or --no-cache)`);
  }
}

/**
 * The PCS and KDS clients for the `--pcs-url` / `--kds-url` options; a base URL
 * the clients refuse (not a URL, plain http off loopback, credentials) is a
 * usage error that names the option, not the library's `baseUrl`.
 */
export function collateralClients(http: HttpClient, pcsUrl: string | undefined, kdsUrl: string | undefined): { intel: IntelPcsClient; amd: AmdKdsClient } {
  const client = <T>(flag: string, make: () => T): T => {
    try {
      return make();
    } catch (err) {
      const message = err instanceof TeeVerifyError ? err.message.replace(/^baseUrl /, '') : String(err);
      throw new UsageError(`${flag}: ${message}`);
    }
  };
  const intel = client('--pcs-url', () => new IntelPcsClient({ http, ...(pcsUrl === undefined ? {} : { baseUrl: pcsUrl }) }));
  const amd = client('--kds-url', () => new AmdKdsClient({ http, ...(kdsUrl === undefined ? {} : { baseUrl: kdsUrl }) }));
  return { intel, amd };
}

/** Network clients for the collateral options. */
function openNetwork(o: CollateralOptions): { http: HttpClient; intel: IntelPcsClient; amd: AmdKdsClient } {
  const http = new HttpClient(o.retries === undefined ? {} : { retries: o.retries });
  return { http, ...collateralClients(http, o.pcsUrl, o.kdsUrl) };
}

/**
 * Reads the bundle, validates the base URLs and opens the cache: every
 * problem with these options is a usage error before any work is done.
 */
export async function openCollateral(o: CollateralOptions, io: CliIo): Promise<CollateralSetup> {
  if (o.offline && (o.pcsUrl !== undefined || o.kdsUrl !== undefined)) throw new UsageError('--offline fetches nothing: drop --pcs-url / --kds-url');
  const bundle = o.bundle === undefined ? undefined : await readBundle(o.bundle);
  const cache = openCache(o, io);
  const net = o.offline ? undefined : openNetwork(o);
  const explicit = bundle && new BundleSource(bundle.artifacts);
  const fetched = new RunSource(explicit, net?.intel, net?.amd);
  const parts = [bundle ? `bundle ${o.bundle} (${bundle.format})` : undefined, cache ? `cache ${cache.directory ?? 'in memory'}` : undefined, net ? `network (PCS ${printableUrl(net.intel.baseUrl)}, KDS ${printableUrl(net.amd.baseUrl)})` : undefined];
  return {
    service: new CollateralService({
      intel: fetched,
      amd: fetched,
      cache,
      // --collateral before the cache (X03 ranked against --trust-root's roots, else the pinned ones).
      ...(explicit ? { bundle: explicit } : {}),
      ...(o.trustRoots ? { trustRoots: o.trustRoots } : {}),
      ...(o.graceSeconds ? { graceMs: o.graceSeconds * 1000 } : {}),
      // No refresh attempts that --offline can only refuse (review s8 changes-b #4).
      ...(o.offline ? { offline: true } : {}),
    }),
    description: parts.filter((p) => p !== undefined).join(', ') || 'none',
    ...(bundle ? { bundleFormat: bundle.format } : {}),
    close: async () => {
      await net?.http.close();
    },
  };
}
