/**
 * Remembers what a successful verification established about everything a
 * quote shares with the other quotes of its TD (or enclave): every byte but
 * REPORTDATA and the quote signature over it, the collateral, the trust
 * roots and the options. Those inputs alone decide T08–T25 and T27–T33 (the
 * PCK chain and CRLs, the signed TCB info and QE identity, the QE report, the
 * TCB levels) and the records those checks leave; the instant decides only
 * whether their validity windows hold, and the window they all share was
 * recorded as they ran (ctx.window). So a later quote that differs in
 * REPORTDATA and its signature alone, verified at an instant inside that
 * window, gets the same records and outcomes replayed, and only what is new
 * runs: T01–T07 on its bytes, T26 (the quote signature over its REPORTDATA),
 * T45 and the claims (issue 8: a gateway's attestation on every connection).
 *
 * A hit is taken only after every remembered input is compared, byte for
 * byte, with the private copy taken when the checks ran, as the signature
 * memo does (crypto/memo.ts). Only strict verifications take part: with any
 * relaxation, a grace period or a warning the checks run every time. Bounded
 * by entries and by the bytes the copies hold; the oldest leave first.
 *
 * An entry is kept only when what it copies is what the checks read: the
 * artifacts and trust roots are plain data (no Proxy, no getter, plain
 * prototypes), their bytes are not shared with another thread, and the
 * signature memo is the library's own class, so no caller code ran during the
 * verification that could have changed them (review s18, finding 1: a getter
 * that handed the checks one TCB info and the memo another got an unverified
 * document remembered).
 */
import { isProxy, isUint8Array } from 'node:util/types';

import type { CollateralArtifact } from '../../collateral/artifact.js';
import { SignatureMemo } from '../../crypto/memo.js';
import { unsharedCopy } from '../private-bytes.js';
import type { SgxQuote, TdxQuote } from '../../evidence/types.js';
import type { CheckRecord } from '../types.js';
import type { VerifyContext } from './context.js';

/** Entries kept per signature memo: a client talks to a few gateways, a batch walks platform by platform. */
const CAPACITY = 32;
/** Bytes the copies may hold in all (a TDX quote with its PCK chain ~5 KiB, a platform's collateral ~20 KiB). */
const MAX_BYTES = 8 * 1024 * 1024;

/** The collateral fields the verification reads or reports (kind, key, body, issuer chain), and the ones it ranks by. */
interface ArtifactCopy {
  kind: string;
  key: string;
  body: Buffer;
  issuerChainPem: string | undefined;
  sequence: string | undefined;
  issued: string | undefined;
  notBefore: string;
  notAfter: string;
}

type CollateralSlots = readonly [CollateralArtifact | undefined, CollateralArtifact | undefined, CollateralArtifact | undefined, CollateralArtifact | undefined];

/** The records of the shared checks: before T26 (T08–T25, T43) and after it (T27–T33). */
export interface SharedRecords {
  beforeSignature: readonly CheckRecord[];
  afterSignature: readonly CheckRecord[];
}

interface Entry<V> {
  quote: Buffer;
  /** Offsets of the two spans that differ from quote to quote (64 bytes each). */
  reportData: number;
  signature: number;
  roots: Buffer[];
  rootsLabel: string;
  minTcbEvaluationDataNumber: number | undefined;
  collateral: (ArtifactCopy | undefined)[];
  /** Every validity window the shared checks compared holds from `from` to `to` (epoch ms, inclusive). */
  from: number;
  to: number;
  records: SharedRecords;
  value: V;
  weight: number;
}

/** Where REPORTDATA and the quote signature lie in the quote's bytes; undefined if either is not a view of them. */
function spansOf(quote: TdxQuote | SgxQuote): { reportData: number; signature: number } | undefined {
  const bytes = quote.bytes;
  const rd = quote.body.reportData;
  const sig = quote.signatureData.quoteSignature;
  if (rd.buffer !== bytes.buffer || sig.buffer !== bytes.buffer || rd.length !== 64 || sig.length !== 64) return undefined;
  const reportData = rd.byteOffset - bytes.byteOffset;
  const signature = sig.byteOffset - bytes.byteOffset;
  if (reportData < 0 || signature < reportData + 64 || signature + 64 > bytes.length) return undefined;
  return { reportData, signature };
}

function view(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** The quote's bytes but its two per-quote spans are the remembered quote's. */
function sameQuote(e: Entry<unknown>, bytes: Uint8Array, reportData: number, signature: number): boolean {
  if (e.quote.length !== bytes.length || e.reportData !== reportData || e.signature !== signature) return false;
  const b = view(bytes);
  return (
    e.quote.compare(b, 0, reportData, 0, reportData) === 0 &&
    e.quote.compare(b, reportData + 64, signature, reportData + 64, signature) === 0 &&
    e.quote.compare(b, signature + 64, b.length, signature + 64, e.quote.length) === 0
  );
}

function copyArtifact(a: CollateralArtifact | undefined): ArtifactCopy | undefined {
  if (a === undefined) return undefined;
  const body = unsharedCopy(a.body)!; // plainArtifact held
  return {
    kind: a.kind,
    key: a.key,
    body: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
    issuerChainPem: a.issuerChainPem,
    sequence: a.sequence,
    issued: a.issued,
    notBefore: a.validity.notBefore,
    notAfter: a.validity.notAfter,
  };
}

/** Each field read once (review s18, finding 2: a getter read twice could throw an untyped error here). */
function sameArtifact(c: ArtifactCopy | undefined, a: CollateralArtifact | undefined): boolean {
  if (c === undefined || a === undefined) return c === a;
  const body = a.body;
  const validity = a.validity;
  return (
    c.kind === a.kind &&
    c.key === a.key &&
    c.issuerChainPem === a.issuerChainPem &&
    c.sequence === a.sequence &&
    c.issued === a.issued &&
    typeof validity === 'object' &&
    validity !== null &&
    c.notBefore === validity.notBefore &&
    c.notAfter === validity.notAfter &&
    isUint8Array(body) &&
    c.body.equals(body)
  );
}

/** An object whose reads run no caller code: no Proxy, a plain prototype, own data properties only. */
function plainData(value: unknown, prototype: object): boolean {
  if (typeof value !== 'object' || value === null || isProxy(value)) return false;
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== prototype && proto !== null) return false;
  const descriptors = Object.getOwnPropertyDescriptors(value);
  for (const key of Reflect.ownKeys(descriptors)) if (!('value' in descriptors[key as string]!)) return false;
  return true;
}

/** Plain data down to the fields the checks and the memo read, with bytes no other thread can write. */
function plainArtifact(a: CollateralArtifact | undefined): boolean {
  if (a === undefined) return true;
  return (
    plainData(a, Object.prototype) &&
    plainData(a.validity, Object.prototype) &&
    (a.source === undefined || plainData(a.source, Object.prototype)) &&
    unsharedCopy(a.body) !== undefined
  );
}

function plainRoots(ctx: VerifyContext): boolean {
  const roots = ctx.trustRoots;
  return plainData(roots, Object.prototype) && plainData(roots.intelRootCas, Array.prototype) && roots.intelRootCas.every((r) => unsharedCopy(r) !== undefined);
}

function sameRoots(e: Entry<unknown>, ctx: VerifyContext): boolean {
  const roots = ctx.trustRoots.intelRootCas;
  if (e.rootsLabel !== ctx.trustRoots.label || roots.length !== e.roots.length) return false;
  for (let i = 0; i < roots.length; i++) {
    const r = roots[i]!;
    if (!isUint8Array(r) || !e.roots[i]!.equals(r)) return false;
  }
  return true;
}

/** Strict verifications only: no relaxation named (not even one set to false), no grace. */
function strict(ctx: VerifyContext): boolean {
  return ctx.collateralGraceMs === 0 && Object.keys(ctx.relaxations).length === 0;
}

export class PlatformVerdictMemo<V> {
  /** Newest first. */
  readonly #entries: Entry<V>[] = [];
  #bytes = 0;
  hits = 0;

  constructor(
    readonly capacity = CAPACITY,
    readonly maxBytes = MAX_BYTES,
  ) {}

  /** The remembered records and value for this quote, collateral and context, or undefined. */
  find(ctx: VerifyContext, quote: TdxQuote | SgxQuote, collateral: CollateralSlots): { records: SharedRecords; value: V } | undefined {
    if (this.#entries.length === 0 || !strict(ctx)) return undefined;
    const spans = spansOf(quote);
    if (spans === undefined) return undefined;
    for (let i = 0; i < this.#entries.length; i++) {
      const e = this.#entries[i]!;
      // The instant first: outside the window some shared check would decide otherwise (or describe its failure).
      if (!(e.from <= ctx.nowMs && ctx.nowMs <= e.to)) continue;
      if (!sameQuote(e, quote.bytes, spans.reportData, spans.signature)) continue;
      if (e.minTcbEvaluationDataNumber !== ctx.minTcbEvaluationDataNumber || !sameRoots(e, ctx)) continue;
      if (!collateral.every((a, k) => sameArtifact(e.collateral[k], a))) continue;
      if (i > 0) {
        this.#entries.splice(i, 1);
        this.#entries.unshift(e);
      }
      this.hits++;
      return { records: e.records, value: e.value };
    }
    return undefined;
  }

  /**
   * Remembers a verification that passed every check, with the records its shared checks left and
   * the window they compared (ctx.window). Not kept when it was not strict, a warning arose in the
   * shared checks (`clean` false), or an input is not plain bytes.
   */
  remember(ctx: VerifyContext, quote: TdxQuote | SgxQuote, collateral: CollateralSlots, records: SharedRecords, value: V, clean: boolean): void {
    if (!clean || !strict(ctx) || !(ctx.window.from <= ctx.window.to)) return;
    const spans = spansOf(quote);
    if (spans === undefined || !plainRoots(ctx) || !collateral.every(plainArtifact)) return;
    const entry: Entry<V> = {
      quote: Buffer.from(quote.bytes), // the verifier's private copy (T49)
      ...spans,
      roots: ctx.trustRoots.intelRootCas.map((r) => {
        const copy = unsharedCopy(r)!;
        return Buffer.from(copy.buffer, copy.byteOffset, copy.byteLength);
      }),
      rootsLabel: ctx.trustRoots.label,
      minTcbEvaluationDataNumber: ctx.minTcbEvaluationDataNumber,
      collateral: collateral.map(copyArtifact),
      from: ctx.window.from,
      to: ctx.window.to,
      // Copies: the records the caller got in its result are the caller's to change.
      records: { beforeSignature: frozenCopies(records.beforeSignature), afterSignature: frozenCopies(records.afterSignature) },
      value,
      weight: 0,
    };
    entry.weight = entry.quote.length + entry.roots.reduce((n, r) => n + r.length, 0) + entry.collateral.reduce((n, c) => n + (c?.body.length ?? 0) + (c?.issuerChainPem?.length ?? 0), 0);
    if (entry.weight > this.maxBytes / 8) return;
    this.#entries.unshift(entry);
    this.#bytes += entry.weight;
    while (this.#entries.length > this.capacity || this.#bytes > this.maxBytes) this.#bytes -= this.#entries.pop()!.weight;
  }

  get size(): number {
    return this.#entries.length;
  }
}

function frozenCopies(records: readonly CheckRecord[]): readonly CheckRecord[] {
  return Object.freeze(records.map((r) => Object.freeze({ ...r })));
}

/** One platform memo per signature memo: a caller that brings its own signature memo gets its own of these too. */
const memos = new WeakMap<SignatureMemo, PlatformVerdictMemo<unknown>>();

/**
 * The platform memo that goes with ctx.memo. None for a signature memo that keeps nothing (capacity
 * or byte budget 0), nor for one of another class: a subclass's code runs during the checks.
 */
export function platformMemoOf<V>(ctx: VerifyContext): PlatformVerdictMemo<V> | undefined {
  const memo = ctx.memo;
  if (typeof memo !== 'object' || memo === null || isProxy(memo) || Object.getPrototypeOf(memo) !== SignatureMemo.prototype) return undefined;
  if (Object.hasOwn(memo, 'verify') || !(memo.capacity > 0) || !(memo.maxBytes > 0)) return undefined;
  let found = memos.get(memo);
  if (found === undefined) {
    found = new PlatformVerdictMemo<unknown>();
    memos.set(memo, found);
  }
  return found as PlatformVerdictMemo<V>;
}
