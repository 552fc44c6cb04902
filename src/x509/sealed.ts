/**
 * Parse results that the process shares (parse caches, decoded-extension
 * memos): every caller gets the same object, so one caller's change would
 * reach every later verification of the same bytes (review, session 6:
 * emptying a VCEK's `extensions` made it fail S11 everywhere after).
 *
 * Sealing freezes every object and array and gives Dates mutators that throw
 * (a frozen Date still has setTime). Sets and Maps are replaced by read-only
 * views (ReadOnlySetView / ReadOnlyMapView) over private copies: a real Set
 * can always be changed through `Set.prototype.delete.call(set, ...)`, which
 * no own-property lock stops (review, session 6 round 2: a cached CRL's
 * revokedSerials swapped one serial for another at the same size, and a
 * revoked PCK verified). Types of sealed values therefore declare
 * ReadonlySet / ReadonlyMap. Typed arrays cannot be frozen: the bytes behind
 * them are copied when sealed and compared on every use (`intact`), and the
 * owner parses again when they changed; so are the times of Dates (setTime
 * through Date.prototype). Anything else (class instances, functions) is left
 * as it is; parse results hold none.
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
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

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

/**
 * A set that can only be read: has / size / iteration. Not a Set (nor a
 * subclass), so Set.prototype methods refuse it; its entries live in a
 * private Set no caller can reach. To change one, copy it: `new Set(view)`.
 */
export class ReadOnlySetView<T> implements ReadonlySet<T> {
  readonly #items: Set<T>;

  constructor(items: Iterable<T>) {
    this.#items = new Set(items);
    Object.freeze(this);
  }

  get size(): number {
    return this.#items.size;
  }
  has(value: T): boolean {
    return this.#items.has(value);
  }
  forEach(callback: (value: T, value2: T, set: ReadonlySet<T>) => void, thisArg?: unknown): void {
    for (const v of this.#items) callback.call(thisArg, v, v, this);
  }
  entries(): SetIterator<[T, T]> {
    return this.#items.entries();
  }
  keys(): SetIterator<T> {
    return this.#items.keys();
  }
  values(): SetIterator<T> {
    return this.#items.values();
  }
  [Symbol.iterator](): SetIterator<T> {
    return this.#items.values();
  }
  /** util.inspect / console.log show the entries (a copy). */
  [INSPECT](): Set<T> {
    return new Set(this.#items);
  }
}

/** The Map counterpart of ReadOnlySetView: get / has / size / iteration. Copy with `new Map(view)`. */
export class ReadOnlyMapView<K, V> implements ReadonlyMap<K, V> {
  readonly #items: Map<K, V>;

  constructor(entries: Iterable<readonly [K, V]>) {
    this.#items = new Map(entries);
    Object.freeze(this);
  }

  get size(): number {
    return this.#items.size;
  }
  get(key: K): V | undefined {
    return this.#items.get(key);
  }
  has(key: K): boolean {
    return this.#items.has(key);
  }
  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.#items) callback.call(thisArg, v, k, this);
  }
  entries(): MapIterator<[K, V]> {
    return this.#items.entries();
  }
  keys(): MapIterator<K> {
    return this.#items.keys();
  }
  values(): MapIterator<V> {
    return this.#items.values();
  }
  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.#items.entries();
  }
  [INSPECT](): Map<K, V> {
    return new Map(this.#items);
  }
}

// The views' own methods cannot be replaced either (an own property is refused by the frozen instance).
Object.freeze(ReadOnlySetView.prototype);
Object.freeze(ReadOnlyMapView.prototype);

export function seal<T>(value: T): Sealed<T> {
  const spans = new Map<ArrayBufferLike, ByteSpan>();
  const dates: [Date, number][] = [];
  /** Objects already sealed, and the view that replaced each Set or Map. */
  const done = new Map<object, unknown>();

  /** Seals `v` in place; returns what replaces it in its parent (itself, or the view of a Set / Map). */
  const visit = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    if (done.has(v)) return done.get(v);
    done.set(v, v);
    if (ArrayBuffer.isView(v)) {
      const span = spans.get(v.buffer);
      const start = v.byteOffset;
      const end = v.byteOffset + v.byteLength;
      if (span === undefined) spans.set(v.buffer, { buffer: v.buffer, start, end });
      else {
        span.start = Math.min(span.start, start);
        span.end = Math.max(span.end, end);
      }
      return v;
    }
    if (v instanceof Set) {
      const view = new ReadOnlySetView([...v].map(visit));
      done.set(v, view);
      return view;
    }
    if (v instanceof Map) {
      const view = new ReadOnlyMapView([...v].map(([k, x]) => [visit(k), visit(x)] as const));
      done.set(v, view);
      return view;
    }
    if (v instanceof Date) {
      dates.push([v, v.getTime()]);
      lockMethods(v, DATE_SETTERS);
    } else {
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) return v;
      const record = v as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        const child = record[key];
        const sealed = visit(child);
        if (sealed !== child) record[key] = sealed;
      }
    }
    Object.freeze(v);
    return v;
  };
  const sealedValue = visit(value) as T;

  // The live bytes (a view, made once) and their copy: a detached buffer leaves the view empty, which differs too.
  const spanList = [...spans.values()].map((s) => {
    const live = Buffer.from(s.buffer, s.start, s.end - s.start);
    return { live, copy: Buffer.from(live) };
  });
  const getTime = Date.prototype.getTime;
  return {
    value: sealedValue,
    intact(): boolean {
      for (const s of spanList) if (!s.live.equals(s.copy)) return false;
      for (const [d, t] of dates) if (getTime.call(d) !== t) return false;
      return true;
    },
  };
}
