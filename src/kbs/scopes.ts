/**
 * Admin token scopes (review s9 K2 b): what a token may do, besides how long. `read` every GET of
 * the admin API (keys, policies, tokens, the attestation log and the audit trail); `keys` creating,
 * moving, rotating and deleting keys; `policies` creating and deleting policies; `tokens` minting and
 * revoking admin tokens, only with scopes the caller holds itself. Tokens minted before scopes
 * existed, with the bootstrap secret or at the first start hold all four.
 */
import { KbsError } from './errors.js';

export const ALL_SCOPES = ['keys', 'policies', 'read', 'tokens'] as const;
export type Scope = (typeof ALL_SCOPES)[number];

/** The stored and MACed form: the scopes sorted, one space between. */
export const scopesText = (scopes: readonly Scope[]): string => [...new Set(scopes)].sort().join(' ');

/** The stored form read back; a text that is not a canonical scope list yields undefined (the row is not trusted). */
export function scopesOf(text: string | null | undefined): Scope[] | undefined {
  if (typeof text !== 'string' || text === '') return undefined;
  const parts = text.split(' ');
  if (!parts.every((p): p is Scope => (ALL_SCOPES as readonly string[]).includes(p))) return undefined;
  return scopesText(parts) === text ? parts : undefined;
}

/** `scopes` of a mint request: a non-empty list of known scope names. */
export function requestedScopes(v: unknown): Scope[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > ALL_SCOPES.length * 2 || !v.every((s): s is Scope => typeof s === 'string' && (ALL_SCOPES as readonly string[]).includes(s))) {
    throw new KbsError('ERR_KBS_BAD_REQUEST', 400, `scopes must be a non-empty list of ${ALL_SCOPES.map((s) => JSON.stringify(s)).join(', ')}`);
  }
  return [...new Set(v)].sort();
}

export const holdsAll = (held: readonly Scope[], wanted: readonly Scope[]): boolean => wanted.every((s) => held.includes(s));

/** The scope an admin route needs; undefined for paths the router answers 404 (so 404 stays 404). */
export function requiredScope(head: string | undefined, method: string): Scope | undefined {
  switch (head) {
    case 'attestation-log':
    case 'admin-audit':
      return 'read';
    case 'keys':
      return method === 'GET' ? 'read' : 'keys';
    case 'key-transfer-policies':
      return method === 'GET' ? 'read' : 'policies';
    case 'tokens':
      return method === 'GET' ? 'read' : 'tokens';
    default:
      return undefined;
  }
}
