/**
 * Option bags of the library entry points (verifyEvidence, evaluatePolicy,
 * parseEvidence) accept only the keys their type names (review s12 docs #1):
 * a misspelt key (`reportdata`, `skipCRL`) would otherwise be ignored and the
 * check it was meant to drive would silently not run.
 */
import { InvalidArgumentError } from './errors.js';

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
