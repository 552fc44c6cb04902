/**
 * Per-verification state: the single instant (S01), resolved options, and
 * the ordered record of executed checks and warnings. Created once at the
 * entry point; nothing here outlives one call.
 */
import { defaultSignatureMemo, type SignatureMemo } from '../../crypto/memo.js';
import { InvalidArgumentError } from '../../errors.js';
import type { OptionKeys } from '../../option-keys.js';
import type { SnpProduct } from '../../evidence/types.js';
import { PRODUCTION_TRUST_ROOTS, type TrustRoots } from '../roots/index.js';
import { graceMsOf } from '../grace.js';
import type { CheckRecord, Relaxations } from '../types.js';
import type { SnpVerifyOptions } from './types.js';
import { timeValueOf } from '../instant.js';
import { nativeAddonWarning } from '../../native/index.js';

/**
 * S03 default (clarifications.md, which overrides checklist S03's {3, 5}):
 * v3, v4 and v5 verify; v2 is listed too, but a v2 report carries no CPUID,
 * so S06 passes it only when the caller named the product, and the result
 * warns that it did. A policy's minReportVersion can raise the floor.
 */
const DEFAULT_VERSIONS: readonly number[] = [2, 3, 4, 5];
const KNOWN_VERSIONS = new Set([2, 3, 4, 5]);
const KNOWN_PRODUCTS: ReadonlySet<SnpProduct> = new Set<SnpProduct>(['Milan', 'Genoa', 'Turin']);

/** The keys SnpVerifyOptions accepts (the compiler keeps this list equal to the type's keys). */
export const SNP_VERIFY_OPTION_KEYS: OptionKeys<SnpVerifyOptions> = {
  at: true,
  trustRoots: true,
  minTcbEvaluationDataNumber: true,
  relaxations: true,
  memo: true,
  allowedVersions: true,
  allowedProducts: true,
  allowMaskedChipId: true,
};

export interface SnpContext {
  readonly at: Date;
  readonly trustRoots: TrustRoots;
  readonly memo: SignatureMemo;
  readonly allowedVersions: ReadonlySet<number>;
  readonly allowedProducts: ReadonlySet<SnpProduct>;
  readonly allowMaskedChipId: boolean;
  readonly relaxations: Readonly<Relaxations>;
  /** relaxations.collateralGraceSeconds in ms, validated (0 = no grace). */
  readonly collateralGraceMs: number;
  readonly checks: CheckRecord[];
  readonly warnings: string[];
  /** Records one executed check, in execution order. */
  pass(id: string, description: string): void;
}

function bad(option: string, reason: string): never {
  throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `option ${option}: ${reason}`, { details: { option } });
}

/** The defaults, shared by every verification that names none (read only: the context is never handed out). */
const DEFAULT_VERSION_SET: ReadonlySet<number> = new Set(DEFAULT_VERSIONS);

function resolveVersions(list: number[] | undefined): ReadonlySet<number> {
  if (list === undefined) return DEFAULT_VERSION_SET;
  if (!Array.isArray(list) || list.length === 0) bad('allowedVersions', 'must be a non-empty array');
  for (const v of list) if (!KNOWN_VERSIONS.has(v)) bad('allowedVersions', `unknown report version ${String(v)} (2, 3, 4 or 5)`);
  return new Set(list);
}

function resolveProducts(list: SnpProduct[] | undefined): ReadonlySet<SnpProduct> {
  if (list === undefined) return KNOWN_PRODUCTS;
  if (!Array.isArray(list) || list.length === 0) bad('allowedProducts', 'must be a non-empty array');
  for (const p of list) if (!KNOWN_PRODUCTS.has(p)) bad('allowedProducts', `unknown product ${String(p)}`);
  return new Set(list);
}

function invalidInstant(): never {
  throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'option at: must be a valid Date', { check: 'S01' });
}

/**
 * S01: the instant, read once from the Date's own time value (not through a
 * getTime a subclass may override) into a private copy, so that the instant
 * validated is the one every check uses, whatever the caller's object does
 * later (the Intel context copies it too).
 */
function privateInstant(given: unknown): Date {
  const ms = timeValueOf(given);
  // X01: an invalid Date compares false with everything, which would turn "expired" into "valid".
  if (ms === undefined) invalidInstant();
  return new Date(ms);
}

/**
 * The caller's anchors, checked as the Intel verifier checks its own (review s14 verifiers #3): a
 * value without `amd`, or anchors that are not bytes, is the caller's mistake (ERR_INVALID_ARGUMENT),
 * not an untyped TypeError or a parse error blamed on the evidence.
 */
function validRoots(roots: TrustRoots): TrustRoots {
  const amd = (roots as { amd?: unknown } | null | undefined)?.amd;
  if (typeof amd !== 'object' || amd === null) {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'options.trustRoots.amd must map SEV-SNP products to their anchors');
  }
  for (const [product, anchors] of Object.entries(amd)) {
    if (anchors === undefined) continue;
    const a = anchors as Partial<Record<'ark' | 'ask' | 'asvk', unknown>> | null;
    if (typeof a !== 'object' || a === null || !(['ark', 'ask', 'asvk'] as const).every((k) => a[k] instanceof Uint8Array)) {
      throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `options.trustRoots.amd.${product} must hold the DER of ark, ask and asvk`);
    }
  }
  return roots;
}

/** Resolves the options once; the wall clock is read here and nowhere else. */
export function createContext(options: SnpVerifyOptions): SnpContext {
  const at = privateInstant(options.at ?? new Date()); // S01: one instant for every date check of this verification
  const checks: CheckRecord[] = [];
  return {
    at,
    trustRoots: options.trustRoots === undefined ? PRODUCTION_TRUST_ROOTS : validRoots(options.trustRoots),
    memo: options.memo ?? defaultSignatureMemo,
    allowedVersions: resolveVersions(options.allowedVersions),
    allowedProducts: resolveProducts(options.allowedProducts),
    allowMaskedChipId: options.allowMaskedChipId === true,
    relaxations: { ...options.relaxations },
    collateralGraceMs: graceMsOf(options.relaxations),
    checks,
    warnings: addonWarnings(), // s16 env #3: TEE_VERIFY_ADDON shows in every result
    pass(id, description) {
      checks.push({ id, description });
    },
  };
}

/** The result's first warnings: the addon override's (nativeAddonWarning), if any. */
function addonWarnings(): string[] {
  const w = nativeAddonWarning();
  return w === undefined ? [] : [w];
}
