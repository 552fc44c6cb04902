/**
 * verifyVtpmEvidence: a vTPM evidence bundle, verified in order (docs/vtpm.md):
 * hardware evidence with its collateral (VT02, VT18 / VT17), runtime-data
 * commitment (VT03), the attestation key bound by the hardware or pinned by
 * the caller (VT04), each quote (VT05-VT11), banks and coverage (VT12, VT13),
 * then the replay of the boot event log (VT15) and the IMA list (VT16)
 * against the verified quoted PCRs. It resolves only with a successful result; every failure is thrown
 * as a typed error. One instant (`at`) for everything.
 */
import { KeyObject } from 'node:crypto';

import type { CollateralService, EvidenceCollateral } from '../collateral/service.js';
import type { SnpProduct } from '../evidence/types.js';
import { verifyEvidence } from '../verify/index.js';
import { amdCollateralFromCertTable, verifySnpReport } from '../verify/snp/index.js';
import type { CheckRecord, Relaxations, VerificationResult } from '../verify/types.js';
import type { TrustRoots } from '../verify/roots/index.js';
import { CollateralUnavailableError } from '../collateral/errors.js';
import { InvalidArgumentError } from '../errors.js';
import { checkNoUndefinedOptions, checkOptionKeys, checkVerifierOptionKeys, type OptionKeys } from '../option-keys.js';
import { timeValueOf } from '../verify/instant.js';
import { privateCopy } from '../verify/private-bytes.js';
import { checkUserData, verifyAzureHardware, type AzureRuntimeData, type HardwareVerifier } from './azure.js';
import { checkVtpmBundle, parseVtpmBundle, type VtpmBundle } from './bundle.js';
import { VtpmVerificationError, vtpmFail } from './errors.js';
import { parseImaAsciiList } from './ima-ascii.js';
import { assertBootAggregate, checkBootAggregate, checkImaAgainstPcrs, replayImaAscii, replayImaFrame, type ImaReplay } from './ima-replay.js';
import { adoptOwned, ownedCopy } from './parse-common.js';
import { imaEntriesFromFrame, parseImaBinaryFrame } from './parse-ima.js';
import { parseHclReport, parseTcgEventLog, parseTpmPublic, parseTpmQuote, parseTpmSignature } from './parse.js';
import { BANK_DIGEST_SIZE, REPLAY_BANKS, bytesEqual, isReplayBank, resetValue, type ReplayBank } from './pcrs.js';
import { checkRequiredBankOption, pcrBanksFrom, verifyTpmQuotes, type PcrBanks, type TpmQuotesResult } from './quote.js';
import { CHECK_EVENT_LOG_OPTION_KEYS, checkEventLogAgainstPcrs, replayEventLog, type CheckEventLogOptions } from './replay-eventlog.js';
import { keyFromPem, keyFromTpmPublic, sameKey, type AttestationKey } from './tpm-key.js';
import type { ImaEntry, TpmHashName } from './types.js';
import { extractBootComponents, type BootComponents, type ComponentDigests, type MeasuredComponent } from './boot-components.js';
import { nativeAddonWarning } from '../native/index.js';

export interface VtpmVerifyOptions {
  /** The verification instant; default the wall clock, read once. */
  at?: Date;
  /** The verifier's nonce. Without it the bundle's own nonce is used and a warning says freshness is not established. */
  nonce?: Uint8Array;
  /** Collateral for the hardware evidence (as verifyEvidence). */
  collateral?: CollateralService | EvidenceCollateral;
  /** Replaces the collateral path entirely (the CLI passes its own). */
  verifyHardware?: HardwareVerifier;
  trustRoots?: TrustRoots;
  relaxations?: Relaxations;
  /** SEV-SNP report versions to accept; default verifyEvidence's (3, 4, 5; 2 when the product is named). Azure Milan reports are v2. */
  snpReportVersions?: number[];
  /** SEV-SNP product (decodes v2 reports; must match the CPUID of v3+). */
  snpProduct?: SnpProduct;
  /**
   * The attestation key the caller trusts: binds the AK of a bundle without
   * hardware evidence; with hardware evidence HCLAkPub must also be this key (VT04).
   */
  trustedAk?: KeyObject;
  /** Relaxation: accept an attestation key nothing binds (development only; a warning). */
  allowUnboundAk?: boolean;
  /** Bank that must be quoted; default sha256. */
  requiredBank?: TpmHashName;
  /** Relaxation: SHA-1-only quotes and SHA-1 signature hashes (warnings). */
  allowSha1?: boolean;
  /** The AK's Qualified Name, compared exactly with qualifiedSigner when given. */
  expectedQualifiedSigner?: Uint8Array;
  /** The AK's Name (nameAlg ‖ H(TPMT_PUBLIC)) from enrolment: binds the bundle's TPMT_PUBLIC, so VT05 can pass (else it is "not checked", a warning). */
  trustedAkName?: Uint8Array;
  /** Azure: the expected start of the HCL runtime data's user-data (a hardware-level nonce). */
  userData?: Uint8Array;
  /** How the boot event log is compared with the quoted PCRs (default: every quoted PCR but 10). */
  eventLog?: CheckEventLogOptions;
}

/** The keys VtpmVerifyOptions accepts (the compiler keeps this list equal to the type's keys). */
const VTPM_VERIFY_OPTION_KEYS: OptionKeys<VtpmVerifyOptions> = {
  at: true,
  nonce: true,
  collateral: true,
  verifyHardware: true,
  trustRoots: true,
  relaxations: true,
  snpReportVersions: true,
  snpProduct: true,
  trustedAk: true,
  allowUnboundAk: true,
  requiredBank: true,
  allowSha1: true,
  expectedQualifiedSigner: true,
  trustedAkName: true,
  userData: true,
  eventLog: true,
};

/**
 * The options that pin or bind (review s13 CR polb #1): an own key among these whose value is
 * undefined is ERR_INVALID_ARGUMENT, as evaluatePolicy's reportData is. `{ trustedAk: pins.get(vm) }`
 * after a missed lookup dropped the AK pin and a genuine bundle from another CVM verified, ok: true;
 * `nonce: undefined` fell back to the bundle's own nonce, `at: undefined` to the wall clock. The
 * others (relaxations, allow* flags, collateral, verifyHardware, snpReportVersions, eventLog) are
 * at their strict default or a data source when undefined.
 */
const VTPM_PIN_KEYS = ['at', 'nonce', 'trustedAk', 'trustedAkName', 'expectedQualifiedSigner', 'userData', 'requiredBank', 'snpProduct', 'trustRoots'] as const;

/** The pins, checked by kind: a null, '' or 0 given as a pin (an expected value lost to a bug) must not read as "none" either. */
function checkPins(options: VtpmVerifyOptions): void {
  checkNoUndefinedOptions(options, VTPM_PIN_KEYS, 'verifyVtpmEvidence');
  const bad = (option: string, kind: string): never => {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `verifyVtpmEvidence: options.${option} must be ${kind}`, { details: { option } });
  };
  if (Object.hasOwn(options, 'trustedAk') && !(options.trustedAk instanceof KeyObject && options.trustedAk.type === 'public')) bad('trustedAk', 'a public KeyObject');
  checkRequiredBankOption(options, 'verifyVtpmEvidence');
  for (const option of ['nonce', 'trustedAkName', 'expectedQualifiedSigner', 'userData'] as const) {
    if (Object.hasOwn(options, option) && !(options[option] instanceof Uint8Array)) bad(option, 'a Uint8Array');
  }
  // Review s14, vTPM finding 4: VT14 checks that user-data starts with userData, and every value
  // starts with 0 bytes: an empty pin (an expected value lost to a bug) pinned nothing and passed.
  if (Object.hasOwn(options, 'userData') && options.userData!.length === 0) bad('userData', 'a non-empty Uint8Array (an empty prefix matches any user-data)');
}

export interface VtpmVerificationResult {
  ok: true;
  kind: 'vtpm';
  /** azure-snp / azure-tdx: hardware-bound AK; tpm: a TPM quote whose AK the caller pinned. */
  platform: 'azure-snp' | 'azure-tdx' | 'tpm';
  at: string;
  /** The hardware verification result (SEV-SNP report or TD quote). */
  hardware?: VerificationResult;
  runtimeData?: { akPub: Record<string, unknown>; userData?: string; vmConfiguration?: Record<string, unknown> };
  tpm: Omit<TpmQuotesResult, 'checks' | 'warnings'>;
  /** Present when the bundle carried logs: what their replay established. */
  replay?: VtpmReplayClaims;
  checks: CheckRecord[];
  warnings: string[];
  /**
   * What a policy's vtpm section judges (evaluatePolicy's `vtpm` option, with
   * a reference list added): verified PCR values, the replayed IMA entries,
   * the boot components of the replayed log. Not enumerable (not in JSON).
   */
  readonly appraisal: VtpmAppraisal;
}

/** Verified material for policy appraisal. */
export interface VtpmAppraisal {
  pcrs: PcrBanks;
  ima?: { entries: readonly ImaEntry[]; violations: readonly number[] };
  boot?: BootComponents;
}

/** The library's default hardware path: verifyEvidence with the given collateral, else the bundle's certificates. */
function defaultHardwareVerifier(options: VtpmVerifyOptions, at: Date): HardwareVerifier {
  const common = { at, ...(options.trustRoots ? { trustRoots: options.trustRoots } : {}), ...(options.relaxations ? { relaxations: options.relaxations } : {}) };
  return async (evidence, certTable) => {
    if (options.collateral) {
      return verifyEvidence(evidence, { ...common, collateral: options.collateral, certTable, ...(options.snpReportVersions ? { snpReportVersions: options.snpReportVersions } : {}) });
    }
    if (evidence.kind === 'snp' && certTable.some((e) => e.kind === evidence.signerInfo.signingKey)) {
      // Offline: the certificates in the bundle (CRL only through `collateral`; without it the skipCrl relaxation must be set).
      const input = amdCollateralFromCertTable(certTable, evidence.signerInfo.signingKey);
      return verifySnpReport(evidence, input, { ...common, ...(options.snpReportVersions ? { allowedVersions: options.snpReportVersions } : {}) });
    }
    throw new CollateralUnavailableError('ERR_COLLATERAL_MISSING', `no collateral for the ${evidence.kind.toUpperCase()} hardware evidence (options.collateral)`);
  };
}

function bundleAk(bundle: VtpmBundle): AttestationKey | undefined {
  const ak = bundle.tpm.ak;
  if (!ak) return undefined;
  return 'public' in ak ? keyFromTpmPublic(parseTpmPublic(ak.public)) : keyFromPem(ak.pem, 'bundle PEM');
}

/** VT04: the quote's AK is the one the hardware binds (HCLAkPub), or the caller's pinned key; when both exist, they must be one key. */
function attestationKey(bundle: VtpmBundle, runtime: AzureRuntimeData | undefined, options: VtpmVerifyOptions, checks: CheckRecord[], warnings: string[]): AttestationKey {
  const fromBundle = bundleAk(bundle);
  if (runtime) {
    if (fromBundle && !sameKey(fromBundle.key, runtime.ak.key)) vtpmFail('ERR_VTPM_AK', `the bundle's attestation key (${fromBundle.source}) is not HCLAkPub of the runtime data`);
    // A pin is a pin: another genuine CVM's HCLAkPub is hardware-bound too, so a
    // caller's trustedAk is compared here as well, never dropped (review s10, V1).
    if (options.trustedAk !== undefined && !sameKey(runtime.ak.key, options.trustedAk)) vtpmFail('ERR_VTPM_AK', 'the attestation key the hardware binds (HCLAkPub) is not the trusted key the caller pinned');
    const alsoEqual = [fromBundle ? `the bundle's ${fromBundle.source}` : undefined, options.trustedAk !== undefined ? 'the key the caller pinned' : undefined].filter((s) => s !== undefined);
    checks.push({ id: 'VT04', description: `the attestation key is HCLAkPub from the hardware-bound runtime data${alsoEqual.length > 0 ? ` (equal to ${alsoEqual.join(' and ')})` : ''}` });
    return fromBundle ?? runtime.ak;
  }
  const ak = fromBundle!;
  if (options.trustedAk !== undefined) {
    if (!sameKey(ak.key, options.trustedAk)) vtpmFail('ERR_VTPM_AK', 'the attestation key is not the trusted key the caller pinned');
    checks.push({ id: 'VT04', description: 'the attestation key equals the key the caller pinned' });
  } else if (options.allowUnboundAk) {
    warnings.push('allowUnboundAk: the attestation key is bound to no hardware evidence and pinned by nobody; the quote proves nothing about which TPM produced it');
    checks.push({ id: 'VT04', description: 'attestation key not bound (allowUnboundAk relaxation)' });
  } else {
    vtpmFail('ERR_VTPM_AK', 'the bundle has no hardware evidence that binds the attestation key and no trusted key was given');
  }
  return ak;
}

function expectedNonce(bundle: VtpmBundle, options: VtpmVerifyOptions, warnings: string[]): Uint8Array {
  if (options.nonce !== undefined) return options.nonce;
  if (bundle.nonce) {
    warnings.push("no expected nonce given: the quote was checked against the bundle's own nonce, so freshness is not established");
    return bundle.nonce;
  }
  return vtpmFail('ERR_VTPM_NONCE', 'no nonce: neither the caller nor the bundle names the expected extraData');
}

/** What the log replays established. */
export interface VtpmReplayClaims {
  /** touched: PCRs the log extends; replayedPcrs: PCRs compared with the quote (the boot rules judge only these). */
  eventLog?: { format: string; banks: string[]; events: number; touched: number[]; replayedPcrs: number[] };
  ima?: { entries: number; banks: string[]; bankRule: string; violations: number; bootAggregate: string };
}

/** VT12 for the logs: a log checked against the SHA-1 bank alone needs allowSha1, as a quote set does. */
function sha1Only(banks: readonly string[], what: string, options: VtpmVerifyOptions, warnings: string[]): void {
  if (banks.length === 0 || banks.some((b) => b !== 'sha1')) return;
  if (!options.allowSha1) vtpmFail('ERR_VTPM_BANK', `${what} is compared with the SHA-1 PCR bank only (allowSha1 not set)`, { banks: [...banks] });
  warnings.push(`allowSha1: ${what} was compared with the SHA-1 PCR bank only`);
}

/**
 * VT15: the boot event log replays to the quoted PCRs (all quoted PCRs but
 * IMA's 10, unless options say otherwise), naming the first that differs.
 */
function replayBootLog(eventLog: Uint8Array, quoted: PcrBanks, options: VtpmVerifyOptions, checks: CheckRecord[], warnings: string[], appraisal: VtpmAppraisal): NonNullable<VtpmReplayClaims['eventLog']> {
  const log = parseTcgEventLog(eventLog);
  const replay = replayEventLog(log);
  checkEventLogAgainstPcrs(replay, quoted, options.eventLog ?? {});
  const compared = options.eventLog?.banks ? [...options.eventLog.banks] : replay.banks.filter((b) => quoted.has(b));
  // The replay only vouches for events in PCRs the quote covers: an event in an unquoted PCR
  // (the attester picks the selection) would otherwise reach the policy unverified.
  const exclude = new Set(options.eventLog?.exclude ?? [10]);
  for (const bank of compared) {
    const unquoted = replay.touched.filter((p) => !exclude.has(p) && !quoted.get(bank)?.has(p));
    if (unquoted.length > 0) {
      vtpmFail('ERR_VTPM_EVENTLOG_MISMATCH', `the boot event log extends ${bank} PCR ${unquoted.join(', ')}, which no quote covers: those events are not verified`, { bank, pcr: unquoted[0], unquoted });
    }
  }
  sha1Only(compared, 'the boot event log', options, warnings);
  checks.push({ id: 'VT15', description: `boot event log (${log.events.length} events, ${log.format}) replays to the quoted ${compared.join(', ')} PCRs` });
  // Only a log whose replay reproduced the quote names the boot components a policy may judge:
  // only events of the PCRs compared with the quote (an excluded PCR's events, such as PCR 10's,
  // are not verified), and only by the digests of the banks that were compared. Those PCRs are
  // recorded: a rule over any other PCR cannot be judged and fails (review s6, finding 3).
  const replayedPcrs = comparedPcrs(replay.touched, quoted, compared, exclude, options.eventLog?.onlyTouched === true);
  appraisal.boot = onlyBanks(extractBootComponents(log, { replayedPcrs }), new Set(compared));
  return { format: log.format, banks: replay.banks, events: log.events.length, touched: replay.touched, replayedPcrs };
}

/**
 * The PCRs checkEventLogAgainstPcrs compared with the quote: not excluded,
 * quoted in a compared bank, and (onlyTouched) extended by the log. A quoted
 * PCR the log never touched counts (its reset value was compared: nothing was
 * measured there); an unquoted one does not, whatever the log leaves out.
 *
 * Under onlyTouched an untouched PCR is not compared by the replay, but when
 * every compared bank that quotes it holds its reset value, the quote itself
 * proves nothing was extended there: it counts too (review s6c #2, a GRUB boot
 * logs nothing in PCR 12). Any other value stays unverifiable.
 */
function comparedPcrs(touched: readonly number[], quoted: PcrBanks, banks: readonly string[], exclude: ReadonlySet<number>, onlyTouched: boolean): number[] {
  const out = new Set<number>();
  const notReset = new Set<number>();
  for (const bank of banks) {
    for (const [pcr, value] of quoted.get(bank as TpmHashName) ?? []) {
      if (exclude.has(pcr)) continue;
      out.add(pcr);
      if (onlyTouched && !touched.includes(pcr) && !(isReplayBank(bank) && bytesEqual(value, resetValue(bank, pcr)))) notReset.add(pcr);
    }
  }
  return [...out].filter((pcr) => !notReset.has(pcr)).sort((a, b) => a - b);
}

function onlyBanks(boot: BootComponents, banks: ReadonlySet<string>): BootComponents {
  const keep = (d: ComponentDigests): ComponentDigests => Object.fromEntries(Object.entries(d).filter(([bank]) => banks.has(bank))) as ComponentDigests;
  const each = (cs: MeasuredComponent[]): MeasuredComponent[] => cs.map((c) => ({ ...c, digests: keep(c.digests) }));
  return {
    ...boot,
    bootApplications: each(boot.bootApplications),
    kernels: each(boot.kernels),
    initrds: each(boot.initrds),
    otherFiles: each(boot.otherFiles),
    efiStubLoadOptions: each(boot.efiStubLoadOptions),
  };
}

/** VT16: every IMA template digest matches its data, the list replays to the quoted PCR 10, and boot_aggregate matches PCRs 0-7/0-9. */
function replayIma(ima: NonNullable<VtpmBundle['ima']>, quoted: PcrBanks, options: VtpmVerifyOptions, checks: CheckRecord[], warnings: string[], appraisal: VtpmAppraisal): NonNullable<VtpmReplayClaims['ima']> {
  const banks = REPLAY_BANKS.filter((b) => quoted.get(b)?.has(10));
  if (banks.length === 0) vtpmFail('ERR_VTPM_IMA_MISMATCH', 'the bundle carries an IMA list but no quote covers PCR 10');
  sha1Only(banks, 'the IMA list (PCR 10)', options, warnings);
  const list = replayImaInput(ima, banks);
  const { replay } = list;
  onlyPcr10(replay, list.entries);
  checkImaAgainstPcrs(replay, quoted, [10]);
  const first = list.first();
  const boot = checkBootAggregate(first, quoted);
  // Only the bank's PCRs not being quoted relaxes the check (a warning); an algorithm that is not a
  // bank (review s12, finding 3), a mismatch, zeros or no boot_aggregate are refused.
  const unchecked = boot.status === 'unavailable';
  if (unchecked) warnings.push(`IMA boot_aggregate not checked: PCRs 0-7 of its bank (${boot.bank ?? 'unknown'}) are not quoted`);
  else assertBootAggregate(first, quoted);
  checks.push({
    id: 'VT16',
    description: `IMA list (${list.count} entries, ${replay.violations.length} violations) replays to the quoted PCR 10 (${replay.banks.join(', ')}); boot_aggregate ${boot.status === 'match' ? `matches PCRs ${boot.pcrRange}` : 'not checked'}`,
    ...(unchecked ? { status: 'not-checked' as const } : {}),
  });
  // Entry objects (paths, file digests) are built only when a policy judges them against a reference list.
  let entries: ImaEntry[] | undefined;
  appraisal.ima = {
    get entries() {
      return (entries ??= withoutUnverifiedData(list.entries(), replay.violations));
    },
    violations: replay.violations,
  };
  return { entries: list.count, banks: replay.banks, bankRule: replay.bankRule, violations: replay.violations.length, bootAggregate: boot.status };
}

/**
 * Review s15, vTPM finding 2: a violation entry's template data (file name, file digest,
 * signature) is hashed by nothing, so the entries handed on never present it as measured: it
 * loses path, fileDigestAlg, fileDigest, signature and templateData, is marked `violation`, and
 * the name it claims is kept only as `unverifiedPath` (for an operator looking for the file).
 */
function withoutUnverifiedData(entries: ImaEntry[], violations: readonly number[]): ImaEntry[] {
  if (violations.length === 0) return entries;
  const unverified = new Set(violations);
  entries.forEach((e, i) => {
    if (!unverified.has(e.index)) return;
    entries[i] = {
      index: e.index,
      offset: e.offset,
      pcr: e.pcr,
      templateDigest: e.templateDigest,
      templateName: e.templateName,
      templateData: new Uint8Array(0),
      violation: true,
      ...(e.path === undefined ? {} : { unverifiedPath: e.path }),
    };
  });
  return entries;
}

/**
 * VT16: only PCR 10 is compared with the quote, so an entry the list records
 * for another PCR (IMA's `pcr=` policy option, or a forged entry) would reach
 * the policy unverified: refused. Entries are parsed only to name the first.
 */
function onlyPcr10(replay: ImaReplay, entries: () => ImaEntry[]): void {
  const others = [...new Set(Object.values(replay.pcrs).flatMap((values) => Object.keys(values ?? {}).map(Number)))].filter((p) => p !== 10);
  if (others.length === 0) return;
  const first = entries().find((e) => e.pcr !== 10);
  const pcr = first?.pcr ?? others[0]!;
  throw new VtpmVerificationError(
    'ERR_VTPM_IMA_MISMATCH',
    `IMA entry ${first?.index ?? '?'} is recorded for PCR ${pcr}: only PCR 10 is compared with the quote, so it is not verified`,
    { ...(first ? { index: first.index } : {}), pcr, pcrs: others.sort((a, b) => a - b) },
    { check: 'VT16' },
  );
}

/**
 * The replay straight from the input (the native frame of a binary list, or
 * the ASCII lines), without an object per entry: replay cost stays close to
 * the hashing it must do. The first entry (boot_aggregate) and, on demand,
 * all entries are parsed separately.
 */
function replayImaInput(ima: NonNullable<VtpmBundle['ima']>, banks: ReplayBank[]): { replay: ImaReplay; count: number; first: () => ImaEntry[]; entries: () => ImaEntry[] } {
  if ('binary' in ima) {
    const templateDigestSize = BANK_DIGEST_SIZE[ima.templateDigest ?? 'sha1'];
    const frame = parseImaBinaryFrame(ima.binary, { templateDigestSize });
    // Review s14, vTPM #1: boot_aggregate and the entries the policy judges come from frame.bytes,
    // the one private copy that was replayed, never from the caller's object (read again, or later).
    return {
      replay: replayImaFrame(frame, { banks }),
      count: frame.count,
      first: () => imaEntriesFromFrame(frame, 1),
      entries: () => imaEntriesFromFrame(frame),
    };
  }
  // A string is immutable: read once (the bundle is the private snapshot), every step uses `text`.
  const text = ima.ascii;
  const replay = replayImaAscii(text, { banks });
  const newline = text.indexOf('\n');
  return {
    replay,
    count: replay.entries,
    first: () => parseImaAsciiList(newline < 0 ? text : text.slice(0, newline + 1)),
    entries: () => parseImaAsciiList(text),
  };
}

/**
 * Review s14, vTPM #1 (checklist T49, decisions.md "a private copy first"): a bundle handed in as an
 * object is read once, here, into a snapshot the verifier alone holds: every byte member is a
 * private copy (privateCopy reads the array's internal slots, never its getters, so an own
 * `buffer`, `byteOffset` or `subarray` shows nothing), every other member is read once. The event
 * log and the IMA list copies are the parsers' input as they are (ownedCopy: one copy each), so
 * the quote digest, the PCR values reported and judged, the replays, boot_aggregate and the IMA
 * entries the policy judges (lazily, after this call resolved) all read the same bytes. The
 * snapshot is checked again (checkVtpmBundle), so what a getter returned on this read is bounded too.
 */
function privateBundle(input: VtpmBundle): VtpmBundle {
  const copy = (v: unknown, path: string): Uint8Array => privateCopy(v, `vTPM bundle ${path}`);
  const tpm = input.tpm;
  const ak = tpm.ak;
  const pcrs: VtpmBundle['tpm']['pcrs'] = {};
  for (const [bank, values] of Object.entries(tpm.pcrs) as [TpmHashName, Record<string, Uint8Array>][]) {
    const m: Record<string, Uint8Array> = {};
    for (const [index, value] of Object.entries(values)) m[index] = copy(value, `/tpm/pcrs/${bank}/${index}`);
    pcrs[bank] = m;
  }
  const out: VtpmBundle = {
    tpm: {
      quotes: Array.from(tpm.quotes, (q, i) => ({ attest: copy(q.attest, `/tpm/quotes/${i}/attest`), signature: copy(q.signature, `/tpm/quotes/${i}/signature`) })),
      pcrs,
    },
  };
  if (ak !== undefined) {
    const pub = 'public' in ak ? ak.public : undefined;
    out.tpm.ak = pub !== undefined ? { public: copy(pub, '/tpm/ak/public') } : { pem: (ak as { pem: string }).pem };
  }
  const nonce = input.nonce;
  if (nonce !== undefined) out.nonce = copy(nonce, '/nonce');
  const hardware = input.hardware;
  if (hardware !== undefined) {
    const { hclReport, tdQuote, certificates, certificatesPem } = hardware;
    out.hardware = {
      hclReport: copy(hclReport, '/hardware/hclReport'),
      ...(tdQuote !== undefined ? { tdQuote: copy(tdQuote, '/hardware/tdQuote') } : {}),
      ...(certificates !== undefined ? { certificates: Array.from(certificates, (c, i) => copy(c, `/hardware/certificates/${i}`)) } : {}),
      ...(certificatesPem !== undefined ? { certificatesPem } : {}),
    };
  }
  const eventLog = input.eventLog;
  if (eventLog !== undefined) out.eventLog = ownedCopy(eventLog, 'vTPM bundle /eventLog');
  const ima = input.ima;
  if (ima !== undefined) {
    if ('ascii' in ima) out.ima = { ascii: ima.ascii };
    else {
      const templateDigest = ima.templateDigest;
      out.ima = { binary: ownedCopy(ima.binary, 'vTPM bundle /ima/binary'), ...(templateDigest !== undefined ? { templateDigest } : {}) };
    }
  }
  checkVtpmBundle(out);
  return out;
}

/** The bundle this call works on: its own parse of bytes or text (fresh arrays nobody else holds), or the object's snapshot. */
function workingBundle(input: VtpmBundle | Uint8Array | string): VtpmBundle {
  if (!(input instanceof Uint8Array) && typeof input !== 'string') return privateBundle(input);
  const bundle = parseVtpmBundle(input);
  if (bundle.eventLog) adoptOwned(bundle.eventLog);
  if (bundle.ima && 'binary' in bundle.ima) adoptOwned(bundle.ima.binary);
  return bundle;
}

/**
 * VT01 for this call's input: bytes or text are parsed strictly (next); an
 * object was not parsed by this call, so it is held to the parser's shapes
 * and bounds here and recorded as such (review s8, finding 3).
 */
function vt01(input: VtpmBundle | Uint8Array | string): CheckRecord {
  if (input instanceof Uint8Array || typeof input === 'string') return { id: 'VT01', description: 'vTPM evidence bundle parsed strictly (format tee-verify/vtpm-bundle@1)' };
  checkVtpmBundle(input);
  return { id: 'VT01', description: 'vTPM evidence bundle handed in as an object (not parsed by this call): its members, types and sizes are within the tee-verify/vtpm-bundle@1 bounds' };
}

function validInstant(given: unknown): Date {
  const ms = timeValueOf(given);
  if (ms === undefined) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'options.at must be a valid Date');
  return new Date(ms);
}

/**
 * Verifies a bundle (object or its JSON bytes / text). The options are a
 * closed set, as the other verifiers' are (review s13 CR intel #1): a key
 * VtpmVerifyOptions does not name, in `options`, `relaxations` or `eventLog`,
 * is ERR_INVALID_ARGUMENT naming it (details.option), before any check. A
 * misspelt `trustedAk` dropped the caller's AK pin (VT04) and a misspelt `at`
 * verified at the wall clock, both with `ok: true`. A pin or binding given as
 * an own key whose value is undefined (VTPM_PIN_KEYS), or not of its kind, is
 * ERR_INVALID_ARGUMENT too (review s13 CR polb #1): omit the key to pin nothing.
 */
export async function verifyVtpmEvidence(input: VtpmBundle | Uint8Array | string, given: VtpmVerifyOptions = {}): Promise<VtpmVerificationResult> {
  const options: VtpmVerifyOptions = checkVerifierOptionKeys(given, VTPM_VERIFY_OPTION_KEYS, 'verifyVtpmEvidence');
  if (options.eventLog !== undefined) checkOptionKeys(options.eventLog, CHECK_EVENT_LOG_OPTION_KEYS, 'verifyVtpmEvidence eventLog');
  checkPins(options);
  // Review s12, finding 4: one read of the Date's own time value on entry (as the Intel and SEV-SNP
  // verifiers do), kept as a private copy; anything else is ERR_INVALID_ARGUMENT before any check.
  const at = options.at === undefined ? new Date() : validInstant(options.at);
  const checks: CheckRecord[] = [vt01(input)];
  const bundle = workingBundle(input);
  const warnings: string[] = [];
  let hardware: VerificationResult | undefined;
  let runtime: AzureRuntimeData | undefined;
  let platform: VtpmVerificationResult['platform'] = 'tpm';
  if (bundle.hardware) {
    const hcl = parseHclReport(bundle.hardware.hclReport);
    const hw = await verifyAzureHardware(
      {
        hcl,
        ...(bundle.hardware.tdQuote ? { tdQuote: bundle.hardware.tdQuote } : {}),
        ...(bundle.hardware.certificates ? { certificates: bundle.hardware.certificates } : {}),
        ...(options.snpProduct !== undefined ? { snpProduct: options.snpProduct } : {}),
      },
      options.verifyHardware ?? defaultHardwareVerifier(options, at),
    );
    ({ hardware, runtime, platform } = hw);
    checks.push(...hardware.checks, ...hw.checks);
    warnings.push(...hardware.warnings);
    if (options.userData !== undefined) checkUserData(runtime, options.userData, checks);
  } else if (options.userData !== undefined) {
    vtpmFail('ERR_VTPM_NONCE', 'userData was expected, but the bundle has no HCL runtime data');
  }
  const ak = attestationKey(bundle, runtime, options, checks, warnings);
  const quotes = bundle.tpm.quotes.map((q) => ({ quote: parseTpmQuote(q.attest), signature: parseTpmSignature(q.signature) }));
  const pcrs = pcrBanksFrom(bundle.tpm.pcrs);
  const tpm = verifyTpmQuotes(quotes, ak, pcrs, {
    nonce: expectedNonce(bundle, options, warnings),
    ...(options.requiredBank !== undefined ? { requiredBank: options.requiredBank } : {}),
    ...(options.allowSha1 ? { allowSha1: true } : {}),
    ...(options.expectedQualifiedSigner !== undefined ? { expectedQualifiedSigner: options.expectedQualifiedSigner } : {}),
    ...(options.trustedAkName !== undefined ? { trustedAkName: options.trustedAkName } : {}),
  });
  checks.push(...tpm.checks);
  warnings.push(...tpm.warnings);
  const replay: VtpmReplayClaims = {};
  const appraisal: VtpmAppraisal = { pcrs };
  if (bundle.eventLog) replay.eventLog = replayBootLog(bundle.eventLog, pcrs, options, checks, warnings, appraisal);
  if (bundle.ima) replay.ima = replayIma(bundle.ima, pcrs, options, checks, warnings, appraisal);
  const { checks: _c, warnings: _w, ...tpmClaims } = tpm;
  // s16 env #3: a TEE_VERIFY_ADDON override shows in every result, a TPM-only one too (the hardware's carries it already).
  const addon = nativeAddonWarning();
  if (addon !== undefined && !warnings.includes(addon)) warnings.unshift(addon);
  const result: VtpmVerificationResult = {
    ok: true,
    kind: 'vtpm',
    platform,
    at: at.toISOString(),
    ...(hardware ? { hardware } : {}),
    ...(runtime
      ? {
          runtimeData: {
            akPub: runtime.akJwk,
            ...(runtime.userData ? { userData: Buffer.from(runtime.userData).toString('hex') } : {}),
            ...(runtime.vmConfiguration ? { vmConfiguration: runtime.vmConfiguration } : {}),
          },
        }
      : {}),
    tpm: tpmClaims,
    ...(replay.eventLog || replay.ima ? { replay } : {}),
    checks,
    warnings,
  } as VtpmVerificationResult;
  // Not enumerable: JSON output of the result stays the claims above.
  Object.defineProperty(result, 'appraisal', { value: appraisal, enumerable: false });
  return result;
}
