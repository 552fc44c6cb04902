/**
 * loadPolicy: a policy document (JSON text, UTF-8 bytes, or an already
 * parsed object) to a frozen Policy (X07). Strict at every step:
 *
 * 1. Text is strict JSON (X05: no duplicate keys, no BOM, nothing after the
 *    value, integers only), at most 1 MiB and 32 levels deep.
 * 2. The value is checked against the schema (schema.ts): unknown keys, wrong
 *    types, wrong hex lengths, empty lists and missing required fields are
 *    errors, each with the JSON pointer of the field.
 * 3. Rules a schema cannot say: duplicates after hex case folding, a masked
 *    value with bits outside its mask, an advisory both accepted and
 *    rejected, a chip ID both allowed and denied, an `id` in the reserved
 *    `sha256:` / `tee-verify:` forms.
 * 4. Defaults fill what the document leaves out (defaults.ts), hex becomes
 *    lowercase, and the result is frozen.
 *
 * Every failure is PolicyError (class ARGUMENT, code ERR_POLICY_INVALID,
 * details.path = the first problem's pointer, details.problems = all).
 */
import { parseStrictJson } from '../collateral/strict-json.js';
import { TeeVerifyError } from '../errors.js';
import { deepFreeze, defaultsFor, defaultVtpmPolicy, ALL_ONES_U64 } from './defaults.js';
import { PolicyError, type PolicyProblem } from './errors.js';
import { capProblems, pointerToken, validateAgainstSchema } from './json-schema.js';
import { isLoaded, markLoaded } from './registry.js';
import { policySchema } from './schema.js';
import type { Policy, PolicyTee } from './types.js';

export const MAX_POLICY_BYTES = 1024 * 1024;
const MAX_DEPTH = 32;

type Doc = Record<string, unknown>;

function parseText(input: string | Uint8Array): unknown {
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  if (bytes.length > MAX_POLICY_BYTES) throw new PolicyError([{ path: '', keyword: 'maxBytes', message: `the document exceeds ${MAX_POLICY_BYTES} bytes` }]);
  try {
    return parseStrictJson(bytes, { maxBytes: MAX_POLICY_BYTES, maxDepth: MAX_DEPTH });
  } catch (err) {
    // X05: the strict JSON parser's reason (duplicate key, trailing data, ...) with its byte offset.
    const reason = err instanceof TeeVerifyError ? err.message : 'not JSON';
    throw new PolicyError([{ path: '', keyword: 'json', message: reason }], { check: 'X05', cause: err });
  }
}

/**
 * Object input: one deep copy of plain data, read once, which is then both
 * validated and normalised. Checking the caller's object and then copying it
 * again (through JSON) let the two readings differ: a getter could answer
 * differently the second time, and an array's toJSON could turn a checked
 * allow list into "any" (review s6). So only own, enumerable data properties
 * with string keys are read (never a getter, never toJSON); arrays are dense
 * with no other properties; objects are plain (Object.prototype or null);
 * values are strings, finite numbers, booleans, null, arrays and objects (an
 * undefined value is refused, as the schema did); the depth is bounded (so is
 * a cycle).
 */
function copyPlainData(value: unknown, path: string, depth: number): unknown {
  const refuse = (message: string, at = path): never => {
    throw new PolicyError([{ path: at, keyword: 'type', message }]);
  };
  if (depth > MAX_DEPTH) throw new PolicyError([{ path, keyword: 'maxDepth', message: `nested deeper than ${MAX_DEPTH}` }]);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : refuse('must be a finite number');
  if (typeof value !== 'object') return refuse('must be plain JSON data');
  const isArray = Array.isArray(value);
  const proto = Object.getPrototypeOf(value) as unknown;
  if (isArray ? proto !== Array.prototype : proto !== Object.prototype && proto !== null) refuse('must be plain JSON data');
  const keys = Reflect.ownKeys(value);
  const out: unknown[] | Doc = isArray ? [] : {};
  const length = isArray ? (value as unknown[]).length : 0;
  for (const key of keys) {
    if (isArray && key === 'length') continue;
    if (typeof key === 'symbol') refuse('must be plain JSON data (a symbol-keyed property)');
    const k = key as string;
    const at = `${path}/${pointerToken(k)}`;
    if (isArray && !(String(Number(k)) === k && Number(k) < length)) refuse(`must be plain JSON data (an array with a property ${JSON.stringify(k)})`);
    const d = Object.getOwnPropertyDescriptor(value, k);
    if (d === undefined || !('value' in d)) refuse('must be plain JSON data (an accessor property)', at);
    if (!d!.enumerable) refuse('must be plain JSON data (a non-enumerable property)', at);
    // defineProperty: a "__proto__" key stays an own key (then refused by the schema), never a prototype.
    Object.defineProperty(out, k, { value: copyPlainData(d!.value, at, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  if (isArray && Object.keys(out).length !== length) refuse('must be plain JSON data (a sparse array)');
  return out;
}

const lower = (s: string) => s.toLowerCase();

/** Lowercases an allow list and rejects entries that only differed in case. */
function normalizeList(value: unknown, path: string, problems: PolicyProblem[]): unknown {
  if (!Array.isArray(value)) return value;
  const out = value.map((v) => (typeof v === 'string' ? lower(v) : v));
  // O(n): a Set of the entries seen (an indexOf per entry was O(n²), review s13 policy #1)
  const seen = new Set<unknown>();
  out.forEach((v, i) => {
    if (!seen.has(v)) seen.add(v);
    else problems.push({ path: `${path}/${i}`, keyword: 'uniqueItems', message: 'duplicates an earlier entry (hex is compared case-insensitively)' });
  });
  return out;
}

function maskedU64(value: unknown, path: string, problems: PolicyProblem[]): unknown {
  if (value === 'any' || typeof value !== 'object' || value === null) return value;
  const v = value as { value: string; mask?: string };
  const out = { value: lower(v.value), mask: lower(v.mask ?? ALL_ONES_U64) };
  if ((BigInt(out.value) & ~BigInt(out.mask)) !== 0n) problems.push({ path: `${path}/value`, keyword: 'mask', message: 'has bits set outside the mask: it could never match' });
  return out;
}

function maskedBytes(value: unknown, path: string, problems: PolicyProblem[]): unknown {
  if (value === 'any' || typeof value !== 'object' || value === null) return value;
  const v = value as { value: string; mask?: string };
  const out = { value: lower(v.value), mask: lower(v.mask ?? 'f'.repeat(v.value.length)) };
  const val = Buffer.from(out.value, 'hex');
  const mask = Buffer.from(out.mask, 'hex');
  if (val.some((b, i) => (b & ~(mask[i] ?? 0)) !== 0)) problems.push({ path: `${path}/value`, keyword: 'mask', message: 'has bits set outside the mask: it could never match' });
  return out;
}

function maskedU32(value: unknown, path: string, problems: PolicyProblem[]): unknown {
  if (value === 'any' || typeof value !== 'object' || value === null) return value;
  const v = value as { value: number; mask?: number };
  const out = { value: v.value, mask: v.mask ?? 0xffffffff };
  // X07: as for the 64-bit and byte masks (>>> 0: JS bit operators are signed 32-bit)
  if (((out.value & ~out.mask) >>> 0) !== 0) problems.push({ path: `${path}/value`, keyword: 'mask', message: 'has bits set outside the mask: it could never match' });
  return out;
}

const HEX_LISTS: Record<PolicyTee, readonly string[]> = {
  tdx: ['mrTd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'mrConfigId', 'mrOwner', 'mrOwnerConfig', 'mrSeam', 'mrSignerSeam', 'mrServiceTd', 'xfam'],
  sgx: ['mrEnclave', 'mrSigner'],
  snp: ['measurement', 'hostData', 'idKeyDigest', 'authorKeyDigest', 'familyId', 'imageId'],
};

function disjoint(a: unknown, b: unknown, pathB: string, what: string, problems: PolicyProblem[]): void {
  if (!Array.isArray(a) || !Array.isArray(b)) return;
  const onA = new Set<unknown>(a); // O(|a| + |b|), not |a| × |b|
  b.forEach((v, i) => {
    if (onA.has(v)) problems.push({ path: `${pathB}/${i}`, keyword: 'contradiction', message: `${what} ${JSON.stringify(v)} is on both lists` });
  });
}

/**
 * The forms of the ids an EAR gives an id-less policy (policy-id.ts): `tee-verify:default-<tee>`
 * for the library's default rules, `sha256:<digest>` for the content of any other. They say what
 * the rules are, so a document may not claim them (review s13 change review policy #2: a lax
 * document with "id": "sha256:<digest of a strict policy>" or "tee-verify:default-tdx" signed EARs
 * naming the strict policy or the default). Compared without case, so no look-alike passes either.
 * This amends the session 13 decision that left `tee-verify:` open to library callers.
 */
const RESERVED_POLICY_ID_PREFIXES = ['sha256:', 'tee-verify:'] as const;

function reservedId(doc: Doc, problems: PolicyProblem[]): void {
  const id = doc['id'];
  if (typeof id !== 'string') return;
  const prefix = RESERVED_POLICY_ID_PREFIXES.find((p) => id.toLowerCase().startsWith(p));
  if (prefix !== undefined) {
    problems.push({ path: '/id', keyword: 'reserved', message: `ids starting with "${prefix}" are reserved: the library names a policy without an id "sha256:<digest of its content>" or, for the default rules, "tee-verify:default-<tee>" (remove the id, or choose another)` });
  }
}

/** Step 3 and 4: semantic rules, lowercase hex, defaults. */
function normalize(doc: Doc): Policy {
  const tee = doc['tee'] as PolicyTee;
  const problems: PolicyProblem[] = [];
  reservedId(doc, problems);
  const out: Doc = { ...defaultsFor(tee) } as Doc;
  for (const [key, value] of Object.entries(doc)) {
    if (key === '$schema') continue; // an editor hint, not a rule
    out[key] = HEX_LISTS[tee].includes(key) ? normalizeList(value, `/${key}`, problems) : value;
  }
  if (typeof out['reportData'] === 'string') out['reportData'] = lower(out['reportData']);
  if (doc['vtpm'] !== undefined) out['vtpm'] = normalizeVtpm(doc['vtpm'] as Doc, problems);
  if (tee === 'tdx') out['tdAttributes'] = maskedU64(out['tdAttributes'], '/tdAttributes', problems);
  if (tee === 'sgx') {
    out['attributes'] = maskedBytes(out['attributes'], '/attributes', problems);
    out['miscSelect'] = maskedU32(out['miscSelect'], '/miscSelect', problems);
  }
  if (tee !== 'snp') {
    const tcb = { ...(defaultsFor(tee) as unknown as { tcb: Doc }).tcb, ...(doc['tcb'] as Doc | undefined) };
    disjoint(tcb['acceptedAdvisoryIds'], tcb['rejectedAdvisoryIds'], '/tcb/rejectedAdvisoryIds', 'advisory', problems);
    out['tcb'] = tcb;
  } else {
    normalizeSnp(doc, out, problems);
  }
  if (problems.length > 0) throw new PolicyError(capProblems(problems));
  return markLoaded(deepFreeze(out as unknown as Policy));
}

/** The vtpm section: defaults, lowercase PCR values (duplicates after case folding are errors). */
function normalizeVtpm(doc: Doc, problems: PolicyProblem[]): Doc {
  const out: Doc = { ...(defaultVtpmPolicy() as unknown as Doc), ...doc };
  const pcrs: Doc = {};
  for (const [bank, values] of Object.entries((doc['pcrs'] ?? {}) as Record<string, Doc>)) {
    pcrs[bank] = Object.fromEntries(Object.entries(values).map(([pcr, list]) => [pcr, normalizeList(list, `/vtpm/pcrs/${bank}/${pcr}`, problems)]));
  }
  out['pcrs'] = pcrs;
  return out;
}

function normalizeSnp(doc: Doc, out: Doc, problems: PolicyProblem[]): void {
  const defaults = defaultsFor('snp') as unknown as Doc;
  out['guestPolicy'] = { ...(defaults['guestPolicy'] as Doc), ...(doc['guestPolicy'] as Doc | undefined) };
  const chips = (doc['chipIds'] ?? {}) as { allow?: string[]; deny?: string[] };
  const chipIds: Doc = {};
  if (chips.allow) chipIds['allow'] = normalizeList(chips.allow, '/chipIds/allow', problems);
  if (chips.deny) chipIds['deny'] = normalizeList(chips.deny, '/chipIds/deny', problems);
  disjoint(chipIds['allow'], chipIds['deny'], '/chipIds/deny', 'chip ID', problems);
  out['chipIds'] = chipIds;
  // S17 / S18: minimums for some products but not for every accepted one would leave the others
  // with no TCB floor at all (review s6: Milan-only minimums with the default products let any Genoa
  // or Turin TCB through). Set minimums for every accepted product, or accept fewer products.
  const minimums = (doc['tcbMinimums'] ?? {}) as Doc;
  if (Object.keys(minimums).length > 0) {
    const bare = (out['products'] as string[]).filter((product) => !Object.hasOwn(minimums, product));
    if (bare.length > 0) {
      problems.push({ path: '/tcbMinimums', keyword: 'contradiction', message: `minimums are set, but not for accepted product${bare.length > 1 ? 's' : ''} ${bare.join(', ')} (no TCB floor there): add them, or narrow "products"` });
    }
  }
  const mit = (doc['requiredMitigations'] ?? {}) as Record<string, string>;
  out['requiredMitigations'] = Object.fromEntries(Object.entries(mit).map(([k, v]) => [k, lower(v)]));
}

/**
 * Loads a policy document: JSON text, UTF-8 bytes, or a parsed object.
 * Throws PolicyError (ARGUMENT, ERR_POLICY_INVALID, details.path) on any problem.
 */
export function loadPolicy(input: string | Uint8Array | object): Policy {
  let doc: unknown;
  if (typeof input === 'string' || input instanceof Uint8Array) doc = parseText(input);
  else if (typeof input === 'object' && input !== null) {
    doc = copyPlainData(input, '', 0); // shares nothing with the caller's object, read exactly once
  } else {
    throw new PolicyError([{ path: '', keyword: 'type', message: 'a policy is JSON text, UTF-8 bytes or an object' }]);
  }
  const problems = validateAgainstSchema(policySchema, doc);
  if (problems.length > 0) throw new PolicyError(problems);
  // The value checked is the value normalised: parsed text or our own copy, never re-read.
  return normalize(doc as Doc);
}

/**
 * `policy` (one this module produced) under `id`, without validating it again: a loaded policy
 * is valid, and only its id changes (checked as the schema checks it). The attestation service
 * names each inline document by its digest, once per request (review s13 policy #1: it loaded
 * the document twice). Not exported from the package.
 */
export function withPolicyId(policy: Policy, id: string): Policy {
  if (!isLoaded(policy)) throw new TypeError('withPolicyId: the policy does not come from loadPolicy or defaultPolicy');
  if (typeof id !== 'string' || id.length < 1 || id.length > 256) throw new PolicyError([{ path: '/id', keyword: 'maxLength', message: 'must be a string of 1 to 256 characters' }]);
  return markLoaded(deepFreeze({ ...policy, id } as Policy));
}
