/**
 * Policies this module produced (loadPolicy, defaultPolicy, translateItaPolicy)
 * are known valid. evaluatePolicy re-validates any other object through
 * loadPolicy, so a hand-built or mutated-then-copied policy can never reach
 * the checks half-formed (X07, X08).
 */
const loaded = new WeakSet<object>();

export function markLoaded<T extends object>(policy: T): T {
  loaded.add(policy);
  return policy;
}

export function isLoaded(policy: object): boolean {
  return loaded.has(policy);
}
