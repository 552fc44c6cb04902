/**
 * A small, strict JSON Schema validator for exactly the keywords the policy
 * schemas use (no dependency): type, const, enum, pattern, minLength,
 * maxLength, minimum, maximum, items, minItems, maxItems, uniqueItems, properties,
 * required, additionalProperties (false only), minProperties, anyOf, oneOf,
 * and local $ref (#/$defs/name). Annotation keywords ($schema, $id, title,
 * description) are ignored. A schema keyword it does not know is a
 * programming error and throws, so the validator can never silently accept
 * what the schema forbids.
 *
 * Errors carry the JSON pointer of the offending value. For anyOf / oneOf
 * the errors of the closest branch are reported (fewest errors, then the
 * deepest path), which names the field a person got wrong.
 *
 * At most MAX_PROBLEMS problems are collected (review s13 change review policy #1): an object
 * or list stops its per-member work once it holds that many, and the result then ends with one
 * `truncated` problem saying more were not listed. So 512 KiB of unknown member names costs one
 * pass over the names, not a problem and a "did you mean" per member (0.4–0.5 s per request of
 * the attestation service's event loop), and the matching TEE branch keeps the fewest problems.
 */
import type { JsonSchema } from './schema.js';
import type { PolicyProblem } from './errors.js';

const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', '$defs']);
const KNOWN = new Set([
  ...ANNOTATIONS,
  'type',
  'const',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'items',
  'minItems',
  'maxItems',
  'uniqueItems',
  'properties',
  'required',
  'additionalProperties',
  'minProperties',
  'anyOf',
  'oneOf',
  '$ref',
]);

/** RFC 6901 escaping of one reference token. */
export function pointerToken(key: string | number): string {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'object') return isPlainObject(v) ? 'object' : 'non-JSON object';
  return typeof v;
}

/** Structural equality of JSON values (for const, enum, uniqueItems). */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * A string that two JSON values share exactly when jsonEqual says they are equal: their
 * JSON text with object members sorted by key (each string escaped once, so the key's
 * length is linear in the value's, at any depth). A non-JSON object (never reached: the
 * loader copies plain data first) gets a key of its own, as jsonEqual compares those by
 * identity.
 */
let opaque = 0;
function canonicalKey(v: unknown): string {
  if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : `\u0000${String(v)}`; // -0 is "0", as -0 === 0
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalKey).join(',')}]`;
  if (isPlainObject(v)) {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalKey(v[k])}`).join(',')}}`;
  }
  return `\u0000opaque ${opaque++}`;
}

/** Compiled patterns: a schema has a handful, a document may test thousands of values against them. */
const patterns = new Map<string, RegExp>();
function patternOf(source: string): RegExp {
  let re = patterns.get(source);
  if (re === undefined) patterns.set(source, (re = new RegExp(source, 'u')));
  return re;
}

/** Problems collected before the rest of a value is skipped (the first ones, in document order). */
export const MAX_PROBLEMS = 64;

/** The keyword of the last problem of a truncated list. */
export const TRUNCATED = 'truncated';

/**
 * `problems` with at most MAX_PROBLEMS real problems. When some were left out (more than the cap
 * were found, or a value stopped checking its members once it held the cap), the list ends with
 * one `truncated` problem at "" that says which.
 */
export function capProblems(problems: readonly PolicyProblem[]): PolicyProblem[] {
  const real = problems.filter((p) => p.keyword !== TRUNCATED);
  const stoppedEarly = real.length !== problems.length;
  if (real.length <= MAX_PROBLEMS && !stoppedEarly) return [...problems];
  const kept = real.slice(0, MAX_PROBLEMS);
  const extra = real.length - kept.length;
  const message =
    `only the first ${kept.length} problems are listed` +
    (extra > 0 ? `; ${extra} more were found` : '') +
    (stoppedEarly ? `; checking stopped after ${MAX_PROBLEMS} problems in one value, so the document may have more` : '');
  return [...kept, { path: '', keyword: TRUNCATED, message }];
}

/** The marker of a value that stopped checking its members (folded into one final problem by capProblems). */
const stopped = (path: string): PolicyProblem => ({ path, keyword: TRUNCATED, message: 'the rest of this value was not checked' });

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : typeOf(v));

class Validator {
  constructor(private readonly root: JsonSchema) {}

  private resolve(ref: string): JsonSchema {
    const m = /^#\/\$defs\/([A-Za-z0-9_]+)$/.exec(ref);
    const defs = this.root['$defs'] as Record<string, JsonSchema> | undefined;
    const target = m && defs ? defs[m[1] as string] : undefined;
    if (!target) throw new Error(`policy schema: unresolvable $ref ${ref}`);
    return target;
  }

  validate(schema: JsonSchema, value: unknown, path: string): PolicyProblem[] {
    for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`policy schema: unsupported keyword ${k}`);
    if (typeof schema['$ref'] === 'string') return this.validate(this.resolve(schema['$ref']), value, path);
    if (schema['anyOf'] !== undefined) return this.branches(schema['anyOf'] as JsonSchema[], value, path, 'any');
    if (schema['oneOf'] !== undefined) return this.branches(schema['oneOf'] as JsonSchema[], value, path, 'one');
    const out: PolicyProblem[] = [];
    const problem = (keyword: string, message: string, at = path) => out.push({ path: at, keyword, message });
    if ('const' in schema && !jsonEqual(value, schema['const'])) {
      problem('const', `must be ${JSON.stringify(schema['const'])}, not ${show(value)}`);
      return out;
    }
    if (Array.isArray(schema['enum']) && !schema['enum'].some((e) => jsonEqual(e, value))) {
      problem('enum', `must be one of ${(schema['enum'] as Json[]).map((e) => JSON.stringify(e)).join(', ')}, not ${show(value)}`);
      return out;
    }
    const type = schema['type'] as string | undefined;
    if (type !== undefined && !this.hasType(value, type)) {
      problem('type', `must be ${type === 'integer' ? 'an integer' : `a${/^[aeiou]/.test(type) ? 'n' : ''} ${type}`}, not ${show(value)}`);
      return out;
    }
    if (typeof value === 'string') this.string(schema, value, problem);
    if (typeof value === 'number') this.number(schema, value, problem);
    if (Array.isArray(value)) out.push(...this.array(schema, value, path, problem));
    if (isPlainObject(value)) out.push(...this.object(schema, value, path, problem));
    return out;
  }

  private hasType(value: unknown, type: string): boolean {
    if (type === 'integer') return typeof value === 'number' && Number.isSafeInteger(value);
    if (type === 'object') return isPlainObject(value);
    return typeOf(value) === type || (type === 'number' && typeof value === 'number' && Number.isFinite(value));
  }

  private string(schema: JsonSchema, value: string, problem: (k: string, m: string) => void): void {
    if (typeof schema['minLength'] === 'number' && value.length < schema['minLength']) problem('minLength', `must have at least ${schema['minLength']} characters`);
    if (typeof schema['maxLength'] === 'number' && value.length > schema['maxLength']) problem('maxLength', `must have at most ${schema['maxLength']} characters`);
    if (typeof schema['pattern'] === 'string' && !patternOf(schema['pattern']).test(value)) {
      const hexLen = /^\^\[0-9a-fA-F\]\{(\d+)\}\$$/.exec(schema['pattern']);
      problem('pattern', hexLen ? `must be exactly ${hexLen[1]} hex digits (${Number(hexLen[1]) / 2} bytes), not ${show(value)}` : `must match ${schema['pattern']}, not ${show(value)}`);
    }
  }

  private number(schema: JsonSchema, value: number, problem: (k: string, m: string) => void): void {
    if (typeof schema['minimum'] === 'number' && value < schema['minimum']) problem('minimum', `must be at least ${schema['minimum']}, not ${value}`);
    if (typeof schema['maximum'] === 'number' && value > schema['maximum']) problem('maximum', `must be at most ${schema['maximum']}, not ${value}`);
  }

  private array(schema: JsonSchema, value: unknown[], path: string, problem: (k: string, m: string) => void): PolicyProblem[] {
    const out: PolicyProblem[] = [];
    if (typeof schema['minItems'] === 'number' && value.length < schema['minItems']) problem('minItems', value.length === 0 ? 'must not be empty (use "any" to leave it unconstrained)' : `must have at least ${schema['minItems']} entries`);
    if (typeof schema['maxItems'] === 'number' && value.length > schema['maxItems']) {
      // Refused before any per-entry work (review s13 policy #1): an oversized list costs O(1) here.
      problem('maxItems', `must have at most ${schema['maxItems']} entries, not ${value.length}`);
      return out;
    }
    if (schema['uniqueItems'] === true) {
      // O(n): one canonical key per entry in a Set (a findIndex per entry was O(n²), review s13 policy #1)
      const seen = new Set<string>();
      for (let i = 0; i < value.length; i++) {
        if (out.length >= MAX_PROBLEMS) return [...out, stopped(path)];
        const key = canonicalKey(value[i]);
        if (seen.has(key)) out.push({ path: `${path}/${i}`, keyword: 'uniqueItems', message: `duplicates an earlier entry` });
        else seen.add(key);
      }
    }
    if (schema['items'] !== undefined) {
      for (let i = 0; i < value.length; i++) {
        if (out.length >= MAX_PROBLEMS) return [...out, stopped(path)];
        out.push(...this.validate(schema['items'] as JsonSchema, value[i], `${path}/${i}`));
      }
    }
    return out;
  }

  private object(schema: JsonSchema, value: Record<string, unknown>, path: string, problem: (k: string, m: string, at?: string) => void): PolicyProblem[] {
    const out: PolicyProblem[] = [];
    const props = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
    for (const key of (schema['required'] ?? []) as string[]) {
      if (!Object.hasOwn(value, key)) problem('required', `"${key}" is required${this.anyHint(props[key])}`, `${path}/${pointerToken(key)}`);
    }
    const keys = Object.keys(value);
    if (typeof schema['minProperties'] === 'number' && keys.length < schema['minProperties']) problem('minProperties', 'must not be empty');
    let known: string[] | undefined; // the names a typo is compared with: once per object, not once per unknown key
    for (const key of keys) {
      // at most MAX_PROBLEMS, then nothing more per member (review s13 change review policy #1)
      if (out.length >= MAX_PROBLEMS) return [...out, stopped(path)];
      const child = `${path}/${pointerToken(key)}`;
      const sub = Object.hasOwn(props, key) ? props[key] : undefined;
      if (sub === undefined) {
        if (schema['additionalProperties'] === false) out.push({ path: child, keyword: 'additionalProperties', message: `unknown field "${key}"${this.suggest(key, (known ??= Object.keys(props)))}` });
        continue;
      }
      out.push(...this.validate(sub, value[key], child));
    }
    return out;
  }

  private anyHint(schema: JsonSchema | undefined): string {
    const branches = schema?.['anyOf'] as JsonSchema[] | undefined;
    return branches?.some((b) => b['const'] === 'any') ? ' (give the allowed values, or "any" explicitly)' : '';
  }

  /** "did you mean" for typos: same letters ignoring case, or one edit away. */
  private suggest(key: string, known: string[]): string {
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase() || editDistanceAtMostOne(k, key));
    return near ? ` (did you mean "${near}"?)` : '';
  }

  private branches(list: JsonSchema[], value: unknown, path: string, mode: 'any' | 'one'): PolicyProblem[] {
    const results = list.map((b) => this.validate(b, value, path));
    const passing = results.filter((r) => r.length === 0).length;
    if (mode === 'any' ? passing >= 1 : passing === 1) return [];
    if (passing > 1) return [{ path, keyword: 'oneOf', message: 'matches more than one alternative' }];
    // a loop, not Math.max(...): a spread of one argument per problem overflows the stack on large documents
    const depth = (r: PolicyProblem[]) => r.reduce((m, p) => Math.max(m, p.path.split('/').length), -Infinity);
    // The closest branch: a failed const (a discriminator such as "tee", or "any") or a
    // wrong type of the value itself rules a branch out first; then fewest problems, deepest path.
    const score = (r: PolicyProblem[]) => r.filter((p) => p.keyword === 'const' || (p.path === path && p.keyword === 'type')).length * 1000 + r.length;
    const best = [...results].sort((a, b) => score(a) - score(b) || depth(b) - depth(a))[0] ?? [];
    return best;
  }
}

type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

function editDistanceAtMostOne(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1 || a === b) return false;
  let i = 0;
  let j = 0;
  let edits = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      i++;
      j++;
      continue;
    }
    if (++edits > 1) return false;
    if (a.length > b.length) i++;
    else if (b.length > a.length) j++;
    else {
      i++;
      j++;
    }
  }
  return edits + (a.length - i) + (b.length - j) <= 1;
}

/**
 * The problems of `value` against `schema` (empty: valid): every one, or the first MAX_PROBLEMS
 * followed by one `truncated` problem when there were more.
 */
export function validateAgainstSchema(schema: JsonSchema, value: unknown): PolicyProblem[] {
  return capProblems(new Validator(schema).validate(schema, value, ''));
}
