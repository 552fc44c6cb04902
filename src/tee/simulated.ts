/**
 * A simulated TEE on the synthetic test PKI (src/testing). It produces real,
 * verifiable evidence — a TDX quote v4 (default) or a SEV-SNP report v3 —
 * whose REPORTDATA is exactly the 64 bytes asked for, together with the
 * matching test trust roots and collateral. A key broker configured with
 * `trustRoots` (or `trustRootPem`) and `collateral` accepts its evidence;
 * the production trust roots never do. For development and tests only.
 *
 * The PKI is created once per provider: its certificate signatures vary from
 * run to run, and trust roots pin the exact DER. Its keys are fresh random
 * keys by default (review s7): with keys derived from a public seed, anyone
 * holding a platform's published roots could sign evidence they accept. The
 * `keySeed` option derives them instead, for reproducible test material only.
 * The seed (`seed`) still fixes the public fields: measurements, serials,
 * FMSPC, chip id. The SEV-SNP root keys (RSA, slow to generate) are random
 * once per process and shared by its SEV-SNP platforms; their VCEK / VLEK keys
 * are each platform's own.
 */
import { X509Certificate, createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { generateEcKeyObjects } from '../crypto/ec-keys.js';
import { exportBundle, importBundle, parseEvidence, type CollateralArtifact, type SnpReport, type TrustRoots } from '../index.js';
import { artifactKey } from '../collateral/index.js';
import { validateArtifact } from '../collateral/validate.js';
import {
  buildSnpCertTable,
  buildSnpReport,
  buildTdxQuote,
  createAmdTestPki,
  createSyntheticIntelPlatform,
  type SyntheticIntelPlatform,
} from '../testing/index.js';
import { buildEmptyAmdCrl } from '../testing/amd-crl.js';
import { loadAmdRsaKeys, type AmdRsaKeys } from '../testing/rsa-keys.js';
import { deriveEcKeyPair, type TestCurve, type TestKeyPair } from '../testing/seed.js';
import { EvidenceProviderError, isModelError } from '../model/errors.js';
import { REPORT_DATA_SIZE, type EvidenceProvider, type TeeEvidence } from './types.js';

const DAY = 86_400_000;
export const SIMULATED_TEE_SEED = 'tee-model simulated TEE';

export interface SimulatedTeeOptions {
  /** Default "tdx". */
  tee?: 'tdx' | 'snp';
  /** Centre of the certificates' and collateral's validity (collateral: one day before to 29 days after). Default: now. */
  at?: Date;
  /** Seed of the deterministic public fields: measurements, serials, FMSPC / chip id. Default SIMULATED_TEE_SEED. */
  seed?: string;
  /**
   * Derive the platform's keys from this seed instead of generating random ones: reproducible test
   * material only. Anyone who knows the seed can sign evidence this platform's roots accept (the
   * gateway warns about such a platform). With keySeed equal to seed, the platform's keys are those
   * of the releases before review s7.
   */
  keySeed?: string;
  /** SEV-SNP only: the VMPL the reports claim (0-3), to test a verifier's S24 rule. Default 0. */
  vmpl?: number;
}

interface Backend {
  trustRoots: TrustRoots;
  trustRootPem: string;
  artifacts: CollateralArtifact[];
  build(reportData: Uint8Array): { evidence: Uint8Array; auxblob?: Uint8Array };
}

/**
 * Everything needed to go on producing evidence for the same simulated
 * platform in another process (the CLI's --simulated-state): the signing key
 * of the leaf, the certificates, the collateral bundle. Test material only.
 */
export interface SimulatedTeeState {
  format: 'tee-model-simulated-tee';
  version: 1;
  tee: 'tdx' | 'snp';
  seed: string;
  at: string;
  /** PKCS#8 PEM of the PCK key (TDX) or VCEK key (SNP). */
  signingKeyPem: string;
  /** TDX: PCK chain leaf ‖ intermediate ‖ root. */
  pckChainPem?: string;
  /** Trust roots as PEM: TDX root; SNP ARK, ASK, ASVK in that order. */
  trustRootPem: string;
  /** SNP: the auxblob certificate table, base64. */
  auxblob?: string;
  /** tee-verify collateral bundle document. */
  collateralBundle: string;
  /** SEV-SNP: the VMPL of the reports when not 0 (SimulatedTeeOptions.vmpl). */
  vmpl?: number;
  /**
   * Where the keys came from: "random" (the default since review s7) or "seed" (SimulatedTeeOptions.keySeed).
   * Absent in older state files, whose keys derive from `seed`, a public value.
   */
  keys?: 'random' | 'seed';
  /** TDX: PKCS#8 PEM of the QE attestation key. Absent in older state files (then derived from `seed`). */
  attestationKeyPem?: string;
}

/** Where a new platform's keys come from: fresh random keys, or derived from an explicit key seed. */
interface KeySource {
  ec(label: string, curve: TestCurve): TestKeyPair;
  amdRsa(): AmdRsaKeys;
}

function randomEc(curve: TestCurve): TestKeyPair {
  const { privateKey, publicKey } = generateEcKeyObjects(curve); // no key-generation job: src/crypto/ec-keys.ts
  return { curve, privateKey, publicKey };
}

function randomRsa(): TestKeyPair {
  // RSA-2048 like the committed test keys (rsa-keys.ts): AMD's are 4096, but these are test roots.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  return { curve: 'RSA', privateKey, publicKey };
}

/**
 * The random AMD root keys (ARK, ASK, ASVK) of this process, generated at the first SEV-SNP
 * platform and shared by every later one (review s7b): three RSA-2048 key generations cost 0.6 to
 * 1.2 s, paid by each of some fifteen test files and every `serve --simulated-tee snp`. They stay
 * random and only their public halves leave the process (in certificates), so another process has
 * other roots. Like real chips under one AMD root, each platform has its own VCEK / VLEK: a report
 * of one is refused against another's VCEK (SIG_REPORT), but the roots of one platform do chain the
 * VCEK certificate of another platform of the same process: B's report with the VCEK of its
 * certificate table verifies under A's trust roots and A's collateral. (B's own collateral is still
 * refused there, S37: its ARK certificate has the same key but other bytes, and the ARK is pinned
 * byte for byte.) Tests that need platforms isolated from each other use separate processes or a
 * fresh module instance (test/tee/review-s7b-simulated.test.ts).
 */
let processAmdRsaKeys: AmdRsaKeys | undefined;

function sharedRandomAmdRsa(): AmdRsaKeys {
  processAmdRsaKeys ??= { ark: randomRsa(), ask: randomRsa(), asvk: randomRsa() };
  return processAmdRsaKeys;
}

function keySourceOf(keySeed: string | undefined): KeySource {
  if (keySeed === undefined) return { ec: (_label, curve) => randomEc(curve), amdRsa: sharedRandomAmdRsa };
  // The labels are the testing PKI builders' own, so keySeed = seed rebuilds their default keys.
  return { ec: (label, curve) => deriveEcKeyPair(keySeed, label, curve), amdRsa: () => loadAmdRsaKeys('Milan') };
}

const pemToKey = (pem: string): KeyObject => createPrivateKey(pem);
const keyToPem = (k: KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }).toString();

function certsOf(pem: string): Uint8Array[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((p) => new Uint8Array(new X509Certificate(p).raw));
}

function createTdxState(at: Date, seed: string, keys: KeySource): SimulatedTeeState {
  const key = (label: string) => ({ key: keys.ec(label, 'P-256') });
  const overrides = { root: key('intel:root'), pckCa: key('intel:pck-ca:platform'), pck: key('intel:pck'), tcbSigning: key('intel:tcb-signing') };
  const platform: SyntheticIntelPlatform = createSyntheticIntelPlatform({ tee: 'tdx', at, seed, version: 4, caType: 'platform', pki: { overrides } });
  const c = platform.collateral;
  const artifacts = [c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a): a is CollateralArtifact => a !== undefined);
  const pki = platform.pki;
  return {
    format: 'tee-model-simulated-tee',
    version: 1,
    tee: 'tdx',
    seed,
    at: at.toISOString(),
    signingKeyPem: keyToPem(pki.pck.key.privateKey),
    attestationKeyPem: keyToPem(keys.ec('intel:attestation-key', 'P-256').privateKey),
    pckChainPem: pki.pckChainPem,
    trustRootPem: pki.root.pem,
    collateralBundle: exportBundle(artifacts),
  };
}

const NAMED_CURVE = { 'P-256': 'prime256v1', 'P-384': 'secp384r1' } as const;

/**
 * A state's private key must be the kind its TEE signs with (review s13 CR #4): a key that parses but
 * is RSA, Ed25519 or on another curve restored, then failed untyped in getEvidence (tee-model exit 70).
 * The message names the field and the kind found, never the key. A key of the right kind that the
 * leaf certificate does not certify is not refused here: its evidence is refused by every verifier,
 * typed (review s7's r3c forgery test builds exactly such a state).
 */
function checkKeyKind(key: KeyObject, field: string, curve: keyof typeof NAMED_CURVE): void {
  const found = key.asymmetricKeyType !== 'ec' ? (key.asymmetricKeyType ?? key.type) : `EC ${key.asymmetricKeyDetails?.namedCurve ?? 'on an unknown curve'}`;
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== NAMED_CURVE[curve]) {
    throw unusableState(`"${field}" must be an EC ${curve} private key (found ${found})`);
  }
}

function tdxBackend(s: SimulatedTeeState): Backend {
  const pckKey = pemToKey(s.signingKeyPem);
  checkKeyKind(pckKey, 'signingKeyPem', 'P-256');
  // Older state files have no attestation key: the quote builder derives it from the seed, as it did then.
  const attestationKey = s.attestationKeyPem ? pemToKey(s.attestationKeyPem) : undefined;
  if (attestationKey) checkKeyKind(attestationKey, 'attestationKeyPem', 'P-256');
  const qeSignatures = new Map<string, Uint8Array>();
  const pckChainPem = s.pckChainPem;
  if (!pckChainPem) throw new EvidenceProviderError('ERR_TSM_PROVIDER', 'simulated TDX state lacks pckChainPem');
  return {
    trustRoots: { label: 'test-pki', intelRootCas: certsOf(s.trustRootPem), amd: {} },
    trustRootPem: s.trustRootPem,
    artifacts: importBundle(s.collateralBundle),
    build: (reportData) => ({ evidence: withStableQeSignature(buildTdxQuote({ version: 4, seed: s.seed, pckKey, pckChainPem, ...(attestationKey ? { attestationKey } : {}), body: { reportData } }), qeSignatures) }),
  };
}

/**
 * A real QE signs its report once per attestation key; only the quote
 * signature changes per quote. ECDSA here is randomised, so keep the first
 * signature of each QE report and reuse it (it is outside the quote's signed
 * range), so the simulator costs a verifier what hardware does.
 */
function withStableQeSignature(quote: ReturnType<typeof buildTdxQuote>, cache: Map<string, Uint8Array>): Uint8Array {
  const { bytes, layout } = quote;
  const qeReport = Buffer.from(bytes.subarray(layout.qeReportOffset, layout.qeReportOffset + 384)).toString('hex');
  const signatureAt = bytes.subarray(layout.qeReportSignatureOffset, layout.qeReportSignatureOffset + 64);
  const first = cache.get(qeReport);
  if (first) signatureAt.set(first);
  else if (cache.size < 16) cache.set(qeReport, Uint8Array.from(signatureAt));
  return bytes;
}

function createSnpState(at: Date, seed: string, keys: KeySource): SimulatedTeeState {
  const product = 'Milan';
  const pki = createAmdTestPki({
    seed,
    product,
    validity: { notBefore: new Date(at.getTime() - 365 * DAY), notAfter: new Date(at.getTime() + 5 * 365 * DAY) },
    rsaKeys: keys.amdRsa(),
    overrides: { vcek: { key: keys.ec(`amd:${product}:vcek`, 'P-384') }, vlek: { key: keys.ec(`amd:${product}:vlek`, 'P-384') } },
  });
  const report = parseEvidence(buildSnpReport({ version: 3, product, signingKey: 'vcek', key: pki.vcek.key.privateKey, seed }).bytes) as SnpReport;
  const t = report.tcb!.reported;
  const vcekKey = artifactKey.vcek({ product, hwId: report.chipId.subarray(0, 64), bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode });
  const window = { notBefore: new Date(at.getTime() - DAY), notAfter: new Date(at.getTime() + 29 * DAY) };
  const source = { origin: 'bundle' as const };
  const artifacts = [
    validateArtifact({ kind: 'amd-vcek', key: vcekKey, body: pki.vcek.der, source }),
    validateArtifact({ kind: 'amd-cert-chain', key: artifactKey.certChain(product, 'vcek'), body: new Uint8Array(Buffer.from(pki.ask.pem + pki.ark.pem)), source }),
    validateArtifact({ kind: 'amd-crl', key: artifactKey.amdCrl(product, 'vcek'), body: buildEmptyAmdCrl(pki, window), source }),
  ];
  const auxblob = buildSnpCertTable([
    { guid: 'vcek', der: pki.vcek.der },
    { guid: 'ask', der: pki.ask.der },
    { guid: 'ark', der: pki.ark.der },
  ]);
  return {
    format: 'tee-model-simulated-tee',
    version: 1,
    tee: 'snp',
    seed,
    at: at.toISOString(),
    signingKeyPem: keyToPem(pki.vcek.key.privateKey),
    trustRootPem: pki.ark.pem + pki.ask.pem + pki.asvk.pem,
    auxblob: Buffer.from(auxblob).toString('base64'),
    collateralBundle: exportBundle(artifacts),
  };
}

function snpBackend(s: SimulatedTeeState): Backend {
  const key = pemToKey(s.signingKeyPem);
  checkKeyKind(key, 'signingKeyPem', 'P-384');
  const [ark, ask, asvk] = certsOf(s.trustRootPem);
  if (!ark || !ask || !asvk || !s.auxblob) throw new EvidenceProviderError('ERR_TSM_PROVIDER', 'simulated SEV-SNP state lacks its roots or auxblob');
  const auxblob = new Uint8Array(Buffer.from(s.auxblob, 'base64'));
  return {
    trustRoots: { label: 'test-pki', intelRootCas: [], amd: { Milan: { ark, ask, asvk } } },
    trustRootPem: s.trustRootPem,
    artifacts: importBundle(s.collateralBundle),
    build: (reportData) => ({ evidence: buildSnpReport({ version: 3, product: 'Milan', signingKey: 'vcek', key, seed: s.seed, reportData, vmpl: s.vmpl ?? 0 }).bytes, auxblob }),
  };
}

function unusableState(why: string, cause?: unknown): EvidenceProviderError {
  return new EvidenceProviderError('ERR_TSM_PROVIDER', `not a usable simulated TEE state: ${why}`, cause === undefined ? {} : { cause });
}

/** The fields of a state file by type (review s13 #4), so that a wrong one is named instead of failing deep inside. */
function checkStateFields(s: SimulatedTeeState): void {
  const fields = s as unknown as Record<string, unknown>;
  for (const name of ['seed', 'at', 'signingKeyPem', 'trustRootPem', 'collateralBundle'] as const) {
    if (typeof fields[name] !== 'string') throw unusableState(`"${name}" must be a string`);
  }
  for (const name of ['pckChainPem', 'auxblob', 'attestationKeyPem'] as const) {
    if (fields[name] !== undefined && typeof fields[name] !== 'string') throw unusableState(`"${name}" must be a string when present`);
  }
  if (Number.isNaN(new Date(s.at).getTime())) throw unusableState('"at" is not a date');
  if (s.keys !== undefined && s.keys !== 'random' && s.keys !== 'seed') throw unusableState('"keys" must be "random" or "seed" when present');
  // As the constructor's vmpl option: an integer 0-3, SEV-SNP only.
  if (s.vmpl !== undefined && (s.tee !== 'snp' || !Number.isInteger(s.vmpl) || s.vmpl < 0 || s.vmpl > 3)) {
    throw unusableState('"vmpl" is an integer 0-3 and only for a simulated SEV-SNP guest');
  }
}

export class SimulatedTeeProvider implements EvidenceProvider {
  readonly name = 'simulated';
  readonly tee: 'tdx' | 'snp';
  readonly at: Date;
  /** Trust roots pinning the simulated PKI (label "test-pki"). */
  readonly trustRoots: TrustRoots;
  /** The same roots as PEM (TDX: the Intel-shaped root; SNP: ARK, ASK, ASVK). */
  readonly trustRootPem: string;
  /** Collateral for this platform (bundle artifacts). */
  readonly collateral: readonly CollateralArtifact[];
  /** The keys derive from a seed (keySeed, or a state file from before review s7): whoever knows it can forge this platform's evidence. */
  readonly keysFromSeed: boolean;
  readonly #backend: Backend;
  readonly #state: SimulatedTeeState;

  constructor(options: SimulatedTeeOptions & { state?: SimulatedTeeState } = {}) {
    const tee = options.state?.tee ?? options.tee ?? 'tdx';
    if (tee !== 'tdx' && tee !== 'snp') throw new EvidenceProviderError('ERR_TSM_PROVIDER', `simulated TEE must be "tdx" or "snp"`);
    const at = options.at ?? new Date();
    const seed = options.seed ?? SIMULATED_TEE_SEED;
    if (options.vmpl !== undefined && (tee !== 'snp' || !Number.isInteger(options.vmpl) || options.vmpl < 0 || options.vmpl > 3)) {
      throw new EvidenceProviderError('ERR_TSM_PROVIDER', 'vmpl is an integer 0-3 and only for a simulated SEV-SNP guest');
    }
    if (options.keySeed !== undefined && (typeof options.keySeed !== 'string' || options.keySeed.length === 0)) throw new EvidenceProviderError('ERR_TSM_PROVIDER', 'keySeed must be a non-empty string');
    const keys = keySourceOf(options.keySeed);
    const created = (): SimulatedTeeState => ({ ...(tee === 'tdx' ? createTdxState(at, seed, keys) : createSnpState(at, seed, keys)), keys: options.keySeed === undefined ? 'random' : 'seed' });
    const state = options.state ?? created();
    this.#state = options.vmpl ? { ...state, vmpl: options.vmpl } : state;
    this.tee = tee;
    this.keysFromSeed = this.#state.keys !== 'random';
    this.at = new Date(this.#state.at);
    this.#backend = tee === 'tdx' ? tdxBackend(this.#state) : snpBackend(this.#state);
    this.trustRoots = this.#backend.trustRoots;
    this.trustRootPem = this.#backend.trustRootPem;
    this.collateral = Object.freeze([...this.#backend.artifacts]);
  }

  /**
   * Rebuilds a provider from `exportState()` output (JSON text or object). A state that cannot be
   * used (not JSON, a field of the wrong type, a key, certificate or bundle that does not parse, a key
   * of the wrong kind: review s13 CR #4; one report is built here) is
   * ERR_TSM_PROVIDER, "not a usable simulated TEE state" (tee-model exit 2), never a raw SyntaxError
   * or OpenSSL error (review s13 #4). The message never quotes the file: it holds private keys.
   */
  static fromState(state: SimulatedTeeState | string): SimulatedTeeProvider {
    let s: SimulatedTeeState;
    if (typeof state === 'string') {
      try {
        s = JSON.parse(state) as SimulatedTeeState;
      } catch {
        throw unusableState('the text is not JSON (a truncated or hand-edited file?)');
      }
    } else {
      s = state;
    }
    if (typeof s !== 'object' || s === null || s.format !== 'tee-model-simulated-tee' || s.version !== 1 || (s.tee !== 'tdx' && s.tee !== 'snp')) {
      throw new EvidenceProviderError('ERR_TSM_PROVIDER', 'not a tee-model simulated TEE state (format tee-model-simulated-tee, version 1)');
    }
    checkStateFields(s);
    try {
      const provider = new SimulatedTeeProvider({ state: s });
      // A self-test: one report now, so that a state that cannot sign fails here, typed, not at the first request (review s13 CR #4).
      provider.#backend.build(new Uint8Array(REPORT_DATA_SIZE));
      return provider;
    } catch (e) {
      if (isModelError(e)) throw e;
      // createPrivateKey, X509Certificate, importBundle, base64: the state's material does not parse.
      throw unusableState(`its keys, certificates or collateral bundle do not parse (${e instanceof Error ? e.message : String(e)})`, e);
    }
  }

  /** The platform's state (contains the test signing key: test material only). */
  exportState(): SimulatedTeeState {
    return { ...this.#state };
  }

  /** The collateral as a tee-verify bundle document (importBundle / BundleSource). */
  collateralBundle(): string {
    return exportBundle(this.collateral);
  }

  getEvidence(reportData: Uint8Array): Promise<TeeEvidence> {
    if (!(reportData instanceof Uint8Array) || reportData.length !== REPORT_DATA_SIZE) {
      return Promise.reject(new EvidenceProviderError('ERR_TEE_REPORT_DATA', `report data must be exactly ${REPORT_DATA_SIZE} bytes`, { details: { length: reportData?.length } }));
    }
    const { evidence, auxblob } = this.#backend.build(new Uint8Array(reportData));
    return Promise.resolve({
      tee: this.tee,
      provider: this.tee === 'tdx' ? 'tdx_guest' : 'sev_guest',
      evidence,
      ...(auxblob ? { auxblob } : {}),
      reportData: new Uint8Array(reportData),
    });
  }
}
