/**
 * JSON form of parsed evidence: byte arrays become lowercase hex, 64-bit
 * values become 0x-prefixed, zero-padded lowercase hex, and the whole-input
 * `bytes` buffer is left out (it is the evidence itself).
 */
import { toHex, u64Hex } from './bytes.js';
import type { Evidence } from './types.js';

function convert(value: unknown): unknown {
  if (value instanceof Uint8Array) return toHex(value);
  if (typeof value === 'bigint') return u64Hex(value);
  if (Array.isArray(value)) return value.map(convert);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = convert(v);
    return out;
  }
  return value;
}

export function evidenceToJSON(evidence: Evidence): Record<string, unknown> {
  const { bytes: _bytes, ...rest } = evidence;
  return { ...(convert(rest) as Record<string, unknown>), size: evidence.bytes.length };
}
