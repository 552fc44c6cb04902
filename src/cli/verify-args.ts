/** Options of `verify` and the collateral options it shares with `collateral fetch`. */
import type { ParseOptions, SnpProduct } from '../index.js';
import {
  PARSE_OPTION_SPEC,
  PRODUCTS,
  parseOptionsFrom,
  UsageError,
  instantOption,
  integerOption,
  oneOf,
  parseOptions,
  positionals,
  stringOption,
  type OptionSpec,
  type Parsed,
} from './args.js';
import type { LoadedPolicy } from './policy.js';
import type { CollateralOptions } from './sources.js';

export const COLLATERAL_OPTION_SPEC: OptionSpec = {
  at: { type: 'string' },
  'pcs-url': { type: 'string' },
  'kds-url': { type: 'string' },
  product: { type: 'string' },
  certs: { type: 'string' },
  'cache-dir': { type: 'string' },
  'no-cache': { type: 'boolean' },
  offline: { type: 'boolean' },
  collateral: { type: 'string' },
  retries: { type: 'string' },
};

export interface CommonCollateralArgs {
  at?: Date;
  product?: SnpProduct;
  certs?: string;
  collateral: CollateralOptions;
}

export function collateralArgsFrom(values: Parsed['values']): CommonCollateralArgs {
  const cacheDir = stringOption(values, 'cache-dir');
  const noCache = values['no-cache'] === true;
  if (cacheDir !== undefined && noCache) throw new UsageError('--cache-dir and --no-cache exclude each other');
  const offline = values['offline'] === true;
  const pcsUrl = stringOption(values, 'pcs-url');
  const kdsUrl = stringOption(values, 'kds-url');
  if (offline && (pcsUrl !== undefined || kdsUrl !== undefined)) throw new UsageError('--offline fetches nothing: drop --pcs-url / --kds-url');
  const bundle = stringOption(values, 'collateral');
  const certs = stringOption(values, 'certs');
  const retries = integerOption(values, 'retries', 0, 10);
  const at = instantOption(values);
  const product = oneOf('product', values['product'], PRODUCTS);
  const collateral: CollateralOptions = {
    noCache,
    offline,
    ...(pcsUrl === undefined ? {} : { pcsUrl }),
    ...(kdsUrl === undefined ? {} : { kdsUrl }),
    ...(cacheDir === undefined ? {} : { cacheDir }),
    ...(bundle === undefined ? {} : { bundle }),
    ...(retries === undefined ? {} : { retries }),
  };
  return { ...(at ? { at } : {}), ...(product ? { product } : {}), ...(certs === undefined ? {} : { certs }), collateral };
}

/**
 * --offline --no-cache without --collateral or --certs leaves no source of collateral: a usage
 * error, but only where collateral is needed (a TPM-only vTPM bundle needs none; review s8, finding 4).
 */
export function requireCollateralSource(args: CommonCollateralArgs): void {
  const c = args.collateral;
  if (c.offline && c.noCache && c.bundle === undefined && args.certs === undefined) {
    throw new UsageError('--offline needs --collateral <bundle> (or --certs, or the cache)');
  }
}

export interface VerifyArgs extends CommonCollateralArgs {
  file: string;
  /** --encoding, --trailing and --product as parse options. */
  parse: ParseOptions;
  json: boolean;
  trustRoot?: string;
  skipCrl: boolean;
  policy?: string;
  /** Lowercase hex of the expected 64-byte REPORT_DATA. */
  reportData?: string;
  /** vTPM bundles: the expected TPM quote nonce (extraData). */
  nonce?: Uint8Array;
  /** vTPM bundles: the pinned attestation key file (binds the AK without hardware evidence; with it, HCLAkPub must be this key). */
  ak?: string;
  /** vTPM bundles: accept SHA-1-only quotes and SHA-1 signatures (warnings). */
  allowSha1?: boolean;
  /** vTPM bundles: the pinned TPM Name of the attestation key (nameAlg ‖ digest), which establishes VT05. */
  akName?: Uint8Array;
}

/**
 * --nonce: 1 to 64 bytes of hex. An empty value is a usage error, not "expect
 * no extraData": it is what `--nonce "$UNSET"` gives, and it would accept a
 * quote made at any time (review s10, V2). A bundle whose quote has no
 * qualifying data is still verified without --nonce (its own empty nonce,
 * with the freshness warning); under 16 bytes the verifier warns.
 */
function nonceOption(values: Parsed['values']): Uint8Array | undefined {
  const text = stringOption(values, 'nonce');
  if (text === undefined) return undefined;
  const hex = text.replace(/^0x/i, '');
  if (hex === '') throw new UsageError('--nonce is empty: give the expected quote extraData (1 to 64 bytes of hex), or omit --nonce to check against the bundle\'s own nonce (freshness not established)');
  if (!/^(?:[0-9a-fA-F]{2}){1,64}$/.test(hex)) throw new UsageError('--nonce must be 1 to 64 bytes of hex (the TPM quote extraData)');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function reportDataOption(values: Parsed['values']): string | undefined {
  const text = stringOption(values, 'report-data');
  if (text === undefined) return undefined;
  const hex = text.replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]{128}$/.test(hex)) throw new UsageError(`--report-data must be the 64 bytes of REPORT_DATA as 128 hex digits (got ${hex.length} characters)`);
  return hex.toLowerCase();
}

/** A TPM Name: a 2-byte nameAlg then its digest (SHA-1, SHA-256, SHA-384 or SHA-512). */
function akNameOption(values: Parsed['values']): Uint8Array | undefined {
  const text = stringOption(values, 'ak-name');
  if (text === undefined) return undefined;
  const hex = text.replace(/^0x/i, '');
  const bytes = /^(?:[0-9a-fA-F]{2})+$/.test(hex) ? hex.length / 2 : 0;
  if (![22, 34, 50, 66].includes(bytes)) throw new UsageError('--ak-name must be the TPM Name of the attestation key in hex: 2 bytes of nameAlg then its SHA-1/256/384/512 digest (22, 34, 50 or 66 bytes)');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** The options of `verify` (each is listed in its --help: test/cli/review-s8.test.ts). */
export const VERIFY_OPTION_SPEC: OptionSpec = {
  ...COLLATERAL_OPTION_SPEC,
  ...PARSE_OPTION_SPEC,
  json: { type: 'boolean' },
  'trust-root': { type: 'string' },
  'skip-crl': { type: 'boolean' },
  policy: { type: 'string' },
  'report-data': { type: 'string' },
  nonce: { type: 'string' },
  ak: { type: 'string' },
  'ak-name': { type: 'string' },
  'allow-sha1': { type: 'boolean' },
};

/** Parses `verify` arguments; undefined means --help. */
export function parseVerifyArgs(argv: readonly string[]): VerifyArgs | undefined {
  const parsed = parseOptions('verify', argv, VERIFY_OPTION_SPEC);
  const { values } = parsed;
  if (values['help']) return undefined;
  const [file] = positionals('verify', parsed, ['evidence-file']);
  const trustRoot = stringOption(values, 'trust-root');
  const policy = stringOption(values, 'policy');
  const reportData = reportDataOption(values);
  const nonce = nonceOption(values);
  const ak = stringOption(values, 'ak');
  const akName = akNameOption(values);
  return {
    ...collateralArgsFrom(values),
    file: file as string,
    parse: parseOptionsFrom(values),
    json: values['json'] === true,
    skipCrl: values['skip-crl'] === true,
    ...(trustRoot === undefined ? {} : { trustRoot }),
    ...(policy === undefined ? {} : { policy }),
    ...(reportData === undefined ? {} : { reportData }),
    ...(nonce === undefined ? {} : { nonce }),
    ...(ak === undefined ? {} : { ak }),
    ...(values['allow-sha1'] === true ? { allowSha1: true } : {}),
    ...(akName === undefined ? {} : { akName }),
  };
}

/** The "collateral" header names --certs where its certificates are used (SEV-SNP), not "none" (review s8). */
export function withCertsFile(description: string, args: VerifyArgs): string {
  if (args.certs === undefined) return description;
  return description === 'none' ? `certificates --certs ${args.certs}` : `certificates --certs ${args.certs}, ${description}`;
}

/**
 * The policy's collateral.expiryGraceSeconds: the caller's explicit relaxation (clarifications,
 * "Expired collateral"). verify gives it to the collateral service and to the verifier, for a quote
 * or report and for the hardware report inside a vTPM bundle alike (review s13 CLI, finding 1).
 */
export function policyGraceSeconds(policy: LoadedPolicy | undefined): number | undefined {
  const collateral = (policy?.policy as { collateral?: { expiryGraceSeconds?: number } } | undefined)?.collateral;
  return collateral?.expiryGraceSeconds;
}
