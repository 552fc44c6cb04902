/**
 * Option bags of the library entry points (verifyEvidence, evaluatePolicy,
 * parseEvidence, the exported verifiers verifyIntelQuote / verifySnpReport,
 * review s13 intel #1, and the vTPM ones verifyVtpmEvidence / verifyTpmQuotes /
 * verifyAzureHardware, review s13 CR intel #1) accept only the keys their type
 * names (review s12 docs #1):
 * a misspelt key (`reportdata`, `skipCRL`) would otherwise be ignored and the
 * check it was meant to drive would silently not run.
 */
import { InvalidArgumentError } from './errors.js';
import type { Relaxations } from './verify/types.js';

/**
 * Every key of an options type, once. Declared as `const X: OptionKeys<T> = {...}`
 * next to the type, so the compiler rejects a key the type lacks and a key the
 * list lacks: the accepted keys cannot drift from the type.
 */
export type OptionKeys<T> = { readonly [K in keyof Required<T>]: true };

/**
 * `options` as an object of accepted keys only; undefined and null are "no
 * options". Any other value, and any own key (enumerable or not) that is not
 * in `accepted`, is ERR_INVALID_ARGUMENT naming it (details.option).
 */
export function checkOptionKeys<T extends object>(options: T | undefined | null, accepted: OptionKeys<T>, what: string): T | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${what}: options must be an object`);
  }
  for (const key of Object.getOwnPropertyNames(options)) {
    if (!Object.hasOwn(accepted, key)) {
      const known = Object.keys(accepted).join(', ');
      throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${what}: unknown option "${key}" (accepted: ${known})`, { details: { option: key } });
    }
  }
  return options;
}

/**
 * An own key among `keys` (options that pin or bind: an expected value, a
 * trusted key, the instant) whose value is undefined is ERR_INVALID_ARGUMENT
 * naming it (details.option): `{ trustedAk: pins.get(id) }` after a missed
 * lookup is an expected value lost to a bug, not "no pin asked for". Omit the
 * key to ask for none (evaluatePolicy's reportData, verifyEarJwt's nonce and
 * issuer, toEar's nonce and the vTPM verifiers follow the same rule).
 */
export function checkNoUndefinedOptions<T extends object>(options: T, keys: readonly (keyof T & string)[], what: string): void {
  for (const key of keys) {
    if (Object.hasOwn(options, key) && options[key] === undefined) {
      throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${what}: options.${key} is undefined (omit the key to pin or bind nothing)`, { details: { option: key } });
    }
  }
}

/** The keys of a verifier's `relaxations` (verifyIntelQuote, verifySnpReport, verifyVtpmEvidence; verifyEvidence keeps its own copy). */
export const RELAXATION_KEYS: OptionKeys<Relaxations> = { skipCrl: true, skipQeIdentity: true, collateralGraceSeconds: true };

/**
 * `options` and its `relaxations` checked by name (review s13 intel #1): for
 * the verifiers' own exported entries, whose options bags are closed sets as
 * verifyEvidence's is. Returns the options (`{}` for undefined or null).
 */
export function checkVerifierOptionKeys<T extends { relaxations?: Relaxations }>(options: T | undefined | null, accepted: OptionKeys<T>, what: string): T | Record<string, never> {
  const checked = checkOptionKeys(options, accepted, what);
  if (checked === undefined) return {};
  const relaxations = checked.relaxations;
  if (relaxations !== undefined) checkOptionKeys(relaxations, RELAXATION_KEYS, `${what} relaxations`);
  return checked;
}
