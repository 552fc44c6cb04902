/**
 * Command-line parsing helpers: node:util parseArgs in strict mode, then
 * validation of values naming the bad option. Returns data; never prints.
 * Each subcommand module parses its own options with these.
 */
import { parseArgs } from 'node:util';

import type { InputEncoding, ParseOptions, SnpProduct } from '../index.js';
import { UsageError } from './errors.js';

export { UsageError };

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export const ENCODINGS: readonly InputEncoding[] = ['auto', 'binary', 'hex', 'base64'];
export const TRAILING: readonly NonNullable<ParseOptions['trailing']>[] = ['default', 'strict', 'dangerouslyLenient'];
export const PRODUCTS: readonly SnpProduct[] = ['Milan', 'Genoa', 'Turin'];
export const TEES = ['tdx', 'sgx', 'snp'] as const;
export type Tee = (typeof TEES)[number];

/** node's messages run on ("To specify a positional argument ..."); keep the first sentence, which names the flag. */
function firstSentence(message: string): string {
  const cut = message.search(/\.\s/);
  return cut > 0 ? message.slice(0, cut) : message.replace(/\.$/, '');
}

/**
 * Exit 0 means "trusted", so --help / -h prints help (exit 0) only as the sole argument of a
 * (sub)command; next to any other argument (an evidence file named "-h", a full command line, --json)
 * it is a usage error, exit 2 (s16 finding 2).
 */
export const HELP_NOT_ALONE = '--help (-h) must be the only argument';

/** True when `help` was given and is the only argument; throws a UsageError when it came with others. */
export function helpAlone(command: string, args: readonly string[], help: unknown): boolean {
  if (help !== true) return false;
  if (args.length !== 1) throw new UsageError(`${command}: ${HELP_NOT_ALONE}`);
  return true;
}

/**
 * `tee-verify <group>` with no argument or only --help / -h: print the group's help. --help / -h
 * followed by anything is a usage error (helpAlone).
 */
export function groupHelp(command: string, args: readonly string[]): boolean {
  const [first] = args;
  if (first === undefined) return true;
  return (first === '--help' || first === '-h') && helpAlone(command, args, true);
}

/** What repeatedOption reads of node's parseArgs tokens and option config. */
type ArgToken = { kind: string; name?: string };
type OptionKinds = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

/**
 * The first single-valued option (a string option not declared `multiple`) given more than once in
 * `tokens` (parseArgs with `tokens: true`), or undefined. parseArgs keeps the last value silently, so
 * a wrapper's pinned `--policy prod.json --report-data …` could be replaced by an appended copy
 * (s16 finding 3). Boolean flags lose nothing when repeated and stay allowed; list options
 * (`multiple: true`, such as batch --collateral) stay repeatable.
 */
export function repeatedOption(tokens: readonly ArgToken[] | undefined, options: OptionKinds): string | undefined {
  const seen = new Set<string>();
  for (const t of tokens ?? []) {
    if (t.kind !== 'option' || t.name === undefined) continue;
    const spec = options[t.name];
    if (spec === undefined || spec.type !== 'string' || spec.multiple === true) continue;
    if (seen.has(t.name)) return t.name;
    seen.add(t.name);
  }
  return undefined;
}

/** The usage-error text for a repeated single-valued option. */
export function givenTwice(name: string): string {
  return `--${name} given twice (it takes one value)`;
}

/** Strict parse of one subcommand's arguments; --help / -h is accepted alone (helpAlone); a single-valued option at most once. */
export function parseOptions(command: string, args: readonly string[], options: OptionSpec): Parsed {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: { help: { type: 'boolean', short: 'h' }, ...options },
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (err) {
    throw new UsageError(`${command}: ${firstSentence((err as Error).message)}`);
  }
  const { values, positionals, tokens } = parsed;
  helpAlone(command, args, values['help']);
  const twice = repeatedOption(tokens, options);
  if (twice !== undefined) throw new UsageError(`${command}: ${givenTwice(twice)}`);
  return { values: values as Parsed['values'], positionals };
}

export function oneOf<T extends string>(option: string, value: string | boolean | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined || typeof value === 'boolean') return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${option} must be one of ${allowed.join(', ')} (got "${value}")`);
  }
  return value as T;
}

export function stringOption(values: Parsed['values'], name: string): string | undefined {
  const v = values[name];
  if (typeof v !== 'string') return undefined;
  if (v === '') throw new UsageError(`--${name} needs a value`);
  return v;
}

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):?(\d{2}))?)?$/;

/**
 * Every field within its range: Date() would carry 2025-06-31 over to July 1 and T24:00 to the next
 * day, so a mistyped instant would silently verify at another one (review s8, finding 6).
 */
function fieldsInRange(m: RegExpExecArray): boolean {
  const [year, month, day, hour = 0, minute = 0, second = 0, offsetHours = 0, offsetMinutes = 0] = m.slice(1).map((f) => (f === undefined ? undefined : Number(f))) as number[];
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  return month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59 && offsetHours <= 23 && offsetMinutes <= 59;
}

/** --at: an ISO-8601 date or date-time (UTC unless an offset is given); a field out of range is refused. */
export function instantOption(values: Parsed['values']): Date | undefined {
  const text = stringOption(values, 'at');
  if (text === undefined) return undefined;
  const withZone = /T.*(Z|[+-]\d{2}:?\d{2})$/.test(text) || !text.includes('T') ? text : `${text}Z`;
  const at = new Date(withZone);
  const fields = ISO_8601.exec(text);
  if (!fields || Number.isNaN(at.getTime()) || !fieldsInRange(fields)) throw new UsageError(`--at must be an ISO-8601 instant such as 2025-07-19T10:00:00Z (got "${text}")`);
  return at;
}

export function integerOption(values: Parsed['values'], name: string, min: number, max: number): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got "${text}")`);
  return Number(text);
}

/** Exactly `count` positionals, named in the error. */
export function positionals(command: string, parsed: Parsed, names: readonly string[]): string[] {
  const got = parsed.positionals;
  if (got.length < names.length) throw new UsageError(`${command}: missing <${names[got.length]}>`);
  if (got.length > names.length) throw new UsageError(`${command}: unexpected argument "${got[names.length]}"`);
  return got;
}

/** Evidence parse options shared by show and verify. */
export const PARSE_OPTION_SPEC: OptionSpec = {
  encoding: { type: 'string' },
  trailing: { type: 'string' },
  product: { type: 'string' },
};

export function parseOptionsFrom(values: Parsed['values']): ParseOptions {
  const out: ParseOptions = {};
  const encoding = oneOf('encoding', values['encoding'], ENCODINGS);
  const trailing = oneOf('trailing', values['trailing'], TRAILING);
  const product = oneOf('product', values['product'], PRODUCTS);
  if (encoding) out.encoding = encoding;
  if (trailing) out.trailing = trailing;
  if (product) out.snpProduct = product;
  return out;
}
