/**
 * Parse results that the process shares (parse caches, decoded-extension
 * memos): every caller gets the same object, so one caller's change would
 * reach every later verification of the same bytes (review, session 6:
 * emptying a VCEK's `extensions` made it fail S11 everywhere after).
 *
 * Sealing freezes every object and array; Dates, Sets and Maps get mutators
 * that throw (a frozen Date still has setTime). Typed arrays cannot be
 * frozen: the bytes behind them are copied when sealed and compared on every
 * use (`intact`), and the owner parses again when they changed. Anything else
 * (class instances, functions) is left as it is; parse results hold none.
 */
export interface Sealed<T> {
  readonly value: T;
  /** False once a caller changed the bytes of a typed array or the time of a Date in `value`. */
  intact(): boolean;
}

/** The span of one ArrayBuffer that views of the value cover. */
interface ByteSpan {
  buffer: ArrayBufferLike;
  start: number;
  end: number;
}

const DATE_SETTERS = Object.getOwnPropertyNames(Date.prototype).filter((name) => name.startsWith('set'));
const COLLECTION_MUTATORS = ['add', 'set', 'delete', 'clear'];

function readOnly(name: string): () => never {
  return () => {
    throw new TypeError(`a shared parse result is read-only (${name}): copy it to change it`);
  };
}

/** Shadows the mutators with throwing, non-enumerable own properties (equality and JSON ignore them). */
function lockMethods(target: object, names: readonly string[]): void {
  for (const name of names) {
    if (name in target) Object.defineProperty(target, name, { value: readOnly(name), enumerable: false });
  }
}

export function seal<T>(value: T): Sealed<T> {
  const spans = new Map<ArrayBufferLike, ByteSpan>();
  const dates: [Date, number][] = [];
  const sizes: [Set<unknown> | Map<unknown, unknown>, number][] = [];
  const seen = new Set<object>();

  const visit = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    if (ArrayBuffer.isView(v)) {
      const span = spans.get(v.buffer);
      const start = v.byteOffset;
      const end = v.byteOffset + v.byteLength;
      if (span === undefined) spans.set(v.buffer, { buffer: v.buffer, start, end });
      else {
        span.start = Math.min(span.start, start);
        span.end = Math.max(span.end, end);
      }
      return;
    }
    if (v instanceof Date) {
      dates.push([v, v.getTime()]);
      lockMethods(v, DATE_SETTERS);
    } else if (v instanceof Set || v instanceof Map) {
      sizes.push([v, v.size]);
      for (const entry of v instanceof Map ? v.entries() : v.values()) visit(entry);
      lockMethods(v, COLLECTION_MUTATORS);
    } else {
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) return;
      for (const child of Object.values(v)) visit(child);
    }
    Object.freeze(v);
  };
  visit(value);

  // The live bytes (a view, made once) and their copy: a detached buffer leaves the view empty, which differs too.
  const spanList = [...spans.values()].map((s) => {
    const live = Buffer.from(s.buffer, s.start, s.end - s.start);
    return { live, copy: Buffer.from(live) };
  });
  const getTime = Date.prototype.getTime;
  return {
    value,
    intact(): boolean {
      for (const s of spanList) if (!s.live.equals(s.copy)) return false;
      for (const [d, t] of dates) if (getTime.call(d) !== t) return false;
      for (const [c, n] of sizes) if (c.size !== n) return false;
      return true;
    },
  };
}
