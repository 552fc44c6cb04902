/**
 * translateItaPolicy: an Intel Trust Authority KBS key-transfer policy
 * (intel/trustauthority-kbs v1.3.0, model/key_transfer_policy.go; protocols.md
 * §4.4) to a native Policy. The ITA document is validated as strictly as a
 * native one (unknown fields are errors), against ITA's own field rules; then
 * mapped field by field (docs/policy.md, "ITA mapping"):
 *
 *   attestation_type TDX | SGX   -> tee (case-insensitive, or a one-element
 *                                   array: the README variants, §10.1)
 *   tdx.attributes.mrsignerseam  -> mrSignerSeam (empty or absent: "any")
 *   tdx.attributes.mrseam        -> mrSeam
 *   tdx.attributes.seamsvn       -> seamSvn: [n] (ITA: exact equality)
 *   tdx.attributes.mrtd          -> mrTd
 *   tdx.attributes.rtmr0..rtmr3  -> rtmr0..rtmr3: [value] ("" or absent: "any")
 *   sgx.attributes.mrsigner      -> mrSigner; mrenclave -> mrEnclave
 *   sgx.attributes.isvprodid     -> isvProdId; isvsvn -> isvSvn: [n] (equality)
 *   enforce_tcb_upto_date true   -> tcb.acceptedStatuses ["UpToDate"]
 *                         false  -> every status but Revoked (ITA then ignores the status)
 *   id                           -> id;  created_at: checked, dropped
 *
 * Fields ITA has no notion of become explicit "any" (MRCONFIGID, MROWNER,
 * MROWNERCONFIG); debug stays forbidden (stricter than ITA, which does not
 * look at the debug bit). A non-empty `policy_ids` list is refused: in ITA it
 * releases the key on a match of ITA-hosted appraisal policies *instead of*
 * the attribute checks, which this verifier cannot evaluate; dropping it
 * would be a different policy.
 *
 * Stricter than ITA (review s6): attributes that pin no code — TDX without an
 * MRTD, SGX with neither MRENCLAVE nor MRSIGNER (absent or empty lists, or
 * `"attributes": {}`) — would accept any TD or enclave, so they are refused
 * (ERR_POLICY_INVALID at /tdx/attributes or /sgx/attributes) unless the caller
 * passes `allowUnpinnedMeasurement` (Intel's semantics; then a warning). An
 * absent `enforce_tcb_upto_date` (every status but Revoked) is a warning.
 */
import { parseStrictJson } from '../collateral/strict-json.js';
import { TeeVerifyError } from '../errors.js';
import { checkOptionKeys, type OptionKeys } from '../option-keys.js';
import { PolicyError, type PolicyProblem } from './errors.js';
import { validateAgainstSchema } from './json-schema.js';
import { loadPolicy } from './load.js';
import { POLICY_LIST_LIMITS, type JsonSchema } from './schema.js';
import type { AcceptableTcbStatus, Policy } from './types.js';

const SHA384 = { type: 'string', pattern: '^[a-fA-F0-9]{96}$' } as const;
const SHA256 = { type: 'string', pattern: '^[a-fA-F0-9]{64}$' } as const;
const UUID = { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$' } as const;
/** TDX or SGX in any letter case (protocols.md §10.1: the README's lower-case variant). */
const ATTESTATION_TYPE = { type: 'string', pattern: '^([Tt][Dd][Xx]|[Ss][Gg][Xx])$' } as const;
const U16 = { type: 'integer', minimum: 0, maximum: 65535 } as const;
/** ITA's lists, bounded as the native allow lists they become (review s13 policy #1). */
const list = (item: JsonSchema): JsonSchema => ({ type: 'array', maxItems: POLICY_LIST_LIMITS.allowList, items: item });
const section = (attributes: JsonSchema): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  properties: { policy_ids: list(UUID), attributes },
});

const ITA_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['attestation_type'],
  properties: {
    id: UUID,
    created_at: { type: 'string', minLength: 1, maxLength: 64 },
    attestation_type: { anyOf: [ATTESTATION_TYPE, { type: 'array', minItems: 1, maxItems: 1, items: ATTESTATION_TYPE }] },
    tdx: section({
      type: 'object',
      additionalProperties: false,
      properties: {
        mrsignerseam: list(SHA384),
        mrseam: list(SHA384),
        seamsvn: U16,
        mrtd: list(SHA384),
        rtmr0: { anyOf: [{ const: '' }, SHA384] },
        rtmr1: { anyOf: [{ const: '' }, SHA384] },
        rtmr2: { anyOf: [{ const: '' }, SHA384] },
        rtmr3: { anyOf: [{ const: '' }, SHA384] },
        enforce_tcb_upto_date: { type: 'boolean' },
      },
    }),
    sgx: section({
      type: 'object',
      additionalProperties: false,
      properties: {
        mrsigner: list(SHA256),
        isvprodid: list(U16),
        mrenclave: list(SHA256),
        isvsvn: U16,
        enforce_tcb_upto_date: { type: 'boolean' },
      },
    }),
  },
};

const ALL_BUT_REVOKED: AcceptableTcbStatus[] = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'TD_RELAUNCH_ADVISED',
  'TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED',
];

type Doc = Record<string, unknown>;

function parse(input: string | Uint8Array | object): unknown {
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
    try {
      return parseStrictJson(bytes, { maxBytes: 1024 * 1024, maxDepth: 32 });
    } catch (err) {
      throw new PolicyError([{ path: '', keyword: 'json', message: err instanceof TeeVerifyError ? err.message : 'not JSON' }], { check: 'X05', cause: err });
    }
  }
  if (typeof input !== 'object' || input === null) throw new PolicyError([{ path: '', keyword: 'type', message: 'an ITA policy is JSON text, UTF-8 bytes or an object' }]);
  // A BigInt or a cycle makes JSON.stringify throw a plain TypeError, and a toJSON that yields
  // nothing leaves no text to parse: input with no JSON form is a policy error (review s10 J4).
  let text: string | undefined;
  try {
    text = JSON.stringify(input);
  } catch (err) {
    throw new PolicyError([{ path: '', keyword: 'type', message: 'the ITA policy object has no JSON form (a BigInt or a cycle)' }], { check: 'X05', cause: err });
  }
  if (text === undefined) throw new PolicyError([{ path: '', keyword: 'type', message: 'the ITA policy object has no JSON form' }], { check: 'X05' });
  return JSON.parse(text) as unknown;
}

const anyIfEmpty = (v: unknown): unknown => (Array.isArray(v) && v.length > 0 ? v : 'any');
const oneOrAny = (v: unknown): unknown => (typeof v === 'string' && v !== '' ? [v] : 'any');
const exactOrAny = (v: unknown): unknown => (typeof v === 'number' ? [v] : 'any');

function tdxDocument(attrs: Doc): Doc {
  return {
    tee: 'tdx',
    mrTd: anyIfEmpty(attrs['mrtd']),
    rtmr0: oneOrAny(attrs['rtmr0']),
    rtmr1: oneOrAny(attrs['rtmr1']),
    rtmr2: oneOrAny(attrs['rtmr2']),
    rtmr3: oneOrAny(attrs['rtmr3']),
    mrConfigId: 'any',
    mrOwner: 'any',
    mrOwnerConfig: 'any',
    mrSeam: anyIfEmpty(attrs['mrseam']),
    mrSignerSeam: anyIfEmpty(attrs['mrsignerseam']),
    seamSvn: exactOrAny(attrs['seamsvn']),
  };
}

function sgxDocument(attrs: Doc): Doc {
  return {
    tee: 'sgx',
    mrEnclave: anyIfEmpty(attrs['mrenclave']),
    mrSigner: anyIfEmpty(attrs['mrsigner']),
    isvProdId: anyIfEmpty(attrs['isvprodid']),
    isvSvn: exactOrAny(attrs['isvsvn']),
  };
}

/** The ITA document's TEE section, after the rules its schema cannot say. */
function sectionOf(doc: Doc, tee: 'tdx' | 'sgx'): Doc {
  const other = tee === 'tdx' ? 'sgx' : 'tdx';
  if (doc[other] !== undefined) throw new PolicyError([{ path: `/${other}`, keyword: 'attestation_type', message: `a ${tee.toUpperCase()} policy cannot carry a "${other}" section (it would never be applied)` }]);
  const sec = doc[tee] as Doc | undefined;
  if (sec === undefined) throw new PolicyError([{ path: `/${tee}`, keyword: 'required', message: `"${tee}" is required for attestation_type ${tee.toUpperCase()}` }]);
  const ids = sec['policy_ids'] as unknown[] | undefined;
  if (ids !== undefined && ids.length > 0) {
    throw new PolicyError([{ path: `/${tee}/policy_ids`, keyword: 'unsupported', message: 'ITA-hosted appraisal policies (policy_ids) replace the attribute checks in ITA and cannot be evaluated here' }]);
  }
  if (sec['attributes'] === undefined) throw new PolicyError([{ path: `/${tee}/attributes`, keyword: 'required', message: '"attributes" is required (a policy without attributes would accept any TD or enclave)' }]);
  return sec['attributes'] as Doc;
}

export interface TranslateItaOptions {
  /**
   * Accept attributes that pin no code (Intel's semantics: an absent attribute is not checked): a
   * TDX policy without `mrtd`, an SGX one without `mrenclave` and `mrsigner`. Reported through
   * `onWarning`. Default false: refused.
   */
  allowUnpinnedMeasurement?: boolean;
  /** Receives each warning of the translation ("X07: …", "T33: …"). */
  onWarning?: (warning: string) => void;
}

/** The keys TranslateItaOptions accepts (review s13 policy #2: a misspelt allowUnpinnedMeasurement must not pass for its absence silently, nor onWarning's). */
const TRANSLATE_ITA_OPTION_KEYS: OptionKeys<TranslateItaOptions> = { allowUnpinnedMeasurement: true, onWarning: true };

/** The X07 refusal of attributes that name no code, or undefined when they pin one. */
function unpinned(tee: 'tdx' | 'sgx', attrs: Doc): string | undefined {
  const named = (field: string): boolean => Array.isArray(attrs[field]) && (attrs[field] as unknown[]).length > 0;
  if (tee === 'tdx') return named('mrtd') ? undefined : 'names no MRTD ("mrtd" absent or empty)';
  return named('mrenclave') || named('mrsigner') ? undefined : 'names neither MRENCLAVE nor MRSIGNER ("mrenclave" / "mrsigner" absent or empty)';
}

/** Intel Trust Authority key-transfer policy to a native Policy. Throws PolicyError (ERR_POLICY_INVALID). */
export function translateItaPolicy(input: string | Uint8Array | object, options: TranslateItaOptions = {}): Policy {
  const o = checkOptionKeys(options, TRANSLATE_ITA_OPTION_KEYS, 'translateItaPolicy') ?? {};
  const doc = parse(input);
  const problems = validateAgainstSchema(ITA_SCHEMA, doc);
  if (problems.length > 0) throw new PolicyError(problems);
  const d = doc as Doc;
  const type = d['attestation_type'];
  const tee = String(Array.isArray(type) ? type[0] : type).toLowerCase() as 'tdx' | 'sgx';
  const attrs = sectionOf(d, tee);
  const warn = o.onWarning ?? (() => {});
  const gap = unpinned(tee, attrs);
  if (gap !== undefined) {
    const subject = tee === 'tdx' ? 'TD' : 'enclave';
    if (o.allowUnpinnedMeasurement !== true) {
      throw new PolicyError([{ path: `/${tee}/attributes`, keyword: 'unpinned', message: `${gap}: the policy would accept any ${subject} (pass allowUnpinnedMeasurement to keep Intel's semantics)` }]);
    }
    warn(`X07: the ITA policy ${gap}: any ${subject} is accepted (allowUnpinnedMeasurement)`);
  }
  if (attrs['enforce_tcb_upto_date'] === undefined) {
    warn('T33: enforce_tcb_upto_date is absent: every TCB status but Revoked is accepted (OutOfDate included), as ITA does; say true or false explicitly');
  }
  const native: Doc = tee === 'tdx' ? tdxDocument(attrs) : sgxDocument(attrs);
  if (typeof d['id'] === 'string') native['id'] = d['id'];
  native['tcb'] = { acceptedStatuses: attrs['enforce_tcb_upto_date'] === true ? ['UpToDate'] : ALL_BUT_REVOKED };
  try {
    return loadPolicy(native);
  } catch (err) {
    throw err instanceof PolicyError ? inItaTerms(err, tee) : err;
  }
}

/** Native field -> the ITA attribute it came from, and whether ITA's value is a list (keeps the index). */
const ITA_FIELDS: Record<'tdx' | 'sgx', Record<string, readonly [string, boolean]>> = {
  tdx: {
    mrTd: ['mrtd', true], mrSeam: ['mrseam', true], mrSignerSeam: ['mrsignerseam', true], seamSvn: ['seamsvn', false],
    rtmr0: ['rtmr0', false], rtmr1: ['rtmr1', false], rtmr2: ['rtmr2', false], rtmr3: ['rtmr3', false], tcb: ['enforce_tcb_upto_date', false],
  },
  sgx: { mrEnclave: ['mrenclave', true], mrSigner: ['mrsigner', true], isvProdId: ['isvprodid', true], isvSvn: ['isvsvn', false], tcb: ['enforce_tcb_upto_date', false] },
};

/** A native pointer ("/mrEnclave/1") as the pointer into the ITA document the value came from ("/sgx/attributes/mrenclave/1"). */
function itaPath(path: string, tee: 'tdx' | 'sgx'): string {
  const [, field = '', index] = path.split('/');
  if (field === 'id') return path;
  const mapped = ITA_FIELDS[tee][field];
  if (mapped === undefined) return path;
  const [name, isList] = mapped;
  return `/${tee}/attributes/${name}${isList && index !== undefined ? `/${index}` : ''}`;
}

/** The native loader's refusal, pointing into the document the caller wrote (review s8-5). */
function inItaTerms(err: PolicyError, tee: 'tdx' | 'sgx'): PolicyError {
  const problems = (err.details['problems'] as PolicyProblem[]).map((p) => ({ ...p, path: itaPath(p.path, tee) }));
  return new PolicyError(problems, { ...(err.check === undefined ? {} : { check: err.check }), cause: err });
}
