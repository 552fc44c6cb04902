/**
 * Strict decoders for the request fields that are not evidence (evidence
 * itself goes to the library's decoder), and RFC 8785 canonical JSON for
 * trustee's structured runtime data.
 */
import { decodeStrictBase64 } from '../evidence/base64.js';
import { badRequest } from './errors.js';

const BASE64_STD = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64_URL = /^[A-Za-z0-9_-]*$/;
const HEX = /^[0-9a-fA-F]*$/;

/**
 * Standard base64 (padding absent or complete) or URL-safe base64 without
 * padding, canonical: the library's strict decoder (src/evidence/base64.ts),
 * so Buffer never skips foreign characters here either.
 */
export function decodeBase64(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || value.length === 0) throw badRequest(`"${field}" must be a non-empty base64 string`);
  if (!BASE64_STD.test(value) && !BASE64_URL.test(value)) throw badRequest(`"${field}" is not base64`);
  const decoded = decodeStrictBase64(value);
  if (!decoded.ok) throw badRequest(decoded.reason === 'non-canonical' ? `"${field}" is not canonical base64` : `"${field}" is not base64`);
  return Buffer.from(decoded.bytes.buffer, decoded.bytes.byteOffset, decoded.bytes.length);
}

/** URL-safe base64 without padding only (trustee's encoding of evidence and raw runtime data). */
export function decodeBase64UrlNoPad(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || value.length === 0 || !BASE64_URL.test(value)) throw badRequest(`"${field}" must be URL-safe base64 without padding`);
  return decodeBase64(value, field);
}

/** Exactly 64 bytes given as 128 hex digits or as base64 (86 or 88 characters). */
export function decodeReportData(value: unknown, field: string): Buffer {
  if (typeof value === 'string' && value.length === 128 && HEX.test(value)) return Buffer.from(value, 'hex');
  const bytes = typeof value === 'string' && value.length >= 86 && value.length <= 88 ? decodeBase64(value, field) : undefined;
  if (bytes?.length !== 64) throw badRequest(`"${field}" must be 64 bytes: 128 hex digits or base64`);
  return bytes;
}

/** Default nesting bound of canonicalised JSON: deeper input is a bad request, not a stack overflow (a 500). */
export const MAX_JSON_DEPTH = 128;

/** Thrown by canonicalJson when its output passes `budget.chars`. */
export class CanonicalJsonTooLong extends Error {}

/**
 * RFC 8785 (JCS): object members sorted by UTF-16 code units, no whitespace;
 * ECMAScript number and string serialisation is what the RFC specifies.
 * With a `budget`, throws CanonicalJsonTooLong as soon as the form made so
 * far passes `budget.chars` characters, so a large value costs only that
 * much work (s15 change review, service finding 2).
 */
export function canonicalJson(value: unknown, depth = 0, maxDepth = MAX_JSON_DEPTH, budget?: { chars: number }): string {
  const spend = (text: string): string => {
    if (budget && (budget.chars -= text.length) < 0) throw new CanonicalJsonTooLong();
    return text;
  };
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return spend(JSON.stringify(value));
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw badRequest('runtime data holds a number JSON cannot represent');
    return spend(JSON.stringify(value));
  }
  if (depth >= maxDepth) throw badRequest(`JSON nested deeper than ${maxDepth} levels`);
  // Brackets, separators and colons are spent as they are decided, so the budget ends at the exact length.
  if (Array.isArray(value)) {
    spend('[]');
    return `[${value.map((v, i) => spend(i > 0 ? ',' : '') + canonicalJson(v, depth + 1, maxDepth, budget)).join('')}]`;
  }
  if (typeof value === 'object') {
    spend('{}');
    const keys = Object.keys(value).sort();
    return `{${keys.map((k, i) => `${spend(i > 0 ? ',' : '')}${spend(JSON.stringify(k))}${spend(':')}${canonicalJson((value as Record<string, unknown>)[k], depth + 1, maxDepth, budget)}`).join('')}}`;
  }
  throw badRequest('runtime data must be JSON');
}
