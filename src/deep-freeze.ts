/**
 * Freezes a value and everything reachable from it, for values that are
 * shared (cached collateral documents, default policies, the policy schema):
 * a caller that writes to them gets a TypeError instead of changing what
 * every other caller sees. Typed arrays cannot be frozen and are left as they are.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value) || ArrayBuffer.isView(value)) return value;
  for (const v of Object.values(value)) deepFreeze(v);
  Object.freeze(value);
  return value;
}
