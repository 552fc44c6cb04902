/**
 * Materialises the fixed structures described by the native layout tables.
 * Byte fields are views of the evidence buffer, so signed bytes and
 * claims are the same memory (T49); integers are read little-endian.
 */
import { native, type NativeLayout, type NativeLayoutName } from '../native/index.js';

let tables: Record<NativeLayoutName, NativeLayout> | undefined;

/** The native layout tables, fetched once per process. */
export function layout(name: NativeLayoutName): NativeLayout {
  tables ??= native().layouts();
  return tables[name];
}

/** Raw TCB_VERSION bytes; decoded per product by snp-tcb.ts. */
export type RawTcb = Uint8Array;

export type FieldValue = Uint8Array | number | bigint;

/**
 * Reads every field of `name` at `base`. Fields introduced after `version`
 * (SNP only) are omitted rather than read from reserved bytes (S43).
 */
export function readStructure(
  bytes: Uint8Array,
  base: number,
  name: NativeLayoutName,
  version = Number.MAX_SAFE_INTEGER,
): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {};
  const { buffer, byteOffset } = bytes;
  // A view constructor is several times cheaper than subarray() in V8.
  const view = new DataView(buffer, byteOffset, bytes.byteLength);
  for (const f of layout(name).fields) {
    if (f.minVersion > version) continue;
    const at = base + f.offset;
    switch (f.type) {
      case 'u8':
        out[f.name] = view.getUint8(at);
        break;
      case 'u16':
        out[f.name] = view.getUint16(at, true);
        break;
      case 'u32':
        out[f.name] = view.getUint32(at, true);
        break;
      case 'u64':
        out[f.name] = view.getBigUint64(at, true);
        break;
      default:
        out[f.name] = new Uint8Array(buffer, byteOffset + at, f.size);
    }
  }
  return out;
}
