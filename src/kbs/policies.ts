/**
 * Key-transfer policies as the broker stores them: a native tee-verify policy
 * (docs/policy.md, recognised by its `tee` field) or an Intel Trust Authority
 * KBS policy (recognised by `attestation_type`, translated with
 * translateItaPolicy). Both are validated when created and again when used.
 *
 * The broker is stricter than either format (X07, review session 3): a policy
 * must pin the code that gets the key — TDX MRTD, SGX MRENCLAVE or MRSIGNER,
 * SEV-SNP MEASUREMENT — unless the document says `allowUnpinnedMeasurement:
 * true`, a broker-only field removed before validation and kept in the stored
 * document, reported as a warning wherever the policy is shown.
 *
 * TCB floor (S17; review s10 V35 / V44): AMD does not revoke the VCEKs of old firmware, so an
 * SEV-SNP policy's REPORTED_TCB minimums are the only defence against a genuine report from firmware
 * AMD's bulletins name as vulnerable. A native SNP policy must set `tcbMinimums.<product>.reported`,
 * with its `snp` and `microcode` minimums above 0 (review s11 #3), for every product it accepts, unless it says `allowNoTcbMinimums: true` (the same machinery as the
 * unpinned opt-in: removed before validation, a warning, 400 at creation and 403 at transfer with
 * ERR_KBS_POLICY_UNPINNED, check S17). ITA policies are TDX or SGX only, so the rule never applies.
 *
 * TCB status (T33, review s7): an ITA policy that does not state `enforce_tcb_upto_date` requires an
 * UpToDate TCB here (Intel's semantics, and the library's translation, accept every status but
 * Revoked). Accepting other statuses takes an explicit `"enforce_tcb_upto_date": false`, which is
 * shown as a "T33: …" warning with the policy and stored with every release it allows.
 */
import { loadPolicy, translateItaPolicy, TeeVerifyError, type Policy } from '../index.js';
import { KbsError } from './errors.js';
import type { PolicyRow, VerifiedPolicyRow } from './store.js';

/** The operator's opt-in for a policy that pins no measurement. */
export const UNPINNED_OPT_IN = 'allowUnpinnedMeasurement';
/** The operator's opt-in for an SEV-SNP policy without a REPORTED_TCB minimum for each product (S17). */
export const NO_TCB_FLOOR_OPT_IN = 'allowNoTcbMinimums';

export interface ParsedPolicy {
  format: 'native' | 'ita';
  /** The document as stored (compact JSON). */
  document: string;
  policy: Policy;
  /** "X07: …" / "S17: …" / "T33: …" texts for the operator (an opted-in relaxation). */
  warnings: string[];
}

function invalid(err: unknown): KbsError {
  const details = err instanceof TeeVerifyError ? (err.details as Record<string, unknown> | undefined) : undefined;
  const problems = Array.isArray(details?.['problems']) ? (details['problems'] as { path?: string; message?: string }[]) : [];
  return new KbsError('ERR_KBS_POLICY_INVALID', 400, `invalid key-transfer policy: ${err instanceof Error ? err.message : String(err)}`, {
    check: 'X07',
    failedChecks: problems.length > 0 ? problems.map((p) => ({ check: 'X07', path: p.path ?? '', message: p.message ?? '' })) : [{ check: 'X07', message: err instanceof Error ? err.message : String(err) }],
    cause: err,
  });
}

interface Gap {
  /** JSON pointer of the field to fill, in the document's own format. */
  path: string;
  /** The fields of which one must be pinned, as the format names them. */
  fields: string;
  /** What the key would go to. */
  subject: string;
}

/** The measurement a key-release policy must pin (X07; T36, S25), or undefined when it pins one. */
function measurementGap(policy: Policy, format: 'native' | 'ita'): Gap | undefined {
  const ita = format === 'ita';
  switch (policy.tee) {
    case 'tdx':
      return policy.mrTd === 'any' ? { path: ita ? '/tdx/attributes/mrtd' : '/mrTd', fields: ita ? 'mrtd' : 'mrTd', subject: 'TD' } : undefined;
    case 'sgx':
      return policy.mrEnclave === 'any' && policy.mrSigner === 'any'
        ? { path: ita ? '/sgx/attributes/mrenclave' : '/mrEnclave', fields: ita ? 'mrenclave or mrsigner' : 'mrEnclave or mrSigner', subject: 'enclave' }
        : undefined;
    case 'snp':
      return policy.measurement === 'any' ? { path: '/measurement', fields: 'measurement', subject: 'guest' } : undefined;
  }
}

/** The SEV-SNP products a policy accepts without a REPORTED_TCB minimum. */
interface TcbGap {
  /** JSON pointer of the first minimum to fill. */
  path: string;
  products: string[];
}

/** The REPORTED_TCB components a bulletin's fix raises (SNP firmware, microcode): a floor must raise both. */
const FLOORED_COMPONENTS = ['snp', 'microcode'] as const;

/** Where a product's REPORTED_TCB floor falls short: the minimum itself, or its first component at 0 or absent. */
function floorHole(reported: Partial<Record<string, number>> | undefined, product: string): string | undefined {
  if (reported === undefined) return `/tcbMinimums/${product}/reported`;
  const missing = FLOORED_COMPONENTS.find((c) => !((reported[c] ?? 0) > 0));
  return missing === undefined ? undefined : `/tcbMinimums/${product}/reported/${missing}`;
}

/**
 * S17: the accepted SEV-SNP products with no REPORTED_TCB floor, or undefined when each has one
 * (or the policy is not SNP). A launch-only minimum (S18) does not count: the reported TCB is what
 * the VCEK certifies. Nor does one that floors nothing (review s11 #3: `{bootloader: 0}` met the
 * rule): the SNP and microcode minimums must both be above 0.
 */
function tcbFloorGap(policy: Policy): TcbGap | undefined {
  if (policy.tee !== 'snp') return undefined;
  const holes = policy.products.map((product) => ({ product, path: floorHole(policy.tcbMinimums[product]?.reported as Partial<Record<string, number>> | undefined, product) }));
  const bare = holes.filter((h) => h.path !== undefined);
  return bare.length === 0 ? undefined : { path: bare[0]!.path!, products: bare.map((h) => h.product) };
}

interface Loaded {
  format: 'native' | 'ita';
  policy: Policy;
  allowUnpinned: boolean;
  gap: Gap | undefined;
  allowNoTcbFloor: boolean;
  tcbGap: TcbGap | undefined;
  /** An ITA policy that says `enforce_tcb_upto_date: false` (T33 relaxation). */
  tcbRelaxed: boolean;
  /** An ITA policy that does not state `enforce_tcb_upto_date` (read as true since review s7). */
  tcbDefaulted: boolean;
  /** SEV-SNP `launch` minimums below the `reported` ones (`Milan.snp 8 < 24`): an S18 relaxation. */
  launchRelaxed: string[];
}

/**
 * S18: the launch minimums a policy sets below its reported ones. Without a `launch` minimum the
 * reported one applies to LAUNCH_TCB (src/policy/checks/snp-tcb.ts); a lower one admits guests
 * launched on firmware below the floor and live-updated since (s16 change review r2a #3).
 */
function launchRelaxations(policy: Policy): string[] {
  if (policy.tee !== 'snp') return [];
  const out: string[] = [];
  for (const [product, min] of Object.entries(policy.tcbMinimums)) {
    const reported = (min?.reported ?? {}) as Partial<Record<string, number>>;
    for (const [name, launch] of Object.entries((min?.launch ?? {}) as Partial<Record<string, number>>)) {
      const floor = reported[name];
      if (launch !== undefined && floor !== undefined && launch < floor) out.push(`${product}.${name} ${launch} < ${floor}`);
    }
  }
  return out;
}

const TCB_FIELD = 'enforce_tcb_upto_date';

/**
 * The ITA document as translated here: an absent enforce_tcb_upto_date reads as true (strict by
 * default), in every TEE section the document has. The stored document stays as given.
 */
function strictTcb(doc: Record<string, unknown>): { doc: Record<string, unknown>; relaxed: boolean; defaulted: boolean } {
  let relaxed = false;
  let defaulted = false;
  const out: Record<string, unknown> = { ...doc };
  for (const tee of ['tdx', 'sgx']) {
    const sec = doc[tee];
    if (typeof sec !== 'object' || sec === null || Array.isArray(sec)) continue;
    const attrs = (sec as Record<string, unknown>)['attributes'];
    if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) continue;
    const a = attrs as Record<string, unknown>;
    if (a[TCB_FIELD] === false) relaxed = true;
    if (a[TCB_FIELD] === undefined) {
      defaulted = true;
      out[tee] = { ...(sec as Record<string, unknown>), attributes: { ...a, [TCB_FIELD]: true } };
    }
  }
  return { doc: out, relaxed, defaulted };
}

function requireBoolean(value: unknown, field: string, check: 'X07' | 'S17'): void {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new KbsError('ERR_KBS_POLICY_INVALID', 400, `invalid key-transfer policy: "${field}" must be a boolean`, { check, failedChecks: [{ check, path: `/${field}`, message: 'must be a boolean' }] });
  }
}

/** A stored or given document (with its id) → the policy; the opt-ins are taken out before validation. */
function load(doc: Record<string, unknown>, format: 'native' | 'ita'): Loaded {
  const { [UNPINNED_OPT_IN]: optIn, [NO_TCB_FLOOR_OPT_IN]: noFloor, ...rest } = doc;
  requireBoolean(optIn, UNPINNED_OPT_IN, 'X07');
  requireBoolean(noFloor, NO_TCB_FLOOR_OPT_IN, 'S17');
  // The library refuses an unpinned ITA policy; here measurementGap and the operator's opt-in decide (same rule, own code).
  const ita = format === 'ita' ? strictTcb(rest) : undefined;
  const policy = ita ? translateItaPolicy(ita.doc, { allowUnpinnedMeasurement: true }) : loadPolicy(rest);
  return { format, policy, allowUnpinned: optIn === true, gap: measurementGap(policy, format), allowNoTcbFloor: noFloor === true, tcbGap: tcbFloorGap(policy), tcbRelaxed: ita?.relaxed ?? false, tcbDefaulted: ita?.defaulted ?? false, launchRelaxed: launchRelaxations(policy) };
}

function warningsOf(l: Loaded, id: string): string[] {
  const out: string[] = [];
  if (l.gap) {
    out.push(
      l.allowUnpinned
        ? `X07: policy ${id} pins no measurement (${l.gap.fields}); ${UNPINNED_OPT_IN} releases its keys to any ${l.gap.subject} that passes the other checks`
        : `X07: policy ${id} pins no measurement (${l.gap.fields}) and has no ${UNPINNED_OPT_IN}: transfers of its keys are refused`,
    );
  }
  if (l.tcbGap) {
    const products = l.tcbGap.products.join(', ');
    out.push(
      l.allowNoTcbFloor
        ? `S17: policy ${id} sets no REPORTED_TCB minimum (snp and microcode above 0) for ${products}; ${NO_TCB_FLOOR_OPT_IN} releases its keys there at any TCB, firmware AMD's bulletins name as vulnerable included (AMD does not revoke old VCEKs)`
        : `S17: policy ${id} sets no REPORTED_TCB minimum (snp and microcode above 0) for ${products} and has no ${NO_TCB_FLOOR_OPT_IN}: transfers of its keys are refused`,
    );
  }
  if (l.launchRelaxed.length > 0) out.push(`S18: policy ${id} sets LAUNCH_TCB minimums below its REPORTED_TCB floor (${l.launchRelaxed.join(', ')}): its keys are released to guests launched on firmware below the floor and live-updated since`);
  if (l.tcbRelaxed) out.push(`T33: policy ${id} says ${TCB_FIELD}: false: its keys are released to platforms whose TCB status is not UpToDate (every status but Revoked, OutOfDate included)`);
  return out;
}

function unpinned(gap: Gap, status: 400 | 403, id: string): KbsError {
  const message = status === 400
    ? `a key-transfer policy must pin the ${gap.subject}'s measurement (${gap.fields}); to release to any ${gap.subject}, say "${UNPINNED_OPT_IN}": true`
    : `the key's policy ${id} pins no measurement (${gap.fields}) and does not say "${UNPINNED_OPT_IN}": true; no key is released under it`;
  return new KbsError('ERR_KBS_POLICY_UNPINNED', status, message, { check: 'X07', failedChecks: [{ check: 'X07', path: gap.path, message }] });
}

function noTcbFloor(gap: TcbGap, status: 400 | 403, id: string): KbsError {
  const products = gap.products.join(', ');
  const message = status === 400
    ? `an SEV-SNP key-transfer policy must set a REPORTED_TCB minimum (tcbMinimums.<product>.reported, from AMD's security bulletins, with snp and microcode above 0) for each product it accepts, and sets none for ${products}: AMD does not revoke the VCEKs of old firmware, so the minimum is the only floor. Add them, narrow "products", or say "${NO_TCB_FLOOR_OPT_IN}": true to release at any TCB`
    : `the key's policy ${id} sets no REPORTED_TCB minimum (snp and microcode above 0) for ${products} and does not say "${NO_TCB_FLOOR_OPT_IN}": true; no key is released under it`;
  return new KbsError('ERR_KBS_POLICY_UNPINNED', status, message, { check: 'S17', failedChecks: [{ check: 'S17', path: gap.path, message }] });
}

/** X07 then S17: a policy that leaves either open without its opt-in releases nothing. */
function refuseGaps(l: Loaded, status: 400 | 403, id: string): void {
  if (l.gap && !l.allowUnpinned) throw unpinned(l.gap, status, id);
  if (l.tcbGap && !l.allowNoTcbFloor) throw noTcbFloor(l.tcbGap, status, id);
}

/** Validates a policy document given to the admin API; `id` is the row id the server assigned. */
export function parsePolicyDocument(doc: unknown, id: string): ParsedPolicy {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new KbsError('ERR_KBS_POLICY_INVALID', 400, 'a key-transfer policy is a JSON object', { check: 'X07' });
  const o = doc as Record<string, unknown>;
  let stored: Record<string, unknown>;
  let loaded: Loaded;
  try {
    if ('attestation_type' in o) {
      stored = { ...o, id };
      loaded = load(stored, 'ita');
    } else {
      // The row id is always the server's UUID; a native document keeps its own id (reported in appraisals) when it has one.
      stored = { ...o, id: typeof o['id'] === 'string' ? o['id'] : id };
      loaded = load(stored, 'native');
    }
  } catch (err) {
    if (KbsError.is(err)) throw err;
    throw invalid(err);
  }
  refuseGaps(loaded, 400, id);
  return { format: loaded.format, document: JSON.stringify(stored), policy: loaded.policy, warnings: warningsOf(loaded, id) };
}

function loadRow(row: PolicyRow): Loaded {
  try {
    return load(JSON.parse(row.document) as Record<string, unknown>, row.format === 'ita' ? 'ita' : 'native');
  } catch (cause) {
    throw new KbsError('ERR_KBS_STORAGE', 500, `stored policy ${row.id} no longer loads`, { cause });
  }
}

/**
 * The Policy of a stored row for a transfer: fails closed as a storage error if it no longer loads,
 * and with 403 ERR_KBS_POLICY_UNPINNED if it pins no measurement (X07) or, for SEV-SNP, sets no
 * REPORTED_TCB minimum (S17) without the opt-in (a row stored before the broker checked this).
 */
export function policyOfRow(row: VerifiedPolicyRow): { policy: Policy; warnings: string[] } {
  const l = loadRow(row);
  refuseGaps(l, 403, row.id);
  return { policy: l.policy, warnings: warningsOf(l, row.id) };
}

/**
 * The warnings shown with a stored policy (and logged at every start). A row
 * that no longer loads (stored before a stricter loader, e.g. SEV-SNP
 * tcbMinimums naming only some of its products) says so and why: transfers
 * under it fail closed until it is replaced.
 */
export function policyWarnings(row: PolicyRow): string[] {
  let loaded: Loaded;
  try {
    loaded = loadRow(row);
  } catch (err) {
    const why = (err as { cause?: { message?: unknown } }).cause?.message;
    return [`policy ${row.id} no longer loads${typeof why === 'string' ? ` (${why})` : ''}: transfers of its keys fail until it is replaced`];
  }
  return warningsOf(loaded, row.id);
}

/**
 * For the log at every start (second review s7): a stored ITA policy that does not state
 * enforce_tcb_upto_date became stricter with review s7 without anyone being told. Says so, and how
 * to keep the old behaviour; undefined for every other row (and one that no longer loads).
 */
export function tcbDefaultNotice(row: PolicyRow): string | undefined {
  if (row.format !== 'ita') return undefined;
  let loaded: Loaded;
  try {
    loaded = loadRow(row);
  } catch {
    return undefined;
  }
  if (!loaded.tcbDefaulted) return undefined;
  return `T33: ITA policy ${row.id} does not state ${TCB_FIELD}: since review s7 it is read as true, so its keys go only to platforms whose TCB is UpToDate (before: every status but Revoked). To keep the old behaviour, create the policy again with "${TCB_FIELD}": false and move its keys to it (PUT /kbs/v1/keys/{id} with transfer_policy_id); a policy that states the field, true or false, gets no such line`;
}

/** Attestation-Type header value → TEE, or undefined when not one we serve. */
export function teeOfAttestationType(header: string | undefined): 'tdx' | 'sgx' | 'snp' | undefined {
  switch ((header ?? '').trim().toUpperCase()) {
    case 'TDX':
      return 'tdx';
    case 'SGX':
      return 'sgx';
    case 'SEV-SNP':
    case 'SNP':
      return 'snp';
    default:
      return undefined;
  }
}

export const attestationTypeOf = (tee: 'tdx' | 'sgx' | 'snp'): string => (tee === 'snp' ? 'SEV-SNP' : tee.toUpperCase());
