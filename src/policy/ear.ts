/**
 * An appraisal as an EAR (EAT Attestation Result, draft-ietf-rats-ear; the
 * Veraison EAR profile "tag:github.com,2023:veraison/ear"), so a key broker
 * or chat backend can hand the verdict on. One submodule, `cpu0` (trustee's
 * name, so its token paths work), with:
 *
 *   ear.status                       affirming | warning | contraindicated
 *   ear.trustworthiness-vector       AR4SI claims (values as Veraison's ear)
 *   ear.appraisal-policy-id          the policy's id
 *   ear.veraison.annotated-evidence  the verified claims, trustee-shaped
 *   ear.veraison.policy-claims       verdict, violations, warnings, TCB status
 *
 * The time is passed in (`iat`, seconds): no hidden clock.
 */
import { InvalidArgumentError } from '../errors.js';
import { checkOptionKeys, type OptionKeys } from '../option-keys.js';
import type { VerificationResult } from '../verify/types.js';
import { annotatedEvidence, flattenClaims } from './annotated.js';
import { earPolicyId } from './policy-id.js';
import { tdUnderDebug } from './td-debug.js';
import type { PolicyAppraisal, PolicyViolation } from './types.js';

export const EAR_PROFILE = 'tag:github.com,2023:veraison/ear';
export const EAR_SUBMOD = 'cpu0';

/** The values of ear.status (draft-ietf-rats-ear; Veraison's ear library spells them the same). */
export const EAR_STATUSES = ['affirming', 'warning', 'contraindicated', 'none'] as const;
export type EarStatus = (typeof EAR_STATUSES)[number];

/** AR4SI trustworthiness vector (draft-ietf-rats-ar4si): -128..127; 0 = no claim. */
export interface TrustworthinessVector {
  'instance-identity': number;
  configuration: number;
  executables: number;
  'file-system': number;
  hardware: number;
  'runtime-opaque': number;
  'storage-opaque': number;
  'sourced-data': number;
}

export interface EarAppraisal {
  'ear.status': EarStatus;
  'ear.trustworthiness-vector': TrustworthinessVector;
  'ear.appraisal-policy-id': string;
  'ear.veraison.annotated-evidence': Record<string, unknown>;
  'ear.veraison.policy-claims': Record<string, unknown>;
}

export interface Ear {
  eat_profile: typeof EAR_PROFILE;
  iat: number;
  'ear.verifier-id': { developer: string; build: string };
  eat_nonce?: string;
  submods: Record<string, EarAppraisal>;
}

export interface ToEarOptions {
  /** The verifier's build (ear.verifier-id.build); or both developer and build. */
  verifierId: string | { developer: string; build: string };
  /** eat_nonce: 8 to 88 characters (EAT: 8–64 bytes, base64url). */
  nonce?: string;
  /** Issued-at, seconds since the epoch. */
  iat: number;
}

// AR4SI values (Veraison ear trustclaim.go): 2 affirming, 32/33 warning, 96/97 contraindicated.
const T = { none: 0, affirming: 2, approvedBoot: 3, warning: 32, unrecognized: 33, contraindicated: 96 } as const;

const has = (violations: readonly PolicyViolation[], checks: readonly string[]) => violations.some((v) => checks.includes(v.check));

const MEASUREMENT_CHECKS = ['T36', 'T37', 'T38', 'T39', 'T40', 'S25', 'S26', 'S27'];
const CONFIG_CHECKS = ['T34', 'T35', 'S20', 'S21', 'S22', 'S23', 'S24', 'S28', 'S32', 'S45', 'X07'];
const HARDWARE_CHECKS = ['T33', 'T18', 'S03', 'S06', 'S15', 'S17', 'S18', 'S19'];

function trustVector(result: VerificationResult, a: PolicyAppraisal): TrustworthinessVector {
  const v = a.violations;
  const c = result.claims;
  // a TD is under debug with DEBUG or a TUD bit (7:1) set, as the T34 check and the key broker judge it
  const debug = c.kind === 'snp' ? c.policy.debug : c.kind === 'tdx' ? tdUnderDebug(c) : c.debug;
  const statusWarns = a.warnings.some((w) => w.startsWith('T33:'));
  return {
    'instance-identity': has(v, ['S31']) ? T.contraindicated : T.none,
    configuration: has(v, CONFIG_CHECKS) ? T.contraindicated : debug ? T.warning : T.affirming,
    executables: has(v, MEASUREMENT_CHECKS) ? T.unrecognized : T.affirming,
    'file-system': T.none,
    hardware: has(v, HARDWARE_CHECKS) ? T.contraindicated : statusWarns ? T.warning : T.affirming,
    'runtime-opaque': debug ? T.contraindicated : T.affirming,
    'storage-opaque': T.none,
    'sourced-data': T.none,
  };
}

function earStatus(result: VerificationResult, a: PolicyAppraisal, vector: TrustworthinessVector): EarStatus {
  if (!a.ok) return 'contraindicated';
  const anyWarningTier = Object.values(vector).some((x) => x >= 32);
  return a.warnings.length > 0 || result.warnings.length > 0 || anyWarningTier ? 'warning' : 'affirming';
}

function verifierId(id: ToEarOptions['verifierId']): { developer: string; build: string } {
  if (typeof id === 'string' && id.length > 0) return { developer: 'tee-verify', build: id };
  if (typeof id === 'object' && id !== null && typeof id.developer === 'string' && typeof id.build === 'string' && id.developer && id.build) {
    return { developer: id.developer, build: id.build };
  }
  throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'toEar: verifierId must be a non-empty string or { developer, build }');
}

/** The keys ToEarOptions accepts (review s13 policy #2: a misspelt `nonce` gave an EAR without eat_nonce). */
const TO_EAR_OPTION_KEYS: OptionKeys<ToEarOptions> = { verifierId: true, nonce: true, iat: true };

function checkOptions(o: ToEarOptions): void {
  if (checkOptionKeys(o, TO_EAR_OPTION_KEYS, 'toEar') === undefined) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'toEar: options { verifierId, iat } are required');
  if (Object.hasOwn(o, 'nonce') && o.nonce === undefined) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'toEar: options.nonce is undefined (omit the key for an EAR without eat_nonce)', { details: { option: 'nonce' } });
  }
  if (!Number.isSafeInteger(o.iat) || o.iat < 0) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'toEar: iat must be whole seconds since the epoch');
  if (o.nonce !== undefined && (typeof o.nonce !== 'string' || o.nonce.length < 8 || o.nonce.length > 88)) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'toEar: nonce must be 8 to 88 characters');
  }
}

/** JSON-safe copy (bigint and undefined never reach a token). */
const jsonCopy = <T>(v: T): T => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))) as T;

/** The appraisal of `result` as an EAR claims set. */
export function toEar(result: VerificationResult, appraisal: PolicyAppraisal, options: ToEarOptions): Ear {
  checkOptions(options);
  const vector = trustVector(result, appraisal);
  const submod: EarAppraisal = {
    'ear.status': earStatus(result, appraisal, vector),
    'ear.trustworthiness-vector': vector,
    // the policy's id; for an id-less policy tee-verify:default-<tee> only when it is the default, else sha256:<digest> (review s13 policy #6)
    'ear.appraisal-policy-id': earPolicyId(appraisal),
    'ear.veraison.annotated-evidence': annotatedEvidence(result),
    'ear.veraison.policy-claims': jsonCopy({
      ok: appraisal.ok,
      tee: result.tee,
      tcb_status: result.tcbStatus ?? null,
      advisory_ids: result.advisoryIds,
      violations: appraisal.violations,
      warnings: [...result.warnings, ...appraisal.warnings],
      verified_at: result.at,
      earliest_collateral_expiry: result.collateral.earliestExpiry,
      trust_roots: result.trustRoots,
    }),
  };
  return {
    eat_profile: EAR_PROFILE,
    iat: options.iat,
    'ear.verifier-id': verifierId(options.verifierId),
    ...(options.nonce === undefined ? {} : { eat_nonce: options.nonce }),
    submods: { [EAR_SUBMOD]: submod },
  };
}

export interface OpenWebUiClaims {
  tee: string;
  /** JSON text of the flattened claims ("tdx.quote.body.mr_td": ...), as the patched open-webui reads it. */
  'tcb-status': string;
  jti?: string;
  iat?: number;
  exp?: number;
}

/**
 * The top-level claims the cc-zoo patched open-webui reads from an
 * attestation-service JWT (protocols.md §8.1, clarifications): `tee` and
 * `tcb-status`, plus `jti`, `iat`, `exp` when given (signEarJwt sets those
 * three on every token anyway; pass the result as its extraClaims).
 */
export function openWebUiClaims(result: VerificationResult, token?: { jti: string; iat: number; exp: number }): OpenWebUiClaims {
  const flat = flattenClaims(annotatedEvidence(result));
  delete flat['report_data']; // the same value is under <tee>.quote.body.report_data / snp.report_data
  const out: OpenWebUiClaims = { tee: result.tee, 'tcb-status': JSON.stringify(flat) };
  if (token !== undefined) Object.assign(out, { jti: token.jti, iat: token.iat, exp: token.exp });
  return out;
}
