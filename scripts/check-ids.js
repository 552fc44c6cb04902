#!/usr/bin/env node
// Cross-checks that every checklist id (verifier-checklist.md: T01-T52, S01-S46,
// X01-X16) appears where a check lives (src/ or cpp/) and is ASSERTED by a test
// as the check of a refusal: a string literal that is exactly the id ('T13',
// "T13", `T13`) in test code, outside comments, outside test titles (the first
// argument of it / test / describe) and outside disabled tests (.skip, .todo,
// .fails), in a negative position: the value of a `check` property
// ({ errorClass: 'CHAIN', check: 'T13' }), compared with a `check`
// (expect(e.check).toBe('T13'), v.check === 'T13'), or next to a refusal
// marker in the same call or table row: an error class of src/errors.ts, an
// ERR_ code, or a policy path ('/tcb/...'), as in err('CHAIN', 'T13') or
// expectOnly(result, 'T33', '/tcb/acceptedStatuses'). And in every case inside
// an assertion (review s14 tests #6): the innermost call around the literal is
// expect…( / assert…( (helpers such as expectError, expectOnly included) or a
// matcher .to…( (array selectors such as .some( skipped; not a negated .not.
// matcher, not an assertion about warnings, also not through
// expect.objectContaining / arrayContaining, an alias of `.warnings` or a helper
// named for warnings: s14 change review round 2, finding 2; nor a selector over
// warnings, `expect(r.warnings.some((w) => w.check === 'S15'))`: s15), or the literal is in a named
// expected value (const T08 = { …, check: 'T08' }) that a running assertion
// reads. A stub's answer (.end(JSON.stringify(…))), an error the test constructs
// (new TeeVerifyError(…)), a fixture, a table row (err('CHAIN', 'T13') in a
// CASES array) or a warning on an accepted result does not count. An id named
// only in a comment or a title, or only in a list of passed checks (a positive
// control: expect(ids).toContain('T13')), has no test that fails when its check is removed.
//
// Ids whose failures the code reports under another check id or error code
// (REPORTED_AS) are asserted through those: a test names the id (its title or a
// table row's name) and the same call or row asserts one of the listed values.
// Structural ids and ids of later layers are exempt (clarifications: "Negative
// tests per checklist id"; docs/checklist-coverage.md). Exit 1 on a gap.
//
//   node scripts/check-ids.js [--json]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const range = (prefix, from, to) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${String(from + i).padStart(2, '0')}`);
export const ALL_IDS = [...range('T', 1, 52), ...range('S', 1, 46), ...range('X', 1, 16)];

/** Structural rather than a decision (docs/checklist-coverage.md says why). */
export const STRUCTURAL = new Set(['T01', 'T44', 'T49', 'T50', 'T51', 'X10', 'X14', 'S01', 'S33', 'S39', 'S41']);

/**
 * vector-only negative test, synthetic one to do: ids whose only refusal test
 * runs under a condition (the shared vectors present). Empty once each has an
 * unconditional synthetic negative test; an id listed here that gains one is
 * reported (staleAllowList) so the list only shrinks.
 */
export const CONDITIONAL_ONLY = new Set([]);

/** Checks of later layers: nonce freshness, key release, result caching (key broker). */
export const LATER_LAYERS = new Set(['T42', 'T52', 'S30', 'X11']);

/**
 * Ids whose failures carry another check id or an error code (the id is a
 * property of those checks; docs/checklist-coverage.md says why for each).
 */
export const REPORTED_AS = {
  X01: ['T18', 'ERR_INVALID_ARGUMENT'], // unparsable dates: the document's own check; an invalid instant: an argument error
  X03: ['T13', 'T14'], // a CRL without a CRL Number cannot be ordered; the cache ordering has no error
  X04: ['T13', 'T14', 'S09'], // the CRL's AKI is compared where the CRL is checked
  X09: ['PARSE'], // every malformed input through the addon is a typed PARSE error
  X12: ['TCB_UNSUPPORTED', 'REVOKED', 'EXPIRED'], // the specific class survives verifyEvidence
  X13: ['T33'], // the verifier returns the status, the policy refuses it at T33
  T46: ['T33'], // the same rule for a non-terminal status: returned, refused by the policy at T33
  S34: ['ERR_COLLATERAL_TOO_LARGE', 'X15'], // fetch-layer errors: bounded body, TLS
  S35: ['S13'], // a VCEK of another TCB (what a serial-keyed cache would serve) fails S13
  S36: ['S10'], // a cached VCEK goes through the S10 chain checks on every use
  S40: ['S09', 'S11', 'T13', 'T14'], // an absent extension or CRL field fails the check that reads it
  S42: ['S12'], // the report signature is checked before any claim comparison
  S43: ['S04'], // v2's CPUID bytes are a reserved range, refused by the native frame check
  S46: ['S13'], // the checklist: "S13 catches it"
};

const ID = /\b([TSX]\d{2})\b/g;
const EXACT_ID = /^[TSX]\d{2}$/;

/** The error classes (the ErrorClass union of src/errors.ts), read so the rule follows the code. */
function readErrorClasses() {
  const src = readFileSync(join(root, 'src', 'errors.ts'), 'utf8');
  const union = /export type ErrorClass =([^;]*);/.exec(src)?.[1] ?? '';
  const classes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]);
  if (classes.length === 0) throw new Error('check-ids: no ErrorClass union in src/errors.ts');
  return new Set(classes);
}
export const ERROR_CLASSES = readErrorClasses();

/** A literal that marks its call or row as a refusal: an error class, an ERR_ code, a policy path. */
export function isRefusalMarker(value) {
  return ERROR_CLASSES.has(value) || /^ERR_[A-Z0-9_]+$/.test(value) || /^\/[A-Za-z]/.test(value);
}

function filesUnder(dir, exts) {
  const out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path, exts));
    else if (exts.some((e) => name.endsWith(e))) out.push(path);
  }
  return out;
}

/** Any mention, comments included: enough to find where a check lives. */
function idsMentioned(files) {
  const found = new Set();
  for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(ID)) found.add(m[1]);
  return found;
}

// ---- a small TypeScript tokenizer: enough to tell strings from comments and titles ----

const REGEX_MAY_FOLLOW = new Set(['(', ',', '=', ':', '[', '!', '&', '|', '?', '{', '}', ';', '+', '-', '*', '%', '<', '>', '~', '^']);
const KEYWORDS_BEFORE_EXPRESSION = new Set(['return', 'typeof', 'case', 'do', 'else', 'in', 'of', 'new', 'delete', 'void', 'throw', 'await', 'yield']);

/**
 * Tokens: { t: 'str', value } for a string or template literal (its text,
 * template substitutions left out), { t: 'id', value } for a name,
 * { t: 'p', value } for one punctuation character. Comments and regex
 * literals produce nothing.
 */
export function tokenize(src) {
  const tokens = [];
  let i = 0;
  const n = src.length;
  const last = () => tokens[tokens.length - 1];
  const regexMayStart = () => {
    const prev = last();
    if (prev === undefined) return true;
    if (prev.t === 'p') return REGEX_MAY_FOLLOW.has(prev.value);
    if (prev.t === 'id') return KEYWORDS_BEFORE_EXPRESSION.has(prev.value);
    return false;
  };
  // Template literal: returns the literal text; substitutions are tokenized like code.
  const template = () => {
    let text = '';
    i++; // opening backtick
    while (i < n) {
      const c = src[i];
      if (c === '\\') {
        text += src.slice(i, i + 2);
        i += 2;
      } else if (c === '`') {
        i++;
        return text;
      } else if (c === '$' && src[i + 1] === '{') {
        i += 2;
        let depth = 1;
        const start = tokens.length;
        while (i < n && depth > 0) {
          if (src[i] === '}' && depth === 1) {
            depth = 0;
            i++;
            break;
          }
          const before = tokens.length;
          step();
          const t = tokens[tokens.length - 1];
          // only a token this step produced (whitespace and comments produce none)
          if (tokens.length > before && t.t === 'p') {
            if (t.value === '{') depth++;
            else if (t.value === '}') depth--;
          }
        }
        // the substitution's own tokens stay out of the outer stream
        tokens.length = start;
        text += '\u0000';
      } else {
        text += c;
        i++;
      }
    }
    return text;
  };
  const step = () => {
    const c = src[i];
    if (c === '/' && src[i + 1] === '/') {
      while (i < n && src[i] !== '\n') i++;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === '\'' || c === '"') {
      let j = i + 1;
      let text = '';
      while (j < n && src[j] !== c && src[j] !== '\n') {
        if (src[j] === '\\') {
          text += src.slice(j, j + 2);
          j += 2;
        } else text += src[j++];
      }
      tokens.push({ t: 'str', value: text });
      i = j + 1;
    } else if (c === '`') {
      const value = template();
      tokens.push({ t: 'str', value });
    } else if (c === '/' && regexMayStart()) {
      let j = i + 1;
      let inClass = false;
      while (j < n && src[j] !== '\n') {
        if (src[j] === '\\') j += 2;
        else if (src[j] === '[') (inClass = true), j++;
        else if (src[j] === ']') (inClass = false), j++;
        else if (src[j] === '/' && !inClass) break;
        else j++;
      }
      i = j + 1;
      while (i < n && /[a-z]/.test(src[i])) i++; // flags
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < n && /[\w$]/.test(src[j])) j++;
      tokens.push({ t: 'id', value: src.slice(i, j) });
      i = j;
    } else if (/\s/.test(c)) {
      i++;
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < n && /[\w.]/.test(src[j])) j++;
      tokens.push({ t: 'num' });
      i = j;
    } else {
      tokens.push({ t: 'p', value: c });
      i++;
    }
  };
  while (i < n) step();
  return tokens;
}

const TITLED = new Set(['it', 'test', 'describe', 'suite', 'bench']);
/** Modifiers whose own arguments are a table or a condition; the title is in the next call. */
const TABLE_OR_CONDITION = new Set(['each', 'for', 'skipIf', 'runIf']);
/**
 * Modifiers of a test that does not run, or passes when its assertions fail,
 * and conditional ones (skipIf / runIf): a block that a run without the shared
 * vectors, a tool or a database skips is no coverage in that run (review s12
 * tests #1), so an id must have an unconditional test.
 */
const DISABLED = new Set(['skip', 'todo', 'fails', 'skipIf', 'runIf']);

/** The dotted name ending just before tokens[k] (exclusive), e.g. ['it', 'each']. */
function calleeBefore(tokens, k) {
  const names = [];
  let j = k - 1;
  while (j >= 0 && tokens[j].t === 'id') {
    names.unshift(tokens[j].value);
    if (j >= 1 && tokens[j - 1].t === 'p' && tokens[j - 1].value === '.') j -= 2;
    else break;
  }
  return names;
}

/**
 * The test-call name chain of the '(' at tokens[k] when it opens the argument
 * list that holds a title (`it(`, `it.each(table)(`), else undefined.
 */
function titledCall(tokens, k, matchingOpen) {
  if (k >= 1 && tokens[k - 1].t === 'p' && tokens[k - 1].value === ')') {
    // `it.each(table)(title, ...)`: the callee of the earlier call decides.
    const open = matchingOpen.get(k - 1);
    if (open === undefined) return undefined;
    const callee = calleeBefore(tokens, open);
    if (callee.length === 0 || !TITLED.has(callee[0]) || !TABLE_OR_CONDITION.has(callee[callee.length - 1])) return undefined;
    return callee;
  }
  const callee = calleeBefore(tokens, k);
  if (callee.length === 0 || !TITLED.has(callee[0]) || TABLE_OR_CONDITION.has(callee[callee.length - 1])) return undefined;
  return callee;
}

const is = (tok, t, value) => tok !== undefined && tok.t === t && tok.value === value;
const COMPARE = new Set(['toBe', 'toEqual', 'toStrictEqual']);

/**
 * Whether the string at tokens[k] is a check id by position: `check: 'T13'`,
 * `<...>.check).toBe('T13')` (toEqual, toStrictEqual) or `check === 'T13'`.
 */
function isCheckPosition(tokens, k) {
  const p = (i) => tokens[k - i];
  if (is(p(1), 'p', ':') && is(p(2), 'id', 'check')) return true;
  if (is(p(1), 'p', '(') && p(2)?.t === 'id' && COMPARE.has(p(2).value) && is(p(3), 'p', '.') && is(p(4), 'p', ')') && is(p(5), 'id', 'check')) return true;
  return is(p(1), 'p', '=') && is(p(2), 'p', '=') && is(p(3), 'p', '=') && is(p(4), 'id', 'check');
}

/** Array methods whose callback only selects what an assertion then compares: `expect(vs.some((v) => v.check === 'T13'))`. */
const SELECTING = new Set(['some', 'every', 'find', 'findLast', 'filter', 'findIndex', 'map', 'flatMap']);
/** Keywords whose parenthesis is not a call. */
const NOT_A_CALL = new Set(['if', 'for', 'while', 'switch', 'catch', 'return', 'typeof', 'await', 'void', 'in', 'of', 'function']);

/** Whether a callee name chain is an assertion: `expect…(` / `assert…(` (helpers included), or a matcher `.to…(`. */
function isAssertionCallee(names) {
  if (names.includes('not')) return false; // a negated matcher asserts that something is NOT the refusal
  const first = names[0] ?? '';
  const last = names[names.length - 1] ?? '';
  return /^(expect|assert)/.test(first) || /^(expect|assert)/.test(last) || /^to[A-Z]/.test(last);
}

/** The subject tokens of a matcher call `expect(subject)….toX(` whose '(' is tokens[k], or undefined. */
function matcherSubject(tokens, k, matchingOpen) {
  let j = k - 1;
  while (j >= 1 && tokens[j].t === 'id' && is(tokens[j - 1], 'p', '.')) j -= 2; // `.not.toBe`, `.rejects.toMatchObject`
  if (!is(tokens[j], 'p', ')')) return undefined;
  const open = matchingOpen.get(j);
  if (open === undefined) return undefined;
  return tokens.slice(open + 1, j);
}

/**
 * Asymmetric matchers (`expect.objectContaining(…)`): not an assertion by themselves; what they
 * stand in decides (s14 change review round 2, finding 2: `expect(r.warnings).toContainEqual(
 * expect.objectContaining({ check: 'S15' }))` counted as a refusal).
 */
const ASYMMETRIC = new Set(['objectContaining', 'arrayContaining', 'stringContaining', 'stringMatching', 'closeTo', 'any', 'anything', 'schemaMatching']);
/** A name about warnings: `warnings`, `expectWarning`, `assertWarns`, `warned`. */
const WARNING_NAME = /warn/i;

/**
 * Names bound to a result's warnings, so that `const w = r.warnings; expect(w)…` is an assertion
 * about warnings (round 2, finding 2): `const|let|var NAME [: Type] = <init>` (or `… NAME of <init>`)
 * whose initializer reads `.warnings` outside a call's arguments and an object literal
 * (`r.warnings`, `r?.warnings ?? []`, `r.warnings.filter(…)`, `[...r.warnings]`), and the targets of
 * a destructured `warnings` (`const { warnings: w } = r`). Lexical only: an alias made another way
 * (a function's return value, an assignment after the declaration) is not seen
 * (docs/checklist-coverage.md).
 */
function warningAliases(tokens, matchingClose) {
  const aliases = new Set();
  for (let k = 0; k + 1 < tokens.length; k++) {
    if (tokens[k].t !== 'id' || !['const', 'let', 'var'].includes(tokens[k].value)) continue;
    const target = tokens[k + 1];
    if (is(target, 'p', '{')) {
      // a destructuring pattern: `warnings: NAME`
      const close = matchingClose.get(k + 1) ?? tokens.length;
      for (let j = k + 2; j + 2 < close; j++) {
        if (is(tokens[j], 'id', 'warnings') && is(tokens[j + 1], 'p', ':') && tokens[j + 2].t === 'id') aliases.add(tokens[j + 2].value);
      }
      continue;
    }
    if (target?.t !== 'id') continue;
    // the initializer starts after `=` (not `==` / `=>`) or `of`, past a type annotation
    let j = k + 2;
    let depth = 0;
    for (; j < tokens.length && j < k + 40; j++) {
      const t = tokens[j];
      if (t.t === 'p' && '([{<'.includes(t.value)) depth++;
      else if (t.t === 'p' && ')]}>'.includes(t.value)) depth--;
      if (depth < 0) break;
      if (depth === 0 && (is(t, 'id', 'of') || (is(t, 'p', '=') && !is(tokens[j + 1], 'p', '=') && !is(tokens[j + 1], 'p', '>')))) break;
      if (depth === 0 && (is(t, 'p', ';') || is(t, 'p', ','))) break;
    }
    if (depth !== 0 || !(is(tokens[j], 'id', 'of') || is(tokens[j], 'p', '='))) continue;
    // the initializer, to the end of the statement or declarator
    const frames = []; // per open bracket: whether it is a call's arguments or an object literal
    for (let i = j + 1; i < tokens.length; i++) {
      const t = tokens[i];
      if (t.t === 'p' && (t.value === '(' || t.value === '[' || t.value === '{')) {
        const before = tokens[i - 1];
        const call = t.value === '(' && before !== undefined && ((before.t === 'id' && !NOT_A_CALL.has(before.value)) || is(before, 'p', ')'));
        frames.push(call || t.value === '{');
        continue;
      }
      if (t.t === 'p' && (t.value === ')' || t.value === ']' || t.value === '}')) {
        if (frames.length === 0) break;
        frames.pop();
        continue;
      }
      if (frames.length === 0 && (is(t, 'p', ';') || is(t, 'p', ',') || (t.t === 'id' && ['const', 'let', 'var', 'expect'].includes(t.value)))) break;
      if (is(t, 'id', 'warnings') && is(tokens[i - 1], 'p', '.') && !frames.some(Boolean)) {
        aliases.add(target.value);
        break;
      }
    }
  }
  return aliases;
}

/**
 * The tokens of the member chain a call's receiver is made of, ending just before tokens[first]
 * (the callee's first name): names, dots, `?.` and whole bracket groups, so that the receiver of
 * `.some(` in `(r.warnings ?? []).some(` or `r?.warnings.find(` is seen.
 */
function receiverTokens(tokens, first, matchingOpen) {
  const span = [];
  let j = first - 1;
  while (j >= 0) {
    const t = tokens[j];
    if (t.t === 'id' || is(t, 'p', '.') || is(t, 'p', '?')) {
      span.push(t);
      j--;
    } else if (is(t, 'p', ')') || is(t, 'p', ']')) {
      const open = matchingOpen.get(j);
      if (open === undefined) break;
      span.push(...tokens.slice(open, j + 1));
      j = open - 1;
    } else break;
  }
  return span;
}

/**
 * Where the string at tokens[k] stands, by its enclosing brackets (`opens`, innermost last):
 * 'assertion' when the innermost call around it (array selectors such as `.some(`, asymmetric
 * matchers such as `expect.objectContaining(` and grouping or arrow-parameter parentheses skipped)
 * is an assertion call, 'warning' when that assertion is about warnings (`expect(a.warnings)…`,
 * `expect(w)…` with `w` an alias of `.warnings`, a helper named for warnings such as
 * `expectWarning(…)`, or inside a `warnings: …` value), else undefined: a call of the code under
 * test, a constructor (`new TeeVerifyError(…)`), `JSON.stringify(…)`, a stub's `.end(…)`, a
 * fixture or a table row.
 */
function assertionContext(tokens, opens, matchingOpen, aliases) {
  const aboutWarnings = (t) => t.t === 'id' && (WARNING_NAME.test(t.value) || aliases.has(t.value));
  for (let d = opens.length - 1; d >= 0; d--) {
    const o = opens[d];
    const before = tokens[o - 1];
    if (tokens[o].value !== '(') {
      // an object or array literal: a `warnings: [...]` value is a warning, never a refusal
      if (is(before, 'p', ':') && is(tokens[o - 2], 'id', 'warnings')) return 'warning';
      continue;
    }
    const isCall = before !== undefined && ((before.t === 'id' && !NOT_A_CALL.has(before.value)) || is(before, 'p', ')'));
    if (!isCall) continue; // grouping or arrow parameters
    const names = before.t === 'id' ? calleeBefore(tokens, o) : [];
    if (names.length > 0 && SELECTING.has(names[names.length - 1])) {
      // `expect(r.warnings.some((w) => w.check === 'S15'))` selects among warnings
      const receiver = [...receiverTokens(tokens, o - (2 * names.length - 1), matchingOpen), ...tokens.slice(o - (2 * names.length - 1), o - 1)];
      if (receiver.some(aboutWarnings)) return 'warning';
      continue;
    }
    if (names.length >= 2 && names[0] === 'expect' && !names.includes('not') && ASYMMETRIC.has(names[names.length - 1])) {
      // `warnings: expect.arrayContaining([…])` is a warning; else the call around it decides
      const first = o - (2 * names.length - 1);
      if (is(tokens[first - 1], 'p', ':') && is(tokens[first - 2], 'id', 'warnings')) return 'warning';
      continue;
    }
    if (!isAssertionCallee(names)) return undefined;
    if (names.some((n) => WARNING_NAME.test(n))) return 'warning';
    const subject = /^to[A-Z]/.test(names[names.length - 1]) ? matcherSubject(tokens, o, matchingOpen) : undefined;
    if (subject?.some(aboutWarnings)) return 'warning';
    return 'assertion';
  }
  return undefined;
}

/**
 * The name a string is declared under when it stands in an object or array literal that is the
 * whole initializer of `const NAME =` / `let NAME =` (type annotation allowed), with no call
 * between: `const T08 = { code: 'ERR_BAD_PEM', check: 'T08' }` gives 'T08'. Else undefined.
 */
function declaredName(tokens, opens) {
  for (let d = opens.length - 1; d >= 0; d--) {
    const o = opens[d];
    if (tokens[o].value === '(') return undefined;
    if (!is(tokens[o - 1], 'p', '=') || is(tokens[o - 2], 'p', '=') || is(tokens[o - 2], 'p', '!')) continue;
    for (let j = o - 2; j >= Math.max(0, o - 12); j--) {
      if (tokens[j].t === 'id' && (tokens[j].value === 'const' || tokens[j].value === 'let')) return tokens[j + 1]?.t === 'id' ? tokens[j + 1].value : undefined;
      if (is(tokens[j], 'p', ';') || is(tokens[j], 'p', '{') || is(tokens[j], 'p', '}')) return undefined;
    }
    return undefined;
  }
  return undefined;
}

/**
 * Every string literal of a test file with what the rules need: whether it
 * is (part of) a test title, whether it sits in a disabled test, the
 * innermost bracket pair around it (the call or table row it belongs to) and
 * whether it stands where a check id is asserted (`asCheck`).
 */
export function analyse(src) {
  const tokens = tokenize(src);
  const matchingOpen = new Map();
  const matchingClose = new Map();
  const stack = [];
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.t !== 'p') continue;
    if (t.value === '(' || t.value === '[' || t.value === '{') stack.push(k);
    else if (t.value === ')' || t.value === ']' || t.value === '}') {
      const open = stack.pop();
      if (open !== undefined) {
        matchingOpen.set(k, open);
        matchingClose.set(open, k);
      }
    }
  }
  const strings = [];
  const opens = []; // token index of each open bracket, innermost last
  const titleDepths = []; // depth (opens.length) of a titled call whose first argument is being read
  let disabledUntil = -1; // token index closing the outermost disabled test call
  const namesInAssertions = new Set(); // names a running assertion reads: `expectError(f, T08)`
  const aliases = warningAliases(tokens, matchingClose);
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.t === 'p') {
      if (t.value === '(' || t.value === '[' || t.value === '{') {
        opens.push(k);
        const callee = t.value === '(' ? titledCall(tokens, k, matchingOpen) : undefined;
        if (callee) {
          titleDepths.push(opens.length);
          if (callee.some((n) => DISABLED.has(n)) && k > disabledUntil) disabledUntil = matchingClose.get(k) ?? tokens.length;
        }
      } else if (t.value === ')' || t.value === ']' || t.value === '}') {
        if (titleDepths[titleDepths.length - 1] === opens.length) titleDepths.pop();
        opens.pop();
      } else if (t.value === ',' && titleDepths[titleDepths.length - 1] === opens.length) {
        titleDepths.pop(); // the title ends at the first top-level comma
      }
    } else if (t.t === 'str') {
      const open = opens[opens.length - 1];
      strings.push({
        value: t.value,
        index: k,
        title: titleDepths.length > 0,
        disabled: k < disabledUntil,
        group: open === undefined ? [0, tokens.length] : [open, matchingClose.get(open) ?? tokens.length],
        asCheck: isCheckPosition(tokens, k),
        context: assertionContext(tokens, opens, matchingOpen, aliases),
        declaredAs: declaredName(tokens, opens),
      });
    } else if (t.t === 'id' && k >= disabledUntil && assertionContext(tokens, opens, matchingOpen, aliases) === 'assertion') {
      namesInAssertions.add(t.value);
    }
  }
  // In an assertion, or in a named expected value (`const T08 = { …, check: 'T08' }`) that running code passes to one
  for (const s of strings) s.inAssertion = s.context === 'assertion' || (s.context === undefined && s.declaredAs !== undefined && namesInAssertions.has(s.declaredAs));
  return strings;
}

const sameGroup = (a, b) => a.group[0] === b.group[0] && a.group[1] === b.group[1];

/**
 * Whether a running, non-title string is asserted as the check of a refusal:
 * in a check position, or beside a refusal marker in its own call or row.
 */
function assertedAsRefusal(s, strings) {
  if (s.title || s.disabled || !s.inAssertion) return false;
  return s.asCheck || strings.some((o) => o !== s && !o.title && sameGroup(o, s) && isRefusalMarker(o.value));
}

/**
 * Ids written as a whole string literal in running test code (not in
 * comments, titles or disabled tests) where a test asserts them as the check
 * of a refusal (see the header); a list of passed checks does not count.
 */
export function assertedIds(src) {
  const strings = analyse(src);
  const found = new Set();
  for (const s of strings) if (EXACT_ID.test(s.value) && assertedAsRefusal(s, strings)) found.add(s.value);
  return found;
}

/**
 * REPORTED_AS ids that a running test names and, in the same call or row,
 * asserts through a listed value: a listed check id only as the check of a
 * refusal (as assertedIds counts it), a listed class or code anywhere.
 */
export function assertedThroughReports(src, reportedAs = REPORTED_AS) {
  const all = analyse(src);
  const strings = all.filter((s) => !s.disabled);
  const listedAsserted = (o) => !o.title && (EXACT_ID.test(o.value) ? assertedAsRefusal(o, all) : o.inAssertion);
  const found = new Set();
  for (const [id, targets] of Object.entries(reportedAs)) {
    const named = new RegExp(`\\b${id}\\b`);
    for (const s of strings) {
      if (!named.test(s.value)) continue;
      const [from, to] = s.group;
      if (strings.some((o) => o.index > from && o.index < to && targets.includes(o.value) && listedAsserted(o))) {
        found.add(id);
        break;
      }
    }
  }
  return found;
}

function idsAsserted(files) {
  const found = new Set();
  for (const f of files) {
    const src = readFileSync(f, 'utf8');
    for (const id of assertedIds(src)) found.add(id);
    for (const id of assertedThroughReports(src)) found.add(id);
  }
  return found;
}

export function coverage() {
  const inSource = idsMentioned([...filesUnder(join(root, 'src'), ['.ts']), ...filesUnder(join(root, 'cpp'), ['.cc', '.h'])]);
  // The rule's own tests quote ids as examples; they assert the rule, not a check.
  const testFiles = filesUnder(join(root, 'test'), ['.ts']).filter((f) => f !== join(root, 'test', 'checklist-ids.test.ts'));
  const inTests = idsMentioned(testFiles);
  const asserted = idsAsserted(testFiles);
  const required = ALL_IDS.filter((id) => !STRUCTURAL.has(id) && !LATER_LAYERS.has(id));
  return {
    required: required.length,
    missingInSource: required.filter((id) => !inSource.has(id)),
    missingInTests: required.filter((id) => !inTests.has(id)),
    /** Named in test/ but never asserted as the check of a refusal. */
    notAsserted: required.filter((id) => inTests.has(id) && !asserted.has(id) && !CONDITIONAL_ONLY.has(id)),
    /** Allowed for now: asserted only under skipIf / runIf (vector-only negative test, synthetic one to do). */
    conditionalOnly: required.filter((id) => CONDITIONAL_ONLY.has(id) && !asserted.has(id)),
    /** Listed in CONDITIONAL_ONLY though an unconditional test now asserts it: remove it from the list. */
    staleAllowList: [...CONDITIONAL_ONLY].filter((id) => asserted.has(id)),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const c = coverage();
  if (process.argv.includes('--json')) console.log(JSON.stringify(c, null, 2));
  else {
    console.log(`checklist ids required: ${c.required}`);
    console.log(`missing where checks live (src/, cpp/): ${c.missingInSource.join(' ') || 'none'}`);
    console.log(`missing in tests (test/): ${c.missingInTests.join(' ') || 'none'}`);
    console.log(`named in tests but never asserted as the check of a refusal: ${c.notAsserted.join(' ') || 'none'}`);
    console.log(`asserted only under skipIf / runIf (allowed, synthetic test to do): ${c.conditionalOnly.join(' ') || 'none'}`);
    console.log(`allow-listed but now asserted unconditionally (remove from CONDITIONAL_ONLY): ${c.staleAllowList.join(' ') || 'none'}`);
  }
  process.exit(c.missingInSource.length || c.missingInTests.length || c.notAsserted.length || c.staleAllowList.length ? 1 : 0);
}
