/**
 * The verification context of one worker, built from the run's VerifySetup:
 *
 * - collateral: with bundles, every version they hold goes into an in-memory
 *   cache, so each instant is served the version valid then (the cache keeps
 *   versions per artifact); what they lack is fetched from `pcsUrl` when
 *   given, else it is ERR_COLLATERAL_MISSING. Without bundles: Intel PCS (or
 *   `pcsUrl`) and AMD KDS through the default disk cache.
 * - trust roots: the pinned Intel and AMD roots, or the `trustRoot` file's
 *   certificates instead of all of them (as `tee-verify verify --trust-root`).
 * - the policy judge.
 * - the policy's collateral grace (`collateral.expiryGraceSeconds`), given to
 *   the collateral service and the verifier as `tee-verify verify` gives it:
 *   the run policy's for every record, a record's own with
 *   --allow-record-policy (review s13 CLI #2).
 */
import { readFileSync } from 'node:fs';

// Deep imports instead of '../index.js': the HTTP stack (undici) is loaded only
// when a network source is configured, so an offline run's workers start faster.
import { BundleSource, importBundle } from '../collateral/bundle.js';
import type { CollateralArtifact } from '../collateral/artifact.js';
import { CollateralCache } from '../collateral/cache.js';
import { CollateralService } from '../collateral/service.js';
import { PRODUCTION_TRUST_ROOTS, type TrustRoots } from '../verify/roots/index.js';
import { graceMsOf } from '../verify/grace.js';
import type { Relaxations } from '../verify/types.js';
import type { Policy } from '../policy/index.js';
import type { VerifySetup } from './config.js';
import type { FileRead } from './setup-digests.js';
import { graceOf, loadJudge, PolicyFileError, type Judge } from './judge.js';

export interface VerifyContext {
  /** The collateral service for records judged under the run's policy (its grace, if it names one). */
  service: CollateralService;
  trustRoots: TrustRoots;
  /** The run's relaxations: --skip-crl, and the run policy's collateral grace. */
  relaxations: Relaxations;
  judge: Judge;
  /**
   * The service and relaxations for a record whose policy names `graceSeconds` (undefined: none),
   * as verify uses a policy's grace (review s13 CLI #2). Throws ERR_INVALID_ARGUMENT for a grace
   * the verifier refuses (over 30 days). Absent on a hand-built context: the run's are used.
   */
  collateralFor?(graceSeconds: number | undefined): RecordCollateral;
}

/** What a record is verified with: the collateral service and the verifier's relaxations, both with the record's policy's grace. */
export interface RecordCollateral {
  service: CollateralService;
  relaxations: Relaxations;
}

/** A setup problem (unreadable bundle, bad PEM, bad policy): the CLI's usage error. */
export class SetupError extends Error {}

/**
 * A setup file's bytes: those the main thread read (`read`, review s14 #2), else read from `path`
 * now (a setup built by hand, without files).
 */
function readText(path: string, what: string, read?: FileRead): Uint8Array {
  if (read !== undefined) {
    if ('bytes' in read) return read.bytes;
    throw new SetupError(`${what} ${path} cannot be read: ${read.error}`);
  }
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SetupError(`${what} ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** `reads`: the bundles' bytes as the main thread read them, one per path (else the paths are read). */
export function loadBundles(paths: readonly string[], reads?: readonly FileRead[]): CollateralArtifact[] {
  const all: CollateralArtifact[] = [];
  paths.forEach((path, i) => {
    try {
      all.push(...importBundle(readText(path, '--collateral', reads?.[i])));
    } catch (err) {
      if (err instanceof SetupError) throw err;
      throw new SetupError(`--collateral ${path} is not a usable tee-verify collateral bundle: ${(err as Error).message}`);
    }
  });
  return all;
}

/** The warning every result of a run with --trust-root carries, worded as `tee-verify verify` words it. */
export const replacedRootsWarning = (path: string): string => `trust roots replaced by --trust-root ${path}: not the pinned Intel / AMD production roots`;

/**
 * --trust-root, read as `tee-verify verify --trust-root` reads it (src/cli/certificates.ts): PEM or
 * one DER certificate; self-signed EC certificates are Intel-style roots, AMD ARK / ASK / ASVK anchor
 * their product. The file replaces every pinned root, AMD's included (review s8 docs #5: the AMD
 * certificates of the file used to be dropped silently and the production AMD anchors kept).
 * Loaded on demand so that a run without it does not load the CLI's certificate module.
 */
export async function loadTrustRoots(path: string | undefined, read?: FileRead): Promise<TrustRoots> {
  if (path === undefined) return PRODUCTION_TRUST_ROOTS;
  const bytes = readText(path, '--trust-root', read);
  const [{ certificatesFrom, trustRootsFrom }, { UsageError }] = await Promise.all([import('../cli/certificates.js'), import('../cli/errors.js')]);
  try {
    return trustRootsFrom(certificatesFrom(bytes, `--trust-root ${path}`), `--trust-root ${path}`, `trust-root:${path}`);
  } catch (err) {
    if (err instanceof UsageError) throw new SetupError(err.message);
    throw err;
  }
}

/** Adds `warning` to every verdict, after the record's own (the run-level replacement each result must show). */
function warningOnEveryVerdict(judge: Judge, warning: string): Judge {
  return {
    judge(result, recordPolicy, reportData) {
      const verdict = judge.judge(result, recordPolicy, reportData);
      return { ...verdict, warnings: [...verdict.warnings, warning] };
    },
    ...(judge.graceSeconds ? { graceSeconds: judge.graceSeconds.bind(judge) } : {}),
  };
}

/**
 * The default disk cache. A directory it refuses (ERR_COLLATERAL_CACHE_DIR: not private, cannot be
 * created) is a setup error, exit 2 as in `verify`, not 70: a Job that retries internal errors would
 * retry a misconfiguration forever (review, session 6).
 */
function defaultDiskCache(): CollateralCache {
  try {
    return new CollateralCache();
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_COLLATERAL_CACHE_DIR') throw err;
    throw new SetupError(`ERR_COLLATERAL_CACHE_DIR: ${(err as Error).message} (set XDG_CACHE_HOME to another directory, or verify offline with --collateral bundles)`);
  }
}

/**
 * The collateral services of a worker, one per collateral grace period (review s13 CLI #2). Each
 * record's policy may name its own `collateral.expiryGraceSeconds` (with --allow-record-policy), and
 * the service's grace must be the verifier's: a service with more grace serves a version the
 * verifier then rejects (and discards from the cache), one with less refuses what the policy allows.
 * They share the sources and the cache (with it, under the pinned roots, the rollback floors, X03);
 * under --trust-root each service keeps its own floors in memory, as each worker already does.
 */
class ServicesByGrace {
  readonly #build: (graceMs: number) => CollateralService;
  readonly #run: number;
  readonly #runService: CollateralService;
  /** Other graces than the run's, least recently used first. */
  readonly #others = new Map<number, CollateralService>();

  constructor(build: (graceMs: number) => CollateralService, runGraceSeconds: number) {
    this.#build = build;
    this.#run = runGraceSeconds;
    this.#runService = build(runGraceSeconds * 1000);
  }

  get run(): CollateralService {
    return this.#runService;
  }

  /** The service for `graceSeconds` (0: none), already validated (graceMsOf). */
  for(graceSeconds: number): CollateralService {
    if (graceSeconds === this.#run) return this.#runService;
    let service = this.#others.get(graceSeconds);
    if (service) this.#others.delete(graceSeconds);
    else {
      service = this.#build(graceSeconds * 1000);
      // Record policies are archive content: distinct graces are few in practice, never unbounded here.
      if (this.#others.size >= MAX_GRACE_SERVICES) this.#others.delete(this.#others.keys().next().value as number);
    }
    this.#others.set(graceSeconds, service);
    return service;
  }
}

/** Services kept per worker for graces other than the run policy's. */
const MAX_GRACE_SERVICES = 16;

/** `trustRoots`: the run's roots (--trust-root), so that a test PKI's evaluations never raise the disk cache's rollback floors. */
async function buildServices(setup: VerifySetup, bundle: CollateralArtifact[], trustRoots: TrustRoots | undefined, runGraceSeconds: number): Promise<ServicesByGrace> {
  const network = setup.pcsUrl !== undefined || bundle.length === 0;
  let pcs: InstanceType<typeof import('../collateral/intel-pcs.js').IntelPcsClient> | undefined;
  let kds: InstanceType<typeof import('../collateral/amd-kds.js').AmdKdsClient> | undefined;
  if (network) {
    const [{ HttpClient }, { IntelPcsClient }, { AmdKdsClient }] = await Promise.all([import('../collateral/http.js'), import('../collateral/intel-pcs.js'), import('../collateral/amd-kds.js')]);
    const http = new HttpClient();
    pcs = new IntelPcsClient({ http, ...(setup.pcsUrl === undefined ? {} : { baseUrl: setup.pcsUrl }) });
    kds = new AmdKdsClient({ http });
  }
  // No fetch budget: a batch is an operator's job over stored evidence, and a fleet re-verified after a
  // TCB recovery may need thousands of distinct TCB infos and VCEKs a minute. The budget protects
  // services from hostile evidence (docs/collateral.md); here every record is meant to be judged.
  // --skip-crl's second gathering goes through this service too (src/cli/gather.ts), rollback floors included.
  // The policy's grace (as verify's openCollateral gives it): the cache may serve an artifact that far past its end.
  const common = (graceMs: number) => ({ fetchBudget: null, ...(trustRoots ? { trustRoots } : {}), ...(graceMs > 0 ? { graceMs } : {}) });
  if (bundle.length === 0) {
    const cache = defaultDiskCache();
    return new ServicesByGrace((graceMs) => new CollateralService({ intel: pcs!, amd: kds!, cache, ...common(graceMs) }), runGraceSeconds);
  }
  const cache = new CollateralCache({ directory: null, maxVersions: Math.max(8, bundle.length) });
  for (const a of bundle) cache.put(a);
  const source = new BundleSource(bundle);
  return new ServicesByGrace((graceMs) => new CollateralService({ intel: pcs ?? source, amd: source, cache, ...common(graceMs) }), runGraceSeconds);
}

/**
 * The run policy's grace, validated as the verifier validates it (at most 30 days): a policy file
 * that names more is a usage error before any record, as `verify --policy` refuses it (exit 2).
 */
function runGraceSeconds(setup: VerifySetup, policy: Policy | undefined): number {
  const seconds = graceOf(policy);
  if (seconds === undefined) return 0;
  try {
    graceMsOf({ collateralGraceSeconds: seconds });
  } catch (err) {
    throw new PolicyFileError(`--policy ${setup.policy}: collateral.expiryGraceSeconds ${seconds}: ${(err as Error).message}`);
  }
  return seconds;
}

export async function createContext(setup: VerifySetup): Promise<VerifyContext> {
  // The main thread's bytes when it passed them (the run: every worker and the setup check judge with
  // what the checkpoint's digests name, review s14 #2); the paths only for a setup built without them.
  const files = setup.files;
  const bundle = loadBundles(setup.collateral, files?.collateral);
  const trustRoots = await loadTrustRoots(setup.trustRoot, files?.trustRoot);
  const policyJudge = loadJudge(setup.policy, setup.allowRecordPolicy, files?.policy);
  const judge = setup.trustRoot === undefined ? policyJudge : warningOnEveryVerdict(policyJudge, replacedRootsWarning(setup.trustRoot));
  const grace = runGraceSeconds(setup, policyJudge.runPolicy);
  const services = await buildServices(setup, bundle, trustRoots, grace);
  const relaxationsWith = (seconds: number): Relaxations => ({ ...(setup.skipCrl ? { skipCrl: true } : {}), ...(seconds > 0 ? { collateralGraceSeconds: seconds } : {}) });
  return {
    service: services.run,
    trustRoots,
    relaxations: relaxationsWith(grace),
    judge,
    collateralFor(graceSeconds) {
      const seconds = graceSeconds ?? 0;
      graceMsOf({ collateralGraceSeconds: seconds }); // ERR_INVALID_ARGUMENT past 30 days, as the verifier says it
      return { service: services.for(seconds), relaxations: relaxationsWith(seconds) };
    },
  };
}
