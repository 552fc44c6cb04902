/**
 * Typed reads of signed collateral JSON (T18, T21). Every reader fails with
 * COLLATERAL_FORMAT and the caller's check id: a missing field, a wrong type,
 * a non-integer or out-of-range number, or a hex string of the wrong length
 * never passes through as "absent = skip" (X05, X07). Hex is compared after
 * decoding, never as text.
 */
import { fail } from '../errors.js';

export type Json = Record<string, unknown>;

export class FieldReader {
  constructor(
    readonly check: string,
    readonly path: string,
  ) {}

  private bad(key: string, expected: string, value: unknown): never {
    return fail('COLLATERAL_FORMAT', this.check, `${this.path}.${key} must be ${expected}`, { field: `${this.path}.${key}`, value: describe(value) });
  }

  raw(obj: Json, key: string): unknown {
    return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
  }

  object(obj: Json, key: string): Json {
    const v = this.raw(obj, key);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.bad(key, 'an object', v);
    return v as Json;
  }

  array(obj: Json, key: string, options: { nonEmpty?: boolean; length?: number } = {}): unknown[] {
    const v = this.raw(obj, key);
    if (!Array.isArray(v)) this.bad(key, 'an array', v);
    const a = v as unknown[];
    if (options.nonEmpty && a.length === 0) this.bad(key, 'a non-empty array', v);
    if (options.length !== undefined && a.length !== options.length) this.bad(key, `an array of exactly ${options.length} entries (V09)`, `${a.length} entries`);
    return a;
  }

  string(obj: Json, key: string): string {
    const v = this.raw(obj, key);
    if (typeof v !== 'string') this.bad(key, 'a string', v);
    return v as string;
  }

  integer(obj: Json, key: string, max: number): number {
    const v = this.raw(obj, key);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) this.bad(key, `an integer in [0, ${max}]`, v);
    return v as number;
  }

  hex(obj: Json, key: string, bytes: number): Uint8Array {
    const v = this.raw(obj, key);
    if (typeof v !== 'string' || v.length !== 2 * bytes || !/^[0-9a-fA-F]*$/.test(v)) this.bad(key, `${2 * bytes} hex digits (${bytes} bytes)`, v);
    return new Uint8Array(Buffer.from(v as string, 'hex'));
  }

  /** Optional array of non-empty strings (advisoryIDs); absent = []. */
  strings(obj: Json, key: string): string[] {
    const v = this.raw(obj, key);
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || s.length === 0)) this.bad(key, 'an array of non-empty strings', v);
    return [...(v as string[])];
  }

  at(index: number | string): FieldReader {
    return new FieldReader(this.check, typeof index === 'number' ? `${this.path}[${index}]` : `${this.path}.${index}`);
  }

  element(list: unknown[], index: number): Json {
    const v = list[index];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      fail('COLLATERAL_FORMAT', this.check, `${this.path}[${index}] must be an object`, { field: `${this.path}[${index}]` });
    }
    return v as Json;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'absent';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Cached documents' values are frozen before verifications share them (src/deep-freeze.ts). */
export { deepFreeze } from '../../deep-freeze.js';
