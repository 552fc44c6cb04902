/**
 * The client's checks of the vTPM part of an attestation answer (docs/gateway.md,
 * "The vTPM path"). verify.ts has already verified the hardware evidence and
 * checked that its REPORTDATA is SHA-512(vtpm label ‖ our nonce ‖ SHA-256(SPKI of
 * THIS connection) ‖ SHA-256(the bundle's AK TPMT_PUBLIC)). Here:
 *
 *   - the bundle parses strictly and names its AK as a TPMT_PUBLIC;
 *   - verifyVtpmEvidence with that AK as the trusted key (the hardware bound it),
 *     and its Name as the pinned Name (VT05: the attributes are bound too),
 *     the expected extraData (SHA-256 of that REPORTDATA, or the nonce on /aTLS),
 *     the caller's bank rule: quote signature, extraData (VT10), PCR digest,
 *     banks, boot event log replay (VT15), IMA replay and boot_aggregate (VT16).
 *
 * The policy's vtpm section and the reference list are judged afterwards by
 * evaluatePolicy, with the appraisal this verification returns.
 */
import { InvalidArgumentError, TeeVerifyError } from '../errors.js';
import { parseVtpmBundle, type VtpmBundle } from '../vtpm/bundle.js';
import { parseTpmPublic } from '../vtpm/parse.js';
import { hashNameOf, keyFromTpmPublic, tpmName } from '../vtpm/tpm-key.js';
import type { ReferenceList } from '../vtpm/reference.js';
import type { TpmHashName, TpmPublic } from '../vtpm/types.js';
import { checkRequiredBankOption } from '../vtpm/quote.js';
import { verifyVtpmEvidence, type VtpmVerificationResult } from '../vtpm/verify.js';
import { loadReferenceList } from '../vtpm/reference.js';
import type { Policy } from '../policy/index.js';
import { CollateralUnavailableError } from '../collateral/errors.js';
import { AttestationRefusedError } from './errors.js';
import { isLocalFault } from './local-fault.js';
import { akPublicSha256 } from './vtpm-binding.js';
import { vtpmCheckOf } from '../vtpm/errors.js';

export interface VtpmClientOptions {
  /** The reference list the policy's vtpm section judges against (loadReferenceList). */
  reference?: ReferenceList;
  /** Bank the quote must cover; default sha256. */
  requiredBank?: TpmHashName;
  /** Relaxation: a SHA-1-only quote (a warning). */
  allowSha1?: boolean;
}

/** The caller's vTPM options as given to a client (a reference list as text, object or loaded). */
export interface VtpmCallerOptions {
  reference?: ReferenceList | string | object;
  requiredBank?: TpmHashName;
  allowSha1?: boolean;
}

function isLoadedReference(r: unknown): r is ReferenceList {
  return typeof r === 'object' && r !== null && (r as { ima?: { files?: unknown } }).ima?.files instanceof Map;
}

/** Loads the reference list; a list needs a policy with a vtpm section (the section's rules judge it). */
export function vtpmClientOptions(policy: Policy, o: VtpmCallerOptions): VtpmClientOptions {
  // Checked here, when the client is made: refused at attest() time, a caller's bad option would read
  // as a verdict on the gateway's TEE (review s14: requiredBank 'sha1' without allowSha1).
  if (o.allowSha1 !== undefined && typeof o.allowSha1 !== 'boolean') {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'vtpm option allowSha1 must be true or false (a relaxation applies only when exactly true)', { details: { option: 'allowSha1' } });
  }
  if (o.requiredBank !== undefined) checkRequiredBankOption({ requiredBank: o.requiredBank, allowSha1: o.allowSha1 === true }, 'AttestedClient');
  let reference: ReferenceList | undefined;
  if (o.reference !== undefined) {
    if (!('vtpm' in policy) || policy.vtpm === undefined) {
      throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', "a reference list is judged by the policy's vtpm section: the policy has none", { details: { option: 'reference' } });
    }
    reference = isLoadedReference(o.reference) ? o.reference : loadReferenceList(o.reference);
  }
  return { ...(reference ? { reference } : {}), ...(o.requiredBank !== undefined ? { requiredBank: o.requiredBank } : {}), ...(o.allowSha1 === true ? { allowSha1: true } : {}) };
}

/** What the client established on the vTPM path (part of GatewayVerification). */
export interface VtpmVerificationSummary {
  /** SHA-256 of the AK's TPMT_PUBLIC (bound by the hardware report), hex. */
  akSha256: string;
  /** The AK's TPM Name, hex. */
  akName?: string;
  /** Quoted banks with their PCR counts, e.g. ["sha256: 24 PCRs"]. */
  quoted: string[];
  /** Events of the replayed boot event log, entries of the replayed IMA list. */
  eventLogEvents?: number;
  imaEntries?: number;
  bootAggregate?: string;
  /** The reference list's id when one was judged. */
  reference?: string;
  checks: string[];
}

/** The answer's `vtpm` member as a bundle, with its AK's TPMT_PUBLIC. */
export function bundleOfAnswer(value: unknown): { bundle: VtpmBundle; akPublic: Uint8Array; akSha256: Buffer } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AttestationRefusedError('ERR_ATTEST_EXCHANGE', 'the answer\'s "vtpm" member is not a JSON object');
  let bundle: VtpmBundle;
  try {
    bundle = parseVtpmBundle(JSON.stringify(value));
  } catch (err) {
    throw new AttestationRefusedError('ERR_ATTEST_VTPM', `the vTPM bundle is malformed: ${(err as Error).message}`, { checks: ['VT01'], cause: err });
  }
  const ak = bundle.tpm.ak;
  if (!ak || !('public' in ak)) throw new AttestationRefusedError('ERR_ATTEST_VTPM', 'the vTPM bundle does not name its attestation key as a TPMT_PUBLIC (tpm.ak.public)', { checks: ['VT04'] });
  if (bundle.hardware) throw new AttestationRefusedError('ERR_ATTEST_VTPM', 'the vTPM bundle carries its own hardware evidence; on the gateway path the hardware evidence is the answer\'s "evidence"', { checks: ['VT01'] });
  return { bundle, akPublic: ak.public, akSha256: akPublicSha256(ak.public) };
}

/**
 * The AK's TPM Name, pinned from the binding (VT05). The hardware report commits to SHA-256 of
 * `akPublic`, and `akPublic` parses only as exactly one TPMT_PUBLIC (no TPM2B prefix, no trailing
 * byte): these bytes, attributes included, are the ones the TPM names, so their Name
 * (nameAlg ‖ H_nameAlg(TPMT_PUBLIC); for nameAlg SHA-256 that is 0x000b ‖ akSha256) is as bound as
 * the key. A nameAlg we cannot hash (SM3) pins nothing: VT05 stays "not checked", with its warning.
 */
function boundAkName(pub: TpmPublic): Uint8Array | undefined {
  const hash = hashNameOf(pub.nameAlg);
  return hash === undefined || hash === 'sm3_256' ? undefined : tpmName(pub);
}

/** verifyVtpmEvidence with the hardware-bound AK (key and Name) and the expected extraData; failures become refusals. */
export async function verifyVtpmPart(
  bundle: VtpmBundle,
  akPublic: Uint8Array,
  extraData: Uint8Array,
  o: { at: Date; vtpm?: VtpmClientOptions },
): Promise<VtpmVerificationResult> {
  try {
    const pub = parseTpmPublic(akPublic);
    const trustedAkName = boundAkName(pub);
    return await verifyVtpmEvidence(bundle, {
      at: o.at,
      nonce: extraData,
      trustedAk: keyFromTpmPublic(pub).key,
      ...(trustedAkName ? { trustedAkName } : {}),
      ...(o.vtpm?.requiredBank ? { requiredBank: o.vtpm.requiredBank } : {}),
      ...(o.vtpm?.allowSha1 ? { allowSha1: true } : {}),
    });
  } catch (err) {
    // The client's own fault (a bad option, the addon): passed through, never a verdict on the TEE.
    if (isLocalFault(err)) throw err;
    if (err instanceof CollateralUnavailableError) throw new AttestationRefusedError('ERR_ATTEST_COLLATERAL_UNAVAILABLE', `collateral unavailable: ${err.message}`, { cause: err });
    if (!(err instanceof TeeVerifyError)) throw err;
    const check = err.check ?? vtpmCheckOf(err.code);
    const checks = check ? [check] : [];
    if (err.code === ('ERR_VTPM_NONCE' as string)) {
      throw new AttestationRefusedError('ERR_ATTEST_BINDING', "the TPM quote's extraData is not bound to this client's nonce and this connection's TLS key", { checks, cause: err });
    }
    throw new AttestationRefusedError('ERR_ATTEST_VTPM', `vTPM evidence rejected (${err.code}): ${err.message}`, { checks, cause: err });
  }
}

export function summariseVtpm(r: VtpmVerificationResult, akSha256: Buffer, reference: ReferenceList | undefined): VtpmVerificationSummary {
  const quoted = r.tpm.quotes.flatMap((q) => q.selection.map((s) => `${s.bank}: ${s.pcrs.length} PCRs`));
  return {
    akSha256: akSha256.toString('hex'),
    ...(r.tpm.akName ? { akName: r.tpm.akName } : {}),
    quoted,
    ...(r.replay?.eventLog ? { eventLogEvents: r.replay.eventLog.events } : {}),
    ...(r.replay?.ima ? { imaEntries: r.replay.ima.entries, bootAggregate: r.replay.ima.bootAggregate } : {}),
    ...(reference ? { reference: reference.id ?? '(no id)' } : {}),
    checks: [...new Set(r.checks.map((c) => c.id))],
  };
}
