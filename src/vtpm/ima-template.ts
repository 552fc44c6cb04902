/**
 * IMA template data in the kernel's binary layout (security/integrity/ima/
 * ima_template_lib.c), shared by the ASCII parser (which rebuilds it), the
 * replay (which hashes it) and the test generators (which write it).
 *
 * - `ima-ng`, `ima-sig`, `ima-buf`: each field is a u32 little-endian length
 *   followed by its bytes, and the template digest is the hash of exactly
 *   those fields. d-ng = "<alg>:" NUL digest; n-ng = path NUL; sig / buf =
 *   raw bytes (possibly empty).
 * - `ima` (the original template): the digest covers the 20-byte file digest
 *   followed by the file name zero-padded to 256 bytes (no length fields).
 *   That 276-byte form is what `ImaEntry.templateData` holds for it.
 */
export const IMA_NAME_FIELD_SIZE = 256; // IMA_EVENT_NAME_LEN_MAX + 1
export const IMA_TEMPLATE_DIGEST_SIZE = 20;
export const IMA_LEGACY_DATA_SIZE = IMA_TEMPLATE_DIGEST_SIZE + IMA_NAME_FIELD_SIZE;

/** Templates whose data is a list of length-prefixed fields, and how many fields each has. */
export const FIELD_TEMPLATES: Readonly<Record<string, number>> = { 'ima-ng': 2, 'ima-sig': 3, 'ima-buf': 3 };

const encoder = new TextEncoder();

export interface TemplateFields {
  /** File digest algorithm name as the kernel writes it ("sha256"); ignored by `ima`. */
  fileDigestAlg: string;
  fileDigest: Uint8Array;
  /** The file name bytes, without a NUL. */
  path: Uint8Array | string;
  /** ima-sig: the signature; ima-buf: the buffer. May be empty. */
  extra?: Uint8Array;
}

function putU32(out: Uint8Array, at: number, value: number): number {
  out[at] = value & 0xff;
  out[at + 1] = (value >>> 8) & 0xff;
  out[at + 2] = (value >>> 16) & 0xff;
  out[at + 3] = (value >>> 24) & 0xff;
  return at + 4;
}

/** The template data of one entry, laid out as the kernel hashes it. */
export function buildTemplateData(template: string, fields: TemplateFields): Uint8Array {
  const path = typeof fields.path === 'string' ? encoder.encode(fields.path) : fields.path;
  if (template === 'ima') {
    if (path.length >= IMA_NAME_FIELD_SIZE) throw new RangeError(`ima template: a name of ${path.length} bytes does not fit ${IMA_NAME_FIELD_SIZE - 1}`);
    if (fields.fileDigest.length > IMA_TEMPLATE_DIGEST_SIZE) throw new RangeError('ima template: the file digest is at most 20 bytes');
    const out = new Uint8Array(IMA_LEGACY_DATA_SIZE);
    out.set(fields.fileDigest, 0);
    out.set(path, IMA_TEMPLATE_DIGEST_SIZE);
    return out;
  }
  const count = FIELD_TEMPLATES[template];
  if (count === undefined) throw new RangeError(`no template layout for ${template}`);
  const alg = encoder.encode(fields.fileDigestAlg);
  const dLen = alg.length + 2 + fields.fileDigest.length;
  const nLen = path.length + 1;
  const extra = fields.extra ?? new Uint8Array(0);
  const size = 4 + dLen + 4 + nLen + (count === 3 ? 4 + extra.length : 0);
  const out = new Uint8Array(size);
  let at = putU32(out, 0, dLen);
  out.set(alg, at);
  at += alg.length;
  out[at] = 0x3a; // ':'
  at += 2; // and its NUL
  out.set(fields.fileDigest, at);
  at += fields.fileDigest.length;
  at = putU32(out, at, nLen);
  out.set(path, at);
  at += nLen; // path and its NUL
  if (count === 3) {
    at = putU32(out, at, extra.length);
    out.set(extra, at);
  }
  return out;
}
