/**
 * The verification context of one worker, built from the run's VerifySetup:
 *
 * - collateral: with bundles, every version they hold goes into an in-memory
 *   cache, so each instant is served the version valid then (the cache keeps
 *   versions per artifact); what they lack is fetched from `pcsUrl` when
 *   given, else it is ERR_COLLATERAL_MISSING. Without bundles: Intel PCS (or
 *   `pcsUrl`) and AMD KDS through the default disk cache.
 * - trust roots: Intel's pinned root, or the `trustRoot` PEM instead of it
 *   (AMD anchors stay the production ones).
 * - the policy judge.
 */
import { readFileSync } from 'node:fs';

import {
  AmdKdsClient,
  BundleSource,
  CollateralCache,
  CollateralService,
  HttpClient,
  IntelPcsClient,
  PRODUCTION_TRUST_ROOTS,
  importBundle,
  splitPemCertificates,
  type CollateralArtifact,
  type Relaxations,
  type TrustRoots,
} from '../index.js';
import type { VerifySetup } from './config.js';
import { loadJudge, type Judge } from './judge.js';

export interface VerifyContext {
  service: CollateralService;
  trustRoots: TrustRoots;
  relaxations: Relaxations;
  judge: Judge;
}

/** A setup problem (unreadable bundle, bad PEM, bad policy): the CLI's usage error. */
export class SetupError extends Error {}

function readText(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SetupError(`${what} ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export function loadBundles(paths: readonly string[]): CollateralArtifact[] {
  const all: CollateralArtifact[] = [];
  for (const path of paths) {
    try {
      all.push(...importBundle(readText(path, '--collateral')));
    } catch (err) {
      if (err instanceof SetupError) throw err;
      throw new SetupError(`--collateral ${path} is not a usable tee-verify collateral bundle: ${(err as Error).message}`);
    }
  }
  return all;
}

export function loadTrustRoots(path: string | undefined): TrustRoots {
  if (path === undefined) return PRODUCTION_TRUST_ROOTS;
  let certificates: Uint8Array[];
  try {
    certificates = splitPemCertificates(readText(path, '--trust-root').toString('utf8'));
  } catch (err) {
    if (err instanceof SetupError) throw err;
    throw new SetupError(`--trust-root ${path} holds no PEM certificate: ${(err as Error).message}`);
  }
  if (certificates.length === 0) throw new SetupError(`--trust-root ${path} holds no PEM certificate`);
  return { label: `custom (${path})`, intelRootCas: certificates, amd: PRODUCTION_TRUST_ROOTS.amd };
}

function buildService(setup: VerifySetup, bundle: CollateralArtifact[]): CollateralService {
  const http = setup.pcsUrl !== undefined || bundle.length === 0 ? new HttpClient() : undefined;
  const pcs = http ? new IntelPcsClient({ http, ...(setup.pcsUrl === undefined ? {} : { baseUrl: setup.pcsUrl }) }) : undefined;
  if (bundle.length === 0) {
    return new CollateralService({ intel: pcs!, amd: new AmdKdsClient({ http: http! }), cache: new CollateralCache() });
  }
  const cache = new CollateralCache({ directory: null, maxVersions: Math.max(8, bundle.length) });
  for (const a of bundle) cache.put(a);
  const source = new BundleSource(bundle);
  return new CollateralService({ intel: pcs ?? source, amd: source, cache });
}

export function createContext(setup: VerifySetup): VerifyContext {
  const bundle = loadBundles(setup.collateral);
  return {
    service: buildService(setup, bundle),
    trustRoots: loadTrustRoots(setup.trustRoot),
    relaxations: setup.skipCrl ? { skipCrl: true } : {},
    judge: loadJudge(setup.policy),
  };
}
