/**
 * Command-line parsing: node:util parseArgs in strict mode, then validation
 * of enumerated values naming the bad option. Returns data; never prints.
 */
import { parseArgs } from 'node:util';

import type { InputEncoding, ParseOptions, SnpProduct } from '../index.js';

export type Command =
  | { name: 'help'; topic?: string }
  | { name: 'demo'; vectorsDir?: string }
  | { name: 'show'; file: string; json: boolean; parse: ParseOptions };

export class UsageError extends Error {}

const ENCODINGS: readonly InputEncoding[] = ['auto', 'binary', 'hex', 'base64'];
const TRAILING: readonly NonNullable<ParseOptions['trailing']>[] = ['default', 'strict', 'dangerouslyLenient'];
const PRODUCTS: readonly SnpProduct[] = ['Milan', 'Genoa', 'Turin'];

function oneOf<T extends string>(option: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${option} must be one of ${allowed.join(', ')} (got "${value}")`);
  }
  return value as T;
}

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

function parse(args: string[], options: OptionSpec): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { help: { type: 'boolean', short: 'h' }, ...options },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function parseShow(rest: string[]): Command {
  const { values, positionals } = parse(rest, {
    json: { type: 'boolean' },
    encoding: { type: 'string' },
    trailing: { type: 'string' },
    product: { type: 'string' },
  });
  if (values['help']) return { name: 'help', topic: 'show' };
  if (positionals.length !== 1) throw new UsageError('show takes exactly one evidence file');
  const parseOptions: ParseOptions = {};
  const encoding = oneOf('encoding', values['encoding'] as string | undefined, ENCODINGS);
  const trailing = oneOf('trailing', values['trailing'] as string | undefined, TRAILING);
  const product = oneOf('product', values['product'] as string | undefined, PRODUCTS);
  if (encoding) parseOptions.encoding = encoding;
  if (trailing) parseOptions.trailing = trailing;
  if (product) parseOptions.snpProduct = product;
  return { name: 'show', file: positionals[0] as string, json: values['json'] === true, parse: parseOptions };
}

function parseDemo(rest: string[]): Command {
  const { values, positionals } = parse(rest, { vectors: { type: 'string' } });
  if (values['help']) return { name: 'help', topic: 'demo' };
  if (positionals.length > 0) throw new UsageError(`demo takes no arguments (got "${positionals[0]}")`);
  const vectorsDir = values['vectors'] as string | undefined;
  return vectorsDir === undefined ? { name: 'demo' } : { name: 'demo', vectorsDir };
}

/** Parses argv (without node and script). */
export function parseCommand(argv: readonly string[]): Command {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    return rest[0] ? { name: 'help', topic: rest[0] } : { name: 'help' };
  }
  if (first === 'demo') return parseDemo(rest);
  if (first === 'show') return parseShow(rest);
  throw new UsageError(`unknown command "${first}"`);
}
